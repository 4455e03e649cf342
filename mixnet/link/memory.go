package link

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Memory is an in-process Transport: Listen registers a name, Dial connects
// to it. Each direction of a connection is a buffer of memoryPipeCap bytes,
// so a writer runs ahead of a busy reader as it would over TCP and blocks
// only when the buffer is full. Closing either end unblocks both: the peer
// reads what was written, then EOF, and its writes fail.
type Memory struct {
	mu        sync.Mutex
	listeners map[string]*memListener
}

// memoryPipeCap is the bytes one direction of a Memory connection holds
// before a writer blocks; about a TCP socket's buffers.
const memoryPipeCap = 1 << 20

// memoryBacklog is how many dialed connections wait for Accept before Dial
// blocks.
const memoryBacklog = 64

// NewMemory returns an empty in-process Transport.
func NewMemory() *Memory {
	return &Memory{listeners: make(map[string]*memListener)}
}

// Listen registers addr; it fails if addr is already listening.
func (m *Memory) Listen(addr string) (net.Listener, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.listeners[addr]; ok {
		return nil, &net.OpError{Op: "listen", Net: memoryNetwork, Addr: memAddr(addr), Err: syscall.EADDRINUSE}
	}
	l := &memListener{m: m, addr: memAddr(addr), queue: make(chan net.Conn, memoryBacklog), done: make(chan struct{})}
	m.listeners[addr] = l
	return l, nil
}

// Dial connects to the listener registered as addr.
func (m *Memory) Dial(ctx context.Context, addr string) (net.Conn, error) {
	m.mu.Lock()
	l := m.listeners[addr]
	m.mu.Unlock()
	if l == nil {
		return nil, &net.OpError{Op: "dial", Net: memoryNetwork, Addr: memAddr(addr), Err: syscall.ECONNREFUSED}
	}
	l.dials.Add(1)
	defer l.dials.Done()
	local, remote := memPair(memAddr("dialer:"+addr), memAddr(addr))
	select {
	case l.queue <- remote:
		return local, nil
	case <-l.done:
		return nil, &net.OpError{Op: "dial", Net: memoryNetwork, Addr: memAddr(addr), Err: syscall.ECONNREFUSED}
	case <-ctx.Done():
		return nil, &net.OpError{Op: "dial", Net: memoryNetwork, Addr: memAddr(addr), Err: ctx.Err()}
	}
}

const memoryNetwork = "memory"

type memAddr string

func (a memAddr) Network() string { return memoryNetwork }
func (a memAddr) String() string  { return string(a) }

type memListener struct {
	m     *Memory
	addr  memAddr
	queue chan net.Conn
	done  chan struct{}
	once  sync.Once
	dials sync.WaitGroup
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c, ok := <-l.queue:
		if ok {
			return c, nil
		}
	case <-l.done:
	}
	return nil, &net.OpError{Op: "accept", Net: memoryNetwork, Addr: l.addr, Err: net.ErrClosed}
}

// Close unregisters the name and refuses the connections not yet accepted.
func (l *memListener) Close() error {
	l.once.Do(func() {
		l.m.mu.Lock()
		delete(l.m.listeners, string(l.addr))
		l.m.mu.Unlock()
		close(l.done)
		go func() {
			// Dials in flight see done and return; then nothing more
			// can enter the queue.
			l.dials.Wait()
			close(l.queue)
			for c := range l.queue {
				c.Close()
			}
		}()
	})
	return nil
}

func (l *memListener) Addr() net.Addr { return l.addr }

// memPair returns the two ends of a connection.
func memPair(a, b memAddr) (*memConn, *memConn) {
	ab, ba := newPipe(), newPipe()
	ca := &memConn{local: a, remote: b, in: ba, out: ab, done: make(chan struct{})}
	cb := &memConn{local: b, remote: a, in: ab, out: ba, done: make(chan struct{})}
	ca.rd.init()
	ca.wd.init()
	cb.rd.init()
	cb.wd.init()
	return ca, cb
}

// memConn is one end of a Memory connection.
type memConn struct {
	local, remote memAddr
	in, out       *pipe
	rd, wd        deadline
	done          chan struct{} // closed by Close
	once          sync.Once
}

func (c *memConn) Read(p []byte) (int, error) {
	n, err := c.in.read(p, c.done, c.rd.wait())
	if err != nil && err != io.EOF {
		err = &net.OpError{Op: "read", Net: memoryNetwork, Source: c.local, Addr: c.remote, Err: err}
	}
	return n, err
}

func (c *memConn) Write(p []byte) (int, error) {
	n, err := c.out.write(p, c.done, c.wd.wait())
	if err != nil {
		err = &net.OpError{Op: "write", Net: memoryNetwork, Source: c.local, Addr: c.remote, Err: err}
	}
	return n, err
}

func (c *memConn) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.out.closeWriter()
		c.in.closeReader()
		c.rd.set(time.Time{})
		c.wd.set(time.Time{})
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

func (c *memConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}
func (c *memConn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// pipe is one direction of a Memory connection: a bounded byte queue.
type pipe struct {
	mu        sync.Mutex
	buf       []byte
	off       int           // bytes of buf already read
	wclosed   bool          // the writing end closed: EOF once drained
	rclosed   bool          // the reading end closed: writes fail
	changed   chan struct{} // closed and replaced on every change
	bufferCap int
}

func newPipe() *pipe {
	return &pipe{changed: make(chan struct{}), bufferCap: memoryPipeCap}
}

// notify wakes every waiter; mu must be held.
func (p *pipe) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *pipe) read(b []byte, done, expired <-chan struct{}) (int, error) {
	for {
		p.mu.Lock()
		switch {
		case p.rclosed:
			p.mu.Unlock()
			return 0, net.ErrClosed
		case len(b) == 0:
			p.mu.Unlock()
			return 0, nil
		case p.off < len(p.buf):
			n := copy(b, p.buf[p.off:])
			p.off += n
			if p.off == len(p.buf) {
				p.buf, p.off = p.buf[:0], 0
			}
			p.notify()
			p.mu.Unlock()
			return n, nil
		case p.wclosed:
			p.mu.Unlock()
			return 0, io.EOF
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-done:
			return 0, net.ErrClosed
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (p *pipe) write(b []byte, done, expired <-chan struct{}) (int, error) {
	written := 0
	for {
		p.mu.Lock()
		// A write whose bytes are all in the buffer has succeeded, even if
		// the reader took them and closed before this look (as a TCP send
		// that the peer read before it closed).
		switch {
		case written > 0 && written == len(b):
			p.mu.Unlock()
			return written, nil
		case p.rclosed:
			p.mu.Unlock()
			return written, io.ErrClosedPipe
		case p.wclosed:
			p.mu.Unlock()
			return written, net.ErrClosed
		case written == len(b): // an empty write on an open pipe
			p.mu.Unlock()
			return written, nil
		}
		if room := p.bufferCap - (len(p.buf) - p.off); room > 0 {
			if p.off > 0 {
				p.buf = p.buf[:copy(p.buf, p.buf[p.off:])]
				p.off = 0
			}
			n := min(room, len(b)-written)
			p.buf = append(p.buf, b[written:written+n]...)
			written += n
			p.notify()
			p.mu.Unlock()
			continue
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-done:
			return written, net.ErrClosed
		case <-expired:
			return written, os.ErrDeadlineExceeded
		}
	}
}

func (p *pipe) closeWriter() {
	p.mu.Lock()
	p.wclosed = true
	p.notify()
	p.mu.Unlock()
}

func (p *pipe) closeReader() {
	p.mu.Lock()
	p.rclosed = true
	p.buf, p.off = nil, 0
	p.notify()
	p.mu.Unlock()
}

// deadline is a net.Conn deadline: a channel closed when it passes. net.Conn
// deadlines are wall-clock instants by contract, so this is one of the few
// places that reads the wall clock rather than a clock.Clock.
type deadline struct {
	mu      sync.Mutex
	gen     uint64 // bumped by every set, so a stale timer does nothing
	timer   *time.Timer
	expired chan struct{}
}

func (d *deadline) init() { d.expired = make(chan struct{}) }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	select {
	case <-d.expired:
		d.expired = make(chan struct{}) // a fresh channel for the new deadline
	default:
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.expired)
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen {
			close(d.expired)
		}
	})
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// String names the end for logs.
func (c *memConn) String() string { return fmt.Sprintf("memory %s->%s", c.local, c.remote) }
