package node

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aura-node/aura-node/cache"
	"github.com/aura-node/aura-node/facts"
)

type metrics struct {
	ingested     *prometheus.CounterVec // by source
	refused      *prometheus.CounterVec // by source, result, reason
	gossip       *prometheus.CounterVec // validator results
	syncs        *prometheus.CounterVec // by outcome
	syncFacts    *prometheus.CounterVec // pulled, pushed
	syncBytes    *prometheus.CounterVec // in, out
	syncRounds   prometheus.Histogram
	syncDuration prometheus.Histogram
	misbehaviour prometheus.Counter
	epoch        prometheus.Gauge
	journal      prometheus.Gauge
	peers        prometheus.Gauge
	held         prometheus.Gauge

	snapshotRounds  *prometheus.CounterVec // committed, aborted
	snapshotRefused prometheus.Counter
	fence           prometheus.Gauge
	queued          prometheus.Gauge
	gcPruned        prometheus.Counter

	crossings *prometheus.CounterVec // by disposition used
}

func newMetrics(reg prometheus.Registerer, c *cache.Cache) *metrics {
	m := &metrics{
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aura_facts_ingested_total", Help: "Facts accepted into the journal, by source.",
		}, []string{"source"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aura_facts_refused_total", Help: "Facts refused, by source, result (reject or ignore) and reason.",
		}, []string{"source", "result", "reason"}),
		gossip: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aura_gossip_validations_total", Help: "Gossip validator results.",
		}, []string{"result"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aura_sync_sessions_total", Help: "Anti-entropy sessions, by outcome (in_sync, repaired, failed as initiator; served, served_busy as responder).",
		}, []string{"outcome"}),
		syncFacts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aura_sync_facts_total", Help: "Facts moved by anti-entropy sessions this node initiated, by direction.",
		}, []string{"direction"}),
		syncBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aura_sync_bytes_total", Help: "Anti-entropy bytes on the wire, by direction.",
		}, []string{"direction"}),
		syncRounds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aura_sync_rounds", Help: "Negentropy round trips per session.", Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 32, 64},
		}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aura_sync_duration_seconds", Help: "Anti-entropy session duration.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		misbehaviour: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aura_sync_misbehaving_peers_total", Help: "Peers disconnected for malformed sync frames or invalid facts.",
		}),
		epoch:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "aura_identity_epoch", Help: "Current identity epoch."}),
		journal: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aura_journal_facts", Help: "Facts in the journal."}),
		peers:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "aura_peers", Help: "Connected peers."}),
		held:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "aura_held_facts", Help: "Facts held until the journal reaches their epoch, their snapshot proposal, or the end of a snapshot round."}),
		snapshotRounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aura_snapshot_rounds_total", Help: "Snapshot rounds seen to an end, by outcome (committed, aborted).",
		}, []string{"outcome"}),
		snapshotRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aura_snapshot_refused_total", Help: "Snapshot facts the snapshot state machine refused (duplicate, equivocation, unknown or closed round).",
		}),
		fence:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "aura_snapshot_fence_active", Help: "1 while a snapshot writer fence is up."}),
		queued:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "aura_snapshot_queued_writes", Help: "Local writes queued behind the writer fence."}),
		gcPruned: prometheus.NewCounter(prometheus.CounterOpts{Name: "aura_gc_pruned_facts_total", Help: "Facts deleted by garbage collection below snapshots."}),
		crossings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aura_cutover_sessions_total", Help: "Cutovers, by how their in-flight anti-entropy sessions were handled (none, drain, delegate, abort).",
		}, []string{"disposition"}),
	}
	cacheStat := func(name, help string, f func(cache.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(c.Stats()) })
	}
	reg.MustRegister(m.ingested, m.refused, m.gossip, m.syncs, m.syncFacts, m.syncBytes, m.syncRounds, m.syncDuration, m.misbehaviour, m.epoch, m.journal, m.peers, m.held,
		m.snapshotRounds, m.snapshotRefused, m.fence, m.queued, m.gcPruned, m.crossings,
		cacheStat("aura_cache_hits", "Cache hits.", func(s cache.Stats) float64 { return float64(s.Hits) }),
		cacheStat("aura_cache_misses", "Cache misses.", func(s cache.Stats) float64 { return float64(s.Misses) }),
		cacheStat("aura_cache_invalidations", "Cache entries dropped by invalidation floors.", func(s cache.Stats) float64 { return float64(s.Invalidations) }),
		cacheStat("aura_cache_entries", "Cache entries.", func(s cache.Stats) float64 { return float64(s.Entries) }),
		cacheStat("aura_cache_hit_rate", "Cache hits / lookups.", func(s cache.Stats) float64 { return s.HitRate() }),
	)
	return m
}

// reasonLabel maps a verdict reason to a bounded label set.
func reasonLabel(err error) string {
	for _, r := range []struct {
		err   error
		label string
	}{
		{facts.ErrDuplicate, "duplicate"},
		{facts.ErrFutureEpoch, "future_epoch"},
		{facts.ErrBadSignature, "bad_signature"},
		{facts.ErrWrongNetwork, "wrong_network"},
		{facts.ErrTooLarge, "too_large"},
		{facts.ErrNotCanonical, "not_canonical"},
		{facts.ErrMalformed, "malformed"},
		{facts.ErrUnknownKind, "unknown_kind"},
		{facts.ErrBadPayload, "bad_payload"},
		{facts.ErrNotMember, "not_member"},
		{facts.ErrRetiredAdmin, "retired_admin"},
		{facts.ErrNotAdmin, "not_admin"},
		{facts.ErrBadGenesis, "bad_genesis"},
		{facts.ErrBadTransition, "bad_transition"},
		{facts.ErrNoGenesis, "no_genesis"},
		{ErrBadRelease, "bad_release"},
		{facts.ErrBadSnapshot, "bad_snapshot"},
		{facts.ErrBelowSnapshot, "below_snapshot"},
		{facts.ErrMissingProposal, "missing_proposal"},
		{errPastCut, "past_snapshot_cut"},
	} {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "other"
}
