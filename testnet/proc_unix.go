//go:build unix

package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// spawn starts `binary run --home home` (or, with launcher, `binary
// launcher --home home --initial-binary binary`, which runs the node from
// the home's current release) as a detached process (its own session, so
// it outlives the CLI and a Ctrl-C in the CLI's terminal), with stdout and
// stderr appended to logPath. It returns the pid.
func spawn(binary, home, logPath string, launcher bool) (int, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("testnet: opening node log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(binary, "run", "--home", home)
	if launcher {
		cmd = exec.Command(binary, "launcher", "--home", home, "--initial-binary", binary)
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("testnet: starting %s: %w", binary, err)
	}
	// Reap the child if it exits while this process still runs, so a
	// killed node does not linger as a zombie that looks alive. Once this
	// process exits the node is re-parented and reaped by init.
	go cmd.Wait()
	return cmd.Process.Pid, nil
}

// alive reports whether pid is a live (not zombie) process. Where /proc
// exists it also checks that the process is the node of home, so a
// recycled pid is not mistaken for the node.
func alive(pid int, home string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		// Format: pid (comm) state ...; comm may contain spaces.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
			if s := stat[i+2]; s == 'Z' || s == 'X' {
				return false
			}
		}
	}
	if cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		found := false
		for _, a := range args {
			if a == home {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// kill sends sig to pid.
func kill(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("testnet: signalling pid %d: %w", pid, err)
	}
	return nil
}

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)
