//go:build unix

package childproc

import (
	"os"
	"syscall"
)

// killGroup sends SIGKILL to p's process group, or to p alone if that
// fails.
func killGroup(p *os.Process) {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		p.Kill()
	}
}
