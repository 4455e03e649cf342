package tornet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrNotInstalled means the tor or tor-gencert program was not found.
var ErrNotInstalled = errors.New("tornet: the tor program is not installed; install Debian's package: apt-get install tor")

// How long a tor gets to exit after SIGTERM before SIGKILL, and after that.
const (
	termGrace = 2 * time.Second
	killGrace = 5 * time.Second
)

// lookProgram finds a program of Debian's tor package: at path if one is
// given, else on PATH, else where Debian puts it (/usr/sbin is not on every
// user's PATH).
func lookProgram(path, name string) (string, error) {
	if path != "" {
		name = path
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if !strings.Contains(name, "/") {
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%w (looked for %q)", ErrNotInstalled, name)
}

// process is a tor this package started. While the starting program runs it
// is that program's child and is reaped by wait; done closes when it exits.
type process struct {
	pid  int
	done chan struct{}
	err  error // the exit status, once done
}

// launch starts tor on the node's torrc. A child (detach false) is killed by
// the kernel if the test process dies first, so a crashed or timed-out test
// leaves no tor behind; a detached tor gets its own session and outlives the
// scripts/tornet command that started it.
func launch(torPath string, n *Node, detach bool) (*process, error) {
	out, err := os.OpenFile(filepath.Join(n.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tornet: %w", err)
	}
	defer out.Close() // the child holds its own copy
	cmd := exec.Command(torPath, "-f", n.Torrc())
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr(detach)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tornet: starting tor for %s: %w", n.Name, err)
	}
	p := &process{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends a child: SIGTERM, then SIGKILL if it is still there after
// termGrace, and waits until it is gone.
func (p *process) stop() error {
	if p.exited() {
		return nil
	}
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(termGrace):
	}
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(killGrace):
		return fmt.Errorf("tornet: tor process %d did not exit after SIGKILL", p.pid)
	}
}

// readPID reads the process id tor wrote to the node's PidFile.
func readPID(n *Node) (int, error) {
	b, err := os.ReadFile(n.PidFile())
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 1 {
		return 0, fmt.Errorf("tornet: %s: no process id", n.PidFile())
	}
	return pid, nil
}

// stopPID ends a tor that is not this program's child, found by its PidFile.
// It signals the process only while it is the node's tor (its command line
// names the node's torrc), never a process that reused the id.
func stopPID(n *Node) error {
	pid, err := readPID(n)
	if errors.Is(err, os.ErrNotExist) {
		return nil // never started, or cleaned up on a clean exit
	}
	if err != nil {
		return err
	}
	if !runs(pid, n) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(pid, n, termGrace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, n, killGrace) {
		return nil
	}
	return fmt.Errorf("tornet: tor process %d (%s) did not exit after SIGKILL", pid, n.Name)
}

// waitGone polls until pid is no longer the node's tor or d passes.
func waitGone(pid int, n *Node, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for runs(pid, n) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond) // waiting on another process; no protocol timing
	}
	return true
}
