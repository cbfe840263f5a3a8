package node

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
)

// The canary of a policy document: absent takes the default (one device
// where a scope can hold several, none in a device scope), 0 disables
// the wave and survives a round trip through the JSON document, and a
// device scope refuses any other value.
func TestActivationPolicyDocCanary(t *testing.T) {
	owner := facts.AuthorityID{7}
	fleet := activation.ContextScope(owner, "fleet")
	dev := activation.DeviceScope(owner, "device")
	u := func(v uint32) *uint32 { return &v }
	for _, tc := range []struct {
		name  string
		scope activation.Scope
		doc   string
		want  uint32
		err   string
	}{
		{"default in a context", fleet, `{}`, activation.DefaultCanary, ""},
		{"set in a context", fleet, `{"canary": 3}`, 3, ""},
		{"disabled in a context", fleet, `{"canary": 0}`, 0, ""},
		{"default in a device scope", dev, `{}`, 0, ""},
		{"zero in a device scope", dev, `{"canary": 0}`, 0, ""},
		{"set in a device scope", dev, `{"canary": 1}`, 0, "device-local scope has one device"},
		{"over the limit", fleet, `{"canary": 5000}`, 0, "limit 1000"},
	} {
		var d ActivationPolicyDoc
		if err := json.Unmarshal([]byte(tc.doc), &d); err != nil {
			t.Fatal(err)
		}
		p, err := d.Policy(tc.scope)
		if tc.err != "" {
			if !errors.Is(err, activation.ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an invalid policy mentioning %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || p.Canary != tc.want {
			t.Errorf("%s: canary %d, %v; want %d", tc.name, p.Canary, err, tc.want)
			continue
		}
		back := PolicyDoc(p)
		switch {
		case tc.scope.Kind == activation.DeviceLocal && back.Canary != nil:
			t.Errorf("%s: a device scope's document shows canary %d", tc.name, *back.Canary)
		case tc.scope.Kind != activation.DeviceLocal && (back.Canary == nil || *back.Canary != tc.want):
			t.Errorf("%s: document canary %v, want %d", tc.name, back.Canary, tc.want)
		}
		again, err := back.Policy(tc.scope)
		if err != nil || again.Canary != p.Canary {
			t.Errorf("%s: round trip gives %d, %v", tc.name, again.Canary, err)
		}
	}
	// The configuration's device policy refuses a canary with ErrBadConfig.
	c := &ActivationConfig{Policy: ActivationPolicyDoc{Canary: u(2)}}
	if err := c.validate(); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "no canary wave") {
		t.Errorf("config with a device canary: %v", err)
	}
}

// The drain bound and the partition grace are bounded, and default when
// unset.
func TestActivationConfigSessionBounds(t *testing.T) {
	for _, tc := range []struct {
		doc string
		err string
	}{
		{`{"drain_timeout": "10s", "partition_grace": "5m"}`, ""},
		{`{"drain_timeout": "3m"}`, "drain_timeout must be 0 to"},
		{`{"partition_grace": "25h"}`, "partition_grace must be 0 to 24h"},
	} {
		var c ActivationConfig
		if err := json.Unmarshal([]byte(tc.doc), &c); err != nil {
			t.Fatal(err)
		}
		err := c.validate()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Fatalf("%s: %v, want %q", tc.doc, err, tc.err)
		}
	}
	var unset *ActivationConfig
	if unset.drainTimeout() != drainTimeout || unset.partitionGrace() != partitionGrace {
		t.Fatal("unset bounds do not default")
	}
	c := ActivationConfig{DrainTimeout: Duration(10 * time.Second)}
	if c.drainTimeout() != 10*time.Second {
		t.Fatalf("drain %v", c.drainTimeout())
	}
}
