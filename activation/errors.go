package activation

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps one of them (or
// facts.ErrBadPayload / facts.ErrMalformed / facts.ErrNotCanonical for
// bytes that do not decode), so callers test with errors.Is and show the
// message, which says what was wrong.
var (
	// ErrInvalidPolicy reports an activation policy that breaks a rule.
	ErrInvalidPolicy = errors.New("activation: invalid policy")
	// ErrTooLarge reports an encoded policy over MaxPolicyLen.
	ErrTooLarge = errors.New("activation: policy too large")
	// ErrNotActivation reports a fact whose kind is not an activation
	// kind (ActivationPolicyPublished or UpgradeExecution but
	// MigrationApplied).
	ErrNotActivation = errors.New("activation: not an activation fact")
	// ErrInvalidEvent reports an event that is malformed whatever the
	// state: the node refuses such a fact.
	ErrInvalidEvent = errors.New("activation: invalid event")
	// ErrUnauthorised reports an event its author may not author in its
	// scope (a policy not by the owner, an approval by a non-participant,
	// an order not by the owner, a device event from outside the scope):
	// the node refuses such a fact.
	ErrUnauthorised = errors.New("activation: author may not do this in this scope")
	// ErrIllegal reports an event that is well formed and authorised but
	// not legal in the scope's current state (Result.Err). The node does
	// not author it; a stored one is refused inside the reduction.
	ErrIllegal = errors.New("activation: illegal transition")
)

func wrapf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
