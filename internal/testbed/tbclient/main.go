// Command tbclient is the test bed's client program: it hosts several
// people in one process, each with their own feed store, gateway link and
// cover traffic — the same feed, mailbox and mixnet code the loam command
// runs — and does what the harness asks of them, one JSON request a line
// on stdin, one JSON response a line on stdout (package tbproto). It runs
// inside a network namespace of the bed; it is not for people.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"loam/cmd/loam/netfile"
	"loam/internal/clock"
	"loam/internal/testbed/tbproto"
	"loam/mailbox"
	"loam/mailbox/feed"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tbclient:", err)
		os.Exit(1)
	}
}

type options struct {
	dir, network, name, gateways, via string
	logLevel                          string
	users                             int
	retention, maxSkew                time.Duration
	retryBase, retryMax               time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.dir, "dir", "", "data directory: one subdirectory per person")
	flag.StringVar(&o.network, "network", "", "the network file")
	flag.StringVar(&o.name, "name", "c", "name prefix of the people")
	flag.IntVar(&o.users, "users", 1, "how many people")
	flag.StringVar(&o.gateways, "gateways", "", "comma-separated gateway names: person i uses gateway i mod n (empty: random)")
	flag.StringVar(&o.via, "via", "", "person 0 reaches each gateway through another address: ADDR=VIA,...")
	flag.DurationVar(&o.retention, "retention", 12*time.Hour, "feed retention")
	flag.DurationVar(&o.maxSkew, "max-skew", 10*time.Minute, "feed max clock skew")
	flag.DurationVar(&o.retryBase, "retry-base", mailbox.DefaultRetryPolicy.Base, "the mailbox client's first wait for an answer")
	flag.DurationVar(&o.retryMax, "retry-max", mailbox.DefaultRetryPolicy.Max, "the mailbox client's longest wait for an answer")
	flag.StringVar(&o.logLevel, "log-level", "warn", "debug, info (every operation and its time), warn or error")
	flag.Parse()
	if o.dir == "" || o.network == "" || o.users < 1 {
		return errors.New("-dir, -network and -users are required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	nf, err := netfile.Read(o.network)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &offsetClock{}
	var gws []string
	if o.gateways != "" {
		gws = strings.Split(o.gateways, ",")
	}
	users := make([]*user, o.users)
	errs := make([]error, o.users)
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			u := &user{name: fmt.Sprintf("%s-u%d", o.name, i)}
			if len(gws) > 0 {
				u.gateway = gws[i%len(gws)]
			}
			var via map[string]string
			if i == 0 && o.via != "" {
				via = parseVia(o.via)
			}
			errs[i] = u.open(ctx, filepath.Join(o.dir, fmt.Sprintf("u%d", i)), nf, clk, via, o, log)
			users[i] = u
		})
	}
	wg.Wait()
	defer func() {
		for _, u := range users {
			if u != nil {
				u.close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	out := &writer{enc: json.NewEncoder(os.Stdout)}
	ready := tbproto.Response{OK: true}
	for _, u := range users {
		id, err := u.feed.Identity()
		if err != nil {
			return err
		}
		ready.Ready = append(ready.Ready, tbproto.User{Name: id.Name(), Code: id.FriendCode(),
			Fingerprint: id.Public().Fingerprint(), Gateway: u.gatewayName()})
	}
	out.write(ready)

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	var ops sync.WaitGroup
	defer ops.Wait()
	for in.Scan() {
		var req tbproto.Request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			return fmt.Errorf("request %q: %w", in.Text(), err)
		}
		if req.Op == tbproto.OpQuit {
			cancel()
			ops.Wait()
			out.write(tbproto.Response{ID: req.ID, OK: true})
			return nil
		}
		ops.Go(func() {
			start := time.Now()
			before := realSent(users, req.User)
			resp := handle(ctx, users, clk, req)
			log.Info("op", "op", req.Op, "user", req.User, "took", time.Since(start).Round(time.Millisecond), "ok", resp.OK,
				"entries", len(resp.Entries), "entry", entryID(resp.Entry), "real", realSent(users, req.User)-before, "queued", queued(users, req.User), "expired", expired(users, req.User), "err", resp.Err)
			out.write(resp)
		})
	}
	return in.Err() // stdin closed: the harness is gone
}

// writer serialises responses.
type writer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *writer) write(r tbproto.Response) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.enc.Encode(r)
}

func parseVia(s string) map[string]string {
	m := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if from, to, ok := strings.Cut(pair, "="); ok {
			m[from] = to
		}
	}
	return m
}

// offsetClock is the real clock shifted by an offset the harness sets: it
// moves the feeds to a mailbox epoch's end, so that a rollover happens
// while the bed runs.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func (c *offsetClock) AfterFunc(d time.Duration, f func()) clock.Timer { return time.AfterFunc(d, f) }

// user is one person: store, gateway link, mailbox client and feed.
type user struct {
	name    string
	gateway string
	store   *feed.Store
	mc      *mixnet.Client
	mb      *mailbox.Client
	feed    *feed.Feed
}

func (u *user) open(ctx context.Context, dir string, nf *netfile.File, clk clock.Clock, via map[string]string, o options, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := feed.KeyFromFile(filepath.Join(dir, "store.key"), true)
	if err != nil {
		return err
	}
	u.store, err = feed.OpenStore(filepath.Join(dir, "store"), key)
	key.Wipe()
	if err != nil {
		return err
	}
	lk, err := link.GenerateKeyPair()
	if err != nil {
		return err
	}
	peers, err := nf.Peers()
	if err != nil {
		return err
	}
	fetcher := &directory.Fetcher{Authorities: peers, Threshold: nf.Threshold, CacheDir: filepath.Join(dir, "directory"),
		Client: &http.Client{Timeout: 5 * time.Second}, Logger: log}
	var transport link.Transport = link.TCP{}
	if via != nil {
		transport = viaTransport{via: via}
	}
	u.mc, err = mixnet.NewClient(mixnet.ClientConfig{Link: lk, Network: nf.Network(), Gateway: u.gateway,
		Directory: fetcher, Cover: true, Transport: transport, Logger: log.With("user", u.name)})
	if err != nil {
		return err
	}
	if err := connect(ctx, u.mc); err != nil {
		return fmt.Errorf("%s: %w", u.name, err)
	}
	policy := mailbox.DefaultRetryPolicy
	policy.Base, policy.Max = o.retryBase, o.retryMax
	policy.QueueDelay = u.mc.QueueDelay
	u.mb = mailbox.NewClient(u.mc, nil, policy)
	u.feed, err = feed.New(u.store, u.mb, feed.Config{EpochPeriod: nf.MailboxEpoch.Duration,
		Retention: o.retention, MaxSkew: o.maxSkew, Clock: clk, Logger: log.With("user", u.name)})
	if err != nil {
		return err
	}
	if _, err := u.feed.Identity(); errors.Is(err, feed.ErrNoIdentity) {
		_, err = u.feed.Init(u.name)
		return err
	} else if err != nil {
		return err
	}
	return nil
}

// connect starts the client, retrying while the network has no directory
// yet, and waits for its gateway link.
func connect(ctx context.Context, mc *mixnet.Client) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := mc.Start(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no directory: %w", err)
		}
		time.Sleep(500 * time.Millisecond) // a start-up retry pace, not protocol timing
	}
	for {
		if connected, _, _ := mc.Status(); connected {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("no gateway link within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (u *user) gatewayName() string {
	_, gw, _ := u.mc.Status()
	return gw
}

func (u *user) close() {
	if u.mc != nil {
		u.mc.Close()
	}
	if u.store != nil {
		u.store.Close()
	}
}

// viaTransport dials some addresses through others (the bed's tap).
type viaTransport struct {
	via map[string]string
	tcp link.TCP
}

func (t viaTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if to, ok := t.via[addr]; ok {
		addr = to
	}
	return t.tcp.Dial(ctx, addr)
}

func (t viaTransport) Listen(addr string) (net.Listener, error) { return t.tcp.Listen(addr) }

// handle runs one request.
func handle(ctx context.Context, users []*user, clk *offsetClock, req tbproto.Request) tbproto.Response {
	resp := tbproto.Response{ID: req.ID}
	if req.Op == tbproto.OpClock {
		clk.off.Store(int64(time.Duration(req.OffsetMS) * time.Millisecond))
		resp.OK = true
		return resp
	}
	if req.User < 0 || req.User >= len(users) {
		resp.Err = fmt.Sprintf("no user %d", req.User)
		return resp
	}
	u := users[req.User]
	if req.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	var err error
	switch req.Op {
	case tbproto.OpFriend:
		_, err = u.feed.AddFriend(req.Code)
	case tbproto.OpPost:
		var atts []feed.Attachment
		if req.Attach > 0 {
			data := make([]byte, req.Attach)
			rand.Read(data)
			atts = []feed.Attachment{{Name: "photo.bin", Type: "application/octet-stream", Data: data}}
		}
		var e *feed.Entry
		e, err = u.feed.Post(ctx, req.Text, atts, nil)
		if e != nil {
			resp.Entry = entryOf(e)
		}
	case tbproto.OpSync:
		before, _, _ := u.mc.CoverStatus()
		var es []*feed.Entry
		es, err = u.feed.Sync(ctx, nil)
		for _, e := range es {
			resp.Entries = append(resp.Entries, *entryOf(e))
		}
		after, _, _ := u.mc.CoverStatus()
		resp.Traffic = &tbproto.Traffic{Real: after.Real - before.Real}
	case tbproto.OpStatus:
		connected, gw, stale := u.mc.Status()
		st := &tbproto.Status{Connected: connected, Gateway: gw}
		if stale != nil {
			st.Stale = stale.Error()
		}
		if doc, derr := u.mc.Document(); derr == nil {
			st.Epoch = doc.Epoch
		}
		resp.Status = st
		if stats, _, ok := u.mc.CoverStatus(); ok {
			resp.Traffic = &tbproto.Traffic{Real: stats.Real, Drop: stats.Drop + stats.DropStream, Loop: stats.Loop}
		}
	case tbproto.OpCapCheck:
		resp.Check, err = capCheck(ctx, u)
	default:
		err = fmt.Errorf("unknown op %q", req.Op)
	}
	if err != nil {
		resp.Err = err.Error()
	} else {
		resp.OK = true
	}
	return resp
}

// realSent counts the real packets user's client has sent (every op of
// the user meanwhile counts too).
func realSent(users []*user, i int) uint64 {
	if i < 0 || i >= len(users) {
		return 0
	}
	stats, _, _ := users[i].mc.CoverStatus()
	return stats.Real
}

// queued and expired are user's real packets waiting for a slot now, and
// those discarded so far for waiting too long.
func queued(users []*user, i int) int {
	if i < 0 || i >= len(users) {
		return 0
	}
	stats, _, _ := users[i].mc.CoverStatus()
	return stats.Queued
}

func expired(users []*user, i int) uint64 {
	if i < 0 || i >= len(users) {
		return 0
	}
	stats, _, _ := users[i].mc.CoverStatus()
	return stats.Expired
}

func entryID(e *tbproto.Entry) string {
	if e == nil {
		return ""
	}
	return e.ID[:12]
}

func entryOf(e *feed.Entry) *tbproto.Entry {
	out := &tbproto.Entry{ID: e.ID.String(), Author: e.Author.Fingerprint(), Text: e.Text}
	for _, a := range e.Attachments {
		sum := sha256.Sum256(a.Data)
		out.Attachments = append(out.Attachments, hex.EncodeToString(sum[:]))
	}
	return out
}
