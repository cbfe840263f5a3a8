package facts

import (
	"fmt"
	"strings"
)

// Kind identifies a fact family member. Values are part of the wire format:
// never renumber, only add.
type Kind uint16

// Governance: the network, its roster, admin and identity epoch.
const (
	KindGenesis              Kind = 1
	KindRosterChangeProposed Kind = 2
	KindTransitionApproved   Kind = 3
	KindAdminReplacement     Kind = 4
)

// Application data and cache invalidation.
const (
	KindData             Kind = 10
	KindCacheInvalidated Kind = 20
)

// Snapshots (semantics: the snapshot issue).
const (
	KindSnapshotProposed  Kind = 30
	KindSnapshotApproved  Kind = 31
	KindSnapshotCompleted Kind = 32
)

// ReleaseDistribution family (semantics: the releases issue).
const (
	KindSeriesDeclared    Kind = 40
	KindReleaseDeclared   Kind = 41
	KindBuildCertified    Kind = 42
	KindArtifactAvailable Kind = 43
	KindReleaseRevoked    Kind = 44
	KindReleaseSuperseded Kind = 45
)

// ReleasePolicy family.
const (
	KindDiscoveryPolicyPublished  Kind = 50
	KindSharingPolicyPublished    Kind = 51
	KindActivationPolicyPublished Kind = 52
	KindRecommendationPublished   Kind = 53
)

// UpgradeExecution family (semantics: the scoped activation issue).
const (
	KindUpgradeStaged     Kind = 60
	KindScopeEntered      Kind = 61
	KindResidencyChanged  Kind = 62
	KindTransitionChanged Kind = 63
	KindCutoverApproved   Kind = 64
	KindCutoverCompleted  Kind = 65
	KindRollbackExecuted  Kind = 66
	KindPartitionObserved Kind = 67
	KindHealthGateResult  Kind = 68
	KindMigrationApplied  Kind = 69
)

// kindInfo describes one kind: its name, its family, who may author it and
// how to make an empty payload to decode into.
type kindInfo struct {
	name      string
	family    string
	adminOnly bool
	new       func() Payload
}

var kinds = map[Kind]kindInfo{
	KindGenesis:              {"Genesis", "Roster", true, func() Payload { return new(Genesis) }},
	KindRosterChangeProposed: {"RosterChangeProposed", "Roster", true, func() Payload { return new(RosterChange) }},
	KindTransitionApproved:   {"TransitionApproved", "Roster", false, func() Payload { return new(TransitionApproval) }},
	KindAdminReplacement:     {"AdminReplacement", "AdminReplacement", false, func() Payload { return new(AdminReplacement) }},

	KindData:             {"Data", "Data", false, func() Payload { return new(Data) }},
	KindCacheInvalidated: {"CacheInvalidated", "CacheInvalidated", false, func() Payload { return new(CacheInvalidated) }},

	KindSnapshotProposed:  {"SnapshotProposed", "Snapshot", false, func() Payload { return new(SnapshotProposed) }},
	KindSnapshotApproved:  {"SnapshotApproved", "Snapshot", false, func() Payload { return new(SnapshotApproved) }},
	KindSnapshotCompleted: {"SnapshotCompleted", "Snapshot", false, func() Payload { return new(SnapshotCompleted) }},

	KindSeriesDeclared:    {"SeriesDeclared", "ReleaseDistribution", false, func() Payload { return new(SeriesDeclared) }},
	KindReleaseDeclared:   {"ReleaseDeclared", "ReleaseDistribution", false, func() Payload { return new(ReleaseDeclared) }},
	KindBuildCertified:    {"BuildCertified", "ReleaseDistribution", false, func() Payload { return new(BuildCertified) }},
	KindArtifactAvailable: {"ArtifactAvailable", "ReleaseDistribution", false, func() Payload { return new(ArtifactAvailable) }},
	KindReleaseRevoked:    {"ReleaseRevoked", "ReleaseDistribution", false, func() Payload { return new(ReleaseRevoked) }},
	KindReleaseSuperseded: {"ReleaseSuperseded", "ReleaseDistribution", false, func() Payload { return new(ReleaseSuperseded) }},

	KindDiscoveryPolicyPublished:  {"DiscoveryPolicyPublished", "ReleasePolicy", false, func() Payload { return new(PolicyPublished) }},
	KindSharingPolicyPublished:    {"SharingPolicyPublished", "ReleasePolicy", false, func() Payload { return new(PolicyPublished) }},
	KindActivationPolicyPublished: {"ActivationPolicyPublished", "ReleasePolicy", false, func() Payload { return new(PolicyPublished) }},
	KindRecommendationPublished:   {"RecommendationPublished", "ReleasePolicy", false, func() Payload { return new(RecommendationPublished) }},

	KindUpgradeStaged:     {"UpgradeStaged", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindScopeEntered:      {"ScopeEntered", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindResidencyChanged:  {"ResidencyChanged", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindTransitionChanged: {"TransitionChanged", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindCutoverApproved:   {"CutoverApproved", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindCutoverCompleted:  {"CutoverCompleted", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindRollbackExecuted:  {"RollbackExecuted", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindPartitionObserved: {"PartitionObserved", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindHealthGateResult:  {"HealthGateResult", "UpgradeExecution", false, func() Payload { return new(UpgradeEvent) }},
	KindMigrationApplied:  {"MigrationApplied", "UpgradeExecution", false, func() Payload { return new(MigrationApplied) }},
}

// String returns the kind's name, or "Kind(n)" for unknown values.
func (k Kind) String() string {
	if ki, ok := kinds[k]; ok {
		return ki.name
	}
	return fmt.Sprintf("Kind(%d)", uint16(k))
}

// Family returns the maintenance family the kind belongs to.
func (k Kind) Family() string { return kinds[k].family }

// Known reports whether k is a defined kind.
func (k Kind) Known() bool { _, ok := kinds[k]; return ok }

// AdminOnly reports whether only the network admin of the fact's epoch may
// author facts of this kind.
func (k Kind) AdminOnly() bool { return kinds[k].adminOnly }

// IsSnapshot reports whether k is a snapshot round kind (proposal,
// approval, completion). These facts are journalled and never pruned, but
// they are not part of the hashed state: a round's own facts must not
// change the digest it certifies.
func (k Kind) IsSnapshot() bool {
	return k == KindSnapshotProposed || k == KindSnapshotApproved || k == KindSnapshotCompleted
}

// Prunable reports whether facts of kind k are deleted from the journal
// once a completed snapshot covers them: application data and cache
// invalidations. Governance, snapshot, release, policy and upgrade facts
// are kept: they are small, and a joining node verifies the roster chain
// and the release catalogue from them.
func (k Kind) Prunable() bool { return k == KindData || k == KindCacheInvalidated }

// AllKinds returns every defined kind in numeric order.
func AllKinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ParseKind accepts a kind name (case-insensitive) or its number.
func ParseKind(s string) (Kind, error) {
	for k, ki := range kinds {
		if strings.EqualFold(ki.name, s) {
			return k, nil
		}
	}
	var n uint16
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && Kind(n).Known() {
		return Kind(n), nil
	}
	return 0, fmt.Errorf("facts: unknown fact kind %q", s)
}
