package link

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"loam/internal/clock"
)

// errHandshakeTimeout is why a handshake that outlived HandshakeTimeout
// failed. It wraps os.ErrDeadlineExceeded like a net.Conn timeout does.
var errHandshakeTimeout = fmt.Errorf("link: handshake timed out: %w", os.ErrDeadlineExceeded)

// guard bounds a handshake in time. The timeout runs on the link's Clock, so
// a simulation in virtual time sees the same behaviour; when it passes, or
// the context ends, the guard sets a deadline in the past on the raw
// connection, which unblocks whatever Read or Write the handshake is in.
type guard struct {
	raw      net.Conn
	timer    clock.Timer
	stopCtx  func() bool
	mu       sync.Mutex
	finished bool
	why      error // set once the guard fired
}

func startGuard(ctx context.Context, raw net.Conn, clk clock.Clock, timeout time.Duration) *guard {
	g := &guard{raw: raw}
	g.timer = clk.AfterFunc(timeout, func() { g.fire(errHandshakeTimeout) })
	g.stopCtx = context.AfterFunc(ctx, func() { g.fire(context.Cause(ctx)) })
	return g
}

func (g *guard) fire(why error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.finished || g.why != nil {
		return
	}
	g.why = why
	if err := g.raw.SetDeadline(pastDeadline); err != nil {
		// A conn without deadlines is unblocked the hard way; the
		// handshake fails either way.
		g.raw.Close()
	}
}

// stop disarms the guard and returns why it fired, or nil if it did not.
// When it did not fire, no deadline was touched; any the caller's conn had
// are cleared so the link starts with none.
func (g *guard) stop() error {
	g.timer.Stop()
	g.stopCtx()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.finished = true
	if g.why == nil {
		g.raw.SetDeadline(time.Time{})
	}
	return g.why
}
