package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAuthorities serves fixed documents at /v1/documents/{epoch} and
// /v1/documents/current, one server per key.
type fakeAuthorities struct {
	mu    sync.Mutex
	docs  map[string][]byte // path → body
	peers []Peer
	keys  []ed25519.PrivateKey
}

func newFakeAuthorities(t *testing.T, n int) *fakeAuthorities {
	fa := &fakeAuthorities{docs: map[string][]byte{}}
	for range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fa.mu.Lock()
			b, ok := fa.docs[r.URL.Path]
			fa.mu.Unlock()
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(b)
		}))
		t.Cleanup(srv.Close)
		k := newKey(t)
		fa.keys = append(fa.keys, k)
		fa.peers = append(fa.peers, Peer{Key: k.Public().(ed25519.PublicKey), URL: srv.URL})
	}
	return fa
}

func (fa *fakeAuthorities) set(path string, b []byte) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fa.docs[path] = b
}

func TestFetcherCache(t *testing.T) {
	fa := newFakeAuthorities(t, 3)
	params := testParams(time.Minute)
	nodes := testNetwork(t, 10, 3, time.Unix(1e9, 0))
	docs := map[uint64][]byte{}
	for e := uint64(10); e < 13; e++ {
		docs[e] = makeDocument(e, params, nodes, fa.keys[0], fa.keys[2]).Marshal()
		fa.set(fmt.Sprintf("/v1/documents/%d", e), docs[e])
	}
	fa.set("/v1/documents/current", docs[11])
	cache := filepath.Join(t.TempDir(), "dir-cache")
	f := &Fetcher{Authorities: fa.peers, CacheDir: cache, Logger: quietLogger(t)}

	if _, err := f.LoadCached(); !errors.Is(err, ErrNoDocument) {
		t.Fatalf("empty cache: %v", err)
	}
	for e := uint64(10); e < 13; e++ {
		d, err := f.Fetch(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Marshal(), docs[e]) {
			t.Fatalf("epoch %d differs", e)
		}
	}
	if _, err := f.Fetch(context.Background(), 13); !errors.Is(err, ErrNoDocument) {
		t.Fatalf("missing epoch: %v", err)
	}
	if d, err := f.Current(context.Background()); err != nil || d.Epoch != 11 {
		t.Fatalf("Current: %v", err)
	}

	// Files: 0600 in a 0700 directory, no temporary files left behind.
	info, err := os.Stat(cache)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("cache directory mode %v %v", info.Mode(), err)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 3 {
		t.Fatalf("%d cache entries", len(entries))
	}
	for _, e := range entries {
		info, _ := e.Info()
		if strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), cacheSuffix) || info.Mode().Perm() != 0o600 {
			t.Fatalf("cache entry %s mode %v", e.Name(), info.Mode())
		}
	}

	// A new Fetcher (a restarted node) loads the newest again.
	again := &Fetcher{Authorities: fa.peers, CacheDir: cache, Logger: quietLogger(t)}
	d, err := again.LoadCached()
	if err != nil || !bytes.Equal(d.Marshal(), docs[12]) {
		t.Fatalf("reload: %v", err)
	}

	// Only keepEpochs documents stay.
	for e := uint64(13); e < 13+keepEpochs; e++ {
		b := makeDocument(e, params, testNetwork(t, e, 1, time.Unix(1e9, 0)), fa.keys[0], fa.keys[1]).Marshal()
		fa.set(fmt.Sprintf("/v1/documents/%d", e), b)
		if _, err := f.Fetch(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(cache); len(entries) != keepEpochs {
		t.Fatalf("%d cache entries, want %d", len(entries), keepEpochs)
	}
}

func TestFetcherRefusesBadDocuments(t *testing.T) {
	fa := newFakeAuthorities(t, 3)
	params := testParams(time.Minute)
	nodes := testNetwork(t, 5, 1, time.Unix(1e9, 0))
	f := &Fetcher{Authorities: fa.peers, Logger: quietLogger(t)}
	one := makeDocument(5, params, nodes, fa.keys[0]).Marshal()
	strangers := makeDocument(5, params, nodes, newKey(t), newKey(t)).Marshal()
	wrongEpoch := makeDocument(6, params, testNetwork(t, 6, 1, time.Unix(1e9, 0)), fa.keys...).Marshal()
	for name, b := range map[string][]byte{"one signature": one, "unknown signers": strangers,
		"other epoch": wrongEpoch, "garbage": []byte("x"), "huge": make([]byte, MaxDocumentLen+10)} {
		fa.set("/v1/documents/5", b)
		if _, err := f.Fetch(context.Background(), 5); !errors.Is(err, ErrNoDocument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []Fetcher{
		{Authorities: fa.peers, Threshold: 1},
		{Authorities: fa.peers, Threshold: 4},
		{},
	} {
		if _, err := bad.Fetch(context.Background(), 5); err == nil || errors.Is(err, ErrNoDocument) {
			t.Errorf("bad configuration %+v: %v", bad, err)
		}
	}
}

// TestFetcherCorruptCache: a cache file that does not parse or verify is an
// error, never a panic; an older good file is used instead of a bad newer
// one.
func TestFetcherCorruptCache(t *testing.T) {
	fa := newFakeAuthorities(t, 3)
	params := testParams(time.Minute)
	cache := t.TempDir()
	f := &Fetcher{Authorities: fa.peers, CacheDir: cache, Logger: quietLogger(t)}
	good := makeDocument(20, params, testNetwork(t, 20, 1, time.Unix(1e9, 0)), fa.keys...).Marshal()
	path := filepath.Join(cache, epochName(20)+cacheSuffix)

	corrupt := map[string][]byte{
		"truncated":      good[:len(good)/2],
		"flipped":        flip(good, len(good)/3),
		"empty":          {},
		"trailing":       append(bytes.Clone(good), 1),
		"too large":      make([]byte, MaxDocumentLen+1),
		"unsigned":       makeDocument(20, params, testNetwork(t, 20, 1, time.Unix(1e9, 0))).Marshal(),
		"epoch mismatch": makeDocument(21, params, testNetwork(t, 21, 1, time.Unix(1e9, 0)), fa.keys...).Marshal(),
	}
	for name, b := range corrupt {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if d, err := f.LoadCached(); err == nil || errors.Is(err, ErrNoDocument) {
			t.Errorf("%s: loaded %v, err %v", name, d != nil, err)
		}
	}
	// A good older document is used when the newest is corrupt.
	older := makeDocument(19, params, testNetwork(t, 19, 1, time.Unix(1e9, 0)), fa.keys...).Marshal()
	if err := writeAtomic(filepath.Join(cache, epochName(19)+cacheSuffix), older); err != nil {
		t.Fatal(err)
	}
	d, err := f.LoadCached()
	if err != nil || d.Epoch != 19 {
		t.Fatalf("fallback to the older document: %v", err)
	}
	// Stray files are ignored.
	os.WriteFile(filepath.Join(cache, "notes.txt"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(cache, "99.doc"), []byte("x"), 0o600)
	if d, err := f.LoadCached(); err != nil || d.Epoch != 19 {
		t.Fatalf("with stray files: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}

// authority serves one document (nil: never answers, like a stalled
// stream) for every path.
func authority(t *testing.T, doc []byte, stalled <-chan struct{}) Peer {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if doc == nil {
			select {
			case <-stalled:
			case <-r.Context().Done():
			}
			return
		}
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return Peer{URL: srv.URL}
}

// TestFetcherDoesNotWaitForAStalledAuthority: an authority that never
// answers delays Fetch and Current by about 2 s, not a timeout; Current
// takes the newest of the answers in time.
func TestFetcherDoesNotWaitForAStalledAuthority(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t), newKey(t)}
	params := testParams(time.Minute)
	nodes := testNetwork(t, 20, 3, time.Unix(1e9, 0))
	older := makeDocument(20, params, nodes, keys[0], keys[1]).Marshal()
	newer := makeDocument(21, params, nodes, keys[0], keys[1]).Marshal()
	stalled := make(chan struct{})
	defer close(stalled)
	peers := []Peer{authority(t, older, nil), authority(t, newer, nil), authority(t, nil, stalled)}
	for i := range peers {
		peers[i].Key = keys[i].Public().(ed25519.PublicKey)
	}
	f := &Fetcher{Authorities: peers, Threshold: 2, Logger: quietLogger(t),
		Client: &http.Client{Timeout: time.Minute}}
	start := time.Now()
	d, err := f.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > currentGrace+5*time.Second {
		t.Fatalf("Current took %v with one authority stalled", took)
	}
	if d.Epoch != 21 {
		t.Fatalf("Current chose epoch %d of 20 and 21", d.Epoch)
	}
	// Fetch asks one authority at a time; whichever order it draws, the
	// stalled one costs one hedge at most. Asked for 20, the authority of
	// 21 is wrong too, and is passed over at once.
	for range 4 {
		start := time.Now()
		d, err := f.Fetch(context.Background(), 20)
		if err != nil || d.Epoch != 20 {
			t.Fatalf("Fetch: %v", err)
		}
		if took := time.Since(start); took > 2*fetchHedge+5*time.Second {
			t.Fatalf("Fetch took %v with one authority stalled", took)
		}
	}
}
