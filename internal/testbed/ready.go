//go:build linux

package testbed

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"loam/internal/localnet"
)

// WaitReady waits until the bed carries traffic: every running authority
// serves a document for the current epoch that verifies and lists every
// node, and every running node answers 200 on /readyz with as many
// outgoing links open as it has next hops. A process that exited other
// than on purpose fails it at once.
func (b *Bed) WaitReady(ctx context.Context) error {
	client := b.Ctl.HTTPClient(2 * time.Second)
	for {
		err := b.readyOnce(ctx, client)
		if err == nil {
			return nil
		}
		if dead := b.exited(); dead != nil {
			return dead
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed: bed not ready: %w (%v)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// exited returns an error for a process that exited without being
// stopped or killed on purpose.
func (b *Bed) exited() error {
	for _, n := range b.Nodes {
		p := b.proc(n.Name)
		if p == nil || p.onPurpose() {
			continue
		}
		if err := p.Exited(); err != nil {
			return err
		}
	}
	return nil
}

func (b *Bed) readyOnce(ctx context.Context, client *http.Client) error {
	rd := localnet.Readiness{EpochPeriod: b.Spec.Params.EpochPeriod, Peers: b.Peers, Threshold: b.threshold(),
		Authorities: baseNodes(b.Authorities()), Nodes: baseNodes(b.MixNodes()), Alive: b.Alive}
	return rd.Check(ctx, client)
}

// baseNodes returns the localnet nodes of ns.
func baseNodes(ns []*Node) []*localnet.Node {
	out := make([]*localnet.Node, len(ns))
	for i, n := range ns {
		out[i] = &n.Node
	}
	return out
}

// threshold is the number of signatures a document needs.
func (b *Bed) threshold() int { return localnet.Threshold(b.Spec.Threshold, len(b.Peers)) }
