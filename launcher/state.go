package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
)

// Op is an operation that changes the active release, logged in
// launcher/state.json while it runs.
type Op string

// Operations.
const (
	OpCutover  Op = "cutover"
	OpRollback Op = "rollback"
)

// Step is where an operation is. The launcher writes the step to
// state.json (atomically, fsynced) before it starts doing it, so after a
// crash the log names the step that may be half done.
type Step string

// Cutover steps, in order: stopping -> checkpointing -> switching ->
// starting -> gating. Rollback steps: stopping -> restoring -> switching
// -> starting.
const (
	StepStopping      Step = "stopping"      // stop the node
	StepCheckpointing Step = "checkpointing" // checkpoint data/ into checkpoints/<from>
	StepSwitching     Step = "switching"     // previous -> from, current -> to (cutover); current -> to, no previous (rollback)
	StepStarting      Step = "starting"      // start the node from current, wait for its api.addr
	StepGating        Step = "gating"        // /healthz, /readyz, gate commands
	StepRestoring     Step = "restoring"     // data/ <- copy of checkpoints/<to>
)

// State is launcher/state.json, the intent log. Op is empty when no
// operation runs.
type State struct {
	Op   Op   `json:"op,omitempty"`
	Step Step `json:"step,omitempty"`
	// Request is the request being carried out; its result is written
	// when the operation ends.
	Request Request `json:"request"`
	// Before is the release active before the request.
	Before ReleaseRef `json:"before"`
	// From is the release the operation leaves, To the one it activates.
	// For a rollback To is the release restored, with checkpoints/<To>.
	From ReleaseRef `json:"from"`
	To   ReleaseRef `json:"to"`
	// PreviousBefore is releases/previous before a cutover; rolling the
	// cutover back restores it (its checkpoint is kept until the cutover
	// succeeds).
	PreviousBefore string `json:"previous_before,omitempty"`
	// Attempts counts the launcher starts that found this operation in
	// progress; past maxAttempts a cutover is abandoned.
	Attempts int `json:"attempts,omitempty"`
	// Failure says why a rollback runs after a failed cutover.
	Failure *Failure `json:"failure,omitempty"`
	// Gates are the gate results of the cutover, kept for the result.
	Gates         []GateResult `json:"gates,omitempty"`
	StartedUnixMs int64        `json:"started_unix_ms,omitempty"`
	UpdatedUnixMs int64        `json:"updated_unix_ms,omitempty"`
}

// ReleaseRef names a release and its version.
type ReleaseRef struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
}

// Failure is why a cutover is being rolled back.
type Failure struct {
	Class  FailureClass `json:"class"`
	Detail string       `json:"detail"`
}

func loadState(lay Layout) (State, error) {
	var st State
	b, err := readBounded(lay.state(), 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("launcher: reading %s: %w", lay.state(), err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("launcher: %s is corrupt (%v); it is written atomically, so something else wrote it", lay.state(), err)
	}
	switch st.Op {
	case "", OpCutover, OpRollback:
	default:
		return st, fmt.Errorf("launcher: %s names unknown operation %q", lay.state(), st.Op)
	}
	return st, nil
}

func saveState(lay Layout, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	return writeFileAtomic(lay.state(), append(b, '\n'), 0o600)
}
