package antientropy

import "fmt"

// Outcome is what one in-memory reconciliation measured.
type Outcome struct {
	// RoundTrips counts initiator messages answered by the responder.
	RoundTrips int
	// BytesOut and BytesIn are the bytes the initiator sent and received.
	BytesOut, BytesIn int
	// Have are IDs only the initiator holds; Need are IDs only the
	// responder holds. Each ID appears once.
	Have, Need []ID
}

// idSet collects IDs once each: after a frame-size cut, a range can be
// described again in a later round and report the same IDs again.
type idSet struct {
	seen map[ID]bool
	ids  []ID
}

func (s *idSet) add(ids []ID) {
	if s.seen == nil {
		s.seen = map[ID]bool{}
	}
	for _, id := range ids {
		if !s.seen[id] {
			s.seen[id] = true
			s.ids = append(s.ids, id)
		}
	}
}

// Reconcile runs a whole session between two storages in memory, the
// initiator over a and the responder over b, and reports what it cost.
// maxRounds bounds the session (0: 64).
func Reconcile(a, b Storage, opt Options, maxRounds int) (Outcome, error) {
	if maxRounds <= 0 {
		maxRounds = 64
	}
	var out Outcome
	ini, err := NewReconciler(a, opt)
	if err != nil {
		return out, err
	}
	resp, err := NewReconciler(b, opt)
	if err != nil {
		return out, err
	}
	var have, need idSet
	msg := ini.Initiate()
	for msg != nil {
		if out.RoundTrips == maxRounds {
			return out, fmt.Errorf("antientropy: no agreement after %d round trips", maxRounds)
		}
		out.RoundTrips++
		out.BytesOut += len(msg)
		reply, err := resp.Respond(msg)
		if err != nil {
			return out, err
		}
		out.BytesIn += len(reply)
		var h, n []ID
		msg, h, n, err = ini.Reconcile(reply)
		if err != nil {
			return out, err
		}
		have.add(h)
		need.add(n)
	}
	out.Have, out.Need = have.ids, need.ids
	return out, nil
}
