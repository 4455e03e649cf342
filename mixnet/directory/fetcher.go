package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"loam/internal/clock"
)

// Fetcher is how nodes and clients use the directory: it uploads
// descriptors, fetches documents that verify against the authorities it
// trusts, and keeps the last good ones on disk.
type Fetcher struct {
	// Authorities are the trusted authorities.
	Authorities []Peer
	// Threshold is the number of their signatures a document needs; zero
	// means a bare majority.
	Threshold int
	// CacheDir keeps the last good documents, one file per epoch
	// ("<epoch, 20 digits>.doc", mode 0600, the directory 0700), each
	// written atomically. Empty keeps nothing.
	CacheDir string
	// Client makes the requests; nil means a client with a 30 s timeout.
	Client *http.Client
	// Logger receives warnings about authorities; nil means slog.Default().
	Logger *slog.Logger
	// Clock times the waits between authorities; nil means clock.Real().
	Clock clock.Clock
}

const (
	cacheSuffix         = ".doc"
	defaultFetchTimeout = 30 * time.Second
	// currentGrace is how long Current waits for the other authorities
	// once one has answered: a newer document differs only around an epoch
	// change, and over Tor one stalled stream must not hold a client up
	// for its whole timeout.
	currentGrace = 2 * time.Second
	// fetchHedge is how long Fetch waits for an authority before it asks
	// the next one as well (one that fails is followed at once).
	fetchHedge = 2 * time.Second
)

var defaultClient = &http.Client{Timeout: defaultFetchTimeout}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return defaultClient
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

// trust returns the trusted keys and the threshold.
func (f *Fetcher) trust() ([]ed25519.PublicKey, int, error) {
	keys, err := checkPeers(f.Authorities)
	if err != nil {
		return nil, 0, err
	}
	t, err := checkThreshold(f.Threshold, len(keys))
	return keys, t, err
}

// Fetch returns the document of epoch, asking the authorities in random
// order until one serves a document for that epoch that verifies, and
// caches it: the next authority as soon as one fails, or when one has not
// answered within fetchHedge (a stalled authority, or a stalled stream
// through Tor, then costs 2 s rather than a timeout). If none serves it,
// the error wraps ErrNoDocument and every authority's answer.
func (f *Fetcher) Fetch(ctx context.Context, epoch uint64) (*Document, error) {
	keys, t, err := f.trust()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the requests still out when one succeeded
	order := shuffled(len(f.Authorities))
	answers := make(chan answer, len(order))
	asked, pending := 0, 0
	ask := func() {
		p := f.Authorities[order[asked]]
		asked++
		pending++
		go func() {
			d, err := f.fetchFrom(ctx, p, strconv.FormatUint(epoch, 10), keys, t)
			if err == nil && d.Epoch != epoch {
				err = fmt.Errorf("%w: asked for epoch %d, got %d", ErrMalformed, epoch, d.Epoch)
			}
			answers <- answer{p.URL, d, err}
		}()
	}
	var errs []error
	ask()
	for pending > 0 {
		hedge, stop := f.after(fetchHedge)
		select {
		case a := <-answers:
			pending--
			if a.err == nil {
				stop()
				f.store(a.doc)
				return a.doc, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", a.url, a.err))
			if asked < len(order) {
				ask()
			}
		case <-hedge:
			if asked < len(order) {
				ask()
			}
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("%w for epoch %d: %w", ErrNoDocument, epoch, errors.Join(append(errs, ctx.Err())...))
		}
		stop()
	}
	return nil, fmt.Errorf("%w for epoch %d: %w", ErrNoDocument, epoch, errors.Join(errs...))
}

// answer is one authority's answer to a fetch.
type answer struct {
	url string
	doc *Document
	err error
}

// after returns a channel closed d from now on the Fetcher's clock, and
// a function that cancels it.
func (f *Fetcher) after(d time.Duration) (<-chan struct{}, func()) {
	clk := f.Clock
	if clk == nil {
		clk = clock.Real()
	}
	ch := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(ch) })
	return ch, func() { t.Stop() }
}

// Current asks every authority at once for its current document and returns
// the newest that verifies among those that answer within currentGrace of
// the first good answer, caching it.
func (f *Fetcher) Current(ctx context.Context) (*Document, error) {
	keys, t, err := f.trust()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the requests of authorities that missed the grace
	answers := make(chan answer, len(f.Authorities))
	for _, p := range f.Authorities {
		go func() {
			d, err := f.fetchFrom(ctx, p, "current", keys, t)
			answers <- answer{p.URL, d, err}
		}()
	}
	var best *Document
	var errs []error
	var grace <-chan struct{} // runs from the first good answer
	stop := func() {}
	defer func() { stop() }()
collect:
	for range f.Authorities {
		select {
		case a := <-answers:
			switch {
			case a.err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", a.url, a.err))
			case best == nil:
				best = a.doc
				grace, stop = f.after(currentGrace)
			case a.doc.Epoch > best.Epoch:
				best = a.doc
			}
		case <-grace:
			break collect
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDocument, errors.Join(errs...))
	}
	f.store(best)
	return best, nil
}

func (f *Fetcher) fetchFrom(ctx context.Context, p Peer, which string, keys []ed25519.PublicKey, t int) (*Document, error) {
	b, err := httpGet(ctx, f.client(), p.URL, "/v1/documents/"+which, MaxDocumentLen)
	if err != nil {
		return nil, err
	}
	d, err := ParseDocument(b)
	if err != nil {
		return nil, err
	}
	if err := d.Verify(keys, t); err != nil {
		return nil, err
	}
	return d, nil
}

// store caches a verified document; failures are logged, since the
// document itself is good.
func (f *Fetcher) store(d *Document) {
	if f.CacheDir == "" {
		return
	}
	if err := os.MkdirAll(f.CacheDir, 0o700); err != nil {
		f.logger().Warn("directory: cache", "err", err)
		return
	}
	path := filepath.Join(f.CacheDir, epochName(d.Epoch)+cacheSuffix)
	if err := writeAtomic(path, d.Marshal()); err != nil {
		f.logger().Warn("directory: cache", "err", err)
		return
	}
	epochs, _ := f.cachedEpochs()
	for i := keepEpochs; i < len(epochs); i++ {
		os.Remove(filepath.Join(f.CacheDir, epochName(epochs[i])+cacheSuffix))
	}
}

// cachedEpochs lists the epochs in the cache, newest first.
func (f *Fetcher) cachedEpochs() ([]uint64, error) {
	entries, err := os.ReadDir(f.CacheDir)
	if err != nil {
		return nil, err
	}
	var epochs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), cacheSuffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil && epochName(n) == name {
			epochs = append(epochs, n)
		}
	}
	slices.Sort(epochs)
	slices.Reverse(epochs)
	return epochs, nil
}

// LoadCached returns the newest cached document that still parses and
// verifies against the trusted authorities. A newer cache file that fails
// is logged and skipped; if none is good the error says why (wrapping
// ErrNoDocument when the cache is empty). The caller decides whether a
// stale document is good enough and should say that it runs on one.
func (f *Fetcher) LoadCached() (*Document, error) {
	keys, t, err := f.trust()
	if err != nil {
		return nil, err
	}
	if f.CacheDir == "" {
		return nil, fmt.Errorf("%w: no cache directory", ErrNoDocument)
	}
	epochs, err := f.cachedEpochs()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("directory: reading cache: %w", err)
	}
	var errs []error
	for _, e := range epochs {
		path := filepath.Join(f.CacheDir, epochName(e)+cacheSuffix)
		d, err := loadCachedFile(path, e, keys, t)
		if err != nil {
			f.logger().Warn("directory: skipping cached document", "file", path, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		return d, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: cache is empty", ErrNoDocument)
	}
	return nil, fmt.Errorf("directory: no good cached document: %w", errors.Join(errs...))
}

func loadCachedFile(path string, epoch uint64, keys []ed25519.PublicKey, t int) (*Document, error) {
	b, err := readLimited(path, MaxDocumentLen)
	if err != nil {
		return nil, err
	}
	d, err := ParseDocument(b)
	if err != nil {
		return nil, err
	}
	if d.Epoch != epoch {
		return nil, fmt.Errorf("%w: file holds epoch %d", ErrMalformed, d.Epoch)
	}
	if err := d.Verify(keys, t); err != nil {
		return nil, err
	}
	return d, nil
}

// Upload posts a signed descriptor to every authority at once. It fails
// unless at least the threshold accepted it; the error then wraps
// ErrRefused and every refusal.
func (f *Fetcher) Upload(ctx context.Context, signed []byte) error {
	keys, t, err := f.trust()
	if err != nil {
		return err
	}
	if _, err := ParseDescriptor(signed); err != nil {
		return err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	accepted := 0
	for _, p := range f.Authorities {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.post(ctx, p, signed)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.URL, err))
				return
			}
			accepted++
		}()
	}
	wg.Wait()
	if accepted < t {
		return fmt.Errorf("%w: %d of %d authorities accepted, need %d: %w", ErrRefused, accepted, len(keys), t, errors.Join(errs...))
	}
	for _, err := range errs {
		f.logger().Warn("directory: authority refused descriptor", "err", err)
	}
	return nil
}

func (f *Fetcher) post(ctx context.Context, p Peer, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.URL, "/")+pathDescriptors, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := f.client().Do(req)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("directory: %s: %s", resp.Status, firstLine(msg))
	}
	return nil
}

// shuffled returns a random permutation of 0…n−1, seeded from crypto/rand.
func shuffled(n int) []int {
	var seed [32]byte
	crand.Read(seed[:])
	return mrand.New(mrand.NewChaCha8(seed)).Perm(n)
}
