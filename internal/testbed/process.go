//go:build linux

package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopTimeout is how long a process may take to exit after SIGTERM before
// its process group is killed.
const StopTimeout = 10 * time.Second

// Proc is one process of the bed, run in a host's namespace with
// `ip netns exec` (which execs in place: the process id is the program's).
// It runs in its own process group, which a kill ends, and gets SIGKILL
// if the harness dies.
type Proc struct {
	Name string
	Host *Host
	Log  string // its stderr (and stdout unless piped)

	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result once done is closed

	mu       sync.Mutex
	reported bool // stopped or killed on purpose
	peakRSS  int64
}

// startProc starts bin with args in host's namespace, appending its output
// to logPath. With stdin and stdout set, they are the process's own (a
// pipe the caller reads).
func startProc(name string, host *Host, logPath string, stdin io.Reader, stdout io.Writer, bin string, args ...string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command("ip", append([]string{"netns", "exec", host.NS, bin}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, logf, logf
	if stdout != nil {
		cmd.Stdout = stdout
	}
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testbed: starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Host: host, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Alive reports whether the process runs.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Exited returns an error naming the process and the end of its log if it
// has exited.
func (p *Proc) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("testbed: %s exited (%s); end of %s:\n%s", p.Name, status(p.err), p.Log, tail(p.Log, 15))
	default:
		return nil
	}
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
	killGroup(p)
	<-p.done
}

// Stop sends SIGTERM and waits for the exit, killing the group after
// StopTimeout; it returns an error unless the process exited with status 0.
func (p *Proc) Stop() error {
	p.mu.Lock()
	already := p.reported
	p.reported = true
	p.mu.Unlock()
	p.sampleRSS()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		killGroup(p)
	}
	select {
	case <-p.done:
	case <-time.After(StopTimeout):
		killGroup(p)
		<-p.done
		return fmt.Errorf("testbed: %s did not exit within %v of SIGTERM; killed. End of %s:\n%s", p.Name, StopTimeout, p.Log, tail(p.Log, 15))
	}
	if p.err != nil && !already {
		return fmt.Errorf("testbed: %s exited after SIGTERM: %s; end of %s:\n%s", p.Name, status(p.err), p.Log, tail(p.Log, 15))
	}
	return nil
}

// killGroup kills p's process group unless p has been reaped (its group id
// could then belong to another process).
func killGroup(p *Proc) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		p.cmd.Process.Kill()
	}
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

func status(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
