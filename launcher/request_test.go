package launcher

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newHome makes a directory that passes checkHome.
func newHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, NodeConfigFile), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return home
}

const sha0 = "0000000000000000000000000000000000000000000000000000000000000000"

func TestRequestValidate(t *testing.T) {
	gate := func(name string, argv ...string) GateCommand { return GateCommand{Name: name, Argv: argv} }
	good := []Request{
		{Action: ActionStage, ReleaseID: "v2", Artifact: "/x/aura-node", SHA256: sha0, Version: "2.0.0"},
		{Action: ActionCutover, ReleaseID: "v2", Gates: []GateCommand{gate("smoke", "/bin/true")}, HealthTimeoutMs: 1000},
		{Action: ActionRollback, Reason: "bad release"},
	}
	for _, r := range good {
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
	bad := map[string]Request{
		"unknown action":       {Action: "upgrade", ReleaseID: "v2"},
		"stage no id":          {Action: ActionStage, Artifact: "/x", SHA256: sha0},
		"stage relative path":  {Action: ActionStage, ReleaseID: "v2", Artifact: "x/aura-node", SHA256: sha0},
		"stage bad sha":        {Action: ActionStage, ReleaseID: "v2", Artifact: "/x", SHA256: "abc"},
		"path id":              {Action: ActionCutover, ReleaseID: "../../etc"},
		"artifact on cutover":  {Action: ActionCutover, ReleaseID: "v2", Artifact: "/x"},
		"gates on stage":       {Action: ActionStage, ReleaseID: "v2", Artifact: "/x", SHA256: sha0, Gates: []GateCommand{gate("a", "/bin/true")}},
		"gate without argv":    {Action: ActionCutover, ReleaseID: "v2", Gates: []GateCommand{gate("a")}},
		"gate bad name":        {Action: ActionCutover, ReleaseID: "v2", Gates: []GateCommand{gate("a b", "/bin/true")}},
		"gate reserved name":   {Action: ActionCutover, ReleaseID: "v2", Gates: []GateCommand{gate("healthz", "/bin/true")}},
		"gate repeated":        {Action: ActionCutover, ReleaseID: "v2", Gates: []GateCommand{gate("a", "/bin/true"), gate("a", "/bin/true")}},
		"gate NUL":             {Action: ActionCutover, ReleaseID: "v2", Gates: []GateCommand{gate("a", "/bin/true", "x\x00y")}},
		"gate timeout":         {Action: ActionCutover, ReleaseID: "v2", Gates: []GateCommand{{Name: "a", Argv: []string{"/bin/true"}, TimeoutMs: 24 * 3600 * 1000}}},
		"health timeout":       {Action: ActionCutover, ReleaseID: "v2", HealthTimeoutMs: -1},
		"control in version":   {Action: ActionCutover, ReleaseID: "v2", Version: "2.0\n"},
		"long reason":          {Action: ActionRollback, Reason: strings.Repeat("x", MaxTextLen+1)},
		"too many gates":       {Action: ActionCutover, ReleaseID: "v2", Gates: make([]GateCommand, MaxGates+1)},
		"health on rollback":   {Action: ActionRollback, HealthTimeoutMs: 5},
		"invalid utf8 in text": {Action: ActionRollback, Reason: "\xff"},
	}
	for name, r := range bad {
		if err := r.Validate(); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: err = %v, want ErrBadRequest", name, err)
		}
	}
}

func TestSubmitAssignsUniqueSeqs(t *testing.T) {
	home := newHome(t)
	const n = 20
	seqs := make(chan uint64, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq, err := Submit(home, Request{Action: ActionRollback})
			if err != nil {
				t.Error(err)
				return
			}
			seqs <- seq
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d handed out twice", s)
		}
		seen[s] = true
	}
	for i := uint64(1); i <= n; i++ {
		if !seen[i] {
			t.Fatalf("seqs %v are not 1..%d", seen, n)
		}
	}
	p, err := Pending(home)
	if err != nil || len(p) != n || p[0].Seq != 1 || p[n-1].Seq != n || p[0].SubmittedUnixMs == 0 {
		t.Fatalf("Pending = %d requests, %v", len(p), err)
	}
}

func TestResultsAckAndSeqNeverReused(t *testing.T) {
	home := newHome(t)
	lay := Layout{Home: home}
	if err := os.MkdirAll(lay.results(), 0o700); err != nil {
		t.Fatal(err)
	}
	l := &launcher{cfg: Config{KeepAcked: 1}, lay: lay, log: testLogger(t)}
	for i := range 3 {
		seq, err := Submit(home, Request{Action: ActionRollback})
		if err != nil || seq != uint64(i+1) {
			t.Fatalf("Submit = %d, %v", seq, err)
		}
		if err := l.finish(Request{Seq: seq, Action: ActionRollback}, Result{Outcome: OutcomeFailed, FailureClass: RequestRejected}, false); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := Pending(home); len(p) != 0 {
		t.Fatalf("pending after results: %v", p)
	}
	res, err := Results(home)
	if err != nil || len(res) != 3 || res[2].Seq != 3 || res[0].FinishedUnixMs == 0 {
		t.Fatalf("Results = %+v, %v", res, err)
	}
	for _, s := range []uint64{1, 2, 3, 3} {
		if err := Ack(home, s); err != nil {
			t.Fatalf("Ack(%d): %v", s, err)
		}
	}
	if err := Ack(home, 9); !errors.Is(err, ErrUnknownSeq) {
		t.Fatalf("Ack(9) = %v, want ErrUnknownSeq", err)
	}
	if res, _ := Results(home); len(res) != 0 {
		t.Fatalf("Results after Ack: %v", res)
	}
	if err := l.pruneAcked(); err != nil {
		t.Fatal(err)
	}
	// The newest acknowledged result is kept, so numbering goes on.
	r, ok, err := ResultOf(home, 3)
	if err != nil || !ok || !r.Acked {
		t.Fatalf("ResultOf(3) = %+v %v %v", r, ok, err)
	}
	if _, ok, _ := ResultOf(home, 1); ok {
		t.Fatal("old acknowledged result not pruned")
	}
	if seq, err := Submit(home, Request{Action: ActionRollback}); err != nil || seq != 4 {
		t.Fatalf("Submit after acks = %d, %v; want 4", seq, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Wait(ctx, home, 4, 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait without a launcher = %v", err)
	}
}

func TestHostileRequestFileIsRejected(t *testing.T) {
	home := newHome(t)
	lay := Layout{Home: home}
	for _, d := range lay.dirsToCreate() {
		os.MkdirAll(d, 0o700)
	}
	files := map[uint64]string{
		1: `{"seq":1,"action":"stage","release_id":"../../x","artifact":"/a","sha256":"` + sha0 + `"}`,
		2: `{"seq":2,"action":"rollback","surprise":true}`,
		3: strings.Repeat(" ", MaxRequestBytes+1),
		4: `{"seq":4,"action":"rollback"} {"x":1}`,
	}
	for seq, body := range files {
		if err := os.WriteFile(filepath.Join(lay.requests(), seqName(seq, jsonSuffix)), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l := &launcher{cfg: Config{KeepAcked: 20}, lay: lay, log: testLogger(t)}
	if err := l.processRequests(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := Results(home)
	if err != nil || len(res) != len(files) {
		t.Fatalf("Results = %v, %v", res, err)
	}
	for _, r := range res {
		if r.Outcome != OutcomeFailed || r.FailureClass != RequestRejected {
			t.Errorf("request %d: %s %s, want failed RequestRejected", r.Seq, r.Outcome, r.FailureClass)
		}
	}
	if ents, _ := os.ReadDir(lay.requests()); len(ents) != 0 {
		t.Fatalf("requests left: %v", ents)
	}
}

func TestParseSeqName(t *testing.T) {
	for name, want := range map[string]struct {
		seq       uint64
		acked, ok bool
	}{
		seqName(7, jsonSuffix):      {7, false, true},
		seqName(7, ackedSuffix):     {7, true, true},
		"7.json":                    {0, false, false},
		seqName(0, jsonSuffix):      {0, false, false},
		".x.tmp-abc":                {0, false, false},
		"0000000000000000000a.json": {0, false, false},
	} {
		seq, acked, ok := parseSeqName(name)
		if seq != want.seq || acked != want.acked || ok != want.ok {
			t.Errorf("%q: %d %v %v, want %+v", name, seq, acked, ok, want)
		}
	}
}
