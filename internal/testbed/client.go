//go:build linux

package testbed

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"loam/internal/childproc"
	"loam/internal/testbed/tbproto"
)

// Client is one tbclient process: the people of one client host.
type Client struct {
	Name  string
	Host  *Host
	Users []tbproto.User
	proc  *Proc

	in     io.WriteCloser
	wmu    sync.Mutex
	mu     sync.Mutex
	nextID uint64
	calls  map[uint64]chan tbproto.Response
	dead   chan struct{} // closed once the response reader ends
	err    error         // why it ended
}

// Person names one person of the bed: a client and an index in it.
type Person struct {
	C *Client
	I int
}

// Name is the person's name.
func (p Person) Name() string { return p.C.Users[p.I].Name }

// Fingerprint is the person's fingerprint: what entries name as author.
func (p Person) Fingerprint() string { return p.C.Users[p.I].Fingerprint }

// StartClients starts a tbclient in each client host, hosting
// Spec.UsersPerHost people; person i of a host uses gateway i mod the
// number of gateways. via, if set, routes person 0 of the first client
// through the tap. It waits until every person is connected.
func (b *Bed) StartClients(ctx context.Context) error {
	var gws []string
	for _, g := range b.ByRole("gateway") {
		gws = append(gws, g.Name)
	}
	var wg sync.WaitGroup
	errs := make([]error, b.Spec.ClientHosts)
	b.Clients = make([]*Client, b.Spec.ClientHosts)
	for i := range b.Spec.ClientHosts {
		name := fmt.Sprintf("client-%d", i)
		h, err := b.Net.AddHost(ctx, name)
		if err != nil {
			return err
		}
		args := []string{"-dir", filepath.Join(b.Spec.Dir, "clients", name), "-network", b.NetFile,
			"-name", fmt.Sprintf("c%d", i), "-users", strconv.Itoa(b.Spec.UsersPerHost),
			"-gateways", strings.Join(rotate(gws, i), ","),
			"-retention", b.Spec.Retention.String(), "-max-skew", b.Spec.MaxSkew.String(),
			"-retry-base", b.Spec.RetryBase.String(), "-retry-max", b.Spec.RetryMax.String(), "-log-level", "info"}
		if i == 0 && b.tap != nil {
			args = append(args, "-via", b.tap.via())
		}
		wg.Go(func() {
			c, err := startClient(ctx, name, h, filepath.Join(b.Spec.Dir, "logs", name+".log"), filepath.Join(b.Spec.Bin, "tbclient"), args...)
			if err == nil {
				b.mu.Lock()
				b.procs[name] = c.proc
				b.mu.Unlock()
			}
			b.Clients[i], errs[i] = c, err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rotate starts the list at i, so that each client host's first person
// uses another gateway.
func rotate(s []string, i int) []string {
	if len(s) == 0 {
		return nil
	}
	i %= len(s)
	return append(append([]string{}, s[i:]...), s[:i]...)
}

// People lists every person of the bed in order.
func (b *Bed) People() []Person {
	var out []Person
	for _, c := range b.Clients {
		if c == nil {
			continue
		}
		for i := range c.Users {
			out = append(out, Person{c, i})
		}
	}
	return out
}

func startClient(ctx context.Context, name string, h *Host, logPath, bin string, args ...string) (*Client, error) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	p, err := startProc(name, h, logPath, stdinR, stdoutW, bin, args...)
	if err != nil {
		return nil, err
	}
	c := &Client{Name: name, Host: h, proc: p, in: stdinW, calls: map[uint64]chan tbproto.Response{}, dead: make(chan struct{})}
	go func() {
		<-p.Done()
		stdoutW.Close()
		stdinR.Close()
	}()
	ready := make(chan tbproto.Response, 1)
	go c.read(stdoutR, ready)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	select {
	case r := <-ready:
		c.Users = r.Ready
		return c, nil
	case <-c.dead:
		return nil, fmt.Errorf("testbed: %s: %v; end of %s:\n%s", name, c.err, logPath, childproc.Tail(logPath, 15))
	case <-ctx.Done():
		p.Kill()
		return nil, fmt.Errorf("testbed: %s not ready: %w; end of %s:\n%s", name, ctx.Err(), logPath, childproc.Tail(logPath, 15))
	}
}

// read dispatches responses until the process's stdout ends.
func (c *Client) read(r io.Reader, ready chan<- tbproto.Response) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	first := true
	for sc.Scan() {
		var resp tbproto.Response
		if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
			c.finish(fmt.Errorf("bad response %q: %w", sc.Text(), err))
			return
		}
		if first {
			first = false
			ready <- resp
			continue
		}
		c.mu.Lock()
		ch := c.calls[resp.ID]
		delete(c.calls, resp.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
	err := sc.Err()
	if err == nil {
		err = errors.New("the client exited")
	}
	c.finish(err)
}

func (c *Client) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.dead:
		return
	default:
	}
	c.err = err
	close(c.dead)
}

// call sends a request and waits for its response.
func (c *Client) call(ctx context.Context, req tbproto.Request) (tbproto.Response, error) {
	ch := make(chan tbproto.Response, 1)
	c.mu.Lock()
	c.nextID++
	req.ID = c.nextID
	c.calls[req.ID] = ch
	c.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok && req.TimeoutMS == 0 {
		req.TimeoutMS = max(1, time.Until(dl).Milliseconds())
	}
	line, err := json.Marshal(req)
	if err != nil {
		return tbproto.Response{}, err
	}
	c.wmu.Lock()
	_, err = c.in.Write(append(line, '\n'))
	c.wmu.Unlock()
	if err != nil {
		return tbproto.Response{}, fmt.Errorf("testbed: %s: %w", c.Name, err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.dead:
		return tbproto.Response{}, fmt.Errorf("testbed: %s: %w", c.Name, c.err)
	case <-ctx.Done():
		// The client answers once its own timeout passes; wait for that
		// rather than leave the request behind.
		select {
		case r := <-ch:
			return r, nil
		case <-c.dead:
			return tbproto.Response{}, fmt.Errorf("testbed: %s: %w", c.Name, c.err)
		case <-time.After(30 * time.Second):
			return tbproto.Response{}, fmt.Errorf("testbed: %s: %s of person %d: no answer: %w", c.Name, req.Op, req.User, ctx.Err())
		}
	}
}

// do is call for operations with no result but success.
func (c *Client) do(ctx context.Context, req tbproto.Request) (tbproto.Response, error) {
	r, err := c.call(ctx, req)
	if err != nil {
		return r, err
	}
	if !r.OK {
		return r, fmt.Errorf("%s", r.Err)
	}
	return r, nil
}

// AddFriend makes p add the person whose code is code.
func (p Person) AddFriend(ctx context.Context, code string) error {
	_, err := p.C.do(ctx, tbproto.Request{Op: tbproto.OpFriend, User: p.I, Code: code})
	return err
}

// Post posts text with an attachment of attach random bytes. The entry is
// returned whenever the post made one, even if err is set (not every
// friend's header went out): then it is posted but not acknowledged.
func (p Person) Post(ctx context.Context, text string, attach int) (*tbproto.Entry, error) {
	r, err := p.C.call(ctx, tbproto.Request{Op: tbproto.OpPost, User: p.I, Text: text, Attach: attach})
	if err != nil {
		return nil, err
	}
	if !r.OK {
		return r.Entry, errors.New(r.Err)
	}
	return r.Entry, nil
}

// Sync syncs p's feed and returns the entries new to p and the real
// packets p's client sent meanwhile; entries may come with an error (some
// mailbox could not be read this time).
func (p Person) Sync(ctx context.Context) ([]tbproto.Entry, uint64, error) {
	r, err := p.C.call(ctx, tbproto.Request{Op: tbproto.OpSync, User: p.I})
	if err != nil {
		return nil, 0, err
	}
	var sent uint64
	if r.Traffic != nil {
		sent = r.Traffic.Real
	}
	if !r.OK {
		return r.Entries, sent, errors.New(r.Err)
	}
	return r.Entries, sent, nil
}

// Status is p's connection and directory.
func (p Person) Status(ctx context.Context) (*tbproto.Status, *tbproto.Traffic, error) {
	r, err := p.C.do(ctx, tbproto.Request{Op: tbproto.OpStatus, User: p.I})
	if err != nil {
		return nil, nil, err
	}
	return r.Status, r.Traffic, nil
}

// CapCheck has p try to write and delete in a mailbox without its
// capability.
func (p Person) CapCheck(ctx context.Context) (*tbproto.Check, error) {
	r, err := p.C.do(ctx, tbproto.Request{Op: tbproto.OpCapCheck, User: p.I})
	if err != nil {
		return nil, err
	}
	return r.Check, nil
}

// SetClock moves every feed clock of the client offset ahead of the real
// clock.
func (c *Client) SetClock(ctx context.Context, offset time.Duration) error {
	_, err := c.do(ctx, tbproto.Request{Op: tbproto.OpClock, OffsetMS: offset.Milliseconds()})
	return err
}

// Close asks the client to quit and waits for it, killing it if it does
// not.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.call(ctx, tbproto.Request{Op: tbproto.OpQuit})
	c.in.Close()
	select {
	case <-c.proc.Done():
	case <-time.After(10 * time.Second):
		c.proc.Kill()
		return fmt.Errorf("testbed: %s did not quit; killed", c.Name)
	}
	if c.proc.Err() != nil && err == nil {
		err = fmt.Errorf("testbed: %s exited: %s; end of %s:\n%s", c.Name, c.proc.Status(), c.proc.Log, c.proc.Tail(15))
	}
	return err
}

// Loam runs the person's CLI, `loam --json --dir DIR args...`, in host's
// namespace and returns its standard output.
func (b *Bed) Loam(ctx context.Context, host *Host, dir string, args ...string) ([]byte, error) {
	full := append([]string{"netns", "exec", host.NS, filepath.Join(b.Spec.Bin, "loam"), "--json", "--dir", dir}, args...)
	out, err := childproc.Run(ctx, "ip", full...)
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	return out, nil
}
