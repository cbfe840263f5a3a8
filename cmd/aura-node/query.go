package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/facts"
)

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running node's status",
		Long: `Show the running node's network, identity epoch, state digest, journal
size, peers, admin, roster and threshold, pending proposals, cache and
gossip counters.

Two nodes that hold the same facts show the same state digest. --json
prints the API's status object as is; scripts can rely on its
"state_digest" and "epoch" fields.`,
		Example: `  aura-node status
  aura-node --home ./b status --json | jq -r .state_digest`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return c.wrap(err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func printStatus(out io.Writer, st *api.Status) {
	role := "not a member"
	switch {
	case st.IsMember && st.IsAdmin:
		role = "member, admin"
	case st.IsMember:
		role = "member"
	case st.IsAdmin:
		role = "admin"
	}
	tw := newTable(out)
	fmt.Fprintf(tw, "network\t%s (%s)\n", st.NetworkName, st.NetworkID)
	fmt.Fprintf(tw, "peer ID\t%s\n", st.PeerID)
	fmt.Fprintf(tw, "authority\t%s (%s)\n", st.Authority, role)
	version := st.Version
	if st.Release != "" {
		version += ", launcher runs release " + short(st.Release)
	}
	if st.Protocol > 0 {
		version += fmt.Sprintf(", protocol %d", st.Protocol)
	}
	fmt.Fprintf(tw, "version\t%s\n", version)
	fmt.Fprintf(tw, "epoch\t%d\n", st.Epoch)
	fmt.Fprintf(tw, "state digest\t%s\n", st.StateDigest)
	fmt.Fprintf(tw, "facts\t%d%s\n", st.Facts, kindCounts(st.KindCounts))
	if st.HeldFacts > 0 {
		fmt.Fprintf(tw, "held facts\t%d (waiting for an epoch this node has not reached)\n", st.HeldFacts)
	}
	for i, l := range st.ListenAddrs {
		label := ""
		if i == 0 {
			label = "listening"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, l)
	}
	fmt.Fprintf(tw, "uptime\t%s\n", (time.Duration(st.UptimeSecond) * time.Second).String())
	fmt.Fprintf(tw, "disk\t%s\n", humanBytes(st.DiskBytes))
	fmt.Fprintf(tw, "gossip\taccepted %d, rejected %d, ignored %d\n", st.Gossip.Accepted, st.Gossip.Rejected, st.Gossip.Ignored)
	fmt.Fprintf(tw, "anti-entropy\t%d sessions, %d facts pulled, %d pushed, %d failures\n", st.Sync.Sessions, st.Sync.FactsPulled, st.Sync.FactsPushed, st.Sync.Failures)
	for _, ps := range st.Sync.Peers {
		result := "repaired"
		switch {
		case ps.Error != "":
			result = "failed: " + ps.Error
		case ps.InSync:
			result = "in sync"
		}
		fmt.Fprintf(tw, "\t  last with …%s: %s, %d rounds, %d B out, %d B in, pulled %d, pushed %d\n",
			shortID(ps.Peer), result, ps.Rounds, ps.BytesOut, ps.BytesIn, ps.Pulled, ps.Pushed)
	}
	fmt.Fprintf(tw, "cache\t%d entries, %d hits, %d misses, %d invalidations, hit rate %.2f\n",
		st.Cache.Entries, st.Cache.Hits, st.Cache.Misses, st.Cache.Invalidations, st.Cache.HitRate)
	fmt.Fprintf(tw, "admin\t%s\n", st.Admin)
	tw.Flush()

	fmt.Fprintf(out, "\npeers (%d)\n", len(st.Peers))
	if len(st.Peers) > 0 {
		tw = newTable(out)
		fmt.Fprintln(tw, "  PEER\tSCORE\tADDRS")
		for _, p := range st.Peers {
			fmt.Fprintf(tw, "  %s\t%.1f\t%s\n", p.ID, p.Score, strings.Join(p.Addrs, " "))
		}
		tw.Flush()
	}

	fmt.Fprintf(out, "\nroster (%s, threshold %d)\n", plural(len(st.Roster), "member"), st.Threshold)
	printRoster(out, st.Roster, st.Admin)

	fmt.Fprintf(out, "\npending proposals (%d)\n", len(st.Pending))
	printProposals(out, st.Pending)

	if st.Snapshot != nil {
		fmt.Fprintln(out, "\nsnapshots")
		printSnapshotStatus(&indent{w: out, prefix: "  "}, st.Snapshot)
	}
}

// indent prefixes every line written through it.
type indent struct {
	w      io.Writer
	prefix string
	mid    bool
}

func (d *indent) Write(p []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" {
			continue
		}
		if !d.mid {
			if _, err := io.WriteString(d.w, d.prefix); err != nil {
				return 0, err
			}
		}
		if _, err := io.WriteString(d.w, line); err != nil {
			return 0, err
		}
		d.mid = !strings.HasSuffix(line, "\n")
	}
	return len(p), nil
}

func printRoster(out io.Writer, roster []api.RosterMember, admin string) {
	if len(roster) == 0 {
		return
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "  AUTHORITY\tNAME\tROLE")
	for _, m := range roster {
		r := ""
		if m.Authority == admin {
			r = "admin"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Authority, dash(m.Name), r)
	}
	tw.Flush()
}

func printProposals(out io.Writer, ps []api.Proposal) {
	if len(ps) == 0 {
		return
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "  ID\tKIND\tEPOCH\tAPPROVALS\tAUTHOR\tSUMMARY")
	for _, p := range ps {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d/%d\t%s\t%s\n", p.ID, p.Kind, p.Epoch, len(p.Approvers), p.Needed, shortID(p.Author), p.Summary)
	}
	tw.Flush()
}

// kindCounts renders " (Data 10, Genesis 1)", largest first.
func kindCounts(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	type kc struct {
		k string
		n uint64
	}
	var l []kc
	for k, n := range m {
		l = append(l, kc{k, n})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return l[i].k < l[j].k
	})
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = fmt.Sprintf("%s %d", e.k, e.n)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shortID abbreviates a peer or authority ID to its last 8 characters.
func shortID(s string) string {
	if len(s) > 14 {
		return "…" + s[len(s)-8:]
	}
	return dash(s)
}

// plural renders "1 member", "3 members".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) factsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "facts",
		Short: "List and show journal facts",
		Long:  "Read the running node's journal: list facts with filters, or show one fact with its decoded payload.",
		Example: `  aura-node facts list --kind Data --newest --limit 10
  aura-node facts show bafyrei...`,
		Args: noArgs,
	}
	cmd.AddCommand(a.factsListCmd(), a.factsShowCmd())
	return cmd
}

func (a *app) factsListCmd() *cobra.Command {
	var (
		q      api.FactQuery
		kind   string
		epoch  uint64
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List journal facts as a table",
		Long: `List the facts of the running node's journal, oldest first (or newest
first with --newest), filtered by kind, author and epoch.

Kinds are names such as Data, CacheInvalidated, AdminReplacement,
TransitionApproved or Genesis (case-insensitive), or their numbers.`,
		Example: `  aura-node facts list
  aura-node facts list --kind data --newest --limit 5
  aura-node facts list --author 12D3KooW... --epoch 1 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if kind != "" {
				k, err := facts.ParseKind(kind)
				if err != nil {
					return fmt.Errorf("--kind %q is not a fact kind (known: %s)", kind, kindNames())
				}
				q.Kind = k.String()
			}
			if q.Author != "" {
				if _, err := facts.ParseAuthorityID(q.Author); err != nil {
					return fmt.Errorf("--author %q is not an authority ID", q.Author)
				}
			}
			if cmd.Flags().Changed("epoch") {
				q.Epoch = &epoch
			}
			if q.Limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (the default) or more", q.Limit)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			list, err := c.ListFacts(cmd.Context(), q)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, list)
			}
			if len(list.Facts) == 0 {
				fmt.Fprintln(out, "no facts match")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "ID\tKIND\tAUTHOR\tEPOCH\tTIME")
			for _, f := range list.Facts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", f.ID, f.Kind, shortID(f.Author), f.Epoch, f.TimeText)
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kind, "kind", "", "only facts of this kind (name or number)")
	fl.StringVar(&q.Author, "author", "", "only facts by this authority ID")
	fl.Uint64Var(&epoch, "epoch", 0, "only facts of this identity epoch")
	fl.Uint64Var(&q.Since, "since", 0, "only facts with an HLC time after this value")
	fl.IntVar(&q.Limit, "limit", 100, "at most this many facts (0: the default 100; at most 10000)")
	fl.BoolVar(&q.Newest, "newest", false, "newest first")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func kindNames() string {
	var names []string
	for _, k := range facts.AllKinds() {
		names = append(names, k.String())
	}
	return strings.Join(names, ", ")
}

func (a *app) factsShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show CID",
		Short: "Show one fact with its decoded payload",
		Long:  "Show one fact of the running node's journal by its CID: envelope fields and the decoded payload. --json adds the canonical CBOR bytes (base64).",
		Example: `  aura-node facts show bafyreib...
  aura-node facts show bafyreib... --json | jq .payload`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			f, err := c.GetFact(cmd.Context(), args[0])
			if err != nil {
				if isNotFound(err) {
					return fmt.Errorf("fact %s not found on this node", args[0])
				}
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, f)
			}
			tw := newTable(out)
			fmt.Fprintf(tw, "id\t%s\n", f.ID)
			fmt.Fprintf(tw, "kind\t%s\n", f.Kind)
			fmt.Fprintf(tw, "author\t%s\n", f.Author)
			fmt.Fprintf(tw, "epoch\t%d\n", f.Epoch)
			fmt.Fprintf(tw, "time\t%s (%d)\n", f.TimeText, f.Time)
			fmt.Fprintf(tw, "network\t%s\n", f.Network)
			fmt.Fprintf(tw, "size\t%d bytes\n", f.Size)
			tw.Flush()
			fmt.Fprintln(out, "payload:")
			var buf bytes.Buffer
			if err := json.Indent(&buf, f.Payload, "  ", "  "); err != nil {
				buf.Reset()
				buf.Write(f.Payload)
			}
			fmt.Fprintf(out, "  %s\n", buf.String())
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}
