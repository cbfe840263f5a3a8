//go:build linux

package launcher

import "syscall"

// deathSignal has the kernel SIGKILL the node if the launcher dies, so a
// killed launcher never leaves a node running unsupervised. (Linux ties
// it to the thread that started the child; the Go runtime does not end
// threads of goroutines that are not locked to them.)
func deathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
