package webui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestTokenExchange: nothing is served without a session; the URL token,
// and only it, starts one, as an HttpOnly SameSite=Strict cookie named
// after the port, and the redirect drops the token from the URL.
func TestTokenExchange(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	for _, target := range []string{"/", "/friends", "/compose", "/status", "/friend-code.png", "/static/app.js", "/api/status"} {
		if resp := u.do(request{target: target}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s without a session: %s, want 403", target, resp.Status)
		}
	}
	for _, bad := range []string{"", "x", u.token[:len(u.token)-1], u.token + "x", strings.ToUpper(u.token)} {
		resp := u.do(request{target: "/?token=" + url.QueryEscape(bad)})
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("token %q: %s with %d cookies, want 403 and none", bad, resp.Status, len(resp.Cookies()))
		}
	}
	// A token in a POST's URL is not an exchange.
	if resp := u.do(request{method: http.MethodPost, target: "/sync?token=" + u.token}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST with the token in the URL: %s, want 403", resp.Status)
	}

	resp := u.do(request{target: "/friends?token=" + u.token + "&added=x"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("token exchange: %s", resp.Status)
	}
	if loc := resp.Header.Get("Location"); loc != "/friends?added=x" {
		t.Errorf("redirect to %q, want the same URL without the token", loc)
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies", len(cookies))
	}
	c := cookies[0]
	if c.Name != "loam_session_43117" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %+v: want loam_session_43117, HttpOnly, SameSite=Strict, Path=/", c)
	}
	if c.Value == u.token || len(c.Value) < 43 {
		t.Errorf("the cookie carries %q: want a fresh session id, not the URL token", c.Value)
	}
	if body, _ := u.page(c, "/"); !strings.Contains(body, "Timeline") {
		t.Error("the timeline did not render with the session cookie")
	}
	// Another cookie value, or the same under another port's name, is no
	// session.
	if resp := u.do(request{target: "/", cookie: &http.Cookie{Name: c.Name, Value: u.token}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the URL token as a cookie: %s, want 403", resp.Status)
	}
	if resp := u.do(request{target: "/", cookie: &http.Cookie{Name: "loam_session_1", Value: c.Value}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the session under another port's cookie name: %s, want 403", resp.Status)
	}
}

// TestSessionsBounded: the oldest session goes when too many are made.
func TestSessionsBounded(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	first := u.login()
	var last *http.Cookie
	for range maxSessions {
		last = u.login()
	}
	if resp := u.do(request{target: "/", cookie: first}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the evicted session: %s, want 403", resp.Status)
	}
	if resp := u.do(request{target: "/", cookie: last}); resp.StatusCode != http.StatusOK {
		t.Errorf("the newest session: %s, want 200", resp.Status)
	}
}

// TestHostHeader: only the loopback names with the served port are
// answered, whatever else the request carries (DNS rebinding).
func TestHostHeader(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	c := u.login()
	for _, host := range []string{"127.0.0.1:43117", "localhost:43117", "LOCALHOST:43117", "[::1]:43117"} {
		if resp := u.do(request{target: "/", host: host, cookie: c}); resp.StatusCode != http.StatusOK {
			t.Errorf("Host %q: %s, want 200", host, resp.Status)
		}
	}
	for _, host := range []string{"-", "evil.example", "evil.example:43117", "127.0.0.1", "127.0.0.1:80", "127.0.0.2:43117",
		"localhost.evil.example:43117", "[::ffff:127.0.0.1]:43117", "0.0.0.0:43117", "127.0.0.1:43117.evil.example"} {
		resp := u.do(request{target: "/", host: host, cookie: c})
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: %s, want 421", host, resp.Status)
		}
		// Not even the token opens it.
		resp = u.do(request{target: "/?token=" + u.token, host: host})
		if resp.StatusCode != http.StatusMisdirectedRequest || len(resp.Cookies()) != 0 {
			t.Errorf("Host %q with the token: %s, %d cookies", host, resp.Status, len(resp.Cookies()))
		}
	}
}

// TestCSRF: a state-changing request needs the session, its CSRF token and
// to come from the app's own origin; a request missing any one of them
// changes nothing.
func TestCSRF(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	bob := newOfflineFeed(t, "Bob")
	bobID, _ := bob.Identity()
	c := u.login()
	_, csrf := u.page(c, "/friends")
	if csrf == "" {
		t.Fatal("the friends page has no CSRF token")
	}
	other := u.login() // another session's token is not this one's
	_, otherCSRF := u.page(other, "/friends")
	good := url.Values{"csrf": {csrf}, "code": {bobID.FriendCode()}}
	cases := []struct {
		name   string
		cookie *http.Cookie
		values url.Values
		header http.Header
	}{
		{"no session", nil, good, sameOriginHeaders()},
		{"no CSRF token", c, url.Values{"code": {bobID.FriendCode()}}, sameOriginHeaders()},
		{"wrong CSRF token", c, url.Values{"csrf": {csrf + "x"}, "code": {bobID.FriendCode()}}, sameOriginHeaders()},
		{"another session's CSRF token", c, url.Values{"csrf": {otherCSRF}, "code": {bobID.FriendCode()}}, sameOriginHeaders()},
		{"cross-site", c, good, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://evil.example"}}},
		{"same-site, another port", c, good, http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"http://127.0.0.1:9999"}}},
		{"foreign Origin only", c, good, http.Header{"Origin": {"http://evil.example"}}},
		{"Origin of another port", c, good, http.Header{"Origin": {"http://localhost:9999"}}},
		{"null Origin", c, good, http.Header{"Origin": {"null"}}},
		{"Sec-Fetch-Site none", c, good, http.Header{"Sec-Fetch-Site": {"none"}}},
	}
	for _, tc := range cases {
		resp := u.form(tc.cookie, "/friends", tc.values, tc.header)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s, want 403", tc.name, resp.Status)
		}
		if friends, _ := u.feed.Friends(); len(friends) != 0 {
			t.Fatalf("%s: a friend was added", tc.name)
		}
	}
	for _, path := range []string{"/sync", "/post"} {
		resp := u.form(c, path, url.Values{"csrf": {csrf}}, http.Header{"Sec-Fetch-Site": {"cross-site"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %s, want 403", path, resp.Status)
		}
	}
	u.srv.mu.Lock()
	jobs := len(u.srv.jobs.byID)
	u.srv.mu.Unlock()
	if jobs != 0 {
		t.Fatal("a refused request started a job")
	}

	// The app's own form, and a client that sends no browser headers but
	// holds the session and the token, both work.
	resp := u.form(c, "/friends", good, sameOriginHeaders())
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/friends?added=") {
		t.Fatalf("the app's own form: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if resp := u.form(c, "/friends", good, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("without browser headers: %s", resp.Status)
	}
	if friends, _ := u.feed.Friends(); len(friends) != 1 || friends[0].Name != "Bob" {
		t.Fatalf("friends: %v", friends)
	}
	body, _ := u.page(c, resp.Header.Get("Location"))
	if !strings.Contains(body, "Added Bob.") {
		t.Error("the friends page does not say Bob was added")
	}
}

// TestMethods: only GET, HEAD and POST are answered.
func TestMethods(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	c := u.login()
	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		if resp := u.do(request{method: m, target: "/", cookie: c}); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %s, want 405", m, resp.Status)
		}
	}
	if resp := u.do(request{method: http.MethodPost, target: "/", cookie: c, header: sameOriginHeaders()}); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %s, want 405", resp.Status)
	}
}

// TestSecurityHeaders: every response, a refusal included, carries the
// policy headers; the CSP allows no inline script or style.
func TestSecurityHeaders(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	c := u.login()
	responses := map[string]*http.Response{
		"page":      u.do(request{target: "/", cookie: c}),
		"static":    u.do(request{target: "/static/app.js", cookie: c}),
		"qr":        u.do(request{target: "/friend-code.png", cookie: c}),
		"api":       u.do(request{target: "/api/status", cookie: c}),
		"not found": u.do(request{target: "/nowhere", cookie: c}),
		"no token":  u.do(request{target: "/"}),
		"bad host":  u.do(request{target: "/", host: "evil.example:43117"}),
		"redirect":  u.do(request{target: "/?token=" + u.token}),
	}
	for name, resp := range responses {
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") ||
			!strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", name, csp)
		}
		want := map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "same-origin", "Cache-Control": "no-store", "Cross-Origin-Resource-Policy": "same-origin"}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s: %s is %q, want %q", name, k, h.Get(k), v)
			}
		}
	}
	if ct := responses["static"].Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("app.js served as %q", ct)
	}
	// No directory listing of the embedded files.
	if resp := u.do(request{target: "/static/", cookie: c}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /static/: %s, want 404", resp.Status)
	}
}

// TestNewRefusesUnsafeConfig: New serves only loopback addresses, with a
// real token and a feed.
func TestNewRefusesUnsafeConfig(t *testing.T) {
	f := newOfflineFeed(t, "Alice")
	token, _ := NewToken()
	for _, cfg := range []Config{
		{Feed: nil, Addr: testAddr, Token: token},
		{Feed: f, Addr: testAddr, Token: "short"},
		{Feed: f, Addr: "0.0.0.0:43117", Token: token},
		{Feed: f, Addr: "192.168.1.2:43117", Token: token},
		{Feed: f, Addr: "example.com:43117", Token: token},
		{Feed: f, Addr: "127.0.0.1:0", Token: token},
		{Feed: f, Addr: "127.0.0.1", Token: token},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(addr %q, token %d chars, feed %v): %v, want ErrConfig", cfg.Addr, len(cfg.Token), cfg.Feed != nil, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:1", "[::1]:8080", "localhost:8080", "127.1.2.3:8080"} {
		s, err := New(Config{Feed: f, Addr: addr, Token: token})
		if err != nil {
			t.Errorf("New(%q): %v", addr, err)
			continue
		}
		s.Close()
	}
}

// TestNewToken: 32 random bytes, URL-safe, different each time.
func TestNewToken(t *testing.T) {
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken()
	if len(a) != 43 || a == b || url.QueryEscape(a) != a {
		t.Fatalf("tokens %q and %q", a, b)
	}
}
