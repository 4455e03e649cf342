//go:build linux

package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"loam/internal/xrand"
)

// Load shapes the people's traffic during a scenario.
type Load struct {
	// Window is how long people post (at least until the fault healed).
	Window time.Duration
	// PostEvery is each person's mean gap between posts (drawn uniformly
	// from [½, 1½] of it); a person posts one at a time.
	PostEvery time.Duration
	// Every AttachEvery-th post of a person carries AttachBytes of random
	// data (a photo); 0: none do.
	AttachEvery, AttachBytes int
	// SyncPause is each person's pause between syncs.
	SyncPause time.Duration
	// Drain bounds the wait, once posting stopped, for every acknowledged
	// entry to be read.
	Drain time.Duration
}

// postTimeout bounds one post: the mailbox client's retries give up well
// within it (8 attempts, waits doubling from 3 s to 60 s).
const postTimeout = 8 * time.Minute

// traffic runs people's posts and syncs for one scenario: syncs from the
// start, posts for the load's window and until fault has returned, then
// syncs until every acknowledged entry has been read or the drain times
// out. fault runs beside the posts: it injects its fault and heals it.
func (r *runner) traffic(ctx context.Context, scenario string, load Load, fault func(ctx context.Context) error) error {
	people := r.b.People()
	stopSync := make(chan struct{})
	var syncers sync.WaitGroup
	for _, p := range people {
		syncers.Go(func() { r.syncLoop(ctx, stopSync, scenario, p, load.SyncPause) })
	}
	defer func() {
		close(stopSync)
		syncers.Wait()
	}()

	faultDone := make(chan error, 1)
	go func() {
		if fault == nil {
			faultDone <- nil
			return
		}
		faultDone <- fault(ctx)
	}()
	postCtx, stopPosting := context.WithCancel(ctx)
	var posters sync.WaitGroup
	for _, p := range people {
		posters.Go(func() { r.postLoop(postCtx, ctx, scenario, p, load) })
	}
	var faultErr error
	window := time.After(load.Window)
	faultFinished := false
	for windowOver := false; !windowOver || !faultFinished; {
		select {
		case <-window:
			windowOver = true
		case faultErr = <-faultDone:
			faultFinished = true
		case <-ctx.Done():
			stopPosting()
			posters.Wait()
			return ctx.Err()
		}
	}
	stopPosting()
	posters.Wait()

	deadline := time.Now().Add(load.Drain)
	for r.ledger.Outstanding(scenario) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return faultErr
}

// postLoop posts as p until postCtx ends; each post runs to its end under
// ctx, so that a post in flight when posting stops still counts.
func (r *runner) postLoop(postCtx, ctx context.Context, scenario string, p Person, load Load) {
	readers := r.friends[p.Name()]
	for n := 1; ; n++ {
		gap := time.Duration((0.5 + xrand.Float64()) * float64(load.PostEvery))
		select {
		case <-postCtx.Done():
			return
		case <-time.After(gap):
		}
		attach := 0
		if load.AttachEvery > 0 && n%load.AttachEvery == 0 {
			attach = load.AttachBytes
		}
		var nonce [4]byte
		rand.Read(nonce[:])
		text := fmt.Sprintf("%s #%d from %s %s", scenario, n, p.Name(), hex.EncodeToString(nonce[:]))
		pctx, cancel := context.WithTimeout(ctx, postTimeout)
		start := time.Now()
		e, err := p.Post(pctx, text, attach)
		cancel()
		if e != nil && e.Text != text {
			r.problem("%s: a post of %q came back as %q", p.Name(), text, e.Text)
		}
		r.ledger.Posted(scenario, p.Name(), e, start, err == nil && e != nil, readers)
		if err != nil {
			r.log("  %s: post not acknowledged: %v", p.Name(), err)
		}
	}
}

// syncLoop syncs p's feed until stop is closed, recording what it reads.
// A sync in progress when stop closes runs to its end: what it delivers
// is delivered once, so it must be recorded.
func (r *runner) syncLoop(ctx context.Context, stop <-chan struct{}, scenario string, p Person, pause time.Duration) {
	for {
		sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		start := time.Now()
		entries, sent, err := p.Sync(sctx) // a replica down fails part of a sync; what it read is good
		cancel()
		now := time.Now()
		if err == nil {
			r.syncs.add(scenario, now.Sub(start), sent)
		}
		for _, e := range entries {
			r.ledger.Read(p.Name(), e, now)
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// syncStats sums, by scenario, the syncs that succeeded: how long they
// took and the real packets their clients sent meanwhile.
type syncStats struct {
	mu sync.Mutex
	by map[string]*syncSum
}

type syncSum struct {
	n    int
	took time.Duration
	real uint64
}

func (s *syncStats) add(scenario string, took time.Duration, real uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[string]*syncSum{}
	}
	x := s.by[scenario]
	if x == nil {
		x = &syncSum{}
		s.by[scenario] = x
	}
	x.n++
	x.took += took
	x.real += real
}

// mean returns a scenario's mean sync time and packets, and the count.
func (s *syncStats) mean(scenario string) (time.Duration, float64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.by[scenario]
	if x == nil || x.n == 0 {
		return 0, 0, 0
	}
	return x.took / time.Duration(x.n), float64(x.real) / float64(x.n), x.n
}
