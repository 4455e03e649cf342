//go:build linux

package testbed

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"loam/mixnet/directory"
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
	epoch := directory.Schedule{Period: b.Spec.Params.EpochPeriod}.Epoch(time.Now())
	keys := make([]ed25519.PublicKey, len(b.Peers))
	for i, p := range b.Peers {
		keys[i] = p.Key
	}
	for _, a := range b.Authorities() {
		if !b.Alive(a.Name) {
			continue
		}
		body, err := get(ctx, client, "http://"+a.Listen+"/v1/documents/"+strconv.FormatUint(epoch, 10))
		if err != nil {
			return fmt.Errorf("%s: document of epoch %d: %w", a.Name, epoch, err)
		}
		doc, err := directory.ParseDocument(body)
		if err == nil {
			err = doc.Verify(keys, b.threshold())
		}
		if err != nil {
			return fmt.Errorf("%s: document of epoch %d: %w", a.Name, epoch, err)
		}
		var missing []string
		for _, n := range b.MixNodes() {
			if doc.Node(n.ID) == nil {
				missing = append(missing, n.Name)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s: document of epoch %d lacks %s", a.Name, epoch, strings.Join(missing, ", "))
		}
	}
	for _, n := range b.MixNodes() {
		if !b.Alive(n.Name) {
			continue
		}
		if _, err := get(ctx, client, "http://"+n.Metrics+"/readyz"); err != nil {
			return fmt.Errorf("%s: /readyz: %w", n.Name, err)
		}
		m, err := b.Scrape(ctx, n.Name)
		if err != nil {
			return err
		}
		if open := m.Sum("loam_links_open", "direction", "out"); int(open) != n.NextHops {
			return fmt.Errorf("%s: %v of %d outgoing links open", n.Name, open, n.NextHops)
		}
	}
	return nil
}

// threshold is the number of signatures a document needs.
func (b *Bed) threshold() int {
	if b.Spec.Threshold != 0 {
		return b.Spec.Threshold
	}
	return len(b.Peers)/2 + 1
}

// get fetches url and fails unless the answer is 200.
func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
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
