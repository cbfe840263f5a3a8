package node

import (
	"errors"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/aura-node/aura-node/release"
)

// Config is the node's configuration, stored as config.json in its home.
// Every field has a default (DefaultConfig); Validate fills zero values and
// rejects bad combinations.
type Config struct {
	// ListenAddrs are the libp2p listen multiaddrs. Default: TCP and QUIC
	// on 127.0.0.1 with OS-chosen ports.
	ListenAddrs []string `json:"listen_addrs"`
	// BootstrapPeers are dialled once at start (multiaddrs with /p2p/).
	BootstrapPeers []string `json:"bootstrap_peers,omitempty"`
	// StaticPeers are kept connected: redialled whenever disconnected.
	StaticPeers []string `json:"static_peers,omitempty"`
	// MDNS enables local peer discovery. Off by default.
	MDNS bool `json:"mdns"`
	// MDNSService is the mDNS service name; use a unique one per network
	// on a shared machine. Default: derived from the network ID.
	MDNSService string `json:"mdns_service,omitempty"`
	// APIAddr is the admin API listen address; it must be loopback.
	// Default 127.0.0.1:0 (the chosen port is written to api.addr).
	APIAddr string `json:"api_addr"`
	// SyncInterval is how often the node runs an anti-entropy session with
	// the best-scored connected peer (trust, success rate, load). Default
	// 30s, with ±25% jitter.
	SyncInterval Duration `json:"sync_interval"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `json:"log_level"`
	// Snapshot configures snapshot rounds and the auto-snapshot trigger.
	Snapshot SnapshotConfig `json:"snapshot"`
	// ReleaseDiscovery is the release discovery policy: which release
	// authorities and builders the node trusts and whether it fetches
	// release metadata and artifacts by itself. Default (absent): trust
	// no one but the node's own authority, fetch nothing. Written by
	// `aura-node policy set discovery`.
	ReleaseDiscovery *release.DiscoveryPolicy `json:"release_discovery,omitempty"`
	// ReleaseSharing is the release sharing policy: which releases' facts
	// the node relays, whose artifacts it pins and serves, which it
	// recommends. Default (absent): release.DefaultSharingPolicy. Written
	// by `aura-node policy set sharing`.
	ReleaseSharing *release.SharingPolicy `json:"release_sharing,omitempty"`
	// Seed runs the node as a seeder: it fetches, pins and serves the
	// artifacts of every declared, unrevoked release it learns of,
	// whatever its policies. Default false (`run --seed` sets it).
	Seed bool `json:"seed,omitempty"`
	// ArtifactUploadBytesPerSecond caps the artifact block bytes the
	// node serves to all peers together per second; 0 (default): no cap.
	ArtifactUploadBytesPerSecond float64 `json:"artifact_upload_bytes_per_second,omitempty"`
	// ArtifactPeerBytesPerSecond caps the artifact block bytes the node
	// serves to one peer per second; 0 (default): no cap.
	ArtifactPeerBytesPerSecond float64 `json:"artifact_peer_bytes_per_second,omitempty"`
	// Activation is the device-local activation policy, the scopes the
	// device takes part in and its launcher's gate commands (upgrade*.go).
	// Absent: the node shows activation state but acts on nothing.
	// Written by `aura-node policy set activation`.
	Activation *ActivationConfig `json:"activation,omitempty"`
}

// Duration is a time.Duration that reads and writes as "30s" in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		APIAddr:      "127.0.0.1:0",
		SyncInterval: Duration(30 * time.Second),
		LogLevel:     "info",
	}
}

// ErrBadConfig marks configuration errors.
var ErrBadConfig = errors.New("node: bad config")

// Validate fills defaults and checks the config.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = d.ListenAddrs
	}
	if c.APIAddr == "" {
		c.APIAddr = d.APIAddr
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = d.SyncInterval
	}
	if c.LogLevel == "" {
		c.LogLevel = d.LogLevel
	}
	if err := c.Snapshot.validate(); err != nil {
		return err
	}
	for _, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fmt.Errorf("%w: listen address %q: %v", ErrBadConfig, s, err)
		}
	}
	for _, list := range [][]string{c.BootstrapPeers, c.StaticPeers} {
		for _, s := range list {
			if _, err := parsePeerAddr(s); err != nil {
				return fmt.Errorf("%w: peer address %q: %v", ErrBadConfig, s, err)
			}
		}
	}
	if err := checkLoopback(c.APIAddr); err != nil {
		return fmt.Errorf("%w: api_addr: %v", ErrBadConfig, err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%w: log_level %q: want debug, info, warn or error", ErrBadConfig, c.LogLevel)
	}
	if err := c.Activation.validate(); err != nil {
		return err
	}
	return c.validateReleasePolicies()
}
