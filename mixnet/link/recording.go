package link

import (
	"context"
	"net"
	"sync"
)

// Recording wraps a Transport and records the length of every Write on every
// connection it dials or accepts. It exists for tests, in this package and
// those above it, that check what an observer of a link would see.
type Recording struct {
	inner Transport
	mu    sync.Mutex
	all   []int
	conns []*recordedConn
}

// NewRecording wraps t.
func NewRecording(t Transport) *Recording { return &Recording{inner: t} }

// Dial dials through the wrapped Transport and records the conn's writes.
func (r *Recording) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := r.inner.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return r.wrap(c), nil
}

// Listen listens through the wrapped Transport; accepted conns' writes are
// recorded.
func (r *Recording) Listen(addr string) (net.Listener, error) {
	l, err := r.inner.Listen(addr)
	if err != nil {
		return nil, err
	}
	return &recordingListener{Listener: l, r: r}, nil
}

// Writes returns the lengths of all writes so far, on all conns, in the order
// they happened.
func (r *Recording) Writes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.all...)
}

// ConnWrites returns the lengths of the writes so far on each conn, one
// slice per conn in the order the conns were dialed or accepted.
func (r *Recording) ConnWrites() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]int, len(r.conns))
	for i, c := range r.conns {
		out[i] = append([]int(nil), c.writes...)
	}
	return out
}

func (r *Recording) wrap(c net.Conn) net.Conn {
	rc := &recordedConn{Conn: c, r: r}
	r.mu.Lock()
	r.conns = append(r.conns, rc)
	r.mu.Unlock()
	return rc
}

type recordingListener struct {
	net.Listener
	r *Recording
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.r.wrap(c), nil
}

// recordedConn records the length asked of each Write: what its caller
// handed the stream in one piece.
type recordedConn struct {
	net.Conn
	r      *Recording
	writes []int // guarded by r.mu
}

func (c *recordedConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.all = append(c.r.all, len(p))
	c.writes = append(c.writes, len(p))
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}
