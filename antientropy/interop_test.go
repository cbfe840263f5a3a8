package antientropy

// Wire compatibility against an independent Negentropy v1 implementation:
// the one in the npm package nostr-tools (module nip77, a port of
// hoytech/negentropy's JavaScript), driven through
// interop/negentropy-driver.mjs. The test runs when AURA_NEGENTROPY_JS (the
// driver) and NEGENTROPY_JS_MODULES (a node_modules directory holding
// nostr-tools) are set and node is installed; .ci/run sets both.
//
// Notes on the JavaScript side that shape the test:
//   - its reconcile() is symmetric: on an IdList it reports have/need
//     through callbacks and skips, never answering with its own IdList, so
//     it always behaves as a Negentropy initiator. Each JS reply is
//     therefore also compared with a "shadow" Go initiator over the same
//     set, which must produce the same bytes and the same have/need;
//   - it cannot run without a frame-size limit (minimum 4096, default
//     60000), so the Go side uses the same limit;
//   - its varints go through 32-bit integer operations (decode: res << 7;
//     encode: n >>>= 7), so a varint of 2^31 or more decodes wrong and one
//     of 2^32 or more encodes wrong. Timestamps are delta-encoded but the
//     first bound of a message carries the absolute timestamp + 1, so test
//     timestamps are Unix seconds, well below 2^31 (millisecond timestamps
//     would break the JavaScript side, not the Go side);
//   - when a frame-size cut drops a range's answer, it fingerprints the
//     rest from that range's upper index where the Go code starts at its
//     lower index (see reconcile.go); both are valid v1 messages and the
//     comparison accepts exactly that difference in the trailing
//     fingerprint, after checking both fingerprints are of suffixes of
//     the set.
//
// The Go side runs over Vector in both directions and over a Tree grown by
// inserts in one.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"
)

const (
	// interopMaxRounds bounds a session. A 4096-byte frame carries only
	// about 120 IDs, so thousands of differences under that limit need
	// hundreds of rounds (as between two Go peers): the cases stay below.
	interopMaxRounds = 100
	// interopTSBase is a Unix time in seconds, as Nostr uses: far below
	// 2^31, the limit of the JavaScript varint.
	interopTSBase = 1_700_000_000
	// jsDefaultFrameSizeLimit is nostr-tools' default frame-size limit.
	jsDefaultFrameSizeLimit = 60000
)

// lockedBuffer collects the driver's stderr (written by os/exec's copier).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// negJS is a running driver process.
type negJS struct {
	ctx    context.Context
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *lockedBuffer
	loaded map[string]bool // sessions the driver holds
}

type jsRequest struct {
	Op             string `json:"op"`
	Session        string `json:"session,omitempty"`
	FrameSizeLimit int    `json:"frameSizeLimit,omitempty"`
	Msg            string `json:"msg,omitempty"`
}

type jsReply struct {
	Msg     *string  `json:"msg"`
	Have    []string `json:"have"`
	Need    []string `json:"need"`
	Size    int      `json:"size"`
	Version string   `json:"version"`
	Module  string   `json:"module"`
	Error   string   `json:"error"`
}

func startNegentropyJS(t *testing.T) *negJS {
	t.Helper()
	driver, modules := os.Getenv("AURA_NEGENTROPY_JS"), os.Getenv("NEGENTROPY_JS_MODULES")
	if driver == "" || modules == "" {
		t.Skip("AURA_NEGENTROPY_JS and NEGENTROPY_JS_MODULES are not both set (.ci/run sets them)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	timeout := 5 * time.Minute
	if d, ok := t.Deadline(); ok && time.Until(d)-10*time.Second < timeout {
		timeout = time.Until(d) - 10*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, node, driver)
	cmd.Env = append(os.Environ(), "NEGENTROPY_JS_MODULES="+modules)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &negJS{ctx: ctx, stdin: stdin, stdout: bufio.NewReaderSize(stdout, 1<<20), stderr: &lockedBuffer{}, loaded: map[string]bool{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s %s: %v", node, driver, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		cancel()
	})
	return p
}

func (p *negJS) call(t testing.TB, req jsRequest) jsReply {
	t.Helper()
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return p.callRaw(t, req.Op, line)
}

// callRaw sends one JSON command line and reads the reply.
func (p *negJS) callRaw(t testing.TB, op string, line []byte) jsReply {
	t.Helper()
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		t.Fatalf("driver %s: write: %v (ctx: %v)\nstderr: %s", op, err, p.ctx.Err(), p.stderr.String())
	}
	out, err := p.stdout.ReadBytes('\n')
	if err != nil {
		t.Fatalf("driver %s: read: %v (ctx: %v)\nstderr: %s", op, err, p.ctx.Err(), p.stderr.String())
	}
	var rep jsReply
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("driver %s: bad reply %q: %v", op, out, err)
	}
	if rep.Error != "" {
		t.Fatalf("driver %s: %s", op, rep.Error)
	}
	return rep
}

func (p *negJS) load(t testing.TB, session string, items []Item, frameSizeLimit int) {
	t.Helper()
	// Built by hand: json.Marshal of tens of thousands of [2]any is slow
	// under -race.
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"op":"load","session":%q,"frameSizeLimit":%d,"items":[`, session, frameSizeLimit)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `[%d,"%x"]`, it.Timestamp, it.ID[:])
	}
	b.WriteString("]}")
	if rep := p.callRaw(t, "load", b.Bytes()); rep.Size != len(items) {
		t.Fatalf("driver loaded %d items, want %d", rep.Size, len(items))
	}
}

// session returns the driver session holding v's items under the given
// frame-size limit, loading it on first use. Sessions are named by content
// (size and whole-set fingerprint), so a set loads once per process.
func (p *negJS) session(t testing.TB, v *Vector, frameSizeLimit int) string {
	t.Helper()
	fp := v.Fingerprint(0, v.Size())
	name := fmt.Sprintf("%d-%x-%d", v.Size(), fp[:], frameSizeLimit)
	if !p.loaded[name] {
		p.load(t, name, v.Items(), frameSizeLimit)
		p.loaded[name] = true
	}
	return name
}

func (p *negJS) initiate(t testing.TB, session string) []byte {
	t.Helper()
	rep := p.call(t, jsRequest{Op: "initiate", Session: session})
	if rep.Msg == nil {
		t.Fatalf("JS initiate returned null")
	}
	return mustHex(t, *rep.Msg)
}

// reconcile returns the JS reply (nil for null) and the have/need it
// reported.
func (p *negJS) reconcile(t testing.TB, session string, msg []byte) (reply []byte, have, need []ID) {
	t.Helper()
	rep := p.call(t, jsRequest{Op: "reconcile", Session: session, Msg: hex.EncodeToString(msg)})
	if rep.Msg != nil {
		reply = mustHex(t, *rep.Msg)
	}
	return reply, hexIDs(t, rep.Have), hexIDs(t, rep.Need)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex from driver: %v", err)
	}
	return b
}

func hexIDs(t testing.TB, ss []string) []ID {
	t.Helper()
	out := make([]ID, len(ss))
	for i, s := range ss {
		b := mustHex(t, s)
		if len(b) != IDSize {
			t.Fatalf("driver reported a %d-byte ID", len(b))
		}
		out[i] = ID(b)
	}
	return out
}

// interopItems returns n random items with timestamps in [ts, ts+spread)
// and IDs starting with prefix.
func interopItems(r *rand.Rand, n int, ts, spread uint64, prefix []byte) []Item {
	out := make([]Item, 0, n)
	seen := map[Item]bool{}
	for len(out) < n {
		var it Item
		it.Timestamp = ts + r.Uint64N(spread)
		for i := range it.ID {
			it.ID[i] = byte(r.Uint32())
		}
		copy(it.ID[:], prefix)
		if !seen[it] {
			seen[it] = true
			out = append(out, it)
		}
	}
	return out
}

// rangeModes parses a message and returns the mode of each range.
func rangeModes(msg []byte) ([]uint64, error) {
	q := reader{b: msg}
	if _, err := q.bytes(1); err != nil {
		return nil, err
	}
	var r Reconciler
	var modes []uint64
	for !q.empty() {
		if _, err := r.readBound(&q); err != nil {
			return nil, err
		}
		mode, err := q.varint()
		if err != nil {
			return nil, err
		}
		switch mode {
		case ModeSkip:
		case ModeFingerprint:
			if _, err := q.bytes(FingerprintSize); err != nil {
				return nil, err
			}
		case ModeIDList:
			n, err := q.varint()
			if err != nil {
				return nil, err
			}
			if n > uint64(len(q.b)/IDSize) {
				return nil, malformed("ID list too long")
			}
			q.bytes(int(n) * IDSize)
		default:
			return nil, malformed("unknown mode %d", mode)
		}
		modes = append(modes, mode)
	}
	return modes, nil
}

func hasIDList(t testing.TB, msg []byte) bool {
	t.Helper()
	modes, err := rangeModes(msg)
	if err != nil {
		t.Fatalf("unparsable message %x: %v", msg, err)
	}
	return slices.Contains(modes, ModeIDList)
}

// interopStats counts what a comparison saw.
type interopStats struct {
	rounds, bytes  int
	equal, cutDiff int
	suffixes       map[*Vector]map[Fingerprint]int
}

// suffixFrom returns the smallest i with fingerprint [i, size) equal to fp,
// or -1.
func (s *interopStats) suffixFrom(st *Vector, fp []byte) int {
	if s.suffixes == nil {
		s.suffixes = map[*Vector]map[Fingerprint]int{}
	}
	m := s.suffixes[st]
	if m == nil {
		m = make(map[Fingerprint]int, st.Size()+1)
		for i := st.Size(); i >= 0; i-- {
			m[st.Fingerprint(i, st.Size())] = i
		}
		s.suffixes[st] = m
	}
	if i, ok := m[Fingerprint(fp)]; ok {
		return i
	}
	return -1
}

// compareMessages checks that the Go and JS messages for the same input
// over the same set st are identical (nil, a bare version byte and JS null
// all mean "nothing to say"). The one accepted difference is the trailing
// fingerprint after a frame-size cut: Go fingerprints the suffix from the
// dropped range's lower index, JS from its upper index.
func compareMessages(t *testing.T, st *Vector, what string, goMsg, jsMsg []byte, s *interopStats) {
	t.Helper()
	if len(goMsg) <= 1 && len(jsMsg) <= 1 {
		s.equal++
		return
	}
	if bytes.Equal(goMsg, jsMsg) {
		s.equal++
		return
	}
	trailer := []byte{0x00, 0x00, ModeFingerprint} // bound infinity, empty prefix, fingerprint
	n := len(goMsg)
	tl := len(trailer) + FingerprintSize
	if n == len(jsMsg) && n > tl && bytes.Equal(goMsg[:n-FingerprintSize], jsMsg[:n-FingerprintSize]) &&
		bytes.Equal(goMsg[n-tl:n-FingerprintSize], trailer) {
		goFrom, jsFrom := s.suffixFrom(st, goMsg[n-FingerprintSize:]), s.suffixFrom(st, jsMsg[n-FingerprintSize:])
		if goFrom >= 0 && jsFrom > goFrom {
			s.cutDiff++
			return
		}
		t.Errorf("%s: messages differ in the trailing fingerprint only, but not as a frame-size cut (Go suffix from %d, JS from %d)", what, goFrom, jsFrom)
		return
	}
	i := 0
	for i < len(goMsg) && i < len(jsMsg) && goMsg[i] == jsMsg[i] {
		i++
	}
	t.Errorf("%s: Go and JS messages differ at byte %d (Go %d bytes, JS %d bytes)\nGo: %s\nJS: %s",
		what, i, len(goMsg), len(jsMsg), hexAround(goMsg, i), hexAround(jsMsg, i))
}

func hexAround(b []byte, i int) string {
	lo, hi := max(0, i-24), min(len(b), i+40)
	return fmt.Sprintf("...[%d:%d] %x", lo, hi, b[lo:hi])
}

func sameIDs(t *testing.T, what string, got, want []ID) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	cmpID := func(a, b ID) int { return bytes.Compare(a[:], b[:]) }
	slices.SortFunc(g, cmpID)
	slices.SortFunc(w, cmpID)
	if !slices.Equal(g, w) {
		t.Errorf("%s: Go reports %d IDs, JS %d, and they differ", what, len(want), len(got))
	}
}

// diffIDs returns the IDs in a and not in b.
func diffIDs(a, b []Item) map[ID]bool {
	inB := map[ID]bool{}
	for _, it := range b {
		inB[it.ID] = true
	}
	out := map[ID]bool{}
	for _, it := range a {
		if !inB[it.ID] {
			out[it.ID] = true
		}
	}
	return out
}

func addIDs(m map[ID]bool, ids []ID) {
	for _, id := range ids {
		m[id] = true
	}
}

func sameIDSet(t *testing.T, what string, got, want map[ID]bool) {
	t.Helper()
	missing, extra := 0, 0
	for id := range want {
		if !got[id] {
			missing++
		}
	}
	for id := range got {
		if !want[id] {
			extra++
		}
	}
	if missing != 0 || extra != 0 {
		t.Errorf("%s: %d IDs reported, %d expected: %d missing, %d wrong", what, len(got), len(want), missing, extra)
	}
}

// interopStorage gives the Go side's storage for a set: the Vector itself
// or a Tree grown by inserts.
type interopStorage func(*Vector) Storage

func vectorStorage(v *Vector) Storage { return v }

func treeStorage(v *Vector) Storage {
	tr := NewTree()
	for _, it := range v.Items() {
		tr.Insert(it)
	}
	return tr
}

// interopJSInitiates runs JS (over a) as the initiator against a Go
// responder (over b): checks (a) initiate bytes, (b) the outcome, (d)
// fingerprint-only responses against JS answering over b, and every JS
// step against a shadow Go initiator over a.
func interopJSInitiates(t *testing.T, js *negJS, a, b []Item, opt Options, store interopStorage, maxRounds int) interopStats {
	var s interopStats
	va, vb := mustVector(t, a), mustVector(t, b)
	sa, sb := js.session(t, va, opt.FrameSizeLimit), js.session(t, vb, opt.FrameSizeLimit)
	shadow, err := NewReconciler(store(va), opt)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := NewReconciler(store(vb), opt)
	if err != nil {
		t.Fatal(err)
	}
	msg := js.initiate(t, sa)
	if goMsg := shadow.Initiate(); !bytes.Equal(goMsg, msg) {
		compareMessages(t, va, "initiate", goMsg, msg, &s)
		t.Fatalf("initiate: Go and JS differ (must be byte-identical)")
	}
	have, need := map[ID]bool{}, map[ID]bool{}
	for round := 1; msg != nil; round++ {
		if round > maxRounds {
			t.Fatalf("no agreement after %d rounds", maxRounds)
		}
		s.rounds++
		s.bytes += len(msg)
		reply, err := resp.Respond(msg)
		if err != nil {
			t.Fatalf("round %d: Go Respond to JS message: %v", round, err)
		}
		s.bytes += len(reply)
		if !hasIDList(t, msg) {
			jsReply, h, n := js.reconcile(t, sb, msg)
			compareMessages(t, vb, fmt.Sprintf("round %d: response (Go Respond vs JS reconcile)", round), reply, jsReply, &s)
			if len(h)+len(n) != 0 {
				t.Errorf("round %d: JS reported differences for a message without ID lists", round)
			}
		}
		next, h, n := js.reconcile(t, sa, reply)
		goNext, gh, gn, err := shadow.Reconcile(reply)
		if err != nil {
			t.Fatalf("round %d: shadow Go initiator: %v", round, err)
		}
		compareMessages(t, va, fmt.Sprintf("round %d: initiator step (Go Reconcile vs JS reconcile)", round), goNext, next, &s)
		sameIDs(t, fmt.Sprintf("round %d: have", round), h, gh)
		sameIDs(t, fmt.Sprintf("round %d: need", round), n, gn)
		addIDs(have, h)
		addIDs(need, n)
		msg = next
		if t.Failed() {
			t.FailNow()
		}
	}
	sameIDSet(t, "JS have (JS set \\ Go set)", have, diffIDs(a, b))
	sameIDSet(t, "JS need (Go set \\ JS set)", need, diffIDs(b, a))
	return s
}

// interopGoInitiates runs a Go initiator (over a) with JS (over b) as the
// other side: checks the union of both sides' findings, every JS reply
// against a shadow Go initiator over b, and (d) fingerprint-only replies
// against a Go responder over b.
func interopGoInitiates(t *testing.T, js *negJS, a, b []Item, opt Options, store interopStorage, maxRounds int) interopStats {
	var s interopStats
	va, vb := mustVector(t, a), mustVector(t, b)
	sb := js.session(t, vb, opt.FrameSizeLimit)
	ini, err := NewReconciler(store(va), opt)
	if err != nil {
		t.Fatal(err)
	}
	gb := store(vb)
	shadow, err := NewReconciler(gb, opt)
	if err != nil {
		t.Fatal(err)
	}
	if goMsg, jsMsg := shadow.Initiate(), js.initiate(t, sb); !bytes.Equal(goMsg, jsMsg) {
		compareMessages(t, vb, "initiate", goMsg, jsMsg, &s)
		t.Fatalf("initiate: Go and JS differ (must be byte-identical)")
	}
	resp, err := NewReconciler(gb, opt)
	if err != nil {
		t.Fatal(err)
	}
	have, need := map[ID]bool{}, map[ID]bool{} // Go's perspective
	msg := ini.Initiate()
	for round := 1; msg != nil; round++ {
		if round > maxRounds {
			t.Fatalf("no agreement after %d rounds", maxRounds)
		}
		s.rounds++
		s.bytes += len(msg)
		reply, jh, jn := js.reconcile(t, sb, msg)
		s.bytes += len(reply)
		goReply, gh, gn, err := shadow.Reconcile(msg)
		if err != nil {
			t.Fatalf("round %d: shadow Go initiator: %v", round, err)
		}
		compareMessages(t, vb, fmt.Sprintf("round %d: JS reply vs shadow Go initiator", round), goReply, reply, &s)
		sameIDs(t, fmt.Sprintf("round %d: JS have", round), jh, gh)
		sameIDs(t, fmt.Sprintf("round %d: JS need", round), jn, gn)
		if !hasIDList(t, msg) {
			r, err := resp.Respond(msg)
			if err != nil {
				t.Fatalf("round %d: Go Respond: %v", round, err)
			}
			compareMessages(t, vb, fmt.Sprintf("round %d: response (Go Respond vs JS reconcile)", round), r, reply, &s)
		}
		addIDs(have, jn) // JS needs what only Go has
		addIDs(need, jh) // JS has what only JS has
		if t.Failed() {
			t.FailNow()
		}
		if reply == nil {
			break
		}
		var h, n []ID
		msg, h, n, err = ini.Reconcile(reply)
		if err != nil {
			t.Fatalf("round %d: Go Reconcile of JS reply: %v", round, err)
		}
		addIDs(have, h)
		addIDs(need, n)
	}
	sameIDSet(t, "have (Go set \\ JS set)", have, diffIDs(a, b))
	sameIDSet(t, "need (JS set \\ Go set)", need, diffIDs(b, a))
	return s
}

type interopCase struct {
	name           string
	a, b           []Item
	frameSizeLimit int
}

func interopCases() []interopCase {
	r := rand.New(rand.NewPCG(2026, 77))
	cat := func(parts ...[]Item) []Item { return slices.Concat(parts...) }
	pool := interopItems(r, 6000, interopTSBase, 1_000_000, nil)
	common := pool[:5000]
	diff := func(k int) ([]Item, []Item) {
		c := pool[:5000-k]
		return cat(c, pool[5000:5000+k]), cat(c, pool[5000+k:5000+2*k])
	}
	cases := []interopCase{
		{name: "both empty"},
		{name: "equal 5000", a: common, b: common},
		{name: "empty vs 5000", a: nil, b: common},
		{name: "disjoint 2500 vs 2500", a: pool[:2500], b: pool[2500:5000]},
	}
	for _, k := range []int{1, 50, 500} {
		a, b := diff(k)
		cases = append(cases, interopCase{name: fmt.Sprintf("5000 vs 5000, %d differences each way", k), a: a, b: b})
	}
	// One timestamp and a shared 2-byte ID prefix: every bound between
	// buckets carries an ID prefix of at least 3 bytes.
	same := interopItems(r, 600, interopTSBase+5, 1, []byte{0xaa, 0xbb})
	cases = append(cases, interopCase{name: "600 items at one timestamp", a: same[:550], b: same[50:]},
		interopCase{name: "600 items at one timestamp, equal", a: same, b: same})
	// Three timestamps: buckets split inside runs of equal timestamps.
	three := interopItems(r, 3000, interopTSBase, 3, []byte{0x01})
	var ta, tb []Item
	for i, it := range three {
		if i%7 != 0 {
			ta = append(ta, it)
		}
		if i%11 != 0 {
			tb = append(tb, it)
		}
	}
	cases = append(cases, interopCase{name: "3000 items at three timestamps", a: ta, b: tb})
	// Around the bucket count (16) and the ID-list threshold (32).
	for _, n := range []int{15, 16, 17, 31, 32, 33} {
		cases = append(cases,
			interopCase{name: fmt.Sprintf("%d equal", n), a: pool[:n], b: pool[:n]},
			interopCase{name: fmt.Sprintf("%d vs %d, one difference each way", n, n), a: pool[:n], b: pool[1 : n+1]},
			interopCase{name: fmt.Sprintf("%d vs %d", n, n+1), a: pool[:n], b: pool[:n+1]})
	}
	// Large sets under the smallest frame-size limit: messages are cut.
	big := interopItems(r, 20400, interopTSBase, 5_000_000, nil)
	cases = append(cases,
		interopCase{name: "20000 vs 20000, 200 differences each way, frame 4096",
			a: cat(big[:20000], big[20000:20200]), b: cat(big[:20000], big[20200:20400]), frameSizeLimit: 4096},
		interopCase{name: "20000 vs 20000, 1 difference, frame 4096",
			a: big[:20000], b: big[1:20000], frameSizeLimit: 4096})
	return cases
}

// TestInteropNegentropyJS checks wire compatibility with nostr-tools'
// Negentropy v1 in both roles.
func TestInteropNegentropyJS(t *testing.T) {
	js := startNegentropyJS(t)
	v := js.call(t, jsRequest{Op: "version"})
	t.Logf("nostr-tools %s (%s)", v.Version, v.Module)
	if v.Version != "2.25.2" {
		t.Logf("note: the interop test was written against nostr-tools 2.25.2")
	}
	for _, tc := range interopCases() {
		limit := tc.frameSizeLimit
		if limit == 0 {
			limit = jsDefaultFrameSizeLimit
		}
		opt := Options{FrameSizeLimit: limit, Buckets: 16, IDListBelow: 32}
		t.Run(tc.name, func(t *testing.T) {
			// Both directions over Vector, then one over a Tree grown by
			// inserts (the node's live storage).
			for _, run := range []struct {
				name  string
				a, b  []Item
				store interopStorage
			}{
				{"", tc.a, tc.b, vectorStorage},
				{"swapped ", tc.b, tc.a, vectorStorage},
				{"tree ", tc.a, tc.b, treeStorage},
			} {
				s := interopJSInitiates(t, js, run.a, run.b, opt, run.store, interopMaxRounds)
				t.Logf("%sJS initiator, Go responder: %d rounds, %d bytes, %d identical, %d frame-cut fingerprint differences",
					run.name, s.rounds, s.bytes, s.equal, s.cutDiff)
				s = interopGoInitiates(t, js, run.a, run.b, opt, run.store, interopMaxRounds)
				t.Logf("%sGo initiator, JS peer: %d rounds, %d bytes, %d identical, %d frame-cut fingerprint differences",
					run.name, s.rounds, s.bytes, s.equal, s.cutDiff)
			}
		})
	}
}
