package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/node"
)

func (a *app) runCmd() *cobra.Command {
	var logLevel string
	var seed bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the node of a home until interrupted",
		Long: `Run the node of a home: open its journal, join the network over libp2p,
serve the admin API on loopback and write the API address to api.addr.

Logs are structured text on stderr at the config's log_level (or
--log-level). SIGINT or SIGTERM shuts the node down cleanly; a second
signal ends it at once.`,
		Example: `  aura-node run
  aura-node run --home ./a --log-level debug
  AURA_HOME=/var/lib/aura aura-node run 2>>node.log`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := node.OpenHome(a.home)
			if err != nil {
				return err
			}
			cfg, err := home.LoadConfig()
			if err != nil {
				return err
			}
			if logLevel == "" {
				logLevel = cfg.LogLevel
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			if addr := runningAPI(home); addr != "" {
				return fmt.Errorf("a node is already running for %s (its API answers at %s)", a.home, addr)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				stop() // a second signal ends the process
			}()
			var overrides []func(*node.Config)
			if seed {
				overrides = append(overrides, func(c *node.Config) { c.Seed = true })
			}
			return node.RunHome(ctx, home, log, overrides...)
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "", "override the config's log level: debug, info, warn or error")
	cmd.Flags().BoolVar(&seed, "seed", false, "seeding mode: fetch, pin and serve the artifacts of every declared, unrevoked release (config: seed)")
	return cmd
}

// runningAPI returns the API address of a node already running for home,
// or "" if none answers.
func runningAPI(home node.Home) string {
	addr, err := home.LoadAPIAddr()
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return addr
}
