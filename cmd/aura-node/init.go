package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
)

type initFlags struct {
	newNetwork  bool
	name        string
	members     []string
	threshold   uint32
	genesisFile string
	keysOnly    bool
	listen      []string
	bootstrap   []string
	staticPeers []string
	mdns        bool
	apiAddr     string
	logLevel    string
	json        bool
}

// initResult is what init prints with --json.
type initResult struct {
	Home        string   `json:"home"`
	PeerID      string   `json:"peer_id"`
	Authority   string   `json:"authority"`
	NetworkID   string   `json:"network_id,omitempty"`
	NetworkName string   `json:"network_name,omitempty"`
	Admin       string   `json:"admin,omitempty"`
	Members     []string `json:"members,omitempty"`
	Threshold   uint32   `json:"threshold,omitempty"`
	IsMember    bool     `json:"is_member"`
	GenesisFile string   `json:"genesis_file,omitempty"`
}

func (a *app) initCmd() *cobra.Command {
	var f initFlags
	cmd := &cobra.Command{
		Use:   "init (--new-network | --genesis FILE | --keys-only) [flags]",
		Short: "Create a node home: keys, config and the network's genesis",
		Long: `Create a node home with fresh keys (a libp2p identity for this device and
an authority signing key), a config from the flags, and an API token.

A node belongs to exactly one network, so init needs one of:

  --new-network   start a new network: this node signs its genesis and is
                  its admin; the roster is this node's authority plus every
                  --member; the threshold is --threshold (default: a simple
                  majority). Give the home's genesis.cbor to the members.
  --genesis FILE  join an existing network from its genesis file.
  --keys-only     only create keys and config, so that this node's
                  authority ID can go into a roster; later run
                  ` + "`init --genesis FILE`" + ` on the same home to join
                  (config flags given then update its config).

The network ID is the genesis CID. A member prints its authority ID with
` + "`aura-node keys show --authority`" + `.`,
		Example: `  # a network of three members: b and c make keys first
  aura-node --home ./b init --keys-only
  aura-node --home ./c init --keys-only
  aura-node --home ./a init --new-network --name lab --threshold 2 \
      --listen /ip4/127.0.0.1/tcp/4001 \
      --member "$(aura-node --home ./b keys show --member)" \
      --member "$(aura-node --home ./c keys show --member)"
  # b and c join, keeping a connected
  A="/ip4/127.0.0.1/tcp/4001/p2p/$(aura-node --home ./a keys show --peer)"
  aura-node --home ./b init --genesis ./a/genesis.cbor --static-peer "$A"
  aura-node --home ./c init --genesis ./a/genesis.cbor --static-peer "$A"

  # one node on a network of its own, mDNS on, JSON out
  aura-node init --new-network --mdns --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runInit(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.newNetwork, "new-network", false, "start a new network with this node as admin")
	fl.StringVar(&f.genesisFile, "genesis", "", "join the network of this genesis file")
	fl.BoolVar(&f.keysOnly, "keys-only", false, "create keys and config only; join later with --genesis")
	fl.StringVar(&f.name, "name", "aura", "network name (with --new-network)")
	fl.StringArrayVar(&f.members, "member", nil, "another roster member: AUTHORITY_ID[:BLS_KEY_HEX], as `keys show --member` prints it (repeatable; with --new-network; without a BLS key the member cannot approve snapshots)")
	fl.Uint32Var(&f.threshold, "threshold", 0, "M of the M-of-N threshold, N/2 < M <= N (default: simple majority; with --new-network)")
	fl.StringArrayVar(&f.listen, "listen", nil, "libp2p listen multiaddr (repeatable; default TCP and QUIC on 127.0.0.1, OS-chosen ports)")
	fl.StringArrayVar(&f.bootstrap, "bootstrap", nil, "peer multiaddr with /p2p/ to dial at start (repeatable)")
	fl.StringArrayVar(&f.staticPeers, "static-peer", nil, "peer multiaddr with /p2p/ to keep connected (repeatable)")
	fl.BoolVar(&f.mdns, "mdns", false, "discover peers on the local network with mDNS")
	fl.StringVar(&f.apiAddr, "api-addr", "127.0.0.1:0", "admin API listen address (loopback only; port 0 picks one)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	jsonFlag(cmd, &f.json)
	return cmd
}

// configFlags are the init flags that go into config.json.
var configFlags = []string{"listen", "bootstrap", "static-peer", "mdns", "api-addr", "log-level"}

func (a *app) runInit(cmd *cobra.Command, f *initFlags) error {
	fl := cmd.Flags()
	modes := 0
	for _, on := range []bool{f.newNetwork, f.genesisFile != "", f.keysOnly} {
		if on {
			modes++
		}
	}
	if modes != 1 {
		return errors.New("init needs exactly one of --new-network (start a network), --genesis FILE (join one) or --keys-only (make keys, join later)")
	}
	if !f.newNetwork {
		for _, name := range []string{"name", "member", "threshold"} {
			if fl.Changed(name) {
				return fmt.Errorf("--%s only applies with --new-network", name)
			}
		}
	}

	// A home made with --keys-only has config and keys but no genesis;
	// init completes it, applying the config flags given now (a
	// bootstrap peer, typically, known only once the network exists).
	var existing *node.Home
	cfg := node.DefaultConfig()
	if _, err := os.Stat(filepath.Join(a.home, node.ConfigFile)); err == nil {
		if _, err := os.Stat(filepath.Join(a.home, node.GenesisFile)); err == nil || f.keysOnly {
			return fmt.Errorf("%s is already an initialised home (choose another --home, or remove it to start over)", a.home)
		}
		h, err := node.OpenHome(a.home)
		if err != nil {
			return err
		}
		if cfg, err = h.LoadConfig(); err != nil {
			return err
		}
		existing = &h
	}
	set := func(name string) bool { return existing == nil || fl.Changed(name) }
	if set("listen") && len(f.listen) > 0 {
		cfg.ListenAddrs = f.listen
	}
	if set("bootstrap") {
		cfg.BootstrapPeers = f.bootstrap
	}
	if set("static-peer") {
		cfg.StaticPeers = f.staticPeers
	}
	if set("mdns") {
		cfg.MDNS = f.mdns
	}
	if set("api-addr") {
		cfg.APIAddr = f.apiAddr
	}
	if set("log-level") {
		cfg.LogLevel = f.logLevel
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	configChanged := false
	for _, name := range configFlags {
		configChanged = configChanged || fl.Changed(name)
	}

	// Check everything that can be checked before anything is written,
	// so a mistake does not leave a half-made home behind.
	var genesisRaw []byte
	var others []facts.Member
	switch {
	case f.genesisFile != "":
		raw, err := os.ReadFile(f.genesisFile)
		if err != nil {
			return fmt.Errorf("reading genesis: %w", err)
		}
		if _, err := parseGenesis(raw); err != nil {
			return fmt.Errorf("%s: %w", f.genesisFile, err)
		}
		genesisRaw = raw
	case f.newNetwork:
		seen := map[facts.AuthorityID]bool{}
		for _, s := range f.members {
			m, err := node.ParseMemberSpec(s)
			if err != nil {
				return fmt.Errorf("--member %q: %v (a member prints its entry with `aura-node keys show --member`)", s, err)
			}
			if !seen[m.Authority] {
				seen[m.Authority] = true
				others = append(others, m)
			}
		}
		n := uint32(len(others) + 1)
		if t := f.threshold; t != 0 && (t > n || 2*t <= n) {
			return fmt.Errorf("--threshold %d with %s: need more than half and at most all (%d to %d)", t, plural(int(n), "member"), n/2+1, n)
		}
	}

	var home node.Home
	var keys *node.Keys
	undo := func() {}
	if existing != nil {
		home = *existing
		k, err := home.LoadKeys()
		if err != nil {
			return err
		}
		keys = k
		if configChanged {
			if err := home.SaveConfig(cfg); err != nil {
				return err
			}
		}
	} else {
		_, statErr := os.Stat(a.home)
		existed := !errors.Is(statErr, fs.ErrNotExist)
		h, k, err := node.CreateHome(a.home, cfg)
		if err != nil {
			return err
		}
		home, keys = h, k
		undo = func() {
			if !existed {
				os.RemoveAll(a.home)
				return
			}
			for _, name := range []string{node.ConfigFile, node.NodeKeyFile, node.AuthorityFile, node.TokenFile, node.GenesisFile} {
				os.Remove(home.Path(name))
			}
		}
	}

	out := cmd.OutOrStdout()
	if f.keysOnly {
		res := initResult{Home: a.home, PeerID: keys.PeerID().String(), Authority: keys.AuthorityID().String()}
		if f.json {
			return printJSON(out, res)
		}
		tw := newTable(out)
		fmt.Fprintf(tw, "created keys in\t%s\n", res.Home)
		fmt.Fprintf(tw, "peer ID\t%s\n", res.PeerID)
		fmt.Fprintf(tw, "authority\t%s\n", res.Authority)
		tw.Flush()
		fmt.Fprintln(out, "next:")
		fmt.Fprintln(out, "  give the authority ID to whoever starts the network (init --new-network --member ID)")
		fmt.Fprintf(out, "  then join with `aura-node --home %s init --genesis FILE`\n", a.home)
		return nil
	}

	if f.newNetwork {
		self := keys.AuthorityID()
		members := []facts.Member{keys.Member("")}
		for _, m := range others {
			if m.Authority != self {
				members = append(members, m)
			}
		}
		raw, _, err := node.NewGenesis(keys.Authority, f.name, members, f.threshold, uint64(time.Now().UnixMilli()))
		if err != nil {
			undo()
			return fmt.Errorf("making genesis: %w", err)
		}
		genesisRaw = raw
	}
	id, err := home.WriteGenesis(genesisRaw)
	if err != nil {
		undo()
		return err
	}
	g, err := parseGenesis(genesisRaw)
	if err != nil {
		undo()
		return err
	}

	res := initResult{
		Home:        a.home,
		PeerID:      keys.PeerID().String(),
		Authority:   keys.AuthorityID().String(),
		NetworkID:   id.String(),
		NetworkName: g.Name,
		Admin:       g.Admin.String(),
		Threshold:   g.Threshold,
		GenesisFile: home.Path(node.GenesisFile),
	}
	for _, m := range g.Members {
		res.Members = append(res.Members, m.Authority.String())
		if m.Authority == keys.AuthorityID() {
			res.IsMember = true
		}
	}
	if f.json {
		return printJSON(out, res)
	}
	role := "not a member (it replicates but cannot approve)"
	switch {
	case res.IsMember && res.Admin == res.Authority:
		role = "member and admin"
	case res.IsMember:
		role = "member"
	}
	tw := newTable(out)
	fmt.Fprintf(tw, "initialised\t%s\n", res.Home)
	fmt.Fprintf(tw, "peer ID\t%s\n", res.PeerID)
	fmt.Fprintf(tw, "authority\t%s\n", res.Authority)
	fmt.Fprintf(tw, "network\t%s (%s)\n", res.NetworkID, res.NetworkName)
	fmt.Fprintf(tw, "roster\t%s, threshold %d; this node is %s\n", plural(len(res.Members), "member"), res.Threshold, role)
	tw.Flush()
	fmt.Fprintln(out, "next:")
	if f.newNetwork && len(res.Members) > 1 {
		fmt.Fprintf(out, "  give %s to the other members; each joins with `aura-node init --genesis genesis.cbor`\n", res.GenesisFile)
	}
	fmt.Fprintf(out, "  aura-node run --home %s\n", res.Home)
	return nil
}

// parseGenesis checks a genesis fact the way the node will and returns
// its payload.
func parseGenesis(raw []byte) (*facts.Genesis, error) {
	c, v := facts.CheckStateless(facts.ComputeID(raw), raw, facts.Limits{})
	if v.Result != facts.Accept {
		return nil, fmt.Errorf("not a valid genesis fact: %v", v.Reason)
	}
	g, ok := c.Payload().(*facts.Genesis)
	if !ok {
		return nil, fmt.Errorf("not a genesis fact (kind %s)", c.Fact().Kind)
	}
	return g, nil
}

func (a *app) keysCmd() *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Show this home's identities",
		Long:  "Show the identities stored in the home: the libp2p peer ID of this device and the authority it acts for.",
		Example: `  aura-node keys show
  aura-node --home ./b keys show --authority`,
		Args: noArgs,
	}
	var asJSON, onlyAuth, onlyPeer, onlyMember bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the peer ID and authority ID",
		Long: `Print the node's libp2p peer ID (how peers dial it: /ip4/.../p2p/PEER_ID)
and its authority ID (what a roster lists: pass it to another node's
` + "`init --new-network --member`" + ` or ` + "`admin replace --new`" + `).`,
		Example: `  aura-node keys show
  aura-node keys show --json
  # build a roster from other homes
  aura-node --home ./a init --new-network \
      --member "$(aura-node --home ./b keys show --member)"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if onlyAuth && onlyPeer {
				return errors.New("--authority and --peer are exclusive")
			}
			h, err := node.OpenHome(a.home)
			if err != nil {
				return err
			}
			k, err := h.LoadKeys()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			peerID, auth := k.PeerID().String(), k.AuthorityID().String()
			switch {
			case asJSON:
				return printJSON(out, map[string]string{"peer_id": peerID, "authority": auth, "member": k.MemberSpec()})
			case onlyMember:
				fmt.Fprintln(out, k.MemberSpec())
			case onlyAuth:
				fmt.Fprintln(out, auth)
			case onlyPeer:
				fmt.Fprintln(out, peerID)
			default:
				tw := newTable(out)
				fmt.Fprintf(tw, "peer ID\t%s\n", peerID)
				fmt.Fprintf(tw, "authority\t%s\n", auth)
				fmt.Fprintf(tw, "member entry\t%s\n", k.MemberSpec())
				tw.Flush()
			}
			return nil
		},
	}
	jsonFlag(show, &asJSON)
	show.Flags().BoolVar(&onlyAuth, "authority", false, "print only the authority ID")
	show.Flags().BoolVar(&onlyPeer, "peer", false, "print only the peer ID")
	show.Flags().BoolVar(&onlyMember, "member", false, "print only the roster entry (authority:BLS key) that `init --new-network --member` takes")
	keys.AddCommand(show)
	return keys
}
