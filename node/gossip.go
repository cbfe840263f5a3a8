package node

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/aura-node/aura-node/facts"
)

// Gossip queue sizes: the defaults (32) drop bursts.
const (
	gossipQueue = 4096
)

// scoreParams penalise peers that send invalid facts: every rejected
// message costs -100 (squared counter, decaying), which quickly crosses
// the gossip and graylist thresholds. Colocation is not penalised because
// local testnets run every node on 127.0.0.1.
func scoreParams(topic string) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	return &pubsub.PeerScoreParams{
			AppSpecificScore: func(peer.ID) float64 { return 0 },
			DecayInterval:    time.Second,
			DecayToZero:      0.01,
			RetainScore:      10 * time.Minute,
			Topics: map[string]*pubsub.TopicScoreParams{
				topic: {
					TopicWeight:                    1,
					TimeInMeshWeight:               0.01,
					TimeInMeshQuantum:              time.Second,
					TimeInMeshCap:                  10,
					FirstMessageDeliveriesWeight:   1,
					FirstMessageDeliveriesDecay:    0.5,
					FirstMessageDeliveriesCap:      10,
					InvalidMessageDeliveriesWeight: -100,
					InvalidMessageDeliveriesDecay:  0.9,
				},
			},
		}, &pubsub.PeerScoreThresholds{
			GossipThreshold:             -100,
			PublishThreshold:            -200,
			GraylistThreshold:           -400,
			AcceptPXThreshold:           10,
			OpportunisticGraftThreshold: 5,
		}
}

func (n *Node) startGossip() error {
	topicName := TopicName(n.netID, n.protocol)
	sp, st := scoreParams(topicName)
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithMessageIdFn(func(m *pb.Message) string {
			sum := sha256.Sum256(m.Data)
			return string(sum[:])
		}),
		// Our own facts go to every topic peer, not only the mesh: a fact
		// written before the first heartbeat grafts the mesh would
		// otherwise reach nobody until catch-up.
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerScore(sp, st),
		pubsub.WithPeerScoreInspect(func(scores map[peer.ID]float64) { n.scores.Store(&scores) }, time.Second),
		pubsub.WithValidateQueueSize(gossipQueue),
		pubsub.WithPeerOutboundQueueSize(gossipQueue),
		pubsub.WithMaxMessageSize(int(n.gov.Load().MaxFactBytes)+4096),
		pubsub.WithLogger(n.log.With("component", "pubsub")),
		pubsub.WithRawTracer(n.mesh),
	)
	if err != nil {
		return err
	}
	if err := ps.RegisterTopicValidator(topicName, n.validate); err != nil {
		return err
	}
	topic, err := ps.Join(topicName)
	if err != nil {
		return err
	}
	sub, err := topic.Subscribe(pubsub.WithBufferSize(gossipQueue))
	if err != nil {
		topic.Close()
		return err
	}
	n.ps, n.topic, n.sub = ps, topic, sub
	return nil
}

// validate is the topic validator. It runs the same pipeline as the loop:
// stateless checks, then authorisation against the latest governance
// snapshot. An invalid fact is rejected, so it is never forwarded and the
// sender's score drops.
func (n *Node) validate(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == n.host.ID() {
		// Our own fact: the loop already ran the pipeline and stored it.
		return pubsub.ValidationAccept
	}
	gov := n.gov.Load()
	c, v := facts.CheckStateless(n.netID, msg.Data, gov.Limits())
	if v.Result == facts.Accept {
		v = gov.Authorize(c)
	}
	if v.Result == facts.Accept {
		v = checkRelease(c, gov)
	}
	if v.Result == facts.Accept {
		v = checkActivation(c)
	}
	if v.Result == facts.Accept {
		if has, err := n.journal.HasFact(c.ID()); err == nil && has {
			v = facts.Verdict{Result: facts.Ignore, Reason: facts.ErrDuplicate}
		}
	}
	switch v.Result {
	case facts.Accept:
		n.stats.gossipAccepted.Add(1)
		n.metrics.gossip.WithLabelValues("accept").Inc()
		msg.ValidatorData = c
		if !n.forwardsRelease(c) {
			// Stored but not relayed: sharing policy (release_policy.go).
			select {
			case n.incoming <- inbound{fact: c, source: sourceGossip}:
			default:
			}
			return pubsub.ValidationIgnore
		}
		return pubsub.ValidationAccept
	case facts.Reject:
		n.stats.gossipRejected.Add(1)
		n.metrics.gossip.WithLabelValues("reject").Inc()
		n.metrics.refused.WithLabelValues(sourceGossip, "reject", reasonLabel(v.Reason)).Inc()
		n.log.Warn("rejected gossiped fact", "from", from, "reason", v.Reason)
		return pubsub.ValidationReject
	default:
		n.stats.gossipIgnored.Add(1)
		n.metrics.gossip.WithLabelValues("ignore").Inc()
		if c.Fact() != nil && !isDuplicate(v) {
			// A fact from an epoch we have not reached: hold it in the
			// loop until the journal gets there. It is not forwarded.
			select {
			case n.incoming <- inbound{fact: c, source: sourceGossip}:
			default:
			}
		}
		return pubsub.ValidationIgnore
	}
}

func isDuplicate(v facts.Verdict) bool { return v.Reason == facts.ErrDuplicate }

// readGossip moves accepted messages into the loop.
func (n *Node) readGossip() {
	defer n.wg.Done()
	for {
		msg, err := n.sub.Next(n.ctx)
		if err != nil {
			return
		}
		if msg.ReceivedFrom == n.host.ID() {
			continue
		}
		c, ok := msg.ValidatorData.(facts.Checked)
		if !ok {
			continue
		}
		select {
		case n.incoming <- inbound{fact: c, source: sourceGossip}:
		case <-n.ctx.Done():
			return
		}
	}
}

// peerScores returns the latest gossipsub scores.
func (n *Node) peerScores() map[peer.ID]float64 {
	if p := n.scores.Load(); p != nil {
		return *p
	}
	return nil
}

// meshTracker follows the gossip mesh of the node's topic (the peers
// gossipsub forwards to) for status and readiness. pubsub calls it
// synchronously from its event loop, so it only records and returns.
type meshTracker struct {
	mu    sync.Mutex
	peers map[peer.ID]bool
}

var _ pubsub.RawTracer = (*meshTracker)(nil)

func newMeshTracker() *meshTracker { return &meshTracker{peers: map[peer.ID]bool{}} }

func (m *meshTracker) Graft(p peer.ID, topic string) {
	m.mu.Lock()
	m.peers[p] = true
	m.mu.Unlock()
}

func (m *meshTracker) Prune(p peer.ID, topic string) {
	m.mu.Lock()
	delete(m.peers, p)
	m.mu.Unlock()
}

func (m *meshTracker) OnClosedOutboundStream(p peer.ID) { m.Prune(p, "") }

func (m *meshTracker) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (m *meshTracker) Join(string)                                          {}
func (m *meshTracker) Leave(string)                                         {}
func (m *meshTracker) ValidateMessage(*pubsub.Message)                      {}
func (m *meshTracker) DeliverMessage(*pubsub.Message)                       {}
func (m *meshTracker) RejectMessage(*pubsub.Message, string)                {}
func (m *meshTracker) DuplicateMessage(*pubsub.Message)                     {}
func (m *meshTracker) ThrottlePeer(peer.ID)                                 {}
func (m *meshTracker) RecvRPC(*pubsub.RPC)                                  {}
func (m *meshTracker) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracker) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (m *meshTracker) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (m *meshTracker) UndeliverableMessage(*pubsub.Message)                 {}

// has reports whether p is in the mesh.
func (m *meshTracker) has(p peer.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peers[p]
}

// count returns the number of mesh peers.
func (m *meshTracker) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.peers)
}
