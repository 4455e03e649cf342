//go:build unix && !linux

package childproc

import "syscall"

// sysProcAttr puts each process in its own process group, so that killing
// the group ends anything it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
