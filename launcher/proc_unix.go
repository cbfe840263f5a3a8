//go:build unix

package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

const supported = true

// lockHome takes launcher/lock with flock, so one launcher runs per home.
// The kernel drops the lock when the process dies, even by SIGKILL.
func lockHome(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("launcher: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrAlreadyRunning
		}
		return nil, fmt.Errorf("launcher: locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// setProcAttrs puts a child in its own process group (a Ctrl-C in the
// launcher's terminal reaches only the launcher, which forwards it) and,
// where the OS supports it, has the kernel kill the child if the launcher
// dies (deathSignal).
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	deathSignal(cmd.SysProcAttr)
}

// killGroup ends a gate command and everything it started.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// signalTerm and signalKill send SIGTERM and SIGKILL to a process.
func signalTerm(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
func signalKill(p *os.Process) error { return p.Signal(syscall.SIGKILL) }

// killSelf ends the launcher as SIGKILL would (crash injection).
func killSelf() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

// processAlive reports whether pid is a live, non-zombie process with
// want among its arguments (when /proc can tell), so a recycled pid is
// not taken for a node of this home.
func processAlive(pid int, want string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
			if s := stat[i+2]; s == 'Z' || s == 'X' {
				return false
			}
		}
	}
	if cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && want != "" {
		return slices.Contains(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"), want)
	}
	return true
}

// killPID sends SIGKILL to pid.
func killPID(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("launcher: killing pid %d: %w", pid, err)
	}
	return nil
}
