//go:build unix && !linux

package launcher

import "syscall"

// deathSignal: no parent-death signal outside Linux; a restarted launcher
// kills a leftover node it finds in launcher/node.pid instead.
func deathSignal(*syscall.SysProcAttr) {}
