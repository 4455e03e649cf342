package directory

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"loam/internal/clock"
)

// uploadAuthority is one authority (threshold 1) on a virtual clock in the
// first quarter of epoch cur, served by httptest.
func uploadAuthority(t *testing.T, admit func(*Descriptor) error) (*Authority, *httptest.Server, *clock.Virtual, uint64) {
	t.Helper()
	P := 20 * time.Minute
	const cur = 4242
	clk := clock.NewVirtual(Schedule{Period: P}.Start(cur).Add(P / 4))
	key := newKey(t)
	srv := httptest.NewUnstartedServer(nil)
	a, err := NewAuthority(AuthorityConfig{
		Key: key, Authorities: []Peer{{Key: key.Public().(ed25519.PublicKey), URL: "http://" + srv.Listener.Addr().String()}},
		Params: testParams(P), Clock: clk, Logger: quietLogger(t), DataDir: t.TempDir(), Admit: admit,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.Handler()
	srv.Start()
	t.Cleanup(func() { srv.Close(); a.Close() })
	return a, srv, clk, cur
}

func post(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url+"/v1/descriptors", contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func TestUploadRefusals(t *testing.T) {
	_, srv, clk, cur := uploadAuthority(t, nil)
	now := clk.Now()
	good, gk := testDescriptor(t, RoleMix, 1, cur, 3, now)
	goodRaw := signed(t, good, gk).Raw()

	badSig := bytes.Clone(goodRaw)
	badSig[len(badSig)-1] ^= 1
	wrongLayer, wk := testDescriptor(t, RoleMix, 1, cur, 1, now)
	wrongLayer.Layer = 0
	gatewayLayer, glk := testDescriptor(t, RoleGateway, 0, cur, 1, now)
	gatewayLayer.Layer = 2
	past, pk := testDescriptor(t, RoleMix, 1, cur-3, 2, now)
	farFuture, fk := testDescriptor(t, RoleMix, 1, cur+MaxOnionKeys+1, 1, now)
	ahead, ak := testDescriptor(t, RoleMix, 1, cur, 1, now.Add(time.Hour))
	squatter, sk := testDescriptor(t, RoleMix, 2, cur, 1, now)
	squatter.LinkKey = good.LinkKey

	older := *good
	older.Published = now.Add(-time.Minute)
	sameTime := *good
	sameTime.Name = "renamed"

	cases := []struct {
		name string
		body []byte
		want int
		msg  string
	}{
		{"accepted", goodRaw, http.StatusAccepted, ""},
		{"same again", goodRaw, http.StatusOK, ""},
		{"garbage", []byte("hello"), http.StatusBadRequest, "malformed"},
		{"empty", nil, http.StatusBadRequest, "malformed"},
		{"bad signature", badSig, http.StatusBadRequest, "bad signature"},
		{"unsigned", good.appendBody(nil), http.StatusBadRequest, "malformed"},
		{"mix in layer 0", signRaw(wrongLayer, wk), http.StatusBadRequest, "layer"},
		{"gateway in layer 2", signRaw(gatewayLayer, glk), http.StatusBadRequest, "layer"},
		{"keys only for past epochs", signed(t, past, pk).Raw(), http.StatusUnprocessableEntity, "no onion key"},
		{"keys only far ahead", signed(t, farFuture, fk).Raw(), http.StatusUnprocessableEntity, "no onion key"},
		{"published an hour ahead", signed(t, ahead, ak).Raw(), http.StatusUnprocessableEntity, "ahead"},
		{"older than held", signed(t, &older, gk).Raw(), http.StatusConflict, "not newer"},
		{"same time, other bytes", signed(t, &sameTime, gk).Raw(), http.StatusConflict, "not newer"},
		{"link key of another node", signed(t, squatter, sk).Raw(), http.StatusConflict, "link key"},
		{"oversized", make([]byte, MaxDescriptorLen+1), http.StatusRequestEntityTooLarge, "exceeds"},
		{"huge", make([]byte, 1<<20), http.StatusRequestEntityTooLarge, "exceeds"},
	}
	for _, c := range cases {
		got, msg := post(t, srv.URL, c.body)
		if got != c.want || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %q, want %d containing %q", c.name, got, msg, c.want, c.msg)
		}
		if got >= 400 && !strings.HasPrefix(msg, "directory: ") {
			t.Errorf("%s: message %q lacks the package prefix", c.name, msg)
		}
	}

	// A newer descriptor replaces the one held, and may move its link key.
	newer := *good
	newer.Published = now.Add(time.Minute)
	newer.LinkKey = randomKey32()
	if got, msg := post(t, srv.URL, signed(t, &newer, gk).Raw()); got != http.StatusAccepted {
		t.Fatalf("newer: %d %s", got, msg)
	}
	if got, msg := post(t, srv.URL, signed(t, squatter, sk).Raw()); got != http.StatusAccepted {
		t.Fatalf("freed link key: %d %s", got, msg)
	}

	for path, want := range map[string]int{
		"/v1/documents/abc":                  http.StatusBadRequest,
		"/v1/documents/007":                  http.StatusBadRequest,
		"/v1/documents/18446744073709551616": http.StatusBadRequest,
		"/v1/documents/5":                    http.StatusNotFound,
		"/v1/votes/5":                        http.StatusNotFound,
		"/v1/signatures/5":                   http.StatusNotFound,
		"/v1/documents/current":              http.StatusNotFound,
		"/v1/descriptors":                    http.StatusMethodNotAllowed,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestUploadAdmit(t *testing.T) {
	allowed, ak := testDescriptor(t, RoleMix, 1, 0, 1, time.Unix(0, 0))
	_, srv, clk, cur := uploadAuthority(t, func(d *Descriptor) error {
		if !bytes.Equal(d.IdentityKey, allowed.IdentityKey) {
			return errors.New("unknown operator")
		}
		return nil
	})
	allowed.OnionKeys[0].Epoch = cur
	allowed.Published = clk.Now()
	other, ok := testDescriptor(t, RoleMix, 1, cur, 1, clk.Now())
	if got, msg := post(t, srv.URL, signed(t, allowed, ak).Raw()); got != http.StatusAccepted {
		t.Fatalf("admitted node: %d %s", got, msg)
	}
	if got, msg := post(t, srv.URL, signed(t, other, ok).Raw()); got != http.StatusForbidden || !strings.Contains(msg, "unknown operator") {
		t.Fatalf("other node: %d %s", got, msg)
	}
}

func TestUploadThreshold(t *testing.T) {
	_, srv, clk, cur := uploadAuthority(t, nil)
	d, k := testDescriptor(t, RoleService, 0, cur, 2, clk.Now())
	raw := signed(t, d, k).Raw()
	// Upload checks only the answers: the keys matter for documents.
	f := &Fetcher{Logger: quietLogger(t), Threshold: 2, Authorities: []Peer{
		{Key: newKey(t).Public().(ed25519.PublicKey), URL: srv.URL},
		{Key: newKey(t).Public().(ed25519.PublicKey), URL: "http://127.0.0.1:1"}, // nothing listens
		{Key: newKey(t).Public().(ed25519.PublicKey), URL: "http://127.0.0.1:1"},
	}}
	if err := f.Upload(context.Background(), raw); !errors.Is(err, ErrRefused) {
		t.Fatalf("one of three accepted: %v", err)
	}
	f.Threshold = 0 // majority of 1 of 1
	f.Authorities = f.Authorities[:1]
	if err := f.Upload(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	if err := f.Upload(context.Background(), []byte("junk")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("junk: %v", err)
	}
	f.Authorities = nil
	if err := f.Upload(context.Background(), raw); err == nil {
		t.Fatal("uploaded to no authorities")
	}
}
