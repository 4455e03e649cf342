//go:build linux

package childproc

import "syscall"

// sysProcAttr puts each process in its own process group, so that killing
// the group ends anything it started, and has the kernel kill it if the
// harness dies without cleaning up (a test binary killed at its timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
