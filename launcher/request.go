package launcher

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Action is what a request asks of the launcher.
type Action string

// Actions.
const (
	// ActionStage verifies an artifact and installs it as a release.
	ActionStage Action = "stage"
	// ActionCutover makes a staged release the active one: stop, checkpoint,
	// switch, start, gate; rolls back by itself if the gates fail.
	ActionCutover Action = "cutover"
	// ActionRollback restores the previous release and its checkpoint.
	ActionRollback Action = "rollback"
)

// Outcome is how a request ended.
type Outcome string

// Outcomes.
const (
	OutcomeOK         Outcome = "ok"          // done as asked
	OutcomeFailed     Outcome = "failed"      // not done; nothing changed (or, for a rollback, see Detail)
	OutcomeRolledBack Outcome = "rolled_back" // the previous release and its data are active again
)

// FailureClass says why a request did not end ok. The first three are
// SPEC section 7's classes; the node records them in UpgradeExecution
// facts as they are.
type FailureClass string

// Failure classes.
const (
	// HealthGateFailed: the new release started but a health gate failed
	// (healthz, readyz, a gate command, or the node exited during the
	// gates); the launcher rolled back.
	HealthGateFailed FailureClass = "HealthGateFailed"
	// LauncherActivationFailed: the launcher could not activate the
	// release: the binary would not start, a step failed, or the cutover
	// was interrupted too often.
	LauncherActivationFailed FailureClass = "LauncherActivationFailed"
	// ManualRollbackRequested: a rollback request.
	ManualRollbackRequested FailureClass = "ManualRollbackRequested"
	// ArtifactRejected: a stage request's artifact failed verification
	// (size, sha256, version probe).
	ArtifactRejected FailureClass = "ArtifactRejected"
	// RequestRejected: the request was malformed or impossible (unknown
	// release, nothing to roll back to, ...); nothing was changed.
	RequestRejected FailureClass = "RequestRejected"
)

// Request is one instruction to the launcher, a JSON file
// launcher/requests/<seq>.json written atomically by Submit.
type Request struct {
	// Seq is assigned by Submit: requests run in Seq order, once each.
	Seq uint64 `json:"seq"`
	// Action is stage, cutover or rollback.
	Action Action `json:"action"`
	// ReleaseID names the release (stage, cutover). Rollback ignores it.
	ReleaseID string `json:"release_id,omitempty"`
	// Version is the release's version string; stage checks that
	// `BINARY version` prints it, cutover that the staged release has it.
	// Empty skips the check.
	Version string `json:"version,omitempty"`
	// Artifact is the absolute path of the file to stage (usually
	// IncomingPath), and SHA256 its hex sha256 digest.
	Artifact string `json:"artifact,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	// Gates are the gate commands a cutover runs after /healthz and
	// /readyz answer 200. They must come from the node's local
	// configuration, never from the network: the launcher runs them.
	Gates []GateCommand `json:"gates,omitempty"`
	// HealthTimeoutMs bounds the wait for /healthz and /readyz after the
	// node starts; 0 means the launcher's default.
	HealthTimeoutMs int64 `json:"health_timeout_ms,omitempty"`
	// Origin says who asked ("node", "cli", ...), for the record.
	Origin string `json:"origin,omitempty"`
	// Reason is free text for the record.
	Reason string `json:"reason,omitempty"`
	// Sessions says what the node did with its in-flight sessions before
	// it asked for this cutover (free text), and SessionsDisposition how
	// they ended: none, drain, delegate or abort. Both are kept in the
	// result, so the node that runs after the switch can record them.
	Sessions            string `json:"sessions,omitempty"`
	SessionsDisposition string `json:"sessions_disposition,omitempty"`
	// SubmittedUnixMs is set by Submit.
	SubmittedUnixMs int64 `json:"submitted_unix_ms"`
}

// GateCommand is a command a cutover runs as a health gate: argv[0] is
// run directly (no shell) in the home, with AURA_HOME, AURA_API_ADDR,
// AURA_RELEASE_ID, AURA_VERSION and AURA_PREVIOUS_RELEASE_ID set. Exit
// status 0 within the timeout passes.
type GateCommand struct {
	Name      string   `json:"name"`
	Argv      []string `json:"argv"`
	TimeoutMs int64    `json:"timeout_ms,omitempty"`
}

// GateResult is the outcome of one gate.
type GateResult struct {
	Name       string `json:"name"`
	OK         bool   `json:"ok"`
	Detail     string `json:"detail,omitempty"`
	DurationMs int64  `json:"duration_ms"`
}

// Result is the launcher's answer to a request, a JSON file
// launcher/results/<seq>.json; Ack renames it <seq>.acked.json.
type Result struct {
	Seq    uint64 `json:"seq"`
	Action Action `json:"action"`
	// ReleaseID is the release the request named and Version its
	// version as staged.
	ReleaseID string `json:"release_id,omitempty"`
	Version   string `json:"version,omitempty"`
	Origin    string `json:"origin,omitempty"`
	// Reason, Sessions and SessionsDisposition are the request's.
	Reason              string       `json:"reason,omitempty"`
	Sessions            string       `json:"sessions,omitempty"`
	SessionsDisposition string       `json:"sessions_disposition,omitempty"`
	Outcome             Outcome      `json:"outcome"`
	FailureClass        FailureClass `json:"failure_class,omitempty"`
	Detail              string       `json:"detail,omitempty"`
	Gates               []GateResult `json:"gates,omitempty"`
	// FromRelease/FromVersion were active before the request; ToRelease/
	// ToVersion are active after it (a stage changes neither).
	FromRelease     string `json:"from_release,omitempty"`
	FromVersion     string `json:"from_version,omitempty"`
	ToRelease       string `json:"to_release,omitempty"`
	ToVersion       string `json:"to_version,omitempty"`
	SubmittedUnixMs int64  `json:"submitted_unix_ms,omitempty"`
	StartedUnixMs   int64  `json:"started_unix_ms"`
	FinishedUnixMs  int64  `json:"finished_unix_ms"`
	// Acked is set by ReadStatus for results already acknowledged.
	Acked bool `json:"acked,omitempty"`
}

// Bounds on requests. Request files are input: they are read with these
// limits and every field is checked.
const (
	MaxRequestBytes  = 64 << 10
	MaxGates         = 32
	MaxGateArgs      = 64
	MaxGateArgBytes  = 4096
	MaxGateTimeout   = 10 * time.Minute
	MaxHealthTimeout = 30 * time.Minute
	MaxVersionLen    = 128
	MaxTextLen       = 1024
)

// Request and result errors.
var (
	ErrBadRequest = errors.New("launcher: invalid request")
	ErrUnknownSeq = errors.New("launcher: no such result")
)

// Validate checks a request's fields (not Seq and SubmittedUnixMs, which
// Submit sets).
func (r *Request) Validate() error {
	switch r.Action {
	case ActionStage:
		if err := CheckReleaseID(r.ReleaseID); err != nil {
			return err
		}
		if !filepath.IsAbs(r.Artifact) || len(r.Artifact) > 4096 {
			return fmt.Errorf("%w: stage needs the artifact's absolute path, got %q", ErrBadRequest, r.Artifact)
		}
		if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != 32 {
			return fmt.Errorf("%w: sha256 %q: want 64 hex digits", ErrBadRequest, r.SHA256)
		}
	case ActionCutover:
		if err := CheckReleaseID(r.ReleaseID); err != nil {
			return err
		}
	case ActionRollback:
	default:
		return fmt.Errorf("%w: action %q: want stage, cutover or rollback", ErrBadRequest, r.Action)
	}
	if r.Action != ActionStage && (r.Artifact != "" || r.SHA256 != "") {
		return fmt.Errorf("%w: artifact and sha256 only apply to stage", ErrBadRequest)
	}
	if r.Action != ActionCutover && (len(r.Gates) > 0 || r.HealthTimeoutMs != 0) {
		return fmt.Errorf("%w: gates and health_timeout_ms only apply to cutover", ErrBadRequest)
	}
	if err := checkText("version", r.Version, MaxVersionLen); err != nil {
		return err
	}
	if err := checkText("origin", r.Origin, 64); err != nil {
		return err
	}
	if err := checkText("reason", r.Reason, MaxTextLen); err != nil {
		return err
	}
	if err := checkText("sessions", r.Sessions, MaxTextLen); err != nil {
		return err
	}
	switch r.SessionsDisposition {
	case "", "none", "drain", "delegate", "abort":
	default:
		return fmt.Errorf("%w: sessions_disposition %q: want none, drain, delegate or abort", ErrBadRequest, r.SessionsDisposition)
	}
	if r.Action != ActionCutover && (r.Sessions != "" || r.SessionsDisposition != "") {
		return fmt.Errorf("%w: sessions only apply to cutover", ErrBadRequest)
	}
	if r.HealthTimeoutMs < 0 || time.Duration(r.HealthTimeoutMs)*time.Millisecond > MaxHealthTimeout {
		return fmt.Errorf("%w: health_timeout_ms %d: want 0 to %d", ErrBadRequest, r.HealthTimeoutMs, MaxHealthTimeout.Milliseconds())
	}
	if len(r.Gates) > MaxGates {
		return fmt.Errorf("%w: %d gates, limit %d", ErrBadRequest, len(r.Gates), MaxGates)
	}
	seen := map[string]bool{}
	for i, g := range r.Gates {
		if g.Name == "" || len(g.Name) > 64 || strings.ContainsFunc(g.Name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r))
		}) {
			return fmt.Errorf("%w: gate %d: name %q: want 1 to 64 of [A-Za-z0-9._-]", ErrBadRequest, i, g.Name)
		}
		if g.Name == gateHealthz || g.Name == gateReadyz || seen[g.Name] {
			return fmt.Errorf("%w: gate name %q is reserved or repeated", ErrBadRequest, g.Name)
		}
		seen[g.Name] = true
		if len(g.Argv) == 0 || len(g.Argv) > MaxGateArgs || g.Argv[0] == "" {
			return fmt.Errorf("%w: gate %s: want 1 to %d arguments, the first a command", ErrBadRequest, g.Name, MaxGateArgs)
		}
		for _, a := range g.Argv {
			if len(a) > MaxGateArgBytes || strings.ContainsRune(a, 0) {
				return fmt.Errorf("%w: gate %s: argument of %d bytes or with NUL", ErrBadRequest, g.Name, len(a))
			}
		}
		if g.TimeoutMs < 0 || time.Duration(g.TimeoutMs)*time.Millisecond > MaxGateTimeout {
			return fmt.Errorf("%w: gate %s: timeout_ms %d: want 0 to %d", ErrBadRequest, g.Name, g.TimeoutMs, MaxGateTimeout.Milliseconds())
		}
	}
	return nil
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrBadRequest, field, len(s), max)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r == unicode.ReplacementChar || unicode.IsControl(r) }) {
		return fmt.Errorf("%w: %s %q has control characters or invalid UTF-8", ErrBadRequest, field, s)
	}
	return nil
}

// seqName is the file name of a request or result: zero-padded so that
// names sort as numbers.
func seqName(seq uint64, suffix string) string { return fmt.Sprintf("%020d%s", seq, suffix) }

const (
	jsonSuffix  = ".json"
	ackedSuffix = ".acked.json"
)

// parseSeqName returns the seq of a request or result file name and
// whether it is an acknowledged result.
func parseSeqName(name string) (seq uint64, acked, ok bool) {
	base, acked := strings.CutSuffix(name, ackedSuffix)
	if !acked {
		var found bool
		if base, found = strings.CutSuffix(name, jsonSuffix); !found {
			return 0, false, false
		}
	}
	if len(base) != 20 {
		return 0, false, false
	}
	n, err := strconv.ParseUint(base, 10, 64)
	if err != nil || n == 0 {
		return 0, false, false
	}
	return n, acked, true
}

// seqFile is a request or result file.
type seqFile struct {
	seq   uint64
	acked bool
	path  string
}

// listSeq lists the request or result files of dir in seq order. Other
// names (temporary files) are skipped.
func listSeq(dir string) ([]seqFile, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("launcher: %w", err)
	}
	var out []seqFile
	for _, e := range ents {
		if seq, acked, ok := parseSeqName(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, seqFile{seq: seq, acked: acked, path: filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(out, func(a, b seqFile) int {
		if a.seq != b.seq {
			return cmpU64(a.seq, b.seq)
		}
		if a.acked == b.acked {
			return 0
		}
		if a.acked {
			return 1
		}
		return -1
	})
	return out, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readBounded reads at most max bytes of a regular file.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// Submit validates req, assigns it the next sequence number and writes
// it atomically into the home's launcher/requests/. It returns the seq;
// the result appears later (Results, Wait). Several processes may submit
// at once: each gets its own seq.
func Submit(home string, req Request) (uint64, error) {
	lay, err := checkHome(home)
	if err != nil {
		return 0, err
	}
	if err := req.Validate(); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(lay.requests(), 0o700); err != nil {
		return 0, fmt.Errorf("launcher: %w", err)
	}
	seq, err := lastSeq(lay)
	if err != nil {
		return 0, err
	}
	req.SubmittedUnixMs = time.Now().UnixMilli()
	// A hard link publishes the request under its seq atomically and
	// fails if another submitter took the seq first.
	for range 1000 {
		seq++
		req.Seq = seq
		b, err := json.MarshalIndent(req, "", "  ")
		if err != nil {
			return 0, fmt.Errorf("launcher: %w", err)
		}
		target := filepath.Join(lay.requests(), seqName(seq, jsonSuffix))
		tmp, err := writeTemp(target, append(b, '\n'), 0o600)
		if err != nil {
			return 0, err
		}
		err = os.Link(tmp, target)
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("launcher: submitting request: %w", err)
		}
		return seq, syncDir(lay.requests())
	}
	return 0, errors.New("launcher: could not claim a request number after 1000 tries")
}

// lastSeq returns the highest seq of any request or result.
func lastSeq(lay Layout) (uint64, error) {
	var last uint64
	for _, dir := range []string{lay.requests(), lay.results()} {
		fs, err := listSeq(dir)
		if err != nil {
			return 0, err
		}
		if len(fs) > 0 {
			last = max(last, fs[len(fs)-1].seq)
		}
	}
	return last, nil
}

// Pending returns the requests without a result yet, in seq order.
// Unreadable request files are listed with only Seq set; the launcher
// answers them RequestRejected.
func Pending(home string) ([]Request, error) {
	lay, err := checkHome(home)
	if err != nil {
		return nil, err
	}
	return pending(lay)
}

func pending(lay Layout) ([]Request, error) {
	reqs, err := listSeq(lay.requests())
	if err != nil {
		return nil, err
	}
	var out []Request
	for _, f := range reqs {
		if f.acked {
			continue
		}
		if done, err := hasResult(lay, f.seq); err != nil {
			return nil, err
		} else if done {
			continue
		}
		r, err := readRequest(f.path)
		if err != nil {
			r = Request{}
		}
		r.Seq = f.seq
		out = append(out, r)
	}
	return out, nil
}

// readRequest reads and checks a request file.
func readRequest(path string) (Request, error) {
	var r Request
	b, err := readBounded(path, MaxRequestBytes)
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := decodeStrict(b, &r); err != nil {
		return r, fmt.Errorf("%w: %s: %v", ErrBadRequest, filepath.Base(path), err)
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	return r, nil
}

func hasResult(lay Layout, seq uint64) (bool, error) {
	for _, suffix := range []string{jsonSuffix, ackedSuffix} {
		if _, err := os.Stat(filepath.Join(lay.results(), seqName(seq, suffix))); err == nil {
			return true, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("launcher: %w", err)
		}
	}
	return false, nil
}

// Results returns the results not yet acknowledged, in seq order.
func Results(home string) ([]Result, error) {
	lay, err := checkHome(home)
	if err != nil {
		return nil, err
	}
	all, err := readResults(lay, false)
	if err != nil {
		return nil, err
	}
	return all, nil
}

// readResults reads the result files; with acked, acknowledged ones too.
func readResults(lay Layout, acked bool) ([]Result, error) {
	files, err := listSeq(lay.results())
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, f := range files {
		if f.acked && !acked {
			continue
		}
		r, err := readResult(f.path)
		if err != nil {
			return nil, err
		}
		r.Acked = f.acked
		out = append(out, r)
	}
	return out, nil
}

func readResult(path string) (Result, error) {
	var r Result
	b, err := readBounded(path, MaxRequestBytes*4)
	if err != nil {
		return r, fmt.Errorf("launcher: reading result: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("launcher: result %s is corrupt: %w", path, err)
	}
	return r, nil
}

// ResultOf returns the result of seq, acknowledged or not, and whether
// it exists yet.
func ResultOf(home string, seq uint64) (Result, bool, error) {
	lay, err := checkHome(home)
	if err != nil {
		return Result{}, false, err
	}
	for _, suffix := range []string{jsonSuffix, ackedSuffix} {
		r, err := readResult(filepath.Join(lay.results(), seqName(seq, suffix)))
		if err == nil {
			r.Acked = suffix == ackedSuffix
			return r, true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Result{}, false, err
		}
	}
	return Result{}, false, nil
}

// Ack acknowledges a result: the node has recorded it. Results then
// drops it; the launcher keeps the newest acknowledged ones for status.
// Acknowledging twice is not an error.
func Ack(home string, seq uint64) error {
	lay, err := checkHome(home)
	if err != nil {
		return err
	}
	from := filepath.Join(lay.results(), seqName(seq, jsonSuffix))
	to := filepath.Join(lay.results(), seqName(seq, ackedSuffix))
	if err := os.Rename(from, to); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(to); err == nil {
				return nil
			}
			return fmt.Errorf("%w: %d", ErrUnknownSeq, seq)
		}
		return fmt.Errorf("launcher: %w", err)
	}
	return syncDir(lay.results())
}

// Wait polls for the result of seq until it exists or ctx ends.
func Wait(ctx context.Context, home string, seq uint64, every time.Duration) (Result, error) {
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		r, ok, err := ResultOf(home, seq)
		if err != nil || ok {
			return r, err
		}
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("launcher: waiting for the result of request %d: %w (is `aura-node launcher` running for %s?)", seq, ctx.Err(), home)
		case <-tick.C:
		}
	}
}
