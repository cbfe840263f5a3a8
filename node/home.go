package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/snapshot"
)

// Home is a node's data directory:
//
//	config.json     Config
//	node.key        libp2p identity (Ed25519, protobuf), mode 0600
//	authority.key   authority signing key (hex Ed25519 seed), mode 0600
//	bls.key         snapshot approval key (hex BLS seed), mode 0600
//	genesis.cbor    the network's genesis fact
//	api.token       admin API bearer token, mode 0600
//	api.addr        the API's listen address, written by `run`
//	data/           Pebble journal and state
//	snapshots/      snapshot state blobs, <cid>.blob
type Home struct {
	Dir string
}

// File names inside a home.
const (
	ConfigFile    = "config.json"
	NodeKeyFile   = "node.key"
	AuthorityFile = "authority.key"
	BLSFile       = "bls.key"
	GenesisFile   = "genesis.cbor"
	TokenFile     = "api.token"
	APIAddrFile   = "api.addr"
	DataDir       = "data"
	// SnapshotsDir holds snapshot state blobs, named by CID.
	SnapshotsDir = "snapshots"
)

// Path returns the path of a file in the home.
func (h Home) Path(name string) string { return filepath.Join(h.Dir, name) }

// ErrNoHome reports a directory that is not an initialised node home.
var ErrNoHome = errors.New("node: not an initialised aura-node home")

// ErrHomeExists reports an init over an existing home.
var ErrHomeExists = errors.New("node: home is already initialised")

// Keys are the secrets of a home.
type Keys struct {
	Node      crypto.PrivKey
	Authority ed25519.PrivateKey
	// BLS signs snapshot approvals (BDN over BN256, see snapshot/).
	BLS snapshot.PrivateKey
}

// Member returns this home's roster entry: its authority and BLS public
// key.
func (k *Keys) Member(name string) facts.Member {
	m := facts.Member{Authority: k.AuthorityID(), Name: name}
	if pk := k.BLS.Public(); !pk.IsZero() {
		m.BLSKey, _ = pk.MarshalBinary()
	}
	return m
}

// MemberSpec is the text form of a roster entry that `init --member`
// takes: "AUTHORITY_ID:BLS_PUBLIC_KEY_HEX".
func (k *Keys) MemberSpec() string {
	m := k.Member("")
	if len(m.BLSKey) == 0 {
		return m.Authority.String()
	}
	return m.Authority.String() + ":" + hex.EncodeToString(m.BLSKey)
}

// ParseMemberSpec parses "AUTHORITY_ID" or "AUTHORITY_ID:BLS_KEY_HEX". A
// member without a BLS key replicates and approves admin and roster
// changes but cannot approve snapshots.
func ParseMemberSpec(s string) (facts.Member, error) {
	id, blsHex, hasKey := strings.Cut(s, ":")
	a, err := facts.ParseAuthorityID(id)
	if err != nil {
		return facts.Member{}, err
	}
	m := facts.Member{Authority: a}
	if hasKey {
		b, err := hex.DecodeString(blsHex)
		if err != nil {
			return facts.Member{}, fmt.Errorf("node: member %s: BLS key is not hex: %w", id, err)
		}
		if _, err := snapshot.ParsePublicKey(b); err != nil {
			return facts.Member{}, fmt.Errorf("node: member %s: %w", id, err)
		}
		m.BLSKey = b
	}
	return m, nil
}

// AuthorityID returns the authority's ID.
func (k *Keys) AuthorityID() facts.AuthorityID {
	return facts.AuthorityFromKey(k.Authority.Public().(ed25519.PublicKey))
}

// PeerID returns the node's libp2p peer ID.
func (k *Keys) PeerID() peer.ID {
	id, _ := peer.IDFromPrivateKey(k.Node)
	return id
}

// CreateHome makes a new home with fresh keys, the given config and a
// random API token. It does not write a genesis (see WriteGenesis).
func CreateHome(dir string, cfg Config) (Home, *Keys, error) {
	h := Home{Dir: dir}
	if _, err := os.Stat(h.Path(ConfigFile)); err == nil {
		return h, nil, fmt.Errorf("%w: %s", ErrHomeExists, dir)
	}
	if err := cfg.Validate(); err != nil {
		return h, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return h, nil, fmt.Errorf("node: creating home: %w", err)
	}
	nodeKey, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return h, nil, err
	}
	_, authKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return h, nil, err
	}
	var blsSeed [32]byte
	rand.Read(blsSeed[:])
	blsKey, _ := snapshot.GenerateKey(blsSeed)
	nodeBytes, err := crypto.MarshalPrivateKey(nodeKey)
	if err != nil {
		return h, nil, err
	}
	token := make([]byte, 32)
	rand.Read(token)
	cfgBytes, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return h, nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{NodeKeyFile, nodeBytes, 0o600},
		{AuthorityFile, []byte(hex.EncodeToString(authKey.Seed()) + "\n"), 0o600},
		{BLSFile, []byte(hex.EncodeToString(blsSeed[:]) + "\n"), 0o600},
		{TokenFile, []byte(hex.EncodeToString(token) + "\n"), 0o600},
		{ConfigFile, append(cfgBytes, '\n'), 0o644},
	} {
		if err := writeFileAtomic(h.Path(f.name), f.data, f.mode); err != nil {
			return h, nil, err
		}
	}
	return h, &Keys{Node: nodeKey, Authority: authKey, BLS: blsKey}, nil
}

// writeFileAtomic writes via a temporary file and rename, so a crash
// leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("node: writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("node: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("node: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("node: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("node: writing %s: %w", path, err)
	}
	return nil
}

// OpenHome checks that dir is an initialised home.
func OpenHome(dir string) (Home, error) {
	h := Home{Dir: dir}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return h, fmt.Errorf("%w: %s does not exist (run `aura-node init --home %s` first)", ErrNoHome, dir, dir)
	}
	if _, err := os.Stat(h.Path(ConfigFile)); err != nil {
		return h, fmt.Errorf("%w: %s has no %s (run `aura-node init --home %s` first)", ErrNoHome, dir, ConfigFile, dir)
	}
	return h, nil
}

// LoadConfig reads and validates config.json.
func (h Home) LoadConfig() (Config, error) {
	var cfg Config
	b, err := os.ReadFile(h.Path(ConfigFile))
	if err != nil {
		return cfg, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("%w: %s: %v", ErrBadConfig, h.Path(ConfigFile), err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%s: %w", h.Path(ConfigFile), err)
	}
	return cfg, nil
}

// SaveConfig writes config.json.
func (h Home) SaveConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(h.Path(ConfigFile), append(b, '\n'), 0o644)
}

// LoadKeys reads the node and authority keys, refusing key files that
// other users can read.
func (h Home) LoadKeys() (*Keys, error) {
	nb, err := readSecret(h.Path(NodeKeyFile))
	if err != nil {
		return nil, err
	}
	nk, err := crypto.UnmarshalPrivateKey(nb)
	if err != nil {
		return nil, fmt.Errorf("node: %s is corrupt: %w", h.Path(NodeKeyFile), err)
	}
	ab, err := readSecret(h.Path(AuthorityFile))
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(ab)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("node: %s is corrupt: want a hex Ed25519 seed", h.Path(AuthorityFile))
	}
	bb, err := readSecret(h.Path(BLSFile))
	if err != nil {
		return nil, err
	}
	blsSeed, err := hex.DecodeString(strings.TrimSpace(string(bb)))
	if err != nil || len(blsSeed) != 32 {
		return nil, fmt.Errorf("node: %s is corrupt: want a hex 32-byte seed", h.Path(BLSFile))
	}
	blsKey, _ := snapshot.GenerateKey([32]byte(blsSeed))
	return &Keys{Node: nk, Authority: ed25519.NewKeyFromSeed(seed), BLS: blsKey}, nil
}

func readSecret(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("node: %s has mode %v; secrets must be 0600 (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	return os.ReadFile(path)
}

// LoadToken reads the API token.
func (h Home) LoadToken() (string, error) {
	b, err := readSecret(h.Path(TokenFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// LoadAPIAddr reads the address the running node's API listens on.
func (h Home) LoadAPIAddr() (string, error) {
	b, err := os.ReadFile(h.Path(APIAddrFile))
	if err != nil {
		return "", fmt.Errorf("node: no running node for %s (no %s; start it with `aura-node run --home %s`)", h.Dir, APIAddrFile, h.Dir)
	}
	return strings.TrimSpace(string(b)), nil
}

// NewGenesis signs a genesis fact with the admin's authority key. members
// need not be sorted; threshold 0 means a simple majority.
func NewGenesis(admin ed25519.PrivateKey, name string, members []facts.Member, threshold uint32, wallMs uint64) ([]byte, cid.Cid, error) {
	ms := append([]facts.Member(nil), members...)
	sortMembers(ms)
	if threshold == 0 {
		threshold = uint32(len(ms))/2 + 1
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	return facts.Sign(admin, facts.Draft{
		Kind: facts.KindGenesis,
		Payload: &facts.Genesis{
			Name:         name,
			Members:      ms,
			Threshold:    threshold,
			Admin:        facts.AuthorityFromKey(admin.Public().(ed25519.PublicKey)),
			MaxFactBytes: facts.DefaultMaxFactLen,
			Nonce:        nonce,
		},
		Time: facts.MakeTimestamp(wallMs, 0),
	})
}

func sortMembers(ms []facts.Member) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && string(ms[j].Authority[:]) < string(ms[j-1].Authority[:]); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// WriteGenesis stores a genesis fact in the home after checking it.
func (h Home) WriteGenesis(raw []byte) (cid.Cid, error) {
	id, err := checkGenesis(raw)
	if err != nil {
		return cid.Undef, err
	}
	return id, writeFileAtomic(h.Path(GenesisFile), raw, 0o644)
}

// LoadGenesis reads and checks the home's genesis fact.
func (h Home) LoadGenesis() ([]byte, cid.Cid, error) {
	raw, err := os.ReadFile(h.Path(GenesisFile))
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("node: %s has no genesis (init with --new-network or --genesis FILE): %w", h.Dir, err)
	}
	id, err := checkGenesis(raw)
	return raw, id, err
}

func checkGenesis(raw []byte) (cid.Cid, error) {
	id := facts.ComputeID(raw)
	if _, v := facts.CheckStateless(id, raw, facts.Limits{}); v.Result != facts.Accept {
		return cid.Undef, fmt.Errorf("node: genesis file is invalid: %v", v.Reason)
	}
	return id, nil
}
