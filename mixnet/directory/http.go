package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The HTTP API of an authority (SPEC: "HTTP API"). Every body is the binary
// encoding, Content-Type application/octet-stream; errors are text/plain.
const (
	pathDescriptors = "/v1/descriptors"
	contentType     = "application/octet-stream"
)

// Handler returns the authority's HTTP API:
//
//	POST /v1/descriptors          upload a signed descriptor
//	GET  /v1/votes/{epoch}        this authority's vote
//	GET  /v1/signatures/{epoch}   its signature record
//	GET  /v1/documents/{epoch}    the document, once it has threshold signatures
//	GET  /v1/documents/current    the newest document not after the current epoch
func (a *Authority) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathDescriptors, a.handleUpload)
	mux.HandleFunc("GET /v1/votes/{epoch}", a.serveEpoch("vote", func(st *epochState) []byte {
		if st.vote == nil {
			return nil
		}
		return st.vote.raw
	}))
	mux.HandleFunc("GET /v1/signatures/{epoch}", a.serveEpoch("signature", func(st *epochState) []byte { return st.record }))
	mux.HandleFunc("GET /v1/documents/current", a.handleCurrent)
	mux.HandleFunc("GET /v1/documents/{epoch}", a.serveEpoch("document", func(st *epochState) []byte { return st.served }))
	return mux
}

func (a *Authority) handleUpload(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxDescriptorLen))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("directory: descriptor exceeds %d bytes", MaxDescriptorLen), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "directory: reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	status, err := a.accept(b)
	if err != nil {
		a.log.Debug("directory: refused descriptor", "status", status, "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), status)
		return
	}
	w.WriteHeader(status)
}

// accept decides on an uploaded descriptor and returns the HTTP status
// with, for a refusal, the reason.
func (a *Authority) accept(b []byte) (int, error) {
	d, err := ParseDescriptor(b)
	if err != nil {
		return http.StatusBadRequest, err
	}
	if a.admit != nil {
		if err := a.admit(d); err != nil {
			return http.StatusForbidden, fmt.Errorf("directory: node %v not admitted: %w", d.ID(), err)
		}
	}
	now := a.clk.Now()
	if d.Published.After(now.Add(maxPublishedSkew)) {
		return http.StatusUnprocessableEntity, fmt.Errorf("directory: descriptor published at %v, more than %v ahead of %v",
			d.Published.UTC(), maxPublishedSkew, now.UTC())
	}
	id := d.ID()
	a.mu.Lock()
	defer a.mu.Unlock()
	if open, ok := a.openEpoch(d, now); !ok {
		return http.StatusUnprocessableEntity, fmt.Errorf("directory: descriptor of node %v has no onion key for an epoch still open for descriptors (epoch %d or later)", id, open)
	}
	cur := a.descs[id]
	if cur != nil {
		if bytes.Equal(cur.raw, d.raw) {
			return http.StatusOK, nil
		}
		if !d.Published.After(cur.Published) {
			return http.StatusConflict, fmt.Errorf("directory: descriptor of node %v published %v is not newer than the one held (%v)",
				id, d.Published.UTC(), cur.Published.UTC())
		}
	}
	if other, ok := a.links[d.LinkKey]; ok && other != id {
		return http.StatusConflict, fmt.Errorf("directory: link key of node %v already belongs to node %v", id, other)
	}
	if cur == nil && len(a.descs) >= MaxNodes {
		return http.StatusServiceUnavailable, fmt.Errorf("directory: authority holds %d nodes, the most a document can list", MaxNodes)
	}
	if err := a.store.put(a.store.descriptorPath(id.String()), d.raw); err != nil {
		a.log.Error("directory: storing descriptor", "node", id, "err", err)
		return http.StatusInternalServerError, errors.New("directory: cannot store descriptor")
	}
	if cur != nil {
		delete(a.links, cur.LinkKey)
	}
	a.descs[id] = d
	a.links[d.LinkKey] = id
	a.log.Debug("directory: accepted descriptor", "node", id, "name", d.Name, "role", d.Role, "layer", d.Layer)
	return http.StatusAccepted, nil
}

// openEpoch reports whether d has an onion key for an epoch this authority
// will still vote for: from the current epoch on, not yet voted, no
// document yet. It also returns the first such epoch, for the refusal
// message. a.mu is held.
func (a *Authority) openEpoch(d *Descriptor, now time.Time) (uint64, bool) {
	cur := a.sched.Epoch(now)
	first := cur + MaxOnionKeys + 1
	for e := cur; e <= cur+MaxOnionKeys; e++ {
		if st := a.epochs[e]; st != nil && (st.vote != nil || st.served != nil) {
			continue
		}
		first = min(first, e)
		if _, ok := d.OnionKey(e); ok {
			return e, true
		}
	}
	return first, false
}

func (a *Authority) serveEpoch(what string, get func(*epochState) []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e, err := parseEpoch(r.PathValue("epoch"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		var b []byte
		if st := a.epochs[e]; st != nil {
			b = get(st)
		}
		a.mu.Unlock()
		if b == nil {
			http.Error(w, fmt.Sprintf("directory: no %s for epoch %d", what, e), http.StatusNotFound)
			return
		}
		writeBinary(w, b)
	}
}

func (a *Authority) handleCurrent(w http.ResponseWriter, r *http.Request) {
	cur := a.sched.Epoch(a.clk.Now())
	a.mu.Lock()
	var b []byte
	var best uint64
	for e, st := range a.epochs {
		if st.served != nil && e <= cur && (b == nil || e > best) {
			b, best = st.served, e
		}
	}
	a.mu.Unlock()
	if b == nil {
		http.Error(w, "directory: no document yet", http.StatusNotFound)
		return
	}
	writeBinary(w, b)
}

func writeBinary(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

// parseEpoch accepts only canonical decimal epochs.
func parseEpoch(s string) (uint64, error) {
	e, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(e, 10) != s {
		return 0, fmt.Errorf("directory: bad epoch %q", s)
	}
	return e, nil
}

// get fetches path from a peer with the authority's request timeout.
func (a *Authority) get(p Peer, path string, max int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(a.ctx, a.timeout)
	defer cancel()
	return httpGet(ctx, a.client, p.URL, path, max)
}

// httpGet fetches base+path and returns the body of a 200 response of at
// most max bytes. A 404 is errNotFound.
func httpGet(ctx context.Context, c *http.Client, base, path string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("directory: GET %s: %w", req.URL, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: GET %s", errNotFound, req.URL)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("directory: GET %s: %s: %s", req.URL, resp.Status, firstLine(b))
	case int64(len(b)) > max:
		return nil, fmt.Errorf("%w: GET %s: response exceeds %d bytes", ErrMalformed, req.URL, max)
	}
	return b, nil
}

// firstLine returns a server's error message, shortened for logs.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
