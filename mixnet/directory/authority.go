package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"loam/internal/clock"
	"loam/onion"
)

// Peer is a directory authority as others know it: its signing key and the
// base URL of its HTTP API, such as "http://127.0.0.1:7000".
type Peer struct {
	Key ed25519.PublicKey
	URL string
}

// AuthorityConfig configures an Authority.
type AuthorityConfig struct {
	// Key is this authority's Ed25519 signing key.
	Key ed25519.PrivateKey
	// Authorities lists every authority of the network, this one included.
	Authorities []Peer
	// Threshold is the number of signatures a document needs; it must be a
	// majority of Authorities so that no two documents of one epoch can
	// both reach it. Zero means a bare majority.
	Threshold int
	// Params are the parameters this authority votes for; its epoch
	// schedule follows Params.EpochPeriod.
	Params Parameters
	// DataDir keeps descriptors, votes, signatures and documents, so that a
	// restarted authority serves them again and never signs two different
	// documents for one epoch. Empty keeps nothing on disk.
	DataDir string
	// Clock is the time source; nil means clock.Real().
	Clock clock.Clock
	// Logger receives the protocol's events; nil means slog.Default().
	Logger *slog.Logger
	// HTTPClient fetches peers' votes, signatures and documents; nil means
	// a client without its own timeout (each request has one, P/8 clamped
	// to 1 to 30 s).
	HTTPClient *http.Client
	// Bootstrap is how long after Start an authority that missed the vote
	// of the current or next epoch votes for it; zero means P/8.
	Bootstrap time.Duration
	// Admit, if set, decides which nodes may join: a descriptor it returns
	// an error for is refused with 403. Nil admits every valid descriptor.
	Admit func(*Descriptor) error
}

// Authority is a directory authority: it accepts node descriptors, takes
// part in the vote of every epoch and serves the signed documents over HTTP.
type Authority struct {
	key       ed25519.PrivateKey
	pub       ed25519.PublicKey
	peers     []Peer // every other authority
	trusted   []ed25519.PublicKey
	threshold int
	params    Parameters
	sched     Schedule
	bootstrap time.Duration
	timeout   time.Duration
	clk       clock.Clock
	log       *slog.Logger
	client    *http.Client
	store     store
	admit     func(*Descriptor) error

	ctx    context.Context // ends at Close; bounds every request to peers
	cancel context.CancelFunc
	wg     sync.WaitGroup // timer callbacks in flight
	done   chan struct{}  // closed by Close
	ready  chan struct{}  // closed once Start has scheduled the protocol

	mu      sync.Mutex
	started bool
	closed  bool
	timers  map[*timer]struct{}
	descs   map[onion.NodeID]*Descriptor
	links   map[[32]byte]onion.NodeID
	epochs  map[uint64]*epochState
}

// epochState is what an authority knows of one epoch.
type epochState struct {
	vote      *vote                         // this authority's vote (raw bytes served)
	peerVotes map[[ed25519KeyLen]byte]*vote // fetched from peers; not kept on disk
	doc       *Document                     // the body it signed or adopted, with verified signatures
	signed    bool                          // doc is a body this authority signed
	record    []byte                        // its signature record, served
	served    []byte                        // doc.Marshal() once it has threshold signatures
}

type timer struct{ t clock.Timer }

// NewAuthority checks cfg and loads what DataDir holds. The returned
// authority serves its Handler at once; Start runs the epoch protocol.
func NewAuthority(cfg AuthorityConfig) (*Authority, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("directory: authority key of %d bytes, want %d", len(cfg.Key), ed25519.PrivateKeySize)
	}
	if err := cfg.Params.Validate(); err != nil {
		return nil, err
	}
	a := &Authority{
		key:       cfg.Key,
		pub:       cfg.Key.Public().(ed25519.PublicKey),
		params:    cfg.Params,
		sched:     Schedule{Period: cfg.Params.EpochPeriod},
		bootstrap: cfg.Bootstrap,
		clk:       cfg.Clock,
		log:       cfg.Logger,
		client:    cfg.HTTPClient,
		store:     store{dir: cfg.DataDir},
		admit:     cfg.Admit,
		done:      make(chan struct{}),
		ready:     make(chan struct{}),
		timers:    make(map[*timer]struct{}),
		descs:     make(map[onion.NodeID]*Descriptor),
		links:     make(map[[32]byte]onion.NodeID),
		epochs:    make(map[uint64]*epochState),
	}
	trusted, err := checkPeers(cfg.Authorities)
	if err != nil {
		return nil, err
	}
	a.trusted = trusted
	self := false
	for _, p := range cfg.Authorities {
		if bytes.Equal(p.Key, a.pub) {
			self = true
		} else {
			a.peers = append(a.peers, p)
		}
	}
	if !self {
		return nil, fmt.Errorf("directory: this authority's key is not among Authorities")
	}
	if a.threshold, err = checkThreshold(cfg.Threshold, len(trusted)); err != nil {
		return nil, err
	}
	P := a.sched.Period
	switch {
	case a.bootstrap < 0:
		return nil, fmt.Errorf("directory: negative bootstrap delay %v", a.bootstrap)
	case a.bootstrap == 0:
		a.bootstrap = P / 8
	}
	a.timeout = min(max(P/8, minRequestTimeout), maxRequestTimeout)
	if a.clk == nil {
		a.clk = clock.Real()
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.log = a.log.With("authority", hex.EncodeToString(a.pub[:4]))
	if a.client == nil {
		a.client = &http.Client{}
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if err := a.load(); err != nil {
		return nil, err
	}
	return a, nil
}

// checkPeers validates a list of authorities and returns their keys.
func checkPeers(peers []Peer) ([]ed25519.PublicKey, error) {
	if len(peers) < 1 || len(peers) > MaxAuthorities {
		return nil, fmt.Errorf("directory: %d authorities, want 1 to %d", len(peers), MaxAuthorities)
	}
	keys := make([]ed25519.PublicKey, 0, len(peers))
	seen := make(map[string]bool)
	for _, p := range peers {
		if len(p.Key) != ed25519KeyLen {
			return nil, fmt.Errorf("directory: authority key of %d bytes, want %d", len(p.Key), ed25519KeyLen)
		}
		if seen[string(p.Key)] {
			return nil, fmt.Errorf("directory: authority %x listed twice", p.Key[:4])
		}
		seen[string(p.Key)] = true
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("directory: authority URL %q is not http(s)://host[:port]", p.URL)
		}
		keys = append(keys, p.Key)
	}
	return keys, nil
}

// checkThreshold defaults and checks a signature threshold for n
// authorities: a majority, so two different documents for one epoch cannot
// both be accepted while honest authorities sign at most one each.
func checkThreshold(t, n int) (int, error) {
	if t == 0 {
		return n/2 + 1, nil
	}
	if t <= n/2 || t > n {
		return 0, fmt.Errorf("directory: threshold %d of %d authorities, want a majority (%d to %d)", t, n, n/2+1, n)
	}
	return t, nil
}

// load restores descriptors and epochs from the data directory. A file that
// does not decode is an error: the authority must not forget that it voted
// or signed.
func (a *Authority) load() error {
	if !a.store.enabled() {
		return nil
	}
	if err := os.MkdirAll(a.store.dir, 0o700); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	now := a.sched.Epoch(a.clk.Now())
	files, _ := os.ReadDir(filepath.Join(a.store.dir, descriptorsDir))
	for _, f := range files {
		path := a.store.descriptorPath(f.Name())
		b, err := a.store.get(path, MaxDescriptorLen)
		var d *Descriptor
		if err == nil {
			d, err = ParseDescriptor(b)
		}
		if err != nil { // descriptors are re-uploaded; losing one is harmless
			a.log.Warn("directory: dropping unreadable stored descriptor", "file", path, "err", err)
			os.Remove(path)
			continue
		}
		if d.OnionKeys[len(d.OnionKeys)-1].Epoch < now {
			os.Remove(path)
			continue
		}
		a.descs[d.ID()] = d
		a.links[d.LinkKey] = d.ID()
	}
	dirs, _ := os.ReadDir(filepath.Join(a.store.dir, epochsDir))
	for _, f := range dirs {
		e, err := strconv.ParseUint(f.Name(), 10, 64)
		if err != nil || f.Name() != epochName(e) {
			continue
		}
		if e+keepEpochs < now {
			a.store.removeEpoch(e)
			continue
		}
		if err := a.loadEpoch(e); err != nil {
			return err
		}
	}
	return nil
}

func (a *Authority) loadEpoch(e uint64) error {
	st := a.state(e)
	b, err := a.store.get(a.store.epochPath(e, voteFile), MaxDocumentLen)
	if err == nil && b != nil {
		var v *vote
		if v, err = parseVote(b); err == nil && (v.doc.Epoch != e || !bytes.Equal(v.authority, a.pub)) {
			err = fmt.Errorf("%w: not this authority's vote for epoch %d", ErrMalformed, e)
		}
		st.vote = v
	}
	if err != nil {
		return fmt.Errorf("directory: stored vote for epoch %d: %w", e, err)
	}
	if b, err = a.store.get(a.store.epochPath(e, signatureFile), signatureRecordLen); err == nil && b != nil {
		_, err = parseSignatureRecord(b)
		st.record = b
	}
	if err != nil {
		return fmt.Errorf("directory: stored signature for epoch %d: %w", e, err)
	}
	b, err = a.store.get(a.store.epochPath(e, documentFile), MaxDocumentLen)
	if err != nil || b == nil {
		if err != nil {
			return fmt.Errorf("directory: stored document for epoch %d: %w", e, err)
		}
		return nil
	}
	d, err := ParseDocument(b)
	if err == nil && d.Epoch != e {
		err = fmt.Errorf("%w: document is for epoch %d", ErrMalformed, d.Epoch)
	}
	if err != nil {
		return fmt.Errorf("directory: stored document for epoch %d: %w", e, err)
	}
	d.Signatures = a.validSignatures(d)
	st.doc = d
	for _, s := range d.Signatures {
		st.signed = st.signed || bytes.Equal(s.Authority, a.pub)
	}
	if len(d.Signatures) >= a.threshold {
		st.served = d.Marshal()
	} else if !st.signed {
		return fmt.Errorf("directory: stored document for epoch %d has neither enough signatures nor this authority's", e)
	}
	return nil
}

// validSignatures returns the signatures of d that trusted authorities made
// over its body, one per authority.
func (a *Authority) validSignatures(d *Document) []Signature {
	msg := signedMessage(labelDocument, d.Body())
	var out []Signature
	for _, s := range canonicalSignatures(d.Signatures) {
		if a.isAuthority(s.Authority) && ed25519.Verify(s.Authority, msg, s.Sig) {
			out = append(out, s)
		}
	}
	return out
}

func (a *Authority) isAuthority(k ed25519.PublicKey) bool {
	for _, t := range a.trusted {
		if bytes.Equal(t, k) {
			return true
		}
	}
	return false
}

// state returns the state of epoch e, creating it; a.mu is held or the
// authority is not yet shared.
func (a *Authority) state(e uint64) *epochState {
	st := a.epochs[e]
	if st == nil {
		st = &epochState{peerVotes: make(map[[ed25519KeyLen]byte]*vote)}
		a.epochs[e] = st
	}
	return st
}

// Start runs the epoch protocol until ctx ends or Close is called, then
// returns nil. It first asks peers for verified documents of the current and
// next epoch it lacks (after a restart), then schedules a bootstrap round for
// each of those whose vote time has passed and the regular rounds after
// them.
func (a *Authority) Start(ctx context.Context) error {
	a.mu.Lock()
	switch {
	case a.closed:
		a.mu.Unlock()
		return ErrClosed
	case a.started:
		a.mu.Unlock()
		return fmt.Errorf("directory: authority already started")
	}
	a.started = true
	a.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { a.Close() })
	defer stop()
	a.begin()
	close(a.ready)
	<-a.done
	return nil
}

// Ready is closed once Start has scheduled the protocol's first rounds.
func (a *Authority) Ready() <-chan struct{} { return a.ready }

// Close stops the protocol, waits for a round in progress to finish and
// returns. The Handler keeps serving what the authority holds.
func (a *Authority) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	for t := range a.timers {
		t.t.Stop()
	}
	clear(a.timers)
	a.cancel()
	close(a.done)
	a.mu.Unlock()
	a.wg.Wait()
	return nil
}

// after runs f in d unless the authority closes first.
func (a *Authority) after(d time.Duration, f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	t := &timer{}
	a.timers[t] = struct{}{}
	t.t = a.clk.AfterFunc(d, func() {
		a.mu.Lock()
		_, live := a.timers[t]
		delete(a.timers, t)
		if !live || a.closed {
			a.mu.Unlock()
			return
		}
		a.wg.Add(1)
		a.mu.Unlock()
		defer a.wg.Done()
		f()
	})
}

// at runs f at time t (at once if t has passed) unless the authority closes
// first.
func (a *Authority) at(t time.Time, f func()) { a.after(t.Sub(a.clk.Now()), f) }

var errNotFound = errors.New("directory: not found")
