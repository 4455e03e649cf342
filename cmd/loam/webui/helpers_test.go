package webui

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"loam/mailbox/feed"
)

// testAddr is the address the handler tests claim to serve on; they call
// ServeHTTP directly, so nothing listens there.
const (
	testAddr = "127.0.0.1:43117"
	testHost = "127.0.0.1:43117"
)

// testUI is a webui over an offline feed (no mailbox client): every page
// works, a post to no friends is stored, and syncs fail with ErrOffline.
type testUI struct {
	t     *testing.T
	srv   *Server
	feed  *feed.Feed
	token string
}

func newTestUI(t *testing.T, name string, adjust func(*Config)) *testUI {
	t.Helper()
	f := newOfflineFeed(t, name)
	token, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Feed: f, Addr: testAddr, Token: token, Logger: slog.New(slog.DiscardHandler)}
	if adjust != nil {
		adjust(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &testUI{t: t, srv: srv, feed: f, token: token}
}

func newOfflineFeed(t *testing.T, name string) *feed.Feed {
	t.Helper()
	dir := t.TempDir()
	key, err := feed.KeyFromFile(filepath.Join(dir, "store.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	store, err := feed.OpenStore(filepath.Join(dir, "store"), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f, err := feed.New(store, nil, feed.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Init(name); err != nil {
		t.Fatal(err)
	}
	return f
}

// request is one request to the handler.
type request struct {
	method, target, host string
	header               http.Header
	body                 io.Reader
	cookie               *http.Cookie
}

func (u *testUI) do(rq request) *http.Response {
	u.t.Helper()
	if rq.method == "" {
		rq.method = http.MethodGet
	}
	r := httptest.NewRequest(rq.method, rq.target, rq.body)
	r.Host = testHost
	switch rq.host {
	case "":
	case "-": // no Host header at all
		r.Host = ""
	default:
		r.Host = rq.host
	}
	for k, v := range rq.header {
		r.Header[k] = v
	}
	if rq.cookie != nil {
		r.AddCookie(rq.cookie)
	}
	w := httptest.NewRecorder()
	u.srv.ServeHTTP(w, r)
	return w.Result()
}

// login exchanges the token for a session cookie.
func (u *testUI) login() *http.Cookie {
	u.t.Helper()
	resp := u.do(request{target: "/?token=" + u.token})
	if resp.StatusCode != http.StatusSeeOther {
		u.t.Fatalf("token exchange: %s", resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == u.srv.cookieName {
			return c
		}
	}
	u.t.Fatal("no session cookie")
	return nil
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page GETs a page with a session and returns its body and CSRF token.
func (u *testUI) page(c *http.Cookie, target string) (body, csrf string) {
	u.t.Helper()
	resp := u.do(request{target: target, cookie: c})
	b := readBody(u.t, resp)
	if resp.StatusCode != http.StatusOK {
		u.t.Fatalf("GET %s: %s: %s", target, resp.Status, b)
	}
	if m := csrfInput.FindStringSubmatch(b); m != nil {
		csrf = m[1]
	}
	return b, csrf
}

// form POSTs a url-encoded form as the app's own page would.
func (u *testUI) form(c *http.Cookie, target string, values url.Values, header http.Header) *http.Response {
	u.t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for k, v := range header {
		h[k] = v
	}
	return u.do(request{method: http.MethodPost, target: target, header: h, body: strings.NewReader(values.Encode()), cookie: c})
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameOriginHeaders are what a browser sends with a form from the app.
func sameOriginHeaders() http.Header {
	return http.Header{"Origin": {"http://" + testHost}, "Sec-Fetch-Site": {"same-origin"}}
}

// part is one multipart part: a field, or a file when file is set.
type part struct {
	name, file string
	data       []byte
}

func multipartBody(t testing.TB, parts ...part) (body *bytes.Buffer, contentType string) {
	t.Helper()
	body = &bytes.Buffer{}
	mw := multipart.NewWriter(body)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.file != "" {
			w, err = mw.CreateFormFile(p.name, p.file)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	return body, mw.FormDataContentType()
}

func (u *testUI) upload(c *http.Cookie, parts ...part) *http.Response {
	u.t.Helper()
	body, ct := multipartBody(u.t, parts...)
	h := sameOriginHeaders()
	h.Set("Content-Type", ct)
	h.Set("Accept", "application/json")
	return u.do(request{method: http.MethodPost, target: "/post", header: h, body: body, cookie: c})
}

// waitJob polls a job until it ends.
func (u *testUI) waitJob(id string) jobView {
	u.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := u.srv.job(id)
		if j == nil {
			u.t.Fatalf("no job %s", id)
		}
		if v := j.view(); v.State != jobRunning {
			return v
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("job %s still running", id)
		}
		time.Sleep(10 * time.Millisecond) // a test's poll
	}
}

// testJPEG returns a small JPEG picture.
func testJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(4 * x), uint8(5 * y), 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
