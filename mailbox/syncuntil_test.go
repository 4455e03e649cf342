package mailbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"loam/mailbox"
)

// watchedStore counts the fetches a replica answers and can lose
// everything it holds, as a replica whose disk was replaced would.
type watchedStore struct {
	mailbox.Store
	fetches atomic.Int64
	lost    atomic.Bool
}

func (s *watchedStore) Fetch(id mailbox.ID, cursor uint64, max int) ([]mailbox.Entry, uint64, error) {
	s.fetches.Add(1)
	if s.lost.Load() {
		return nil, 1, nil
	}
	return s.Store.Fetch(id, cursor, max)
}

// TestSyncUntilReadsTwoReplicasOfThree: a message coded with parity ⌈k/2⌉
// (the feed's content) is read from two of its three replicas, with about
// a third fewer fetches than Sync makes; when a replica has lost its
// fragments the reader goes on to the third and still rebuilds it.
func TestSyncUntilReadsTwoReplicasOfThree(t *testing.T) {
	stores := make([]*watchedStore, 3)
	network := mailboxNetworkWith(t, nil, func(i int, st mailbox.Store) mailbox.Store {
		stores[i] = &watchedStore{Store: st}
		return stores[i]
	})
	alice, bob := network.NewClient(t), network.NewClient(t)
	network.WaitReady(t, alice)
	network.WaitReady(t, bob)
	sender, reader := mailbox.NewClient(alice, nil, testPolicy()), mailbox.NewClient(bob, nil, testPolicy())
	var seed [32]byte
	rand.Read(seed[:])
	box := &mailbox.Box{Cap: mailbox.NewCapability(seed)}
	rand.Read(box.Key[:])
	ro := &mailbox.Box{Cap: mailbox.ReadOnly(box.Cap.ID()), Key: box.Key}
	msg := make([]byte, 20000) // 15 data fragments and 8 of parity
	rand.Read(msg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := sender.Send(ctx, box, msg, func(k int) int { return (k + 1) / 2 })
	if err != nil {
		t.Fatal(err)
	}
	fetches := func() (total int64, touched int) {
		for _, s := range stores {
			n := s.fetches.Swap(0)
			total += n
			if n > 0 {
				touched++
			}
		}
		return total, touched
	}
	fetches()
	want := func(msgs []mailbox.Message) bool {
		for _, m := range msgs {
			if m.ID == id && bytes.Equal(m.Body, msg) {
				return true
			}
		}
		return false
	}

	msgs, err := reader.NewReceiver(ro).Sync(ctx)
	if err != nil || !want(msgs) {
		t.Fatalf("Sync: %d messages, %v", len(msgs), err)
	}
	all, touched := fetches()
	if touched != 3 {
		t.Fatalf("Sync read %d replicas", touched)
	}
	var some int64
	for range 3 {
		msgs, err := reader.NewReceiver(ro).SyncUntil(ctx, want)
		if err != nil || !want(msgs) {
			t.Fatalf("SyncUntil: %d messages, %v", len(msgs), err)
		}
		some, touched = fetches()
		if touched != 2 || some >= all {
			t.Fatalf("SyncUntil read %d replicas with %d fetches (Sync: 3 with %d)", touched, some, all)
		}
	}
	t.Logf("fetches to read a 20,000-byte message: %d with Sync, %d with SyncUntil", all, some)

	// Whichever two replicas come first, the message comes whole; in
	// twelve tries the one that lost its fragments is among the first two
	// at least once but with probability 3^-12.
	stores[0].lost.Store(true)
	fellBack := 0
	for range 12 {
		msgs, err := reader.NewReceiver(ro).SyncUntil(ctx, want)
		if err != nil || !want(msgs) {
			t.Fatalf("SyncUntil with a replica that lost its fragments: %d messages, %v", len(msgs), err)
		}
		if _, touched := fetches(); touched == 3 {
			fellBack++
		}
	}
	if fellBack == 0 {
		t.Fatal("SyncUntil never read the third replica, though one had lost its fragments")
	}
}
