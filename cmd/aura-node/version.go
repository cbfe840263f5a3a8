package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/node"
)

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this build's release version",
		Long: `Print this build's release version. Release builds set it with
  go build -ldflags "-X github.com/aura-node/aura-node/node.Version=1.2.3" ./cmd/aura-node`,
		Example: `  aura-node version`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), node.Version)
			return err
		},
	}
}
