//go:build unix

package localnet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/internal/childproc"
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
	*childproc.Proc
	node *Node
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
	cp, err := childproc.Start(exec.Command(r.Layout.Spec.Bin, "run", "-c", n.Config), n.Log)
	if err != nil {
		return fmt.Errorf("localnet: starting %s: %w", n.Name, err)
	}
	p := &proc{Proc: cp, node: n}
	r.mu.Lock()
	r.procs[n.Name] = p
	r.mu.Unlock()
	return nil
}

// awaitUp waits until each node answers HTTP (see AwaitUp).
func (r *Running) awaitUp(ctx context.Context, nodes []*Node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for _, n := range nodes {
		if err := AwaitUp(ctx, client, n, func() error { return r.exited(n.Name) }); err != nil {
			return err
		}
	}
	return nil
}

// AwaitUp waits until n answers HTTP: an authority its API, a node its
// metrics listener (any status). Either listener opens after the process
// has set up its signal handling, so from then on SIGTERM means a graceful
// shutdown. exited is asked before every try; its error ends the wait.
func AwaitUp(ctx context.Context, client *http.Client, n *Node, exited func() error) error {
	url := "http://" + n.Metrics + "/readyz"
	if n.Role == nodeconfig.RoleAuthority {
		url = "http://" + n.Listen + "/v1/documents/current"
	}
	for {
		if err := exited(); err != nil {
			return err
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localnet: %s does not answer at %s: %w", n.Name, url, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
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
	if p.Alive() {
		return nil
	}
	return fmt.Errorf("localnet: %s exited (%s); end of %s:\n%s", name, p.Status(), p.Log, p.Tail(15))
}

// Alive reports whether name's process is running.
func (r *Running) Alive(name string) bool {
	p, err := r.proc(name)
	return err == nil && p.Alive()
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
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
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
	p.KillGroup()
	<-p.Done()
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
		if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			p.KillGroup()
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
	case <-p.Done():
		if p.Err() != nil {
			err = fmt.Errorf("localnet: %s exited after %v: %s; end of %s:\n%s", p.node.Name, sig, p.Status(), p.Log, p.Tail(15))
		}
	case <-deadline:
		p.KillGroup()
		<-p.Done()
		err = fmt.Errorf("localnet: %s did not exit within %v of %v; killed. End of %s:\n%s", p.node.Name, StopTimeout, sig, p.Log, p.Tail(15))
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
		p.KillGroup()
	}
	for _, p := range procs {
		<-p.Done()
	}
}
