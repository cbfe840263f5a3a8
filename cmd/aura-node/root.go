package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/node"
)

// app holds the root flags every command shares.
type app struct {
	home string
}

// defaultHome is $AURA_HOME, else ~/.aura.
func defaultHome() string {
	if h := os.Getenv("AURA_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".aura")
	}
	return ".aura"
}

func newRootCmd() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:   "aura-node",
		Short: "Peer-to-peer replication node: signed journal facts, snapshots, cache invalidation, releases",
		Long: `aura-node is a peer-to-peer replication node. Nodes gossip signed, immutable
journal facts over libp2p, repair what gossip missed with anti-entropy, and
reduce the journal to the same maintenance state on every node.

A node lives in a home directory (--home, default $AURA_HOME or ~/.aura)
holding its keys, config, the network's genesis and its journal. The
status, facts, data, cache and admin commands talk to the running node of
that home through its loopback admin API (address in api.addr, token in
api.token).

Try a local 3-node network first:

  go run ./cmd/aura-node testnet demo`,
		Example: `  # one node, a new network of its own
  aura-node init --new-network --name lab
  aura-node run

  # in another terminal
  aura-node data put greeting hello
  aura-node data get greeting
  aura-node status`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.home, "home", defaultHome(), "node home directory (env AURA_HOME)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath())
	})
	root.AddCommand(
		a.initCmd(),
		a.keysCmd(),
		a.runCmd(),
		a.statusCmd(),
		a.factsCmd(),
		a.dataCmd(),
		a.cacheCmd(),
		a.adminCmd(),
		a.syncCmd(),
		a.snapshotCmd(),
		a.backupCmd(),
		a.restoreCmd(),
		a.releaseCmd(),
		a.artifactCmd(),
		a.launcherCmd(),
		a.policyCmd(),
		a.upgradeCmd(),
		a.benchCmd(),
		testnetCmd(),
		versionCmd(),
	)
	return root
}

// exactArgs is cobra.ExactArgs with a message that shows the usage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("want %d argument(s), got %d (usage: %s; see `%s --help`)", n, len(args), cmd.UseLine(), cmd.CommandPath())
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs with a message that shows the usage.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return fmt.Errorf("want at least %d argument(s), got %d (usage: %s; see `%s --help`)", n, len(args), cmd.UseLine(), cmd.CommandPath())
		}
		return nil
	}
}

// noArgs is cobra.NoArgs with a message that shows the usage.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("unexpected argument %q (usage: %s; see `%s --help`)", args[0], cmd.UseLine(), cmd.CommandPath())
	}
	return nil
}

// conn is a connection to the running node of a home.
type conn struct {
	*api.Client
	home string
	addr string
}

// connect opens the home and builds an API client from its token and
// api.addr files.
func (a *app) connect() (*conn, error) {
	h, err := node.OpenHome(a.home)
	if err != nil {
		return nil, err
	}
	token, err := h.LoadToken()
	if err != nil {
		return nil, err
	}
	addr, err := h.LoadAPIAddr()
	if err != nil {
		return nil, err
	}
	return &conn{Client: api.NewClient(addr, token), home: a.home, addr: addr}, nil
}

// wrap turns a client error into a user-facing one.
func (c *conn) wrap(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.APIError
	switch {
	case errors.Is(err, api.ErrUnreachable):
		return fmt.Errorf("no node answers at %s for home %s (is it running? start it with `aura-node run --home %s`)", c.addr, c.home, c.home)
	case errors.As(err, &ae):
		return errors.New(ae.Message)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("the node at %s did not answer in time", c.addr)
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	}
	return err
}

// withNode connects to the node of the home and runs fn with its
// client; an API error fn returns is worded for people (wrap).
func (a *app) withNode(fn func(c *conn) error) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	return c.wrap(fn(c))
}

// output prints v as indented JSON with --json, else with text.
func output[T any](w io.Writer, asJSON bool, v T, text func(io.Writer, T)) error {
	if asJSON {
		return printJSON(w, v)
	}
	text(w, v)
	return nil
}

// isNotFound reports an API 404.
func isNotFound(err error) bool {
	var ae *api.APIError
	return errors.As(err, &ae) && ae.Code == 404
}

// printJSON writes v as indented JSON, with <, > and & as they are (goal
// texts hold "<=").
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printJSONThen writes v as JSON and returns err: a run that failed
// part-way still prints the figures it has.
func printJSONThen(w io.Writer, v any, err error) error {
	if perr := printJSON(w, v); perr != nil {
		return perr
	}
	return err
}

// newTable returns a writer that aligns tab-separated columns.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// jsonFlag adds the --json flag to a command that reads something.
func jsonFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "json", false, "print JSON instead of text")
}
