package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// Built-in gate names.
const (
	gateHealthz = "healthz"
	gateReadyz  = "readyz"
)

const (
	// defaultGateTimeout bounds a gate command without its own timeout.
	defaultGateTimeout = 60 * time.Second
	// maxGateOutput is how much of a gate command's output a result keeps.
	maxGateOutput = 2048
	// httpProbeTimeout bounds one /healthz or /readyz request.
	httpProbeTimeout = 2 * time.Second
)

// errNodeExited reports a node that exited while the launcher waited on
// it.
var errNodeExited = errors.New("the node exited")

// waitAPIAddr waits until the node writes api.addr (it removes the old
// one before starting) and returns the address, or fails when the node
// exits or ctx ends.
func waitAPIAddr(ctx context.Context, lay Layout, c *child, every time.Duration) (string, error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if b, err := readBounded(lay.apiAddr(), 1024); err == nil {
			if addr := strings.TrimSpace(string(b)); addr != "" {
				return addr, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the node wrote no %s: %w", NodeAPIAddrFile, ctx.Err())
		case <-c.done:
			return "", fmt.Errorf("%w before its API listened (%s)", errNodeExited, c.exitStatus())
		case <-tick.C:
		}
	}
}

// waitHTTP polls GET http://addr/path until it answers 200, the node
// exits or ctx ends.
func waitHTTP(ctx context.Context, c *child, addr, path string, every time.Duration) GateResult {
	start := time.Now()
	res := GateResult{Name: strings.TrimPrefix(path, "/")}
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := "no answer"
poll:
	for {
		code, err := getStatus(ctx, "http://"+addr+path)
		if err == nil && code == http.StatusOK {
			res.OK, res.Detail = true, "200 OK"
			break
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("HTTP %d", code)
		}
		select {
		case <-ctx.Done():
			res.Detail = fmt.Sprintf("no 200 from %s within the health timeout (last: %s)", path, last)
			break poll
		case <-c.done:
			res.Detail = fmt.Sprintf("%s while waiting for %s (%s)", errNodeExited, path, c.exitStatus())
			break poll
		case <-tick.C:
		}
	}
	res.DurationMs = time.Since(start).Milliseconds()
	return res
}

func getStatus(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, httpProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// gateEnv is what a gate command sees.
type gateEnv struct {
	home, apiAddr string
	release       ReleaseRef
	previous      string
}

// runGateCommand runs one gate command with its timeout; exit status 0
// passes. Output (stdout and stderr, the last maxGateOutput bytes) goes
// into the detail.
func runGateCommand(ctx context.Context, g GateCommand, env gateEnv) GateResult {
	start := time.Now()
	timeout := time.Duration(g.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultGateTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.Argv[0], g.Argv[1:]...)
	cmd.Dir = env.home
	cmd.Env = childEnv(
		"AURA_HOME="+env.home,
		"AURA_API_ADDR="+env.apiAddr,
		EnvReleaseID+"="+env.release.ID,
		"AURA_VERSION="+env.release.Version,
		"AURA_PREVIOUS_RELEASE_ID="+env.previous,
	)
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = nil
	setProcAttrs(cmd)
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	res := GateResult{Name: g.Name, DurationMs: time.Since(start).Milliseconds()}
	output := strings.TrimSpace(out.String())
	switch {
	case err == nil:
		res.OK = true
		res.Detail = "exit status 0"
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Detail = fmt.Sprintf("timed out after %s", timeout)
	default:
		res.Detail = err.Error()
	}
	if output != "" {
		res.Detail += ": " + output
	}
	return res
}

// tailBuffer keeps the last maxGateOutput bytes written to it.
type tailBuffer struct {
	b []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > maxGateOutput {
		t.b = bytes.Clone(t.b[len(t.b)-maxGateOutput:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// runGates runs the health gates of a started node: /healthz and /readyz
// until they answer 200 within healthTimeout, then each gate command in
// order, then /healthz once more so a node that died during the commands
// fails. It stops at the first failure.
func runGates(ctx context.Context, c *child, addr string, cmds []GateCommand, env gateEnv, healthTimeout, every time.Duration) ([]GateResult, bool) {
	var results []GateResult
	hctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	for _, path := range []string{"/" + gateHealthz, "/" + gateReadyz} {
		r := waitHTTP(hctx, c, addr, path, every)
		results = append(results, r)
		if !r.OK {
			return results, false
		}
	}
	for _, g := range cmds {
		r := runGateCommand(ctx, g, env)
		results = append(results, r)
		if !r.OK {
			return results, false
		}
		if c.exited() {
			break
		}
	}
	if c.exited() {
		results = append(results, GateResult{Name: "running", Detail: fmt.Sprintf("%s during the gates (%s)", errNodeExited, c.exitStatus())})
		return results, false
	}
	if code, err := getStatus(ctx, "http://"+addr+"/"+gateHealthz); err != nil || code != http.StatusOK {
		detail := fmt.Sprint(err)
		if err == nil {
			detail = fmt.Sprintf("HTTP %d", code)
		}
		results = append(results, GateResult{Name: "running", Detail: "healthz after the gate commands: " + detail})
		return results, false
	}
	return results, true
}
