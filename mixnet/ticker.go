package mixnet

import (
	"context"
	"sync"
	"time"

	"loam/internal/clock"
)

// ticker sends on c every period of a Clock. A tick that finds the previous
// one unread is dropped, as with time.Ticker.
type ticker struct {
	c      chan struct{}
	clock  clock.Clock
	period time.Duration

	mu      sync.Mutex
	t       clock.Timer
	stopped bool
}

func newTicker(c clock.Clock, period time.Duration) *ticker {
	t := &ticker{c: make(chan struct{}, 1), clock: c, period: period}
	t.mu.Lock()
	t.t = c.AfterFunc(period, t.tick)
	t.mu.Unlock()
	return t
}

func (t *ticker) tick() {
	select {
	case t.c <- struct{}{}:
	default:
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.t = t.clock.AfterFunc(t.period, t.tick)
	}
}

func (t *ticker) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.t.Stop()
}

// sleep blocks for d on clk, or until ctx ends; it reports whether the full
// time passed.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) bool {
	ch := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}
