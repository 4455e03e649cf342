//go:build linux

package testbed

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"loam/internal/childproc"
)

// StopTimeout is how long a process may take to exit after SIGTERM before
// its process group is killed.
const StopTimeout = 10 * time.Second

// Proc is one process of the bed, run in a host's namespace with
// `ip netns exec` (which execs in place: the process id is the program's).
// It runs in its own process group, which a kill ends, and gets SIGKILL
// if the harness dies.
type Proc struct {
	*childproc.Proc // Log is its stderr (and stdout unless piped)
	Name            string
	Host            *Host

	mu       sync.Mutex
	reported bool // stopped or killed on purpose
	peakRSS  int64
}

// startProc starts bin with args in host's namespace, appending its output
// to logPath. With stdin and stdout set, they are the process's own (a
// pipe the caller reads).
func startProc(name string, host *Host, logPath string, stdin io.Reader, stdout io.Writer, bin string, args ...string) (*Proc, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", host.NS, bin}, args...)...)
	cmd.Stdin = stdin
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cp, err := childproc.Start(cmd, logPath)
	if err != nil {
		return nil, fmt.Errorf("testbed: starting %s: %w", name, err)
	}
	return &Proc{Proc: cp, Name: name, Host: host}, nil
}

// Exited returns an error naming the process and the end of its log if it
// has exited.
func (p *Proc) Exited() error {
	if p.Alive() {
		return nil
	}
	return fmt.Errorf("testbed: %s exited (%s); end of %s:\n%s", p.Name, p.Status(), p.Log, p.Tail(15))
}

// onPurpose reports whether the process was stopped or killed on purpose.
func (p *Proc) onPurpose() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reported
}

// Kill ends the process group at once, as a crash would.
func (p *Proc) Kill() {
	p.mu.Lock()
	p.reported = true
	p.mu.Unlock()
	p.sampleRSS()
	p.KillGroup()
	<-p.Done()
}

// Stop sends SIGTERM and waits for the exit, killing the group after
// StopTimeout; it returns an error unless the process exited with status 0.
func (p *Proc) Stop() error {
	p.mu.Lock()
	already := p.reported
	p.reported = true
	p.mu.Unlock()
	p.sampleRSS()
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.KillGroup()
	}
	select {
	case <-p.Done():
	case <-time.After(StopTimeout):
		p.KillGroup()
		<-p.Done()
		return fmt.Errorf("testbed: %s did not exit within %v of SIGTERM; killed. End of %s:\n%s", p.Name, StopTimeout, p.Log, p.Tail(15))
	}
	if p.Err() != nil && !already {
		return fmt.Errorf("testbed: %s exited after SIGTERM: %s; end of %s:\n%s", p.Name, p.Status(), p.Log, p.Tail(15))
	}
	return nil
}

// sampleRSS records the process's peak resident set (VmHWM) so far.
func (p *Proc) sampleRSS() {
	if !p.Alive() {
		return
	}
	hwm, err := readVmHWM(p.Pid())
	if err != nil {
		return
	}
	p.mu.Lock()
	p.peakRSS = max(p.peakRSS, hwm)
	p.mu.Unlock()
}

// PeakRSS is the largest resident set seen, in bytes.
func (p *Proc) PeakRSS() int64 {
	p.sampleRSS()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peakRSS
}

// readVmHWM reads a process's peak resident set size from
// /proc/PID/status, in bytes.
func readVmHWM(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmHWM(f)
}
