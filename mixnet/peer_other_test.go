//go:build !linux

package mixnet_test

import (
	"syscall"
	"time"
)

// pace sleeps for d: on this system with Go's timer, to the millisecond.
func pace(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// peerProcAttr is nil here: the peer's own timeouts end it.
func peerProcAttr() *syscall.SysProcAttr { return nil }
