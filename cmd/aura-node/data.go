package main

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/api"
	"github.com/aura-node/aura-node/testnet"
)

const defaultNamespace = "default"

func (a *app) dataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Write and read replicated key-value data",
		Long: `Write and read the replicated data store. Each write is a signed Data fact
in the journal; every node converges on the same value per key: the write
with the highest hybrid logical clock time wins, ties broken by fact CID.`,
		Example: `  aura-node data put greeting "hello"
  aura-node --home ./b data get greeting
  aura-node data put --ns config retries 3`,
		Args: noArgs,
	}
	cmd.AddCommand(a.dataPutCmd(), a.dataGetCmd())
	return cmd
}

func (a *app) dataPutCmd() *cobra.Command {
	var ns string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Write a key; prints the fact ID",
		Long: `Write VALUE under KEY in namespace --ns as a Data fact authored by this
node, and print the fact's CID. The write replicates to every node.

If a snapshot's writer fence is active the write is queued and released
after the snapshot commits or aborts; the output says so.`,
		Example: `  aura-node data put greeting "hello from node-1"
  aura-node data put --ns config retries 3 --json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.PutData(cmd.Context(), ns, args[0], []byte(args[1]))
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			if res.Queued {
				fmt.Fprintf(out, "%s (queued behind a snapshot writer fence)\n", res.ID)
				return nil
			}
			fmt.Fprintln(out, res.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&ns, "ns", defaultNamespace, "namespace")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) dataGetCmd() *cobra.Command {
	var ns string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Read a key; prints the raw value",
		Long: `Print the current value of KEY in namespace --ns followed by a newline,
or fail with "key not found". --json prints the value with its author,
time and fact (the value base64-encoded).`,
		Example: `  aura-node data get greeting
  aura-node data get --ns config retries --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			v, err := c.GetData(cmd.Context(), ns, args[0])
			if isNotFound(err) {
				if ns == defaultNamespace {
					return fmt.Errorf("key %q not found", args[0])
				}
				return fmt.Errorf("key %q not found in namespace %q", args[0], ns)
			}
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, v)
			}
			out.Write(v.Value)
			fmt.Fprintln(out)
			return nil
		},
	}
	cmd.Flags().StringVar(&ns, "ns", defaultNamespace, "namespace")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) cacheCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Use the node's local cache and replicated invalidations",
		Long: `Each node keeps a local cache. Entries are local; invalidations are
replicated: ` + "`cache invalidate`" + ` publishes a CacheInvalidated fact that
raises each key's epoch floor on every node. An entry stored at epoch e is
valid while e >= floor(key); floors only rise.`,
		Example: `  aura-node cache set user:42 "profile"
  aura-node cache get user:42
  aura-node --home ./b cache invalidate user:42
  aura-node cache check user:42 --epoch 0`,
		Args: noArgs,
	}
	cmd.AddCommand(a.cacheSetCmd(), a.cacheGetCmd(), a.cacheInvalidateCmd(), a.cacheCheckCmd(), a.cacheQueryCmd())
	return cmd
}

func (a *app) cacheSetCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "set KEY VALUE",
		Short:   "Store a local cache entry at the current epoch",
		Long:    "Store VALUE under KEY in this node's local cache, stamped with the node's current identity epoch. The entry itself is not replicated.",
		Example: `  aura-node cache set user:42 "profile of user 42"`,
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			e, err := c.CacheSet(cmd.Context(), args[0], []byte(args[1]))
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, e)
			}
			fmt.Fprintf(out, "stored %s at epoch %d (floor %d, valid=%t)\n", e.Key, e.Epoch, e.Floor, e.Valid)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) cacheGetCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Read a local cache entry, if still valid",
		Long: `Print the cached value of KEY if the entry is valid, else why it is a
miss: "miss (no entry)" or "miss (invalidated: stored at epoch X, floor Y)".
A miss is an answer, not an error: the exit status is 0.`,
		Example: `  aura-node cache get user:42
  aura-node cache get user:42 --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			e, err := c.CacheGet(cmd.Context(), args[0])
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, e)
			}
			fmt.Fprintln(out, testnet.CacheGetText(e))
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) cacheInvalidateCmd() *cobra.Command {
	var floor uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "invalidate KEY...",
		Short: "Invalidate keys on every node (replicated)",
		Long: `Publish a CacheInvalidated fact for the keys. Every node raises the keys'
floor to --floor, or by default to the current epoch plus one, which
invalidates every entry cached so far. Prints the fact ID.`,
		Example: `  aura-node cache invalidate user:42 user:43
  aura-node cache invalidate config --floor 5`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.InvalidateRequest{Keys: args}
			if cmd.Flags().Changed("floor") {
				req.Floor = &floor
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			res, err := c.Invalidate(cmd.Context(), req)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, res)
			}
			queued := ""
			if res.Queued {
				queued = " (queued behind a snapshot writer fence)"
			}
			fmt.Fprintf(out, "invalidated %d key(s): fact %s%s\n", len(args), res.ID, queued)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&floor, "floor", 0, "epoch floor to raise the keys to (default: current epoch + 1)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) cacheCheckCmd() *cobra.Command {
	var epoch uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check KEY",
		Short: "Say whether an entry stored at an epoch is still valid",
		Long: `Say whether an entry of KEY stored at --epoch (default: the current epoch)
is still valid under the key's replicated floor. Prints
"key=K floor=F epoch=E valid=BOOL".`,
		Example: `  aura-node cache check user:42
  aura-node cache check user:42 --epoch 0 --json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ep *uint64
			if cmd.Flags().Changed("epoch") {
				ep = &epoch
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			r, err := c.CacheCheck(cmd.Context(), args[0], ep)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, r)
			}
			fmt.Fprintln(out, testnet.CheckLine(r))
			return nil
		},
	}
	cmd.Flags().Uint64Var(&epoch, "epoch", 0, "epoch the entry was stored at (default: current epoch)")
	jsonFlag(cmd, &asJSON)
	return cmd
}

func (a *app) cacheQueryCmd() *cobra.Command {
	var prefix string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "query",
		Short: "List local cache entries",
		Long:  "List this node's local cache entries whose key starts with --prefix, with the epoch each was stored at, the key's floor and whether it is valid.",
		Example: `  aura-node cache query
  aura-node cache query --prefix user: --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			q, err := c.CacheQuery(cmd.Context(), prefix)
			if err != nil {
				return c.wrap(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, q)
			}
			if len(q.Entries) == 0 {
				fmt.Fprintln(out, "no entries")
				return nil
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "KEY\tEPOCH\tFLOOR\tVALID\tVALUE")
			for _, e := range q.Entries {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%t\t%s\n", e.Key, e.Epoch, e.Floor, e.Valid, preview(e.Value, 40))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only keys with this prefix")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// preview renders a value for a table cell: quoted text, shortened.
func preview(b []byte, max int) string {
	if !utf8.Valid(b) {
		return fmt.Sprintf("(%d bytes)", len(b))
	}
	s := string(b)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}
