package snapshot

import "errors"

// Sentinel errors. Every error the package returns wraps exactly one of
// them with %w and a message naming the member, proposal or key involved,
// so callers branch with errors.Is and operators read the message.
var (
	// ErrNotMember: the member (approver, proposer or this node) is not on
	// the roster of the proposal's epoch.
	ErrNotMember = errors.New("snapshot: not a roster member")
	// ErrDuplicateApproval: the member already approved this proposal.
	ErrDuplicateApproval = errors.New("snapshot: duplicate approval")
	// ErrDigestMismatch: an approval, completion or local digest names
	// another digest than the proposal.
	ErrDigestMismatch = errors.New("snapshot: digest mismatch")
	// ErrEquivocation: the member already approved another digest in the
	// same epoch; an honest member approves one digest per epoch.
	ErrEquivocation = errors.New("snapshot: member already approved another digest in this epoch")
	// ErrBadSignature: a BLS signature or aggregate is malformed or does
	// not verify.
	ErrBadSignature = errors.New("snapshot: bad BLS signature")
	// ErrBadKey: a BLS key is malformed (length, encoding, not in G2, zero).
	ErrBadKey = errors.New("snapshot: bad BLS key")
	// ErrTooManyProposals: Config.MaxOpenProposals are already open.
	ErrTooManyProposals = errors.New("snapshot: too many open proposals")
	// ErrThreshold: a roster's M breaks N/2 < M <= N, or a certificate
	// has fewer than M signers.
	ErrThreshold = errors.New("snapshot: threshold rule violated")
	// ErrStaleEpoch: the epoch is below the current identity epoch or at
	// or below the last completed snapshot.
	ErrStaleEpoch = errors.New("snapshot: stale epoch")
	// ErrFutureEpoch: the epoch is beyond the identity epoch this node has
	// reached; hold the input and offer it again after AdvanceEpoch.
	ErrFutureEpoch = errors.New("snapshot: epoch not reached yet")
	// ErrUnknownProposal: no open proposal has this ID (never seen, or
	// already committed or aborted).
	ErrUnknownProposal = errors.New("snapshot: unknown proposal")
	// ErrProposalClosed: the proposal already aborted in this epoch and
	// cannot be opened again; propose anew.
	ErrProposalClosed = errors.New("snapshot: proposal already closed")
	// ErrConflict: two different digests for one epoch, or one proposal ID
	// with two contents. Two certified digests for one epoch mean at least
	// 2M-N members equivocated.
	ErrConflict = errors.New("snapshot: conflicting snapshot")
	// ErrBadRoster: a roster is empty, too large, unsorted, has a member
	// without a BLS key or two members with one key.
	ErrBadRoster = errors.New("snapshot: invalid roster")
	// ErrBadSignerSet: a signer list is empty, out of range or not
	// strictly increasing in roster order.
	ErrBadSignerSet = errors.New("snapshot: invalid signer set")
	// ErrBadConfig: Config.Validate refused a combination of settings.
	ErrBadConfig = errors.New("snapshot: invalid config")
)
