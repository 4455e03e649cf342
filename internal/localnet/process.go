//go:build unix

package localnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"loam/cmd/loam-node/nodeconfig"
)

// StopTimeout is how long StopAll, Stop and Restart wait for a process to
// exit after signalling it before they kill its process group.
const StopTimeout = 10 * time.Second

// Running is a started network.
type Running struct {
	Layout *Layout

	stopWatch func() bool // ends the context watch

	mu    sync.Mutex
	procs map[string]*proc
}

// proc is one process of a node. A node restarted gets a new proc.
type proc struct {
	node *Node
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returned
	err  error         // Wait's result, valid once done is closed
	// reported is set once Stop, Kill or StopAll has returned this
	// process's exit status, so StopAll does not report it twice.
	reported bool
}

// Start starts every process, authorities first: nodes start once every
// authority answers HTTP, so that their first descriptor upload succeeds.
// The processes live until StopAll, or until ctx ends, which kills them:
// ctx bounds the network's life, not only its start. Each logs to its
// Node.Log.
func (l *Layout) Start(ctx context.Context) (*Running, error) {
	r := &Running{Layout: l, procs: map[string]*proc{}}
	r.stopWatch = context.AfterFunc(ctx, r.killAll)
	fail := func(err error) (*Running, error) {
		r.killAll()
		r.stopWatch()
		return nil, err
	}
	for _, a := range l.Authorities() {
		if err := r.start(a); err != nil {
			return fail(err)
		}
	}
	if err := r.awaitUp(ctx, l.Authorities()); err != nil {
		return fail(err)
	}
	for _, n := range l.MixNodes() {
		if err := r.start(n); err != nil {
			return fail(err)
		}
	}
	if err := r.awaitUp(ctx, l.MixNodes()); err != nil {
		return fail(err)
	}
	return r, nil
}

func (r *Running) start(n *Node) error {
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(r.Layout.Spec.Bin, "run", "-c", n.Config)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A race-enabled build would sleep a second at every exit.
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("localnet: starting %s: %w", n.Name, err)
	}
	p := &proc{node: n, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	r.mu.Lock()
	r.procs[n.Name] = p
	r.mu.Unlock()
	return nil
}

// awaitUp waits until each node answers HTTP: an authority its API, a
// node its metrics listener (any status). Either listener opens after the
// process has set up its signal handling, so from then on SIGTERM means a
// graceful shutdown.
func (r *Running) awaitUp(ctx context.Context, nodes []*Node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for _, n := range nodes {
		url := "http://" + n.Metrics + "/readyz"
		if n.Role == nodeconfig.RoleAuthority {
			url = "http://" + n.Listen + "/v1/documents/current"
		}
		for {
			if err := r.exited(n.Name); err != nil {
				return err
			}
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("localnet: %s does not answer at %s: %w", n.Name, url, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func (r *Running) proc(name string) (*proc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.procs[name]
	if p == nil {
		return nil, fmt.Errorf("localnet: no process %q", name)
	}
	return p, nil
}

// exited returns an error, with the end of its log, if name's process has
// exited.
func (r *Running) exited(name string) error {
	p, err := r.proc(name)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		return fmt.Errorf("localnet: %s exited (%s); end of %s:\n%s", name, status(p.err), p.node.Log, tail(p.node.Log, 15))
	default:
		return nil
	}
}

// Alive reports whether name's process is running.
func (r *Running) Alive(name string) bool {
	p, err := r.proc(name)
	if err != nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends sig to name's process and waits for it to exit, killing it
// after StopTimeout. It returns an error unless the process exited with
// status 0.
func (r *Running) Stop(name string, sig os.Signal) error {
	p, err := r.proc(name)
	if err != nil {
		return err
	}
	if err := r.exited(name); err != nil {
		return err
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("localnet: signalling %s: %w", name, err)
	}
	return r.await(p, time.After(StopTimeout), sig)
}

// Kill ends name's process at once with SIGKILL to its process group, as a
// crash would.
func (r *Running) Kill(name string) error {
	p, err := r.proc(name)
	if err != nil {
		return err
	}
	killGroup(p)
	<-p.done
	r.mu.Lock()
	p.reported = true
	r.mu.Unlock()
	return nil
}

// Restart stops name's process with SIGTERM if it runs (an unclean exit
// is returned as an error, after the restart) and starts it again with the
// same configuration, ports and data directory; its log continues.
func (r *Running) Restart(name string) error {
	p, err := r.proc(name)
	if err != nil {
		return err
	}
	var stopErr error
	if r.Alive(name) {
		stopErr = r.Stop(name, syscall.SIGTERM)
	}
	if err := r.start(p.node); err != nil {
		return errors.Join(stopErr, err)
	}
	return errors.Join(stopErr, r.awaitUp(context.Background(), []*Node{p.node}))
}

// StopAll sends SIGTERM to every process, waits for them to exit, kills
// those still running after StopTimeout, and reports every process that
// did not exit with status 0 (including any that exited earlier on its
// own). It may be called more than once.
func (r *Running) StopAll() error {
	defer r.stopWatch()
	r.mu.Lock()
	procs := make([]*proc, 0, len(r.procs))
	for _, n := range r.Layout.Nodes {
		if p := r.procs[n.Name]; p != nil {
			procs = append(procs, p)
		}
	}
	r.mu.Unlock()
	for _, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			killGroup(p)
		}
	}
	deadline := time.After(StopTimeout)
	var errs []error
	for _, p := range procs {
		r.mu.Lock()
		reported := p.reported
		r.mu.Unlock()
		if reported {
			continue
		}
		errs = append(errs, r.await(p, deadline, syscall.SIGTERM))
	}
	return errors.Join(errs...)
}

// await waits for p to exit until deadline fires, then kills its group.
func (r *Running) await(p *proc, deadline <-chan time.Time, sig os.Signal) error {
	var err error
	select {
	case <-p.done:
		if p.err != nil {
			err = fmt.Errorf("localnet: %s exited after %v: %s; end of %s:\n%s", p.node.Name, sig, status(p.err), p.node.Log, tail(p.node.Log, 15))
		}
	case <-deadline:
		killGroup(p)
		<-p.done
		err = fmt.Errorf("localnet: %s did not exit within %v of %v; killed. End of %s:\n%s", p.node.Name, StopTimeout, sig, p.node.Log, tail(p.node.Log, 15))
	}
	r.mu.Lock()
	p.reported = true
	r.mu.Unlock()
	return err
}

// killAll kills every process group and waits for the processes.
func (r *Running) killAll() {
	r.mu.Lock()
	procs := make([]*proc, 0, len(r.procs))
	for _, p := range r.procs {
		procs = append(procs, p)
	}
	r.mu.Unlock()
	for _, p := range procs {
		killGroup(p)
	}
	for _, p := range procs {
		<-p.done
	}
}

// killGroup sends SIGKILL to p's process group unless p has been reaped
// (its group id could then belong to another process).
func killGroup(p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		p.cmd.Process.Kill()
	}
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
