//go:build !linux

package mixnet_test

import "time"

// pace sleeps for d: on this system with Go's timer, to the millisecond.
func pace(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}
