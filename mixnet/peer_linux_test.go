package mixnet_test

import (
	"syscall"
	"time"
)

// pace sleeps for d in the kernel, to the microsecond, holding the thread.
func pace(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// peerProcAttr has the kernel kill the traffic peer if the benchmark dies.
func peerProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
