package feed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"loam/internal/clock"
	"loam/internal/testnet"
	"loam/mailbox"
	"loam/mixnet"
	"loam/onion"
)

// countingStore wraps a replica's store and records every distinct blob
// deposited, so tests can count the packets a post costs and look for
// plaintext in what replicas hold.
type countingStore struct {
	mailbox.Store
	mu    sync.Mutex
	seen  map[[32]byte]bool // SHA-256 of id ‖ blob
	blobs [][]byte
	ids   map[mailbox.ID]int // distinct deposits per mailbox id
	// requests served (retransmissions included)
	fetches, deletes int
}

func newCountingStore() *countingStore {
	return &countingStore{Store: mailbox.NewMemoryStore(mailbox.DefaultLimits, nil),
		seen: map[[32]byte]bool{}, ids: map[mailbox.ID]int{}}
}

func (c *countingStore) Deposit(id mailbox.ID, blob []byte) (uint64, error) {
	seq, err := c.Store.Deposit(id, blob)
	if err != nil {
		return seq, err
	}
	h := sha256.Sum256(append(append([]byte(nil), id[:]...), blob...))
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen[h] { // a retransmitted deposit is one packet's worth of data
		c.seen[h] = true
		c.blobs = append(c.blobs, bytes.Clone(blob))
		c.ids[id]++
	}
	return seq, nil
}

func (c *countingStore) Fetch(id mailbox.ID, cursor uint64, max int) ([]mailbox.Entry, uint64, error) {
	c.mu.Lock()
	c.fetches++
	c.mu.Unlock()
	return c.Store.Fetch(id, cursor, max)
}

func (c *countingStore) Delete(id mailbox.ID, upTo uint64) (uint64, error) {
	c.mu.Lock()
	c.deletes++
	c.mu.Unlock()
	return c.Store.Delete(id, upTo)
}

func (c *countingStore) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// holds returns how many entries the store holds under id now.
func (c *countingStore) holds(t testing.TB, id mailbox.ID) int {
	entries, _, err := c.Store.Fetch(id, 1, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

type replicas []*countingStore

func (r replicas) distinct() int {
	n := 0
	for _, s := range r {
		n += s.distinct()
	}
	return n
}

// requests returns the fetches and deletes the replicas have served.
func (r replicas) requests() (fetches, deletes int) {
	for _, s := range r {
		s.mu.Lock()
		fetches += s.fetches
		deletes += s.deletes
		s.mu.Unlock()
	}
	return fetches, deletes
}

func (r replicas) holds(t testing.TB, id mailbox.ID) int {
	n := 0
	for _, s := range r {
		n += s.holds(t, id)
	}
	return n
}

func (r replicas) idsUsed() map[mailbox.ID]int {
	out := map[mailbox.ID]int{}
	for _, s := range r {
		s.mu.Lock()
		for id, n := range s.ids {
			out[id] += n
		}
		s.mu.Unlock()
	}
	return out
}

// feedNetwork starts a test network whose three service nodes are mailbox
// replicas over counting stores.
func feedNetwork(t *testing.T) (*testnet.Network, replicas) {
	stores := make(replicas, 3)
	n := testnet.Start(t, testnet.Options{
		ServiceNodes: 3,
		Services: func(i int) map[string]mixnet.Service {
			stores[i] = newCountingStore()
			svc := mailbox.NewService(stores[i], onion.DefaultGeometry, 4, 4096, nil)
			t.Cleanup(svc.Close)
			return map[string]mixnet.Service{mailbox.ServiceName: svc}
		},
	})
	return n, stores
}

// testUser is one person: a store, a mailbox client and a feed.
type testUser struct {
	name  string
	dir   string
	key   StoreKey
	store *Store
	mb    *mailbox.Client
	feed  *Feed
	cfg   Config
}

// tWriter sends a feed's log lines to the test's log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func newTestUser(t *testing.T, n *testnet.Network, name string, cfg Config) *testUser {
	cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil)).With("user", name)
	mc := n.NewClient(t)
	n.WaitReady(t, mc)
	u := &testUser{name: name, dir: t.TempDir(), key: newKey(t), cfg: cfg,
		mb: mailbox.NewClient(mc, nil, mailbox.RetryPolicy{Attempts: 12, Base: 500 * time.Millisecond, Max: 4 * time.Second})}
	u.open(t)
	if _, err := u.feed.Init(name); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u *testUser) open(t *testing.T) {
	u.store = openStore(t, u.dir, u.key)
	f, err := New(u.store, u.mb, u.cfg)
	if err != nil {
		t.Fatal(err)
	}
	u.feed = f
	t.Cleanup(func() { u.store.Close() })
}

// restart closes the user's store and feed and opens them again, as a new
// process would.
func (u *testUser) restart(t *testing.T) {
	if err := u.store.Close(); err != nil {
		t.Fatal(err)
	}
	u.open(t)
}

func (u *testUser) me(t *testing.T) *Identity {
	id, err := u.feed.Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func befriend(t *testing.T, a, b *testUser) {
	if _, err := a.feed.AddFriend(b.me(t).FriendCode()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.feed.AddFriend(a.me(t).FriendCode()); err != nil {
		t.Fatal(err)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// expectedDeposits is what SPEC.md §9.8 says a post of content bytes to n
// friends costs: k data and ⌈k/2⌉ parity fragments of the content, and a
// one-fragment header with one parity fragment per friend.
func expectedDeposits(g onion.Geometry, content, friends int) (k, total int) {
	shard := mailbox.ShardLen(g)
	k = (content + sealOverhead + shard - 1) / shard
	return k, k + (k+1)/2 + 2*friends
}

// TestFeedIntegration runs Alice, Bob, Carol and Dave over a network with
// three mailbox replicas: Alice posts a sentence and a 200 KiB picture to
// three friends, each friend reads both intact exactly once, the post costs
// the packets the design says, and the replicas never see the text or the
// picture.
func TestFeedIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole network: make test's integration step")
	}
	n, stores := feedNetwork(t)
	vclock := clock.NewVirtual(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	cfg := Config{EpochPeriod: 10 * time.Second, MaxSkew: 2 * time.Second, Retention: time.Minute, Clock: vclock}
	alice := newTestUser(t, n, "Alice", cfg)
	bob := newTestUser(t, n, "Bob", cfg)
	carol := newTestUser(t, n, "Carol", cfg)
	dave := newTestUser(t, n, "Dave", cfg)
	befriend(t, alice, bob)
	befriend(t, alice, carol)
	// Dave is Alice's friend, but he adds her only after she posts.
	if _, err := alice.feed.AddFriend(dave.me(t).FriendCode()); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)

	picture := make([]byte, 200<<10)
	rand.Read(picture)
	text := "The first blossom on the old oak by the river, 7:42 this morning."
	before := stores.distinct()
	var last [2]int
	var calls int
	post, err := alice.feed.Post(ctx, text, []Attachment{{Name: "oak.jpg", Type: "image/jpeg", Data: picture}},
		func(done, total int) { calls++; last = [2]int{done, total} })
	if err != nil {
		t.Fatal(err)
	}
	deposits := stores.distinct() - before

	// The packet count.
	content, err := alice.feed.Entry(post.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := encodeEntry(content.Author.Sign, content.Time, content.Text, content.Attachments)
	k, want := expectedDeposits(n.Params.Geometry(), len(raw)+sigLen, 3)
	naive := 3 * (k + (k+1)/2)
	t.Logf("post of %d bytes to 3 friends: %d deposits (k = %d, formula %d; one copy per friend would be %d)",
		len(raw)+sigLen, deposits, k, want, naive+6)
	if deposits != want {
		t.Fatalf("the post cost %d deposits, want %d", deposits, want)
	}
	if last[0] != last[1] || last[1] != want || calls < want {
		t.Fatalf("progress ended at %v after %d calls, want %d of %d", last, calls, want, want)
	}

	// Bob reads it, intact.
	f0, d0 := stores.requests()
	got, err := bob.feed.Sync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	f1, d1 := stores.requests()
	t.Logf("Bob's sync: %d fetches, %d deletes served", f1-f0, d1-d0)
	// The content came from two replicas: k fetches for it, not all k + m
	// fragments (the rest of the sync's fetches scan the mailboxes).
	if all := k + (k+1)/2; f1-f0 >= all {
		t.Errorf("Bob's sync made %d fetches; reading every fragment of the content alone takes %d", f1-f0, all)
	}
	checkPost(t, got, alice.me(t).Public(), text, picture)
	if again, err := bob.feed.Sync(ctx, nil); err != nil || len(again) != 0 {
		t.Fatalf("a second sync: %d entries, %v", len(again), err)
	}
	f2, d2 := stores.requests()
	t.Logf("Bob's second sync: %d fetches, %d deletes served", f2-f1, d2-d1)
	tl, err := bob.feed.Timeline(10)
	if err != nil || len(tl) != 1 || tl[0].ID != post.ID || tl[0].Author.Name != "Alice" {
		t.Fatalf("Bob's timeline: %v %v", tl, err)
	}
	// After Bob's two syncs his header is gone from the pairwise mailbox
	// (mailbox.Receiver leaves the fragment that completed a message until
	// the next sync finds it delivered); the content stays for the others,
	// as Bob could not delete it.
	pair, _ := pairSecret(alice.me(t), bob.me(t).Public())
	ab := pairMailbox(&pair, alice.me(t).pub.Sign, bob.me(t).pub.Sign, EpochAt(vclock.Now(), cfg.EpochPeriod))
	if held := stores.holds(t, ab.Cap.ID()); held != 0 {
		t.Fatalf("the mailbox Alice → Bob still holds %d entries after Bob's syncs", held)
	}
	h := contentBox(t, alice, post.ID)
	if held := stores.holds(t, h); held != k+(k+1)/2 {
		t.Fatalf("the content box holds %d fragments, want %d", held, k+(k+1)/2)
	}

	// Carol reads it too.
	got, err = carol.feed.Sync(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkPost(t, got, alice.me(t).Public(), text, picture)

	// No replica ever saw the text or the picture.
	for i, s := range stores {
		s.mu.Lock()
		for _, b := range s.blobs {
			if containsAny(b, text, picture) {
				t.Fatalf("replica %d holds the post in the clear", i)
			}
		}
		s.mu.Unlock()
	}
	// Nor do Bob's files.
	if raw, _ := rawFiles(t, bob.dir); containsAny(raw, text, picture) {
		t.Fatal("Bob's store holds the post in the clear")
	}

	// Next mailbox epoch: Alice's header goes to a new mailbox id.
	idsBefore := stores.idsUsed()
	vclock.Advance(cfg.EpochPeriod)
	second, err := alice.feed.Post(ctx, "Still blooming.", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ab2 := pairMailbox(&pair, alice.me(t).pub.Sign, bob.me(t).pub.Sign, EpochAt(vclock.Now(), cfg.EpochPeriod))
	if ab2.Cap.ID() == ab.Cap.ID() || idsBefore[ab2.Cap.ID()] != 0 || stores.idsUsed()[ab2.Cap.ID()] != 2 {
		t.Fatal("the second epoch's header did not go to a fresh mailbox id")
	}

	// Bob restarts before reading it: he gets it exactly once.
	bob.restart(t)
	got, err = bob.feed.Sync(ctx, nil)
	if err != nil || len(got) != 1 || got[0].ID != second.ID || got[0].Text != "Still blooming." {
		t.Fatalf("Bob after a restart: %v, %v", got, err)
	}
	bob.restart(t)
	if again, err := bob.feed.Sync(ctx, nil); err != nil || len(again) != 0 {
		t.Fatalf("Bob's sync after another restart: %d entries, %v", len(again), err)
	}

	// Dave adds Alice late and still finds both posts in the mailboxes of
	// the epochs the replicas keep.
	if _, err := dave.feed.AddFriend(alice.me(t).FriendCode()); err != nil {
		t.Fatal(err)
	}
	var progressed [2]int
	got, err = dave.feed.Sync(ctx, func(done, total int) { progressed = [2]int{done, total} })
	if err != nil || len(got) != 2 {
		t.Fatalf("Dave's first sync: %d entries, %v", len(got), err)
	}
	if progressed[0] != progressed[1] || progressed[1] < 2 {
		t.Fatalf("Dave's progress ended at %v", progressed)
	}

	// Alice's own timeline holds both, newest first.
	tl, err = alice.feed.Timeline(0)
	if err != nil || len(tl) != 2 || tl[0].ID != second.ID || tl[1].ID != post.ID {
		t.Fatalf("Alice's timeline: %v %v", tl, err)
	}

	// Alice retracts the first post: its content leaves the replicas.
	if err := alice.feed.Retract(ctx, post.ID); err != nil {
		t.Fatal(err)
	}
	if held := stores.holds(t, h); held != 0 {
		t.Fatalf("the retracted content box still holds %d fragments", held)
	}
}

func checkPost(t *testing.T, got []*Entry, author Public, text string, picture []byte) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%d entries, want 1", len(got))
	}
	e := got[0]
	if e.Author != author || e.Text != text || len(e.Attachments) != 1 ||
		e.Attachments[0].Name != "oak.jpg" || e.Attachments[0].Type != "image/jpeg" || !bytes.Equal(e.Attachments[0].Data, picture) {
		t.Fatalf("the entry arrived altered: %v %q", e.Author, e.Text)
	}
}

// contentBox returns the content box id of one of u's own posts.
func contentBox(t *testing.T, u *testUser, id EntryID) mailbox.ID {
	v, err := u.store.get(key(kindOwnPost, id[:]))
	if err != nil || v == nil {
		t.Fatalf("no own post record: %v", err)
	}
	box, err := decodeOwnPost(v)
	if err != nil {
		t.Fatal(err)
	}
	return box.Cap.ID()
}

// TestFeedNetwork is the small network test that runs under -short and the
// race detector: Alice posts text and a small photo to Bob, Bob reads it
// once (also across a restart), and a header in Alice's mailbox to Bob that
// names content signed by someone else — even content claiming Alice as
// author — gives Bob nothing but an ErrBadSignature, once.
func TestFeedNetwork(t *testing.T) {
	n, stores := feedNetwork(t)
	// The feeds' clock stands still: every header goes to one epoch's
	// mailbox, whatever the test's pace.
	vclock := clock.NewVirtual(time.Now())
	cfg := Config{EpochPeriod: 10 * time.Second, Retention: time.Minute, Clock: vclock}
	alice := newTestUser(t, n, "Alice", cfg)
	bob := newTestUser(t, n, "Bob", cfg)
	befriend(t, alice, bob)
	ctx := testCtx(t)

	photo := make([]byte, 3000)
	rand.Read(photo)
	before := stores.distinct()
	post, err := alice.feed.Post(ctx, "Hello, Bob.", []Attachment{{Name: "oak.jpg", Type: "image/jpeg", Data: photo}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	content, _ := alice.feed.Entry(post.ID)
	raw, _ := encodeEntry(content.Author.Sign, content.Time, content.Text, content.Attachments)
	if _, want := expectedDeposits(n.Params.Geometry(), len(raw)+sigLen, 1); stores.distinct()-before != want {
		t.Fatalf("the post cost %d deposits, want %d", stores.distinct()-before, want)
	}
	bob.restart(t)
	got, err := bob.feed.Sync(ctx, nil)
	if err != nil || len(got) != 1 || got[0].Text != "Hello, Bob." || !bytes.Equal(got[0].Attachments[0].Data, photo) {
		t.Fatalf("Bob's sync: %v %v", got, err)
	}
	bob.restart(t)
	if again, err := bob.feed.Sync(ctx, nil); err != nil || len(again) != 0 {
		t.Fatalf("Bob's second sync: %d entries, %v", len(again), err)
	}

	// The forgery: content Mallory signed, naming Alice as author, put
	// where a header in Alice's mailbox points — what a leaked content key
	// or a friend turned hostile could bring about.
	mallory := newIdentity(t, "Mallory")
	raw, _ = encodeEntry(alice.me(t).pub.Sign, time.Now(), "I owe Mallory 100 coins", nil)
	forged := append(raw, mallory.signEntry(raw)...)
	var seed [keyLen]byte
	rand.Read(seed[:])
	box := &mailbox.Box{Cap: mailbox.NewCapability(seed)}
	rand.Read(box.Key[:])
	coded, err := mailbox.Fragments(alice.mb.Geometry(), box, forged, halfParity)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.feed.deposit(ctx, box.Cap, coded, &progress{}); err != nil {
		t.Fatal(err)
	}
	h := &header{Box: box.Cap.ID(), Key: box.Key, Entry: entryID(raw), Size: len(forged)}
	fr := &friend{Public: bob.me(t).Public()}
	if err := alice.feed.sendHeader(ctx, alice.me(t), fr, h.Entry, h, &progress{}); err != nil {
		t.Fatal(err)
	}
	got, err = bob.feed.Sync(ctx, nil)
	if len(got) != 0 || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a forged entry: %d entries, %v", len(got), err)
	}
	if got, err := bob.feed.Sync(ctx, nil); len(got) != 0 || err != nil {
		t.Fatalf("after the forgery: %d entries, %v", len(got), err)
	}
	pending := 0
	bob.store.scan(key(kindPending), false, true, func(k, _ []byte) (bool, error) { pending++; return true, nil })
	if pending != 0 {
		t.Fatalf("%d pending headers left", pending)
	}
	if tl, err := bob.feed.Timeline(0); err != nil || len(tl) != 1 {
		t.Fatalf("Bob's timeline: %d entries, %v", len(tl), err)
	}

	// A post whose header did not leave: its content is stored and the
	// outbox holds the header, as Post leaves it when a friend cannot be
	// reached. Alice's next sync sends it; Bob then reads the post.
	me := alice.me(t)
	now := time.Now()
	raw, _ = encodeEntry(me.pub.Sign, now, "Sent late.", nil)
	late := append(raw, me.signEntry(raw)...)
	lateEntry, _ := openContent(late, me.pub)
	rand.Read(seed[:])
	box = &mailbox.Box{Cap: mailbox.NewCapability(seed)}
	rand.Read(box.Key[:])
	if coded, err = mailbox.Fragments(alice.mb.Geometry(), box, late, halfParity); err != nil {
		t.Fatal(err)
	}
	if err := alice.feed.deposit(ctx, box.Cap, coded, &progress{}); err != nil {
		t.Fatal(err)
	}
	h = &header{Box: box.Cap.ID(), Key: box.Key, Entry: lateEntry.ID, Size: len(late)}
	err = alice.store.update(func(txn *badger.Txn) error {
		if err := putEntry(txn, lateEntry, late, now); err != nil {
			return err
		}
		return txn.Set(key(kindOutbox, bob.me(t).pub.Sign[:], lateEntry.ID[:]), encodeHeaderRecord(now, h))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := alice.feed.Sync(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("Alice's sync: %d entries, %v", len(got), err)
	}
	outbox := 0
	alice.store.scan(key(kindOutbox), false, true, func(k, _ []byte) (bool, error) { outbox++; return true, nil })
	if outbox != 0 {
		t.Fatalf("%d headers left in Alice's outbox", outbox)
	}
	if got, err := bob.feed.Sync(ctx, nil); err != nil || len(got) != 1 || got[0].Text != "Sent late." {
		t.Fatalf("Bob's sync after Alice's: %v, %v", got, err)
	}

	// Bob crashes after storing a header but before deleting it from the
	// mailbox: after the restart he gets the post once, and the mailbox is
	// emptied.
	if _, err := alice.feed.Post(ctx, "Crash test.", nil, nil); err != nil {
		t.Fatal(err)
	}
	pair, _ := pairSecret(bob.me(t), alice.me(t).Public())
	e := EpochAt(vclock.Now(), cfg.EpochPeriod)
	full := pairMailbox(&pair, alice.me(t).pub.Sign, bob.me(t).pub.Sign, e)
	r := bob.mb.NewReceiver(&mailbox.Box{Cap: mailbox.ReadOnly(full.Cap.ID()), Key: full.Key})
	r.Seen = func(m mailbox.MessageID) bool {
		ok, _ := bob.store.has(deliveredKey(e, full.Cap.ID(), m))
		return ok
	}
	msgs, err := r.Sync(ctx)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("reading the header: %d, %v", len(msgs), err)
	}
	if err := bob.feed.storeHeaders(&friend{Public: alice.me(t).Public()}, e, full.Cap.ID(), msgs); err != nil {
		t.Fatal(err)
	}
	bob.restart(t)
	if stores.holds(t, full.Cap.ID()) == 0 {
		t.Fatal("the mailbox is empty before Bob's sync")
	}
	if got, err := bob.feed.Sync(ctx, nil); err != nil || len(got) != 1 || got[0].Text != "Crash test." {
		t.Fatalf("Bob's sync after the crash: %v, %v", got, err)
	}
	if n := stores.holds(t, full.Cap.ID()); n != 0 {
		t.Fatalf("the mailbox still holds %d entries", n)
	}
	if got, err := bob.feed.Sync(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("Bob's sync after that: %d entries, %v", len(got), err)
	}
}
