//go:build unix

package localnet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"loam/mixnet/directory"
)

// WaitReady waits until the network carries traffic: every running
// authority serves a document for the current epoch that verifies against
// the authorities and lists every node, and every running node answers 200
// on /readyz (it holds that document and a live link to each next hop) and
// its metrics show as many open outgoing links as it has next hops. It
// fails at once if a process has exited, and when ctx ends with what was
// still missing.
func (r *Running) WaitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		err := r.readyOnce(ctx, client)
		if err == nil {
			return nil
		}
		var dead *exitedError
		if errors.As(err, &dead) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localnet: network not ready: %w (%v)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type exitedError struct{ err error }

func (e *exitedError) Error() string { return e.err.Error() }

func (r *Running) readyOnce(ctx context.Context, client *http.Client) error {
	l := r.Layout
	for _, n := range l.Nodes {
		if r.stopped(n.Name) {
			continue
		}
		if err := r.exited(n.Name); err != nil {
			return &exitedError{err}
		}
	}
	rd := Readiness{EpochPeriod: l.Spec.Params.EpochPeriod, Peers: l.Peers, Threshold: l.threshold(),
		Authorities: l.Authorities(), Nodes: l.MixNodes(), Alive: r.Alive}
	return rd.Check(ctx, client)
}

// Readiness is a network as Check sees it.
type Readiness struct {
	EpochPeriod time.Duration
	// Peers are the authorities whose signatures count; Threshold of them
	// must sign.
	Peers     []directory.Peer
	Threshold int
	// Authorities are asked for the document, which must list every node
	// of Nodes; Nodes are asked whether they are ready.
	Authorities, Nodes []*Node
	// Alive reports whether a process runs; those that do not are not
	// asked.
	Alive func(name string) bool
}

// Check checks once what WaitReady waits for: every running authority
// serves a document for the current epoch that verifies and lists every
// node, and every running node answers 200 on /readyz and shows as many
// open outgoing links as it has next hops. Its error names the first
// thing missing.
func (rd Readiness) Check(ctx context.Context, client *http.Client) error {
	epoch := directory.Schedule{Period: rd.EpochPeriod}.Epoch(time.Now())
	keys := make([]ed25519.PublicKey, len(rd.Peers))
	for i, p := range rd.Peers {
		keys[i] = p.Key
	}
	for _, a := range rd.Authorities {
		if !rd.Alive(a.Name) {
			continue
		}
		body, err := Get(ctx, client, "http://"+a.Listen+"/v1/documents/"+strconv.FormatUint(epoch, 10))
		if err != nil {
			return fmt.Errorf("%s: document of epoch %d: %w", a.Name, epoch, err)
		}
		doc, err := directory.ParseDocument(body)
		if err == nil {
			err = doc.Verify(keys, rd.Threshold)
		}
		if err != nil {
			return fmt.Errorf("%s: document of epoch %d: %w", a.Name, epoch, err)
		}
		var missing []string
		for _, n := range rd.Nodes {
			if doc.Node(n.ID) == nil {
				missing = append(missing, n.Name)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s: document of epoch %d lacks %s", a.Name, epoch, strings.Join(missing, ", "))
		}
	}
	for _, n := range rd.Nodes {
		if !rd.Alive(n.Name) {
			continue
		}
		if _, err := Get(ctx, client, "http://"+n.Metrics+"/readyz"); err != nil {
			return fmt.Errorf("%s: /readyz: %w", n.Name, err)
		}
		m, err := ScrapeAddr(ctx, client, n.Metrics)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		if open := m.Sum("loam_links_open", "direction", "out"); int(open) != n.NextHops {
			return fmt.Errorf("%s: %v of %d outgoing links open", n.Name, open, n.NextHops)
		}
	}
	return nil
}

// stopped reports whether name's process was stopped or killed on purpose.
func (r *Running) stopped(name string) bool {
	p, err := r.proc(name)
	if err != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return p.reported
}

// Scrape fetches the Prometheus metrics of the named node or authority.
func (r *Running) Scrape(ctx context.Context, name string) (Metrics, error) {
	n := r.Layout.Node(name)
	if n == nil {
		return nil, fmt.Errorf("localnet: no node %q", name)
	}
	return ScrapeAddr(ctx, &http.Client{Timeout: 5 * time.Second}, n.Metrics)
}

// ScrapeAddr fetches the Prometheus metrics served at addr.
func ScrapeAddr(ctx context.Context, client *http.Client, addr string) (Metrics, error) {
	body, err := Get(ctx, client, "http://"+addr+"/metrics")
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	return ParseMetrics(string(body))
}

// Get fetches url and fails unless the answer is 200.
func Get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	}
	return body, nil
}
