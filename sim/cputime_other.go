//go:build !linux

package sim

import "time"

// threadCPU is unknown here: runs report 0.
func threadCPU() time.Duration { return 0 }
