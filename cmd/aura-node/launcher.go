package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/launcher"
	"github.com/aura-node/aura-node/node"
)

func (a *app) launcherCmd() *cobra.Command {
	var (
		initialBinary, initialID, logLevel, nodeLogLevel string
		healthTimeout, stopTimeout                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "launcher",
		Short: "Supervise the node of a home and switch its releases safely",
		Long: `Run the launcher: the parent process of the node. It keeps one folder per
release in HOME/releases (current and previous are symlinks switched
atomically), starts releases/current/aura-node run --home HOME as its
child, restarts it if it dies (with backoff), and stops it on SIGINT or
SIGTERM.

It carries out requests from the node (or from the stage, cutover and
rollback subcommands) in order: stage verifies a binary and installs it;
cutover stops the node, checkpoints its Pebble data, switches current,
starts the new release and runs health gates (/healthz, /readyz, gate
commands), rolling back by itself when a gate fails; rollback restores the
previous release and its checkpoint. Every step is logged in
HOME/launcher/state.json first, so after a kill -9 at any moment a
restarted launcher finishes or undoes the step: the old or the new release
runs, healthy, with its own data. See docs/launcher.md.

On first start it installs --initial-binary (default: this executable) as
release "initial".`,
		Example: `  aura-node launcher --home ./a
  aura-node launcher status --home ./a
  aura-node launcher stage --home ./a --release-id v2 --artifact ./aura-node-v2
  aura-node launcher cutover --home ./a --release-id v2 --gate smoke='aura-node status --home ./a'
  aura-node launcher rollback --home ./a --reason "v2 drops peers"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			home, err := filepath.Abs(a.home)
			if err != nil {
				return err
			}
			if _, err := node.OpenHome(home); err != nil {
				return err
			}
			var nodeArgs []string
			if nodeLogLevel != "" {
				nodeArgs = append(nodeArgs, "--log-level", nodeLogLevel)
			}
			return launcher.Run(cmd.Context(), launcher.Config{
				Home:          home,
				InitialBinary: initialBinary,
				InitialID:     initialID,
				NodeArgs:      nodeArgs,
				NodeStdout:    cmd.OutOrStdout(),
				NodeStderr:    cmd.ErrOrStderr(),
				Logger:        slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})).With("component", "launcher"),
				HealthTimeout: healthTimeout,
				StopTimeout:   stopTimeout,
				CrashAt:       os.Getenv(launcher.EnvCrashAt),
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&initialBinary, "initial-binary", "", "binary to install as the first release when the home has none (default: this executable)")
	fl.StringVar(&initialID, "initial-id", "initial", "release ID of the first release")
	fl.StringVar(&logLevel, "log-level", "info", "launcher log level: debug, info, warn or error")
	fl.StringVar(&nodeLogLevel, "node-log-level", "", "pass --log-level to the node")
	fl.DurationVar(&healthTimeout, "health-timeout", 60*time.Second, "default wait for /healthz and /readyz after a cutover")
	fl.DurationVar(&stopTimeout, "stop-timeout", 20*time.Second, "how long the node has to exit after SIGTERM before SIGKILL")
	cmd.AddCommand(a.launcherStatusCmd(), a.launcherStageCmd(), a.launcherCutoverCmd(), a.launcherRollbackCmd())
	return cmd
}

func (a *app) launcherStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the releases, the operation in progress, pending requests and recent results",
		Long: `Read the launcher's files in the home (no running launcher needed): the
installed releases with their versions, which one is current and which
previous, the cutover or rollback step in progress (from the intent log),
requests not answered yet and the latest results.`,
		Example: `  aura-node --home ./a launcher status
  aura-node --home ./a launcher status --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := launcher.ReadStatus(a.home)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), s)
			}
			printLauncherStatus(cmd.OutOrStdout(), s)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func printLauncherStatus(w io.Writer, s *launcher.Status) {
	run := func(ok bool, pid int) string {
		if ok {
			return fmt.Sprintf("running (pid %d)", pid)
		}
		return "not running"
	}
	rel := func(r *launcher.ReleaseInfo) string {
		if r == nil {
			return "-"
		}
		return fmt.Sprintf("%s (version %s)", r.ID, r.Version)
	}
	tw := newTable(w)
	fmt.Fprintf(tw, "home\t%s\n", s.Home)
	fmt.Fprintf(tw, "launcher\t%s\n", run(s.LauncherRunning, s.LauncherPID))
	node := run(s.NodeRunning, s.NodePID)
	if s.NodeRunning {
		node += ", release " + s.NodeRelease
	}
	fmt.Fprintf(tw, "node\t%s\n", node)
	fmt.Fprintf(tw, "current\t%s\n", rel(s.Current))
	fmt.Fprintf(tw, "previous\t%s\n", rel(s.Previous))
	var ids []string
	for _, r := range s.Releases {
		ids = append(ids, r.ID+"="+r.Version)
	}
	fmt.Fprintf(tw, "releases\t%s\n", strings.Join(ids, " "))
	fmt.Fprintf(tw, "checkpoints\t%s\n", strings.Join(s.Checkpoints, " "))
	if op := s.Operation; op != nil {
		fmt.Fprintf(tw, "operation\t%s at %s (request %d, %s -> %s, attempt %d)\n", op.Op, op.Step, op.Request.Seq, op.From.ID, op.To.ID, op.Attempts+1)
	} else {
		fmt.Fprintf(tw, "operation\tnone\n")
	}
	for _, p := range s.Pending {
		fmt.Fprintf(tw, "pending\t%d %s %s\n", p.Seq, p.Action, p.ReleaseID)
	}
	tw.Flush()
	if len(s.Results) > 0 {
		fmt.Fprintln(w, "\nrecent results:")
		tw = newTable(w)
		fmt.Fprintln(tw, "  SEQ\tACTION\tRELEASE\tOUTCOME\tCLASS\tACTIVE\tDETAIL")
		for _, r := range s.Results {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Action, dash(r.ReleaseID), r.Outcome, dash(string(r.FailureClass)), dash(r.ToRelease), r.Detail)
		}
		tw.Flush()
	}
}

// requestFlags are the flags every request subcommand shares.
type requestFlags struct {
	noWait  bool
	timeout time.Duration
	reason  string
	asJSON  bool
}

func (f *requestFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.noWait, "no-wait", false, "submit and print the request number without waiting for the result")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for the result")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, for the record")
	jsonFlag(cmd, &f.asJSON)
}

// submit sends a request to the launcher of the home and, unless
// --no-wait, waits for its result; a result that is not ok is an error.
func (a *app) submit(cmd *cobra.Command, f *requestFlags, req launcher.Request) error {
	req.Origin, req.Reason = "cli", f.reason
	seq, err := launcher.Submit(a.home, req)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if f.noWait {
		if f.asJSON {
			return printJSON(out, map[string]uint64{"seq": seq})
		}
		fmt.Fprintf(out, "request %d submitted (see `aura-node launcher status --home %s`)\n", seq, a.home)
		return nil
	}
	if st, err := launcher.ReadStatus(a.home); err == nil && !st.LauncherRunning {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: no launcher runs for %s; request %d waits until one starts\n", a.home, seq)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	res, err := launcher.Wait(ctx, a.home, seq, 100*time.Millisecond)
	if err != nil {
		return err
	}
	if f.asJSON {
		if err := printJSON(out, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "request %d (%s %s): %s\n", res.Seq, res.Action, dash(res.ReleaseID), res.Outcome)
		if res.FailureClass != "" {
			fmt.Fprintf(out, "  class:   %s\n", res.FailureClass)
		}
		fmt.Fprintf(out, "  detail:  %s\n", res.Detail)
		fmt.Fprintf(out, "  active:  %s (%s), was %s (%s)\n", dash(res.ToRelease), dash(res.ToVersion), dash(res.FromRelease), dash(res.FromVersion))
		for _, g := range res.Gates {
			mark := "pass"
			if !g.OK {
				mark = "FAIL"
			}
			fmt.Fprintf(out, "  gate %-8s %s %dms %s\n", g.Name, mark, g.DurationMs, g.Detail)
		}
	}
	done := res.Outcome == launcher.OutcomeOK ||
		res.Action == launcher.ActionRollback && res.Outcome == launcher.OutcomeRolledBack
	if !done {
		return fmt.Errorf("%s %s: %s (%s): %s", res.Action, dash(res.ReleaseID), res.Outcome, res.FailureClass, res.Detail)
	}
	return nil
}

func (a *app) launcherStageCmd() *cobra.Command {
	var (
		f                          requestFlags
		id, artifact, sum, version string
	)
	cmd := &cobra.Command{
		Use:   "stage",
		Short: "Verify a binary and install it as a release (the node keeps running)",
		Long: `Ask the launcher to stage a binary: copy it into releases/ID/, check its
sha256 (--sha256; computed from the file if omitted), run ` + "`BINARY version`" + `
and compare with --version if given.`,
		Example: `  aura-node --home ./a launcher stage --release-id v2 --artifact ./aura-node-v2 --version 2.0.0`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			abs, err := filepath.Abs(artifact)
			if err != nil {
				return err
			}
			if sum == "" {
				if sum, err = fileSHA256(abs); err != nil {
					return fmt.Errorf("--artifact: %w", err)
				}
			}
			return a.submit(cmd, &f, launcher.Request{Action: launcher.ActionStage, ReleaseID: id, Version: version, Artifact: abs, SHA256: sum})
		},
	}
	cmd.Flags().StringVar(&id, "release-id", "", "release ID (the folder name under releases/)")
	cmd.Flags().StringVar(&artifact, "artifact", "", "the aura-node binary to stage")
	cmd.Flags().StringVar(&sum, "sha256", "", "expected sha256 of the binary (hex)")
	cmd.Flags().StringVar(&version, "version", "", "expected output of `BINARY version`")
	cmd.MarkFlagRequired("release-id")
	cmd.MarkFlagRequired("artifact")
	f.add(cmd)
	return cmd
}

func (a *app) launcherCutoverCmd() *cobra.Command {
	var (
		f                      requestFlags
		id, version            string
		gates                  []string
		gateTimeout, healthTmo time.Duration
	)
	cmd := &cobra.Command{
		Use:   "cutover",
		Short: "Make a staged release the active one, with health gates and automatic rollback",
		Long: `Ask the launcher to cut over to a staged release: stop the node, checkpoint
its data, switch releases/current, start the new release, and require
/healthz and /readyz (within --health-timeout) and every --gate command
(exit status 0 within --gate-timeout; run with sh -c in the home, with
AURA_HOME, AURA_API_ADDR, AURA_RELEASE_ID, AURA_VERSION and
AURA_PREVIOUS_RELEASE_ID set). If anything fails the launcher restores the
previous release and its data and the result is rolled_back.`,
		Example: `  aura-node --home ./a launcher cutover --release-id v2 --version 2.0.0 \
      --gate 'smoke=aura-node --home "$AURA_HOME" status'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := launcher.Request{Action: launcher.ActionCutover, ReleaseID: id, Version: version, HealthTimeoutMs: healthTmo.Milliseconds()}
			for _, g := range gates {
				name, command, ok := strings.Cut(g, "=")
				if !ok || name == "" || command == "" {
					return fmt.Errorf("--gate %q: want NAME=COMMAND", g)
				}
				req.Gates = append(req.Gates, launcher.GateCommand{Name: name, Argv: []string{"/bin/sh", "-c", command}, TimeoutMs: gateTimeout.Milliseconds()})
			}
			return a.submit(cmd, &f, req)
		},
	}
	cmd.Flags().StringVar(&id, "release-id", "", "the staged release to activate")
	cmd.Flags().StringVar(&version, "version", "", "expected version of the staged release")
	cmd.Flags().StringArrayVar(&gates, "gate", nil, "gate command NAME=COMMAND (repeatable)")
	cmd.Flags().DurationVar(&gateTimeout, "gate-timeout", time.Minute, "timeout of each gate command")
	cmd.Flags().DurationVar(&healthTmo, "health-timeout", 0, "wait for /healthz and /readyz (default: the launcher's)")
	cmd.MarkFlagRequired("release-id")
	f.add(cmd)
	return cmd
}

func (a *app) launcherRollbackCmd() *cobra.Command {
	var f requestFlags
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Restore the previous release and the data checkpoint taken before the cutover",
		Long: `Ask the launcher to roll back to releases/previous: stop the node, restore
the Pebble checkpoint of the data taken before the cutover, switch
releases/current back and start it. What the node wrote since the cutover
is kept aside in data.rolled-back; anti-entropy fetches the network's facts
again.`,
		Example: `  aura-node --home ./a launcher rollback --reason "v2 corrupts the cache"`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.submit(cmd, &f, launcher.Request{Action: launcher.ActionRollback})
		},
	}
	f.add(cmd)
	return cmd
}

// fileSHA256 returns the hex sha256 of a file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
