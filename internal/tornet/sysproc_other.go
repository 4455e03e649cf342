//go:build !linux

package tornet

import "syscall"

func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

// runs reports whether pid is alive; without /proc it cannot tell whose.
func runs(pid int, _ *Node) bool { return syscall.Kill(pid, 0) == nil }
