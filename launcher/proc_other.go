//go:build !unix

package launcher

import (
	"os"
	"os/exec"
)

const supported = false

func lockHome(string) (func(), error)        { return nil, errUnsupported }
func setProcAttrs(*exec.Cmd)                 {}
func killGroup(cmd *exec.Cmd) error          { return cmd.Process.Kill() }
func signalTerm(p *os.Process) error         { return p.Kill() }
func signalKill(p *os.Process) error         { return p.Kill() }
func killSelf()                              { panic(errUnsupported) }
func processAlive(pid int, want string) bool { return false }
func killPID(int) error                      { return errUnsupported }
