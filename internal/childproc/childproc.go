//go:build unix

// Package childproc runs the child processes of a test harness (the
// loam-node processes of internal/localnet and internal/testbed): each in
// its own process group, killed with the harness on Linux, its output
// appended to a log file whose end an error message can quote.
package childproc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Proc is a started child process.
type Proc struct {
	// Log is the file its stderr (and stdout unless the caller set one)
	// goes to.
	Log string

	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returned
	err  error         // Wait's result, valid once done is closed
}

// Start starts cmd in a process group of its own, appending its stderr,
// and its stdout unless cmd.Stdout is set, to logPath. On Linux the kernel
// kills it if the harness dies without cleaning up (a test binary killed
// at its timeout).
func Start(cmd *exec.Cmd, logPath string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	if cmd.Stdout == nil {
		cmd.Stdout = logf
	}
	cmd.Stderr = logf
	// A race-enabled build would sleep a second at every exit.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process (not its group).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for status 0); valid once Done is
// closed.
func (p *Proc) Err() error { return p.err }

// Alive reports whether the process runs.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Status describes how the process exited, for error messages; valid
// once Done is closed.
func (p *Proc) Status() string {
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string { return Tail(p.Log, n) }

// KillGroup sends SIGKILL to the process group unless the process has been
// reaped (its group id could then belong to another process).
func (p *Proc) KillGroup() {
	select {
	case <-p.done:
		return
	default:
	}
	killGroup(p.cmd.Process)
}

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
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

// Run runs bin to completion and returns its stdout. A failure's error
// names the command line and carries its stderr; callers prefix their
// package's name.
func Run(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}
