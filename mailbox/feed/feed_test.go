package feed

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"loam/internal/clock"
	"loam/mailbox"
)

func TestFeedIdentity(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	f, err := New(s, nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Identity(); !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("a new store: %v", err)
	}
	if _, err := f.Init(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an empty name: %v", err)
	}
	id, err := f.Init("Alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Init("Alice again"); !errors.Is(err, ErrIdentityExists) {
		t.Fatalf("a second init: %v", err)
	}
	f2, _ := New(s, nil, Config{})
	got, err := f2.Identity()
	if err != nil || got.Public() != id.Public() || got.signSeed != id.signSeed || got.dhPriv != id.dhPriv {
		t.Fatalf("the identity read back differs (%v)", err)
	}
}

func TestFeedConfig(t *testing.T) {
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	for _, cfg := range []Config{
		{EpochPeriod: 1500 * time.Millisecond},
		{EpochPeriod: time.Second, Retention: time.Hour}, // 3600 mailboxes a friend
		{EpochPeriod: time.Hour, Retention: time.Minute}, // retention under a period
		{EpochPeriod: time.Minute, MaxSkew: -time.Second},
	} {
		if _, err := New(s, nil, cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", cfg, err)
		}
	}
	f, err := New(s, nil, Config{})
	if err != nil || f.cfg.EpochPeriod != DefaultEpochPeriod || f.cfg.Retention != DefaultRetention {
		t.Fatalf("defaults: %+v %v", f.cfg, err)
	}
	if n := DefaultRetention / DefaultEpochPeriod; n != 28 {
		t.Fatalf("the defaults give %d mailboxes a friend, the SPEC says 28 (+1)", n)
	}
}

func TestFeedFriends(t *testing.T) {
	f, _, _ := offlineFeed(t, "Alice")
	me, _ := f.Identity()
	if _, err := f.AddFriend(me.FriendCode()); !errors.Is(err, ErrSelf) {
		t.Fatalf("one's own code: %v", err)
	}
	if _, err := f.AddFriend("LOAM1-XXXXX"); !errors.Is(err, ErrFriendCode) {
		t.Fatalf("a bad code: %v", err)
	}
	bob, carol := newIdentity(t, "Bob"), newIdentity(t, "Carol")
	for _, p := range []*Identity{bob, carol} {
		got, err := f.AddFriend(p.FriendCode())
		if err != nil || got != p.Public() {
			t.Fatalf("adding %s: %v", p.Name(), err)
		}
	}
	// Again, renamed: the name follows, the sync state stays.
	renamed := bob.Public()
	renamed.Name = "Bobby"
	if _, err := f.AddFriend(renamed.FriendCode()); err != nil {
		t.Fatal(err)
	}
	// Bob's signing key with someone else's key agreement key.
	impostor := bob.Public()
	impostor.DH = carol.Public().DH
	if _, err := f.AddFriend(impostor.FriendCode()); !errors.Is(err, ErrFriendConflict) {
		t.Fatalf("a changed key: %v", err)
	}
	friends, err := f.Friends()
	if err != nil || len(friends) != 2 {
		t.Fatalf("friends: %v %v", friends, err)
	}
	names := map[string]bool{}
	for _, p := range friends {
		names[p.Name] = true
	}
	if !names["Bobby"] || !names["Carol"] {
		t.Fatalf("friends: %v", friends)
	}
}

// TestFeedNewFriendReadsBack: a friend added now is read from the oldest
// mailbox epoch the replicas may still hold.
func TestFeedNewFriendReadsBack(t *testing.T) {
	v := clock.NewVirtual(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	s := openStore(t, t.TempDir(), newKey(t))
	defer s.Close()
	f, _ := New(s, nil, Config{Clock: v})
	f.Init("Alice")
	bob := newIdentity(t, "Bob")
	f.AddFriend(bob.FriendCode())
	frs, err := f.friends()
	if err != nil || len(frs) != 1 {
		t.Fatal(err)
	}
	if want := EpochAt(v.Now().Add(-DefaultRetention), DefaultEpochPeriod); frs[0].Next != want {
		t.Fatalf("next epoch %d, want %d", frs[0].Next, want)
	}
}

func TestFeedOffline(t *testing.T) {
	f, _, _ := offlineFeed(t, "Alice")
	// Without friends, a post needs no network and stays in the record.
	e, err := f.Post(context.Background(), "a note to myself", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tl, err := f.Timeline(0); err != nil || len(tl) != 1 || tl[0].ID != e.ID || tl[0].Author.Name != "Alice" || tl[0].Text != "a note to myself" {
		t.Fatalf("timeline: %v %v", tl, err)
	}
	// The largest post the format allows goes into the store and back.
	photo := make([]byte, MaxAttachmentBytes)
	rand.Read(photo)
	big, err := f.Post(context.Background(), strings.Repeat("é", MaxTextLen/2), []Attachment{{"big.jpg", "image/jpeg", photo}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Entry(big.ID); err != nil || !bytes.Equal(got.Attachments[0].Data, photo) {
		t.Fatalf("the largest post read back: %v", err)
	}
	if _, err := f.Post(context.Background(), "", []Attachment{{"big.jpg", "image/jpeg", append(photo, 0)}}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a post over 5 MiB: %v", err)
	}

	f.AddFriend(newIdentity(t, "Bob").FriendCode())
	if _, err := f.Post(context.Background(), "hi", nil, nil); !errors.Is(err, ErrOffline) {
		t.Fatalf("posting offline: %v", err)
	}
	if _, err := f.Sync(context.Background(), nil); !errors.Is(err, ErrOffline) {
		t.Fatalf("syncing offline: %v", err)
	}
	if err := f.Retract(context.Background(), e.ID); !errors.Is(err, ErrOffline) {
		t.Fatalf("retracting offline: %v", err)
	}
}

func TestFeedTimeline(t *testing.T) {
	f, _, _ := offlineFeed(t, "Alice")
	me, _ := f.Identity()
	bob := newIdentity(t, "Bob")
	f.AddFriend(bob.FriendCode())
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		author := me
		if i%3 == 0 {
			author = bob
		}
		// Stored out of order; the timeline sorts by the entries' times.
		storeEntry(t, f, author, base.Add(time.Duration((i*7)%10)*time.Minute), "post", nil)
	}
	tl, err := f.Timeline(0)
	if err != nil || len(tl) != 10 {
		t.Fatalf("%d entries, %v", len(tl), err)
	}
	for i := 1; i < len(tl); i++ {
		if tl[i].Time.After(tl[i-1].Time) {
			t.Fatalf("entry %d is newer than entry %d", i, i-1)
		}
	}
	for _, e := range tl {
		if e.Author.Sign == bob.pub.Sign && e.Author.Name != "Bob" || e.Author.Sign == me.pub.Sign && e.Author.Name != "Alice" {
			t.Fatalf("author %v has the wrong name", e.Author)
		}
	}
	top3, err := f.Timeline(3)
	if err != nil || len(top3) != 3 || top3[0].ID != tl[0].ID || top3[2].ID != tl[2].ID {
		t.Fatalf("the first three: %v", err)
	}
	if _, err := f.Entry(EntryID{1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing entry: %v", err)
	}
}

// TestForgetDelivered: delivery records of mailbox epochs the replicas no
// longer keep are dropped, the others kept.
func TestForgetDelivered(t *testing.T) {
	f, s, _ := offlineFeed(t, "Alice")
	var box mailbox.ID
	count := func() (n int) {
		s.scan(key(kindDelivered), false, true, func(k, _ []byte) (bool, error) { n++; return true, nil })
		return n
	}
	err := s.update(func(txn *badger.Txn) error {
		for e := Epoch(1); e <= 20; e++ {
			for m := range 3 {
				if err := txn.Set(deliveredKey(e, box, mailbox.MessageID{byte(m)}), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.forgetDelivered(11); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 30 {
		t.Fatalf("%d records left, want 30 (epochs 11 to 20)", n)
	}
	if ok, _ := s.has(deliveredKey(10, box, mailbox.MessageID{})); ok {
		t.Fatal("epoch 10 kept")
	}
	if ok, _ := s.has(deliveredKey(11, box, mailbox.MessageID{2})); !ok {
		t.Fatal("epoch 11 dropped")
	}
}
