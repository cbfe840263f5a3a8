//go:build !unix

package testnet

import (
	"errors"
	"syscall"
)

var errUnsupported = errors.New("testnet: local testnets need a Unix system (Linux or macOS)")

func spawn(binary, home, logPath string, launcher bool) (int, error) { return 0, errUnsupported }

func alive(pid int, home string) bool { return false }

func kill(pid int, sig syscall.Signal) error { return errUnsupported }

const (
	sigTerm = syscall.Signal(15)
	sigKill = syscall.Signal(9)
)
