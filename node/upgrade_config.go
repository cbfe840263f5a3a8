package node

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/launcher"
	"github.com/aura-node/aura-node/release"
)

// DefaultActivationSeries is the release series a node follows when its
// activation section names none.
const DefaultActivationSeries = "aura-node"

// ActivationConfig is the activation section of config.json: the policy
// of this device's own scope, the other scopes the device takes part in,
// and the health gate commands its launcher runs after a cutover.
// Without the section the node reduces and shows every scope but authors
// nothing by itself (no ScopeEntered, no staging, no cutover).
type ActivationConfig struct {
	// Policy is the device-local policy: it governs the device's own
	// scope (device:AUTHORITY/PEER), and the node publishes it there as
	// an ActivationPolicyPublished whenever it changes.
	Policy ActivationPolicyDoc `json:"policy"`
	// Series is the release series this node runs (default "aura-node").
	Series string `json:"series,omitempty"`
	// Scopes are scope keys (context:OWNER/ID, quorum:OWNER/ID/P1,...,
	// authority:OWNER) the device takes part in besides its own device
	// scope. A managed quorum that names this node's authority as a
	// participant, and this authority's own scope, are joined without
	// being listed once their owner publishes a policy for them.
	Scopes []string `json:"scopes,omitempty"`
	// Manual makes the node stage and cut over only when told (`upgrade
	// stage`, `upgrade cutover`); rollbacks its scopes order still run.
	Manual bool `json:"manual,omitempty"`
	// Gates are the health gate commands the launcher runs after a
	// cutover, besides its built-in healthz and readyz. They come from
	// this local configuration only, never from the network.
	Gates []GateConfig `json:"gates,omitempty"`
	// HealthTimeout bounds the launcher's wait for /healthz and /readyz
	// after a cutover (default: the launcher's).
	HealthTimeout Duration `json:"health_timeout,omitempty"`
	// DrainTimeout bounds the wait for in-flight anti-entropy sessions
	// to end by themselves before a cutover (the plan's drain; default
	// 30s, at most 2m).
	DrainTimeout Duration `json:"drain_timeout,omitempty"`
	// PartitionGrace is how long a device running a scoped hard fork may
	// have only peers of other protocol versions before it records a
	// partition (default 2m, at most 24h).
	PartitionGrace Duration `json:"partition_grace,omitempty"`
}

// drainTimeout is the configured drain bound or the default.
func (c *ActivationConfig) drainTimeout() time.Duration {
	if c == nil || c.DrainTimeout <= 0 {
		return drainTimeout
	}
	return time.Duration(c.DrainTimeout)
}

// partitionGrace is the configured grace or the default.
func (c *ActivationConfig) partitionGrace() time.Duration {
	if c == nil || c.PartitionGrace <= 0 {
		return partitionGrace
	}
	return time.Duration(c.PartitionGrace)
}

// GateConfig is one health gate command.
type GateConfig struct {
	// Name is the gate's name as releases and policies declare it.
	Name string `json:"name"`
	// Command is the argv, run without a shell in the home, with
	// AURA_HOME, AURA_API_ADDR, AURA_RELEASE_ID, AURA_VERSION and
	// AURA_PREVIOUS_RELEASE_ID set. Exit status 0 passes.
	Command []string `json:"command"`
	// Timeout bounds one run (default: the launcher's).
	Timeout Duration `json:"timeout,omitempty"`
}

// Built-in gates: the launcher always checks the node's health and
// readiness endpoints after a cutover.
const (
	gateHealthz = "healthz"
	gateReadyz  = "readyz"
)

// ActivationPolicyDoc is the JSON form of an activation policy
// (activation.Policy without its scope) in config.json and the API.
type ActivationPolicyDoc struct {
	// TrustedReleaseAuthorities may declare activatable releases.
	TrustedReleaseAuthorities []facts.AuthorityID `json:"trusted_release_authorities,omitempty"`
	// TrustedBuilders' certificates count towards BuilderThreshold.
	TrustedBuilders  []facts.AuthorityID `json:"trusted_builders,omitempty"`
	BuilderThreshold uint32              `json:"builder_threshold,omitempty"`
	// AllowedClasses are compatibility class names; empty means the soft
	// forks (BackwardCompatible, MixedCoexistenceAllowed).
	AllowedClasses []string `json:"allowed_classes,omitempty"`
	// RolloutBasisPoints is the rollout cohort in hundredths of a
	// percent; absent means 10000 (every device).
	RolloutBasisPoints *uint16 `json:"rollout_basis_points,omitempty"`
	// NotBeforeUnixMs and NotAfterUnixMs bound an absolute window (0:
	// open).
	NotBeforeUnixMs uint64 `json:"not_before_unix_ms,omitempty"`
	NotAfterUnixMs  uint64 `json:"not_after_unix_ms,omitempty"`
	// DailyWindow is a recurring UTC window "HH:MM-HH:MM".
	DailyWindow string `json:"daily_window,omitempty"`
	// IgnoreSuggestedTime ignores a manifest's suggested activation time
	// (by default it is honoured as a local not-before hint).
	IgnoreSuggestedTime bool `json:"ignore_suggested_time,omitempty"`
	// RequiredHealthGates are gates required besides the release's own.
	RequiredHealthGates []string `json:"required_health_gates,omitempty"`
	// Rollback is "automatic" (default) or "manual-approval".
	Rollback string `json:"rollback,omitempty"`
	// EpochFence: the scope owns an epoch fence (never a device scope).
	EpochFence bool `json:"epoch_fence,omitempty"`
	// InFlight is drain (default), abort or delegate.
	InFlight string `json:"in_flight,omitempty"`
	// Canary is how many devices of the scope cut over to a soft fork
	// first; the others wait until that many run it with every gate
	// passed. Absent means activation.DefaultCanary (1) for a scope that
	// can hold several devices; 0 disables the wave. A device scope has
	// one device: there it must be absent or 0. Hard forks ignore it.
	Canary *uint32 `json:"canary,omitempty"`
}

// Policy builds the activation policy of scope from the document,
// normalised and validated.
func (d ActivationPolicyDoc) Policy(scope activation.Scope) (activation.Policy, error) {
	p := activation.DefaultPolicy(scope)
	p.TrustedReleaseAuthorities = slices.Clone(d.TrustedReleaseAuthorities)
	p.TrustedBuilders = slices.Clone(d.TrustedBuilders)
	p.BuilderThreshold = d.BuilderThreshold
	if len(d.AllowedClasses) > 0 {
		p.AllowedClasses = nil
		for _, s := range d.AllowedClasses {
			c, err := release.ParseCompatibilityClass(s)
			if err != nil {
				return p, err
			}
			p.AllowedClasses = append(p.AllowedClasses, c)
		}
	}
	if d.RolloutBasisPoints != nil {
		p.RolloutBasisPoints = *d.RolloutBasisPoints
	}
	if d.NotBeforeUnixMs != 0 || d.NotAfterUnixMs != 0 {
		p.Window = &activation.Window{NotBeforeUnixMs: d.NotBeforeUnixMs, NotAfterUnixMs: d.NotAfterUnixMs}
	}
	if d.DailyWindow != "" {
		w, err := parseDailyWindow(d.DailyWindow)
		if err != nil {
			return p, err
		}
		p.Daily = &w
	}
	p.HonourSuggestedTime = !d.IgnoreSuggestedTime
	p.RequiredHealthGates = slices.Clone(d.RequiredHealthGates)
	if d.Rollback != "" {
		r, err := activation.ParseRollbackPreference(d.Rollback)
		if err != nil {
			return p, err
		}
		p.Rollback = r
	}
	p.EpochFence = d.EpochFence
	if d.InFlight != "" {
		a, err := facts.ParseInFlightAction(d.InFlight)
		if err != nil {
			return p, err
		}
		p.InFlight = a
	}
	if d.Canary != nil {
		p.Canary = *d.Canary
	}
	p.Normalize()
	return p, p.Validate()
}

// PolicyDoc is the JSON document of a policy (its scope aside).
func PolicyDoc(p activation.Policy) ActivationPolicyDoc {
	d := ActivationPolicyDoc{
		TrustedReleaseAuthorities: slices.Clone(p.TrustedReleaseAuthorities),
		TrustedBuilders:           slices.Clone(p.TrustedBuilders),
		BuilderThreshold:          p.BuilderThreshold,
		IgnoreSuggestedTime:       !p.HonourSuggestedTime,
		RequiredHealthGates:       slices.Clone(p.RequiredHealthGates),
		Rollback:                  p.Rollback.String(),
		EpochFence:                p.EpochFence,
		InFlight:                  p.InFlight.String(),
	}
	for _, c := range p.AllowedClasses {
		d.AllowedClasses = append(d.AllowedClasses, c.String())
	}
	if d.AllowedClasses == nil {
		d.AllowedClasses = []string{}
	}
	bp := p.RolloutBasisPoints
	d.RolloutBasisPoints = &bp
	if p.Scope.Kind != activation.DeviceLocal {
		c := p.Canary
		d.Canary = &c
	}
	if w := p.Window; w != nil {
		d.NotBeforeUnixMs, d.NotAfterUnixMs = w.NotBeforeUnixMs, w.NotAfterUnixMs
	}
	if w := p.Daily; w != nil {
		d.DailyWindow = w.String()
		d.DailyWindow = strings.TrimSuffix(d.DailyWindow, " UTC")
	}
	return d
}

// parseDailyWindow reads "HH:MM-HH:MM" (UTC).
func parseDailyWindow(s string) (activation.DailyWindow, error) {
	a, b, ok := strings.Cut(strings.TrimSuffix(strings.TrimSpace(s), " UTC"), "-")
	if !ok {
		return activation.DailyWindow{}, fmt.Errorf("daily window %q: want HH:MM-HH:MM (UTC)", s)
	}
	start, err1 := parseMinute(a)
	end, err2 := parseMinute(b)
	if err1 != nil || err2 != nil {
		return activation.DailyWindow{}, fmt.Errorf("daily window %q: want HH:MM-HH:MM (UTC)", s)
	}
	return activation.DailyWindow{StartMinute: start, EndMinute: end}, nil
}

func parseMinute(s string) (uint16, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, fmt.Errorf("no colon")
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("out of range")
	}
	return uint16(hh*60 + mm), nil
}

// placeholderOwner stands for the node's authority when the config is
// validated without keys.
var placeholderOwner = facts.AuthorityID{1}

// validate checks the activation section (nil: absent, valid).
func (c *ActivationConfig) validate() error {
	if c == nil {
		return nil
	}
	if c.Series == "" {
		c.Series = DefaultActivationSeries
	}
	if err := release.ValidateSeries(c.Series); err != nil {
		return fmt.Errorf("%w: activation.series: %w", ErrBadConfig, err)
	}
	if _, err := c.Policy.Policy(activation.DeviceScope(placeholderOwner, "device")); err != nil {
		return fmt.Errorf("%w: activation.policy: %w", ErrBadConfig, err)
	}
	for _, k := range c.Scopes {
		s, err := facts.ParseScope(k)
		if err != nil {
			return fmt.Errorf("%w: activation.scopes: %w", ErrBadConfig, err)
		}
		if s.Kind == activation.DeviceLocal {
			return fmt.Errorf("%w: activation.scopes: %s is a device scope; a node takes part only in its own, which it always does", ErrBadConfig, k)
		}
	}
	if len(c.Gates) > launcher.MaxGates {
		return fmt.Errorf("%w: activation.gates: %d gates, limit %d", ErrBadConfig, len(c.Gates), launcher.MaxGates)
	}
	seen := map[string]bool{}
	for _, g := range c.Gates {
		if !validGateName(g.Name) || g.Name == gateHealthz || g.Name == gateReadyz || seen[g.Name] {
			return fmt.Errorf("%w: activation.gates: name %q: want [A-Za-z0-9._-], not healthz or readyz (built in), each once", ErrBadConfig, g.Name)
		}
		seen[g.Name] = true
		if len(g.Command) == 0 || g.Command[0] == "" || len(g.Command) > launcher.MaxGateArgs {
			return fmt.Errorf("%w: activation.gates: %s: want a command of 1 to %d arguments", ErrBadConfig, g.Name, launcher.MaxGateArgs)
		}
		if g.Timeout < 0 || time.Duration(g.Timeout) > launcher.MaxGateTimeout {
			return fmt.Errorf("%w: activation.gates: %s: timeout must be 0 to %s", ErrBadConfig, g.Name, launcher.MaxGateTimeout)
		}
	}
	if c.DrainTimeout < 0 || time.Duration(c.DrainTimeout) > maxSessionTime {
		return fmt.Errorf("%w: activation.drain_timeout must be 0 to %s", ErrBadConfig, maxSessionTime)
	}
	if c.PartitionGrace < 0 || time.Duration(c.PartitionGrace) > 24*time.Hour {
		return fmt.Errorf("%w: activation.partition_grace must be 0 to 24h", ErrBadConfig)
	}
	if c.HealthTimeout < 0 || time.Duration(c.HealthTimeout) > launcher.MaxHealthTimeout {
		return fmt.Errorf("%w: activation.health_timeout must be 0 to %s", ErrBadConfig, launcher.MaxHealthTimeout)
	}
	return nil
}

// validGateName: what both a release's gate list and the launcher accept.
func validGateName(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// gateCommands are the launcher's gate commands from the configuration.
func (c *ActivationConfig) gateCommands() []launcher.GateCommand {
	if c == nil {
		return nil
	}
	var out []launcher.GateCommand
	for _, g := range c.Gates {
		out = append(out, launcher.GateCommand{Name: g.Name, Argv: slices.Clone(g.Command), TimeoutMs: time.Duration(g.Timeout).Milliseconds()})
	}
	return out
}

// gateNames are every gate the launcher runs after a cutover: the built
// in ones and the configured commands, sorted.
func (c *ActivationConfig) gateNames() []string {
	names := []string{gateHealthz, gateReadyz}
	if c != nil {
		for _, g := range c.Gates {
			names = append(names, g.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
