//go:build linux

package testbed

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"loam/mixnet/directory"
	"loam/onion"
)

// dirProxy stands between the authorities and everyone else: node and
// client configurations name its ports as the authorities' URLs, and it
// passes every request on. Told to forge, it answers the first document
// request of each host for each epoch with a forged document instead —
// one listing rogue nodes whose addresses are the honeypot's — so that
// every node and client meets a forgery, and must refuse it, before it
// asks another authority.
type dirProxy struct {
	b    *Bed
	srvs []*http.Server

	mu     sync.Mutex
	forge  *forger
	served map[string]int // forgeries served, by variant
	seen   map[string]bool
	hosts  map[string]bool // hosts served a forgery
}

func startDirProxy(b *Bed) (*dirProxy, error) {
	p := &dirProxy{b: b}
	transport := &http.Transport{DialContext: b.DirProxy.DialContext, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	for i, a := range b.Authorities() {
		ln, err := b.DirProxy.Listen(b.proxyAddr(i))
		if err != nil {
			p.Close()
			return nil, err
		}
		target, _ := url.Parse("http://" + a.Listen)
		rp := httputil.NewSingleHostReverseProxy(target)
		rp.Transport = transport
		rp.ErrorLog = nil
		rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "authority unreachable: "+err.Error(), http.StatusBadGateway)
		}
		srv := &http.Server{Handler: p.handler(a, rp, transport), ReadHeaderTimeout: 5 * time.Second}
		p.srvs = append(p.srvs, srv)
		go srv.Serve(ln)
	}
	return p, nil
}

func (p *dirProxy) handler(a *Node, rp http.Handler, transport http.RoundTripper) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		which, isDoc := strings.CutPrefix(r.URL.Path, "/v1/documents/")
		if r.Method != http.MethodGet || !isDoc {
			rp.ServeHTTP(w, r)
			return
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		key := host + " " + which
		p.mu.Lock()
		f := p.forge
		first := f != nil && !p.seen[key]
		p.mu.Unlock()
		if !first {
			rp.ServeHTTP(w, r)
			return
		}
		// Fetch the genuine document, then serve a forgery of it.
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+a.Listen+r.URL.Path, nil)
		resp, err := transport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, directory.MaxDocumentLen))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			w.WriteHeader(resp.StatusCode)
			w.Write(body)
			return
		}
		variant, forged, err := f.forge(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		p.mu.Lock()
		if p.forge != f || p.seen[key] { // forging stopped, or a forgery went out meanwhile
			p.mu.Unlock()
			w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
			w.Write(body)
			return
		}
		// Only a document that exists is forged: a host asking early for
		// the next epoch's gets a forgery once the document is made.
		p.seen[key] = true
		p.served[variant]++
		p.hosts[host] = true
		p.mu.Unlock()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.Write(forged)
	})
}

// StartForging makes the proxy serve forgeries made by f.
func (p *dirProxy) StartForging(f *forger) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forge, p.served, p.seen, p.hosts = f, map[string]int{}, map[string]bool{}, map[string]bool{}
}

// StopForging makes the proxy pass everything on again and returns the
// forgeries served by variant and the hosts that were served one.
func (p *dirProxy) StopForging() (served map[string]int, hosts []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forge = nil
	for h := range p.hosts {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	return p.served, hosts
}

func (p *dirProxy) Close() error {
	if p == nil {
		return nil
	}
	for _, s := range p.srvs {
		s.Close()
	}
	return nil
}

// forger makes forged directory documents: a genuine one with rogue nodes
// added — a gateway, a mix in each layer and a mailbox replica, all at the
// honeypot — signed in one of four wrong ways in turn:
//
//   - altered: the genuine signatures, no longer over this body;
//   - one signature: a real authority's, one short of the threshold;
//   - unknown signers: as many signatures as authorities, by keys nobody
//     trusts;
//   - garbled: the genuine bytes with a byte flipped.
type forger struct {
	real    ed25519.PrivateKey // one authority's key
	unknown []ed25519.PrivateKey
	rogues  []rogue
	n       int
	mu      sync.Mutex
}

type rogue struct {
	key      ed25519.PrivateKey
	name     string
	role     directory.Role
	layer    uint8
	addr     string
	services []string
}

var forgeryVariants = []string{"altered", "one signature", "unknown signers", "garbled"}

// newForger makes a forger holding one real authority's key, of
// authorities in all, whose rogue nodes are at trap (ports linkPort on).
func newForger(real ed25519.PrivateKey, authorities int, trap netip.Addr) (*forger, error) {
	f := &forger{real: real}
	for range authorities {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		f.unknown = append(f.unknown, k)
	}
	for i, r := range []struct {
		name     string
		role     directory.Role
		layer    uint8
		services []string
	}{
		{"rogue-gateway", directory.RoleGateway, 0, nil},
		{"rogue-mix-1", directory.RoleMix, 1, nil},
		{"rogue-mix-2", directory.RoleMix, 2, nil},
		{"rogue-mix-3", directory.RoleMix, 3, nil},
		{"rogue-replica", directory.RoleService, 0, []string{"mailbox"}},
	} {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		f.rogues = append(f.rogues, rogue{key: k, name: r.name, role: r.role, layer: r.layer, services: r.services,
			addr: net.JoinHostPort(trap.String(), strconv.Itoa(linkPort+i))})
	}
	return f, nil
}

// forge returns a forgery of the genuine document doc and its variant.
func (f *forger) forge(genuine []byte) (string, []byte, error) {
	f.mu.Lock()
	variant := forgeryVariants[f.n%len(forgeryVariants)]
	f.n++
	f.mu.Unlock()
	if variant == "garbled" {
		b := bytes.Clone(genuine)
		b[len(b)/2] ^= 0x20
		return variant, b, nil
	}
	doc, err := directory.ParseDocument(genuine)
	if err != nil {
		return "", nil, err
	}
	for _, r := range f.rogues {
		d, err := r.descriptor(doc.Epoch)
		if err != nil {
			return "", nil, err
		}
		doc.Nodes = append(doc.Nodes, d)
	}
	sortNodes(doc.Nodes)
	switch variant {
	case "one signature":
		doc.Signatures = []directory.Signature{signDocument(doc, f.real)}
	case "unknown signers":
		doc.Signatures = nil
		for _, k := range f.unknown {
			doc.Signatures = append(doc.Signatures, signDocument(doc, k))
		}
	}
	return variant, doc.Marshal(), nil
}

// sortNodes puts a document's nodes in the order it requires: by id.
func sortNodes(nodes []*directory.Descriptor) {
	slices.SortFunc(nodes, func(a, b *directory.Descriptor) int {
		ia, ib := a.ID(), b.ID()
		return bytes.Compare(ia[:], ib[:])
	})
}

// signDocument signs a document's body as an authority does (SPEC.md §3.6).
func signDocument(d *directory.Document, key ed25519.PrivateKey) directory.Signature {
	msg := append([]byte("loam directory v1"), d.Body()...)
	return directory.Signature{Authority: key.Public().(ed25519.PublicKey), Sig: ed25519.Sign(key, msg)}
}

// descriptor is the rogue's signed descriptor with an onion key for epoch.
func (r rogue) descriptor(epoch uint64) (*directory.Descriptor, error) {
	onionKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	linkKey, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	d := &directory.Descriptor{IdentityKey: r.key.Public().(ed25519.PublicKey), Name: r.name, Role: r.role, Layer: r.layer,
		Address: r.addr, LinkKey: [32]byte(linkKey.PublicKey().Bytes()), Services: r.services,
		OnionKeys: []directory.EpochKey{{Epoch: epoch, Key: onion.PublicKey(onionKey.PublicKey().Bytes())}},
		Published: time.Now().Truncate(time.Second)}
	signed, err := directory.SignDescriptor(d, r.key)
	if err != nil {
		return nil, err
	}
	return directory.ParseDescriptor(signed)
}

// honeypot listens where the rogue nodes of forged documents say they
// are and counts every connection: a node or client that believed a
// forgery would dial it.
type honeypot struct {
	lns []net.Listener
	mu  sync.Mutex
	hit map[string]int // connections by remote host
	wg  sync.WaitGroup
}

func startHoneypot(h *Host) (*honeypot, error) {
	t := &honeypot{hit: map[string]int{}}
	for i := range 5 {
		ln, err := h.Listen(net.JoinHostPort(h.Addr.String(), strconv.Itoa(linkPort+i)))
		if err != nil {
			t.Close()
			return nil, err
		}
		t.lns = append(t.lns, ln)
		t.wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				t.mu.Lock()
				t.hit[host]++
				t.mu.Unlock()
				c.Close()
			}
		})
	}
	return t, nil
}

// Hits returns the connections by remote host so far.
func (t *honeypot) Hits() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for k, v := range t.hit {
		out[k] = v
	}
	return out
}

func (t *honeypot) Close() error {
	if t == nil {
		return nil
	}
	for _, ln := range t.lns {
		ln.Close()
	}
	t.wg.Wait()
	return nil
}

// tap stands between person 0 of the first client host and the gateways
// (its client dials the tap's port for each gateway) and records what the
// client sends on each link, so that the security checks can replay it.
type tap struct {
	b   *Bed
	lns []net.Listener
	wg  sync.WaitGroup

	mu     sync.Mutex
	record [][]byte // client-to-gateway bytes of each connection, up to tapKeep
	conns  map[net.Conn]bool
}

// tapKeep is how much of each connection the tap records.
const tapKeep = 256 << 10

func startTap(b *Bed) (*tap, error) {
	t := &tap{b: b, conns: map[net.Conn]bool{}}
	for i, gw := range b.ByRole("gateway") {
		ln, err := b.Tap.Listen(net.JoinHostPort(b.Tap.Addr.String(), strconv.Itoa(linkPort+i)))
		if err != nil {
			t.Close()
			return nil, err
		}
		t.lns = append(t.lns, ln)
		t.wg.Go(func() { t.serve(ln, gw.Listen) })
	}
	return t, nil
}

// via is tbclient's -via flag: each gateway's address through the tap.
func (t *tap) via() string {
	var pairs []string
	for i, gw := range t.b.ByRole("gateway") {
		pairs = append(pairs, gw.Listen+"="+net.JoinHostPort(t.b.Tap.Addr.String(), strconv.Itoa(linkPort+i)))
	}
	return strings.Join(pairs, ",")
}

func (t *tap) serve(ln net.Listener, to string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		t.wg.Go(func() { t.relay(c, to) })
	}
}

// relay copies both ways, recording the client's side.
func (t *tap) relay(client net.Conn, to string) {
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	up, err := t.b.Tap.DialContext(ctx, "tcp", to)
	cancel()
	if err != nil {
		return
	}
	defer up.Close()
	t.mu.Lock()
	t.conns[client], t.conns[up] = true, true
	idx := len(t.record)
	t.record = append(t.record, nil)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.conns, client)
		delete(t.conns, up)
		t.mu.Unlock()
	}()
	done := make(chan struct{})
	go func() {
		io.Copy(client, up)
		client.Close()
		close(done)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			t.mu.Lock()
			if room := tapKeep - len(t.record[idx]); room > 0 {
				t.record[idx] = append(t.record[idx], buf[:min(n, room)]...)
			}
			t.mu.Unlock()
			if _, werr := up.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	up.Close()
	<-done
}

// Recorded returns the longest recording so far.
func (t *tap) Recorded() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best []byte
	for _, r := range t.record {
		if len(r) > len(best) {
			best = r
		}
	}
	return bytes.Clone(best)
}

func (t *tap) Close() error {
	if t == nil {
		return nil
	}
	for _, ln := range t.lns {
		ln.Close()
	}
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}
