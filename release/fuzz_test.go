package release_test

import (
	"bytes"
	"testing"

	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/release"
)

// FuzzManifest holds the manifest codec to its contract: any bytes either
// are refused or are exactly the canonical encoding of a valid manifest.
func FuzzManifest(f *testing.F) {
	for _, m := range []release.Manifest{
		testManifest("alice", "aura-node", "1.0.0", "b1"),
		func() release.Manifest {
			m := testManifest("bob", "aura-node/edge", "2.0.0-rc.1+g1234", "b2")
			m.Migrations, m.SuggestedActivationTimeUnixMs, m.Activation.HealthGates = nil, nil, nil
			id := release.ID{1}
			m.Compatibility = release.Compatibility{Class: release.ScopedHardFork, MinimumLegacyRelease: &id}
			m.Activation.ThresholdApprovalRequired, m.Activation.EpochFenceRequired = true, true
			return m
		}(),
	} {
		f.Add(declare(f, labelOf(m), m).Manifest)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := release.DecodeManifest(raw)
		var plain release.Manifest
		canonical := facts.UnmarshalCanonical(raw, &plain) == nil
		if err != nil {
			return
		}
		if !canonical {
			t.Fatal("DecodeManifest accepted bytes UnmarshalCanonical refuses")
		}
		again, err := release.EncodeManifest(*m)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("decode then encode: %x, %v; input %x", again, err, raw)
		}
		if m.ID() != release.ComputeID(m.Series, m.Provenance) {
			t.Fatal("ID is not ComputeID")
		}
	})
}

func labelOf(m release.Manifest) string {
	for _, l := range []string{"alice", "bob"} {
		if auth(l) == m.Author {
			return l
		}
	}
	panic("unknown author")
}

// FuzzBuildCertificate: any bytes either are refused or are exactly the
// canonical encoding of a valid certificate.
func FuzzBuildCertificate(f *testing.F) {
	m := testManifest("alice", "aura-node", "1.0.0", "b1")
	f.Add(certify(f, "builder1", m.ID(), m.Provenance, 0).Certificate)
	f.Add(certify(f, "builder2", m.ID(), m.Provenance, 1<<60).Certificate)
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := release.DecodeCertificate(raw)
		if err != nil {
			return
		}
		again, err := facts.Marshal(c)
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("decode then encode: %x, %v; input %x", again, err, raw)
		}
	})
}

// FuzzPolicies: policy documents are refused or canonical.
func FuzzPolicies(f *testing.F) {
	d, _ := discovery([]string{"alice", "bob"}, []string{"builder1"}, 1, true, "ops").Marshal()
	s, _ := release.SharingPolicy{Forward: release.SelectorAll, Pin: release.SelectorSeries("aura-node")}.Marshal()
	f.Add(d)
	f.Add(s)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if p, err := release.DecodeDiscoveryPolicy(raw); err == nil {
			if again, err := p.Marshal(); err != nil || !bytes.Equal(again, raw) {
				t.Fatalf("discovery policy: %x, %v; input %x", again, err, raw)
			}
		}
		if p, err := release.DecodeSharingPolicy(raw); err == nil {
			if again, err := p.Marshal(); err != nil || !bytes.Equal(again, raw) {
				t.Fatalf("sharing policy: %x, %v; input %x", again, err, raw)
			}
		}
	})
}

// FuzzVersion: a parsed version prints as its input and compares equal to
// itself.
func FuzzVersion(f *testing.F) {
	for _, s := range []string{"1.2.3", "1.0.0-alpha.1+build.5", "0.0.0-0", "1.0.0-x-y.--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := release.ParseVersion(s)
		if err != nil {
			return
		}
		if v.String() != s || v.Compare(v) != 0 {
			t.Fatalf("%q: String %q Compare %d", s, v.String(), v.Compare(v))
		}
	})
}
