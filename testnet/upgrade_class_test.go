package testnet

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/aura-node/aura-node/activation"
	"github.com/aura-node/aura-node/facts"
	"github.com/aura-node/aura-node/node"
	"github.com/aura-node/aura-node/release"
)

// `testnet upgrade --class` publishes soft forks in a context and hard
// forks, including IncompatibleWithoutPartition (partition), in the
// managed quorum of every node, under a policy that allows the class.
func TestUpgradeClass(t *testing.T) {
	var auths []facts.AuthorityID
	m := &Manifest{}
	for i := range 3 {
		a := facts.AuthorityID(sha256.Sum256([]byte{byte(i)}))
		auths = append(auths, a)
		m.Nodes = append(m.Nodes, NodeInfo{Index: i + 1, Authority: a.String()})
	}
	for _, c := range []struct {
		name  string
		class release.CompatibilityClass
		kind  activation.ScopeKind
	}{
		{"soft", release.BackwardCompatible, activation.Context},
		{"hard", release.ScopedHardFork, activation.ManagedQuorum},
		{"partition", release.IncompatibleWithoutPartition, activation.ManagedQuorum},
	} {
		class, classes, err := upgradeClass(c.name)
		if err != nil || class != c.class {
			t.Fatalf("upgradeClass(%s) = %v, %v", c.name, class, err)
		}
		scope, err := upgradeScope("", c.name, auths[0], m)
		if err != nil || scope.Kind != c.kind || scope.Owner != auths[0] {
			t.Fatalf("%s: scope %v, %v", c.name, scope.Key(), err)
		}
		if c.kind == activation.ManagedQuorum && len(scope.Participants) != 3 {
			t.Fatalf("%s: participants %v", c.name, scope.Participants)
		}
		doc := node.ActivationPolicyDoc{TrustedReleaseAuthorities: auths[:1], AllowedClasses: classes}
		p, err := doc.Policy(scope)
		if err != nil {
			t.Fatalf("%s: policy: %v", c.name, err)
		}
		if !p.Allows(class) {
			t.Fatalf("%s: the policy does not allow %v: %v", c.name, class, p.AllowedClasses)
		}
	}
	if _, _, err := upgradeClass("sideways"); err == nil || !strings.Contains(err.Error(), "partition (IncompatibleWithoutPartition)") {
		t.Fatalf("an unknown class: %v", err)
	}
}
