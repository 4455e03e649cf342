package webui

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"loam/internal/demo"
	"loam/internal/testnet"
	"loam/mailbox"
	"loam/mailbox/feed"
	"loam/mixnet"
	"loam/onion"
)

var updateScreenshot = flag.Bool("update-screenshot", false,
	"write the browser test's timeline screenshot to docs/ui-timeline.png (the README's picture)")

// readmeScreenshot is where -update-screenshot writes, from this package.
const readmeScreenshot = "../../../docs/ui-timeline.png"

// TestUIBrowserIntegration drives two people's web UIs with Debian's
// headless Chromium over an in-process network with three mailbox
// replicas: Alice and Bob exchange friend codes through their friends
// pages; Alice posts a text with a picture through her compose form; Bob
// syncs from his timeline and sees both, the picture loaded; Bob answers
// and Alice sees it. A browser without the token, a page reached under a
// foreign host name (DNS rebinding) and forms posted to Alice's UI from
// another site and from another port are all refused. It saves
// screenshots (to $LOAM_UI_SCREENSHOTS, else a temporary directory; with
// -update-screenshot also the README's docs/ui-timeline.png).
func TestUIBrowserIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole network and a browser: make test's integration step")
	}
	chromium := findChromium(t)
	shots := os.Getenv("LOAM_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	n := testnet.Start(t, testnet.Options{
		ServiceNodes: 3,
		Services: func(i int) map[string]mixnet.Service {
			svc := mailbox.NewService(mailbox.NewMemoryStore(mailbox.DefaultLimits, nil), onion.DefaultGeometry, 4, 4096, nil)
			t.Cleanup(svc.Close)
			return map[string]mixnet.Service{mailbox.ServiceName: svc}
		},
	})
	alice := startPerson(t, n, "Alice")
	bob := startPerson(t, n, "Bob")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var chromeOut lockedBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.WindowSize(1000, 820),
		chromedp.CombinedOutput(&chromeOut),
		// evil.example and attacker.example are other sites that resolve
		// to this machine, as a DNS rebinding attacker's name would.
		chromedp.Flag("host-resolver-rules", "MAP evil.example 127.0.0.1, MAP attacker.example 127.0.0.1"),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox refuses root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("starting %s: %v\n%s", chromium, err, chromeOut.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", chromeOut.String())
		}
	}()
	// Each person has a browser profile of their own.
	aliceTab, cancelA := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelA()
	bobTab, cancelB := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelB()
	openTab(t, aliceTab)
	openTab(t, bobTab)
	shoot := func(tab context.Context, name string) []byte {
		t.Helper()
		png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
		return png
	}
	start := time.Now()

	// Both open the URL `loam ui` would print; the token leaves the URL.
	for _, p := range []struct {
		tab context.Context
		who *person
	}{{aliceTab, alice}, {bobTab, bob}} {
		do(t, p.tab, chromedp.Navigate(p.who.base+"/?token="+p.who.token), chromedp.WaitVisible(chromedp.CSS("#sync-button")))
		if loc := run(t, p.tab, chromedp.Location()); loc != p.who.base+"/" {
			t.Fatalf("after the token exchange the browser is at %s", loc)
		}
	}

	// They exchange friend codes through their friends pages.
	do(t, aliceTab, chromedp.Navigate(alice.base+"/friends"), chromedp.WaitVisible(chromedp.CSS("#my-code")))
	do(t, bobTab, chromedp.Navigate(bob.base+"/friends"), chromedp.WaitVisible(chromedp.CSS("#my-code")))
	aliceCode := strings.TrimSpace(run(t, aliceTab, chromedp.Text(chromedp.CSS("#my-code"))))
	bobCode := strings.TrimSpace(run(t, bobTab, chromedp.Text(chromedp.CSS("#my-code"))))
	if want := alice.me(t).FriendCode(); aliceCode != want {
		t.Fatalf("Alice's page shows the code %q, want %q", aliceCode, want)
	}
	qrWidth := run(t, aliceTab, chromedp.Evaluate[int](`document.querySelector("img.qr").naturalWidth`))
	if qrWidth < 100 {
		t.Fatalf("the QR code did not load (natural width %d)", qrWidth)
	}
	addFriend(t, aliceTab, bobCode, "Added Bob.")
	shoot(aliceTab, "alice-friends.png")
	addFriend(t, bobTab, aliceCode, "Added Alice.")

	// Alice posts a text with a picture through her compose form.
	picture, err := demo.Picture(60 << 10)
	if err != nil {
		t.Fatal(err)
	}
	picPath := filepath.Join(t.TempDir(), "first-blossom.jpg")
	if err := os.WriteFile(picPath, picture, 0o600); err != nil {
		t.Fatal(err)
	}
	const text = "First blossom on the old oak by the river, 7:42 this morning."
	do(t, aliceTab,
		chromedp.Navigate(alice.base+"/compose"),
		chromedp.WaitVisible(chromedp.CSS("#text")),
		chromedp.SendKeys(chromedp.CSS("#text"), text),
		chromedp.SetUploadFiles(chromedp.CSS("#attachments"), []string{picPath}),
	)
	waitFor(t, aliceTab, `document.getElementById("attach-info").textContent.startsWith("1 file")`)
	shoot(aliceTab, "alice-compose.png")
	do(t, aliceTab, chromedp.Click(chromedp.CSS("#post-button")))
	waitJob(t, aliceTab, "Posted.")
	postedAt := time.Since(start)
	// The page followed the post packet by packet: the job's progress
	// ends with every packet of the picture and the header sent.
	progress := run(t, aliceTab, chromedp.Evaluate[[2]int](`fetch("/api/jobs/" + document.getElementById("job").dataset.job)
		.then(r => r.json()).then(j => [j.done, j.total])`, chromedp.EvalAwaitPromise))
	if progress[0] != progress[1] || progress[1] < len(picture)/onion.DefaultGeometry.UserPayload {
		t.Fatalf("the post's progress ended at %d of %d packets", progress[0], progress[1])
	}
	entries, err := alice.feed.Timeline(0)
	if err != nil || len(entries) != 1 || entries[0].Text != text || len(entries[0].Attachments) != 1 ||
		!bytes.Equal(entries[0].Attachments[0].Data, picture) || entries[0].Attachments[0].Type != "image/jpeg" {
		t.Fatalf("Alice's feed after posting through the UI: %d entries, %v", len(entries), err)
	}
	checkEntryShown(t, aliceTab, text)

	// Bob syncs from his timeline and sees the text and the picture.
	do(t, bobTab, chromedp.Navigate(bob.base+"/"), chromedp.WaitVisible(chromedp.CSS("#sync-button")))
	do(t, bobTab, chromedp.Click(chromedp.CSS("#sync-button")))
	waitJob(t, bobTab, "Synced: 1 new entry.")
	checkEntryShown(t, bobTab, text)
	syncedAt := time.Since(start)

	// Bob answers; Alice's sync brings it.
	const answer = "Lovely! The heron was back at the weir today."
	do(t, bobTab,
		chromedp.Navigate(bob.base+"/compose"),
		chromedp.WaitVisible(chromedp.CSS("#text")),
		chromedp.SendKeys(chromedp.CSS("#text"), answer),
		chromedp.Click(chromedp.CSS("#post-button")),
	)
	waitJob(t, bobTab, "Posted.")
	do(t, bobTab, chromedp.Navigate(bob.base+"/"), chromedp.WaitVisible(chromedp.CSS("#sync-button")))
	png := shoot(bobTab, "bob-timeline.png")
	if *updateScreenshot {
		if err := os.WriteFile(readmeScreenshot, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", readmeScreenshot)
	}
	do(t, aliceTab, chromedp.Navigate(alice.base+"/"), chromedp.WaitVisible(chromedp.CSS("#sync-button")),
		chromedp.Click(chromedp.CSS("#sync-button")))
	waitJob(t, aliceTab, "Synced: 1 new entry.")
	waitFor(t, aliceTab, fmt.Sprintf(`[...document.querySelectorAll(".entry .text")].some(e => e.textContent === %q)`, answer))
	shoot(aliceTab, "alice-timeline.png")

	// Markup in a friend's post stays text: Bob's hostile post reaches
	// Alice's page as characters, and nothing of it runs.
	const hostile = `<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold?</b>`
	do(t, bobTab,
		chromedp.Navigate(bob.base+"/compose"),
		chromedp.WaitVisible(chromedp.CSS("#text")),
		chromedp.SetValue(chromedp.CSS("#text"), hostile),
		chromedp.Click(chromedp.CSS("#post-button")),
	)
	waitJob(t, bobTab, "Posted.")
	do(t, aliceTab, chromedp.Navigate(alice.base+"/"), chromedp.WaitVisible(chromedp.CSS("#sync-button")),
		chromedp.Click(chromedp.CSS("#sync-button")))
	waitJob(t, aliceTab, "Synced: 1 new entry.")
	waitFor(t, aliceTab, fmt.Sprintf(`[...document.querySelectorAll(".entry .text")].some(e => e.textContent === %q)`, hostile))
	if got := run(t, aliceTab, chromedp.Evaluate[string](
		`String(window.pwned) + " " + document.querySelectorAll("main script, .entry .text *").length`)); got != "undefined 0" {
		t.Fatalf("Bob's markup became elements on Alice's page (pwned, elements: %s)", got)
	}
	do(t, aliceTab, chromedp.Navigate(alice.base+"/status"), chromedp.WaitVisible(chromedp.CSS("#status")))
	if st := run(t, aliceTab, chromedp.Text(chromedp.CSS("#status"))); !strings.Contains(st, "connected to gateway-0") || !strings.Contains(st, "1 new entry") {
		t.Errorf("Alice's status page: %q", st)
	}
	shoot(aliceTab, "alice-status.png")

	// A browser without the token is refused.
	stranger, cancelS := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelS()
	openTab(t, stranger)
	resp := run(t, stranger, chromedp.NavigateResponse(alice.base+"/"))
	if body := run(t, stranger, chromedp.Text(chromedp.CSS("body"))); resp.Status != http.StatusForbidden || !strings.Contains(body, "Loam refused") {
		t.Errorf("no token: %d %q, want 403", resp.Status, body)
	}
	// A foreign host name is refused, even with the token in the URL: a
	// page of evil.example whose name now resolves to 127.0.0.1 cannot
	// read or drive Alice's UI.
	resp = run(t, stranger, chromedp.NavigateResponse(strings.Replace(alice.base, "127.0.0.1", "evil.example", 1)+"/?token="+alice.token))
	if body := run(t, stranger, chromedp.Text(chromedp.CSS("body"))); resp.Status != http.StatusMisdirectedRequest || !strings.Contains(body, "Host header") {
		t.Errorf("a foreign Host: %d %q, want 421", resp.Status, body)
	}
	// Forms posted to Alice's UI from another site, and from another port
	// of 127.0.0.1 (same-site, so her cookie goes along), are refused.
	mallory := newOfflineFeed(t, "Mallory")
	mid, _ := mallory.Identity()
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/friends">
<input type="hidden" name="csrf" value="guess"><input type="hidden" name="code" value="%s">
<button id="go" type="submit">Win a prize</button></form>`, alice.base, mid.FriendCode())
	}))
	defer attacker.Close()
	_, port, _ := net.SplitHostPort(attacker.Listener.Addr().String())
	for _, origin := range []string{"http://attacker.example:" + port, attacker.URL} {
		do(t, aliceTab, chromedp.Navigate(origin+"/"), chromedp.WaitVisible(chromedp.CSS("#go")))
		clickCtx, cancelClick := context.WithTimeout(aliceTab, stepTimeout)
		resp, err := chromedp.RunResponse(clickCtx, chromedp.Click(chromedp.CSS("#go")))
		cancelClick()
		if err != nil {
			t.Fatalf("the form from %s: %v", origin, err)
		}
		body := run(t, aliceTab, chromedp.Text(chromedp.CSS("body")))
		if resp.Status != http.StatusForbidden || !strings.Contains(body, "Loam refused") {
			t.Errorf("a POST from %s: %d %q, want 403", origin, resp.Status, body)
		}
	}
	if friends, _ := alice.feed.Friends(); len(friends) != 1 || friends[0].Name != "Bob" {
		t.Fatalf("Alice's friends after the forged posts: %v", friends)
	}
	t.Logf("posted after %v, synced after %v, all done after %v", postedAt.Round(time.Millisecond),
		syncedAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// person is one user: a client of the test network, their feed and their
// web UI on a loopback port.
type person struct {
	feed  *feed.Feed
	base  string // http://127.0.0.1:PORT
	token string
}

func (p *person) me(t *testing.T) *feed.Identity {
	id, err := p.feed.Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func startPerson(t *testing.T, n *testnet.Network, name string) *person {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("user", name)
	mc := n.NewClient(t)
	n.WaitReady(t, mc)
	mb := mailbox.NewClient(mc, nil, mailbox.RetryPolicy{Attempts: 12, Base: 500 * time.Millisecond, Max: 4 * time.Second})
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
	// Short mailbox epochs, as the feed's own network tests use.
	f, err := feed.New(store, mb, feed.Config{EpochPeriod: 10 * time.Second, MaxSkew: 2 * time.Second, Retention: time.Minute, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Init(name); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	token, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	ui, err := New(Config{Feed: f, Addr: ln.Addr().String(), Token: token, Logger: log,
		Status: func() Status { return ClientStatus(mc, false) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ui, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); ui.Close() })
	return &person{feed: f, base: "http://" + ln.Addr().String(), token: token}
}

// addFriend adds a friend by code through the friends page.
func addFriend(t *testing.T, tab context.Context, code, want string) {
	t.Helper()
	do(t, tab,
		chromedp.SetValue(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("#add-button")),
		chromedp.WaitVisible(chromedp.CSS("#added")),
	)
	if got := run(t, tab, chromedp.Text(chromedp.CSS("#added"))); !strings.HasPrefix(got, want) {
		t.Fatalf("adding a friend: %q, want %q", got, want)
	}
}

// waitJob waits until the timeline's job banner reports the job done with
// message want (the page reloads itself when the job ends).
func waitJob(t *testing.T, tab context.Context, want string) {
	t.Helper()
	waitFor(t, tab, `(() => { const j = document.getElementById("job"); return j !== null && j.dataset.state !== "running"; })()`)
	state := run(t, tab, chromedp.Evaluate[string](`document.getElementById("job").dataset.state`))
	msg := run(t, tab, chromedp.Text(chromedp.CSS("#job-message")))
	if state != jobDone || msg != want {
		t.Fatalf("the job ended %s: %q, want %q", state, msg, want)
	}
}

// checkEntryShown checks that the timeline shows an entry with text and
// a picture the browser actually decoded.
func checkEntryShown(t *testing.T, tab context.Context, text string) {
	t.Helper()
	waitFor(t, tab, fmt.Sprintf(`[...document.querySelectorAll(".entry")].some(e => {
		const p = e.querySelector(".text"), img = e.querySelector("figure img");
		return p !== null && p.textContent === %q && img !== null && img.complete && img.naturalWidth === 720 && img.naturalHeight === 480;
	})`, text))
	// The text's markup stayed text: no script element came of it.
	if n := run(t, tab, chromedp.Evaluate[int](`document.querySelectorAll("main script").length`)); n != 0 {
		t.Fatalf("%d script elements in the timeline", n)
	}
}

// waitFor evaluates expr until it is true; it survives the page's own
// reloads and navigations.
func waitFor(t *testing.T, tab context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for {
		ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(tab, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("waiting for %s: %v; the page says:\n%s", expr, lastErr, body)
		}
		time.Sleep(100 * time.Millisecond) // a test's poll
	}
}

// openTab opens a context's tab. It must happen on the context itself:
// the context a tab's first action runs on owns the tab, and the steps'
// contexts with their timeouts would close it.
func openTab(t *testing.T, tab context.Context) {
	t.Helper()
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
}

// stepTimeout bounds one browser step, so a page that never shows what
// a step waits for fails the test with the page's text.
const stepTimeout = 30 * time.Second

func do(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		body, _ := chromedp.Run(tab, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%v; the page says:\n%s", err, body)
	}
}

func run[T any](t *testing.T, tab context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// findChromium returns the browser to drive: $LOAM_CHROMIUM, else
// Debian's chromium. A run without one fails, so a green run means the
// browser really ran.
func findChromium(t *testing.T) string {
	if p := os.Getenv("LOAM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium for the browser test: install Debian's with `apt-get install -y chromium` " +
		"(.ci/run does), or point LOAM_CHROMIUM at a Chromium or Chrome binary")
	return ""
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// lockedBuffer collects Chromium's output from its own goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
