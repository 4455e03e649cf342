package webui

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"rsc.io/qr"

	"loam/internal/clock"
	"loam/mailbox/feed"
)

// TestEscaping: hostile text in entries, names and attachment names is
// shown as text, never as markup.
func TestEscaping(t *testing.T) {
	const hostileName = `<img src=x onerror=alert(1)>`
	u := newTestUI(t, hostileName, nil)
	mallory := newOfflineFeed(t, `"><script>alert(2)</script>`)
	mid, _ := mallory.Identity()
	if _, err := u.feed.AddFriend(mid.FriendCode()); err != nil {
		t.Fatal(err)
	}
	// Posting to a friend needs the network; the hostile text goes in as
	// the user's own post, which the timeline shows the same way.
	if _, err := mallory.Post(testCtx(t), "x", nil, nil); err != nil {
		t.Fatal(err)
	}
	u2 := newTestUI(t, "Alice", nil) // a friendless user can post offline
	hostile := "<script>alert(3)</script>\n</p><iframe src=//evil.example>&amp;"
	if _, err := u2.feed.Post(testCtx(t), hostile, []feed.Attachment{
		{Name: `"><svg onload=alert(4)>.png`, Type: "text/html", Data: []byte("<script>alert(5)</script>")},
	}, nil); err != nil {
		t.Fatal(err)
	}

	c := u.login()
	friends, _ := u.page(c, "/friends")
	c2 := u2.login()
	timeline, _ := u2.page(c2, "/")
	for name, body := range map[string]string{"friends": friends, "timeline": timeline} {
		for _, bad := range []string{"<script>alert", "<img src=x", "<iframe", "<svg onload", `"><script>`} {
			if strings.Contains(body, bad) {
				t.Errorf("the %s page holds %q unescaped", name, bad)
			}
		}
	}
	if !strings.Contains(timeline, "&lt;script&gt;alert(3)&lt;/script&gt;") || !strings.Contains(timeline, "&amp;amp;") {
		t.Error("the hostile text is not on the timeline as text")
	}
	if !strings.Contains(friends, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("the hostile name is not on the page as text")
	}
	// No inline script or style anywhere: the CSP would block them anyway.
	for name, body := range map[string]string{"friends": friends, "timeline": timeline} {
		if regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|<[a-z][^>]*\s(style|on[a-z]+)=`).MatchString(body) {
			t.Errorf("the %s page has inline script or style", name)
		}
	}
}

// TestComposeAndAttachments: a post with text and a picture goes through
// the compose form to the timeline; the picture is served inline as the
// image it is, and other files only as downloads.
func TestComposeAndAttachments(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	c := u.login()
	_, csrf := u.page(c, "/compose")
	picture := testJPEG(t)
	page := []byte("<html><script>alert(1)</script></html>")
	resp := u.upload(c,
		part{name: "csrf", data: []byte(csrf)},
		part{name: "text", data: []byte("Blossom\r\non the oak.")},
		part{name: "attachments", file: "oak.jpg", data: picture},
		part{name: "attachments", file: "page.html", data: page},
		part{name: "attachments", file: "", data: nil}, // an empty file input
	)
	var started struct{ Job, Next string }
	if err := json.NewDecoder(resp.Body).Decode(&started); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post: %s, %v", resp.Status, err)
	}
	if v := u.waitJob(started.Job); v.State != jobDone || v.Message != "Posted." {
		t.Fatalf("the post's job: %+v", v)
	}
	entries, err := u.feed.Timeline(0)
	if err != nil || len(entries) != 1 {
		t.Fatalf("timeline: %d entries, %v", len(entries), err)
	}
	e := entries[0]
	if e.Text != "Blossom\non the oak." || len(e.Attachments) != 2 ||
		e.Attachments[0].Type != "image/jpeg" || !bytes.Equal(e.Attachments[0].Data, picture) ||
		e.Attachments[1].Name != "page.html" || e.Attachments[1].Type != "text/html; charset=utf-8" && e.Attachments[1].Type != "text/html" {
		t.Fatalf("the entry: %q, %d attachments %+v", e.Text, len(e.Attachments), e.Attachments[1].Type)
	}

	body, _ := u.page(c, started.Next)
	if !strings.Contains(body, "Posted.") || !strings.Contains(body, "Blossom\non the oak.") {
		t.Error("the timeline does not show the finished post")
	}
	img := "/attachments/" + e.ID.String() + "/0"
	if !strings.Contains(body, `<img src="`+img+`"`) {
		t.Error("the timeline does not show the picture")
	}
	if strings.Contains(body, `<img src="/attachments/`+e.ID.String()+`/1"`) {
		t.Error("the timeline shows an HTML file as an image")
	}

	resp = u.do(request{target: img, cookie: c})
	got := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline") || got != string(picture) {
		t.Errorf("the picture: %s, %s, %s", resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("the picture's CSP %q has no sandbox", csp)
	}
	resp = u.do(request{target: "/attachments/" + e.ID.String() + "/1", cookie: c})
	if resp.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("the HTML file served as %s, %s", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	for _, bad := range []string{"/2", "/-1", "/x", "/99999999999999999999"} {
		if resp := u.do(request{target: "/attachments/" + e.ID.String() + bad, cookie: c}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("attachment %s: %s, want 404", bad, resp.Status)
		}
	}
	for _, bad := range []string{"/attachments/00/0", "/attachments/" + strings.Repeat("ab", 32) + "/0", "/attachments/" + strings.Repeat("zz", 32) + "/0"} {
		if resp := u.do(request{target: bad, cookie: c}); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", bad, resp.Status)
		}
	}
}

// TestMislabelledAttachments: a friend's attachment whose type claims an
// image its bytes are not, or an image type that can carry script (SVG),
// is never served inline.
func TestMislabelledAttachments(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	e, err := u.feed.Post(testCtx(t), "", []feed.Attachment{
		{Name: "a.png", Type: "image/png", Data: []byte("<html><script>alert(1)</script>")},
		{Name: "b.svg", Type: "image/svg+xml", Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)},
		{Name: "c.html", Type: "text/html", Data: []byte("<script>alert(1)</script>")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := u.login()
	body, _ := u.page(c, "/")
	if strings.Contains(body, "<img src=\"/attachments/") {
		t.Error("a mislabelled attachment is shown as an image")
	}
	for i := range 3 {
		resp := u.do(request{target: "/attachments/" + e.ID.String() + "/" + string(rune('0'+i)), cookie: c})
		if resp.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("attachment %d served as %s, %s", i, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
		}
	}
}

// TestUploadLimits: the compose form takes at most what the feed allows,
// the CSRF token first, and nothing empty.
func TestUploadLimits(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	c := u.login()
	_, csrf := u.page(c, "/compose")
	tok := part{name: "csrf", data: []byte(csrf)}
	big := bytes.Repeat([]byte{0xff}, feed.MaxAttachmentBytes/2+1)
	many := []part{tok}
	for range feed.MaxAttachments + 1 {
		many = append(many, part{name: "attachments", file: "a.bin", data: []byte("x")})
	}
	cases := []struct {
		name  string
		parts []part
		code  int
	}{
		{"attachments over 5 MiB", []part{tok, {name: "attachments", file: "a.jpg", data: big}, {name: "attachments", file: "b.jpg", data: big}}, http.StatusRequestEntityTooLarge},
		{"a body over the limit", []part{tok, {name: "attachments", file: "a.jpg", data: bytes.Repeat([]byte{1}, maxUploadBytes)}}, http.StatusRequestEntityTooLarge},
		{"text over 64 KiB", []part{tok, {name: "text", data: bytes.Repeat([]byte("a"), feed.MaxTextLen+1)}}, http.StatusRequestEntityTooLarge},
		{"too many attachments", many, http.StatusRequestEntityTooLarge},
		{"the CSRF token after a file", []part{{name: "attachments", file: "a.jpg", data: []byte("x")}, tok}, http.StatusForbidden},
		{"no CSRF token", []part{{name: "text", data: []byte("hi")}}, http.StatusForbidden},
		{"a wrong CSRF token", []part{{name: "csrf", data: []byte(csrf[1:])}, {name: "text", data: []byte("hi")}}, http.StatusForbidden},
		{"nothing to post", []part{tok, {name: "text", data: []byte("  \r\n ")}}, http.StatusBadRequest},
		{"text not UTF-8", []part{tok, {name: "text", data: []byte{0xff, 0xfe}}}, http.StatusBadRequest},
		{"an unknown field", []part{tok, {name: "to", data: []byte("everyone")}}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		resp := u.upload(c, tc.parts...)
		var answer struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&answer)
		if resp.StatusCode != tc.code || answer.Error == "" {
			t.Errorf("%s: %s %q, want %d with a reason", tc.name, resp.Status, answer.Error, tc.code)
		}
	}
	if entries, _ := u.feed.Timeline(0); len(entries) != 0 {
		t.Fatalf("%d entries posted by refused requests", len(entries))
	}
	// Right at the limits it goes through.
	resp := u.upload(c, tok, part{name: "text", data: bytes.Repeat([]byte("a"), feed.MaxTextLen)},
		part{name: "attachments", file: "a.bin", data: big[:feed.MaxAttachmentBytes/2]},
		part{name: "attachments", file: "b.bin", data: big[:feed.MaxAttachmentBytes/2]})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a post at the limits: %s %s", resp.Status, readBody(t, resp))
	}
	// A plain form (no script) gets a page back, not JSON.
	body, ct := multipartBody(t, tok)
	resp = u.do(request{method: http.MethodPost, target: "/post", cookie: c, body: body,
		header: http.Header{"Content-Type": {ct}, "Origin": {"http://" + testHost}}})
	if page := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "nothing to post") {
		t.Errorf("a plain empty form: %s", resp.Status)
	}
}

// TestFriendsPage: the friend code as text and as a QR code that holds
// it; adding a friend by code, with clear errors for a typo or one's own.
func TestFriendsPage(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	c := u.login()
	id, _ := u.feed.Identity()
	body, csrf := u.page(c, "/friends")
	if !strings.Contains(body, id.FriendCode()) || !strings.Contains(body, `src="/friend-code.png"`) {
		t.Fatal("the friends page lacks the friend code or its QR code")
	}
	resp := u.do(request{target: "/friend-code.png", cookie: c})
	raw := readBody(t, resp)
	img, err := png.Decode(strings.NewReader(raw))
	if err != nil || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("the QR code: %s, %v", resp.Header.Get("Content-Type"), err)
	}
	want, _ := qr.Encode(id.FriendCode(), qr.M)
	if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() != (want.Size+8)*qrScale {
		t.Errorf("the QR code is %v, want a square of %d modules", b, want.Size+8)
	}
	// The image's modules are the code's: sample the centre of each.
	for y := 0; y < want.Size; y++ {
		for x := 0; x < want.Size; x++ {
			r, _, _, _ := img.At((x+4)*qrScale+qrScale/2, (y+4)*qrScale+qrScale/2).RGBA()
			if (r == 0) != want.Black(x, y) {
				t.Fatalf("module (%d, %d) differs from the friend code's QR code", x, y)
			}
		}
	}

	code := id.FriendCode()
	typo := code[:20] + string("QPZRY"[strings.IndexByte("QPZRY", code[20])+1%5]) + code[21:]
	if code[20] == 'Q' {
		typo = code[:20] + "P" + code[21:]
	}
	for input, wantText := range map[string]string{code: "your own friend code", typo: "does not check out", "hello": "does not check out"} {
		resp := u.form(c, "/friends", url.Values{"csrf": {csrf}, "code": {input}}, sameOriginHeaders())
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, wantText) {
			t.Errorf("adding %q: %s, want 400 saying %q", input, resp.Status, wantText)
		}
	}
}

// TestStatusPage shows what Status reports, and the last sync.
func TestStatusPage(t *testing.T) {
	u := newTestUI(t, "Alice", func(cfg *Config) {
		cfg.Status = func() Status {
			return Status{Connected: true, Gateway: "gateway-0", Tor: true, Directory: "epoch 7, 9 nodes, verified",
				Cover: true, RealOrDropRate: 2, LoopRate: 0.5, DropRate: 0.5, RealSent: 3, DropSent: 40, LoopSent: 11, Pending: 5}
		}
	})
	c := u.login()
	body, _ := u.page(c, "/status")
	for _, want := range []string{"connected to gateway-0", "Tor</th><td data-k=\"tor\">on", "epoch 7, 9 nodes",
		"on: 2 real-or-drop, 0.5 loop, 0.5 drop", "3 real, 40 drop, 11 loop", "5 packets waiting", "Last sync</th><td data-k=\"last_sync\">not yet", "Alice, 0 friends"} {
		if !strings.Contains(body, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	var st map[string]any
	resp := u.do(request{target: "/api/status", cookie: c})
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st["connected"] != true || st["pending"] != float64(5) {
		t.Errorf("/api/status: %v, %v", st, err)
	}
	// Without a Status func the feed is offline.
	off := newTestUI(t, "Bob", nil)
	body, _ = off.page(off.login(), "/status")
	if !strings.Contains(body, "offline") || !strings.Contains(body, "off: the gateway sees your IP address") {
		t.Error("an offline status page does not say so")
	}
}

// TestSyncJobs: a sync runs as a job whose progress and outcome the API
// and the pages report; syncs asked for while one runs join it.
func TestSyncJobs(t *testing.T) {
	u := newTestUI(t, "Alice", nil)
	c := u.login()
	_, csrf := u.page(c, "/")
	resp := u.form(c, "/sync", url.Values{"csrf": {csrf}}, sameOriginHeaders())
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/?job=") {
		t.Fatalf("POST /sync: %s to %q", resp.Status, loc)
	}
	id := strings.TrimPrefix(loc, "/?job=")
	v := u.waitJob(id)
	if v.State != jobFailed || !strings.Contains(v.Message, "offline") {
		t.Fatalf("an offline sync: %+v", v)
	}
	var api jobView
	resp = u.do(request{target: "/api/jobs/" + id, cookie: c})
	if err := json.NewDecoder(resp.Body).Decode(&api); err != nil || api != v {
		t.Fatalf("/api/jobs: %+v, %v", api, err)
	}
	if resp := u.do(request{target: "/api/jobs/nope", cookie: c}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown job: %s", resp.Status)
	}
	body, _ := u.page(c, loc)
	if !strings.Contains(body, "Sync incomplete") || !strings.Contains(body, "Last sync: ") || !strings.Contains(body, ", incomplete (0 new entries)") {
		t.Error("the timeline does not report the failed sync")
	}

	// A running sync is joined, not doubled.
	u.srv.mu.Lock()
	a := u.srv.startSyncLocked()
	b := u.srv.startSyncLocked()
	u.srv.mu.Unlock()
	if a != b {
		t.Error("two syncs at once")
	}
	u.waitJob(a.id)
}

// TestPeriodicSync: with SyncInterval set the UI syncs at start and then
// that long after each sync, by its clock; Close stops it.
func TestPeriodicSync(t *testing.T) {
	vclock := clock.NewVirtual(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	u := newTestUI(t, "Alice", func(cfg *Config) { cfg.SyncInterval = 30 * time.Second; cfg.Clock = vclock })
	syncs := func() int {
		u.srv.mu.Lock()
		defer u.srv.mu.Unlock()
		return len(u.srv.jobs.order)
	}
	waitIdle := func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			u.srv.mu.Lock()
			idle := u.srv.syncing == nil && u.srv.timer != nil
			u.srv.mu.Unlock()
			if idle {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the sync did not end")
			}
			time.Sleep(5 * time.Millisecond) // a test's poll
		}
	}
	waitIdle()
	if n := syncs(); n != 1 {
		t.Fatalf("%d syncs at start, want 1", n)
	}
	vclock.Advance(29 * time.Second)
	if n := syncs(); n != 1 {
		t.Fatalf("%d syncs before the interval, want 1", n)
	}
	vclock.Advance(time.Second)
	waitIdle()
	if n := syncs(); n != 2 {
		t.Fatalf("%d syncs after the interval, want 2", n)
	}
	u.srv.Close()
	vclock.Advance(time.Minute)
	if n := syncs(); n != 2 || vclock.Pending() != 0 {
		t.Fatalf("after Close: %d syncs, %d timers", n, vclock.Pending())
	}
	// A closed server starts no post.
	if _, err := u.srv.startPost("late", nil); !errors.Is(err, errClosed) {
		t.Fatalf("a post after Close: %v", err)
	}
}
