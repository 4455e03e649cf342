package tor

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cretz/bine/process"
)

// lookTor finds the tor program: at path if given, else "tor" on PATH, else
// in /usr/sbin where Debian installs it (not on every user's PATH).
func lookTor(path string) (string, error) {
	name := path
	if name == "" {
		name = "tor"
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if !strings.Contains(name, "/") {
		if p, err := exec.LookPath(filepath.Join("/usr/sbin", name)); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looked for %q)", ErrNotInstalled, name)
}

// creator makes bine's tor process: a child this package can watch and
// kill, whose output goes to the logger, and which bine's Start finds ready.
type creator struct {
	path  string
	logs  *logSink
	start context.Context // Start's: bounds the wait for the control port
	proc  *proc           // the process made, once New has run
}

func (c *creator) New(ctx context.Context, args ...string) (process.Process, error) {
	// Cancelling ctx (bine's Close when it could not send HALT, or ours)
	// sends SIGTERM; Go sends SIGKILL killGrace later if tor is still there.
	cmd := exec.CommandContext(ctx, c.path, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = killGrace
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	cmd.SysProcAttr = sysProcAttr()
	p := &proc{cmd: cmd, logs: c.logs, start: c.start, done: make(chan struct{})}
	if i := slices.Index(args, "--ControlPortWriteToFile"); i >= 0 && i+1 < len(args) {
		p.portFile = args[i+1]
	}
	c.proc = p
	return p, nil
}

// proc is a running tor. Wait may be called by bine and by Close alike.
type proc struct {
	cmd      *exec.Cmd
	logs     *logSink
	portFile string
	start    context.Context
	done     chan struct{}
	err      error // exit status, set before done closes
}

// Start launches tor and returns once it has written its control port
// file. bine reads that file only for 2 s after Start returns; a tor slowed
// by a busy machine would otherwise fail to start.
func (p *proc) Start() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("tor: starting %s: %w", p.cmd.Path, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if p.portFile == "" {
		return nil
	}
	deadline := time.Now().Add(launchTimeout)
	for {
		if b, err := os.ReadFile(p.portFile); err == nil && strings.HasPrefix(string(b), "PORT=") {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("tor: tor exited at start (%v); its log ends:\n%s", p.err, p.logs.tail())
		case <-p.start.Done():
			return fmt.Errorf("tor: waiting for tor to open its control port: %w", p.start.Err())
		case <-time.After(pollEvery): // waiting on another process; no protocol timing
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tor: tor opened no control port within %s; its log ends:\n%s", launchTimeout, p.logs.tail())
		}
	}
}

func (p *proc) Wait() error {
	<-p.done
	return p.err
}

func (p *proc) EmbeddedControlConn() (net.Conn, error) {
	return nil, process.ErrControlConnUnsupported
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logSink passes tor's output lines to the logger (warnings and errors as
// warnings, the rest at debug level) and keeps the last few for errors.
type logSink struct {
	log  *slog.Logger
	mu   sync.Mutex
	part []byte
	last []string
}

func (s *logSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.part = append(s.part, b...)
	for {
		i := slices.Index(s.part, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(s.part[:i]))
		s.part = s.part[i+1:]
		if line == "" {
			continue
		}
		if strings.Contains(line, "[warn]") || strings.Contains(line, "[err]") {
			s.log.Warn("tor", "log", line)
		} else {
			s.log.Debug("tor", "log", line)
		}
		s.last = append(s.last, line)
		if len(s.last) > logTail {
			s.last = s.last[1:]
		}
	}
	return len(b), nil
}

func (s *logSink) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.last) == 0 {
		return "(nothing)"
	}
	return strings.Join(s.last, "\n")
}
