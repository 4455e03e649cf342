package feed

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"loam/mailbox"
)

// halfParity is the content's parity: m = ⌈k/2⌉, so the fragments on any
// one of three replicas may be lost (SPEC.md §9.8). Headers (k = 1) get
// m = 1 from it too.
func halfParity(k int) int { return (k + 1) / 2 }

// Post signs an entry of text and attachments, stores it and shares it
// with every friend: the entry goes once, encrypted, into a fresh content
// box, and each friend gets a header in the pairwise mailbox of the current
// mailbox epoch. progress, if set, hears (packets done, packets in all). A
// user without friends needs no mailbox client: the post is only stored.
//
// When the content is stored but some friends' headers could not be sent,
// Post returns the entry with an error wrapping ErrNotDelivered; the next
// Sync sends them.
func (f *Feed) Post(ctx context.Context, text string, attachments []Attachment, progressFn func(done, total int)) (*Entry, error) {
	me, err := f.Identity()
	if err != nil {
		return nil, err
	}
	friends, err := f.friends()
	if err != nil {
		return nil, err
	}
	now := f.cfg.Clock.Now()
	raw, err := encodeEntry(me.pub.Sign, now, text, attachments)
	if err != nil {
		return nil, err
	}
	content := append(raw, me.signEntry(raw)...)
	e, err := openContent(content, me.pub)
	if err != nil {
		return nil, fmt.Errorf("feed: own entry does not verify: %w", err) // a bug
	}
	if len(friends) == 0 { // nobody to tell: the post stays in the user's record
		err := f.store.update(func(txn *badger.Txn) error { return putEntry(txn, e, content, now) })
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	if f.mb == nil {
		return nil, ErrOffline
	}

	var seed [keyLen]byte
	defer clear(seed[:])
	box := &mailbox.Box{}
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(box.Key[:]); err != nil {
		return nil, err
	}
	box.Cap = mailbox.NewCapability(seed)
	coded, err := mailbox.Fragments(f.mb.Geometry(), box, content, halfParity)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	prog := &progress{fn: progressFn}
	prog.add(0, len(coded.Blobs)+len(friends)*f.fragmentCount(headerLen))
	if err := f.deposit(ctx, box.Cap, coded, prog); err != nil {
		return nil, fmt.Errorf("feed: storing the post's content: %w", err)
	}

	// The entry, its content box and a header for every friend are stored
	// together before any header leaves: a crash from here on loses no
	// friend's copy, as Sync sends what the outbox holds.
	h := &header{Box: box.Cap.ID(), Key: box.Key, Entry: e.ID, Size: len(content)}
	err = f.store.update(func(txn *badger.Txn) error {
		if err := putEntry(txn, e, content, now); err != nil {
			return err
		}
		if err := txn.Set(key(kindOwnPost, e.ID[:]), encodeOwnPost(&seed, &box.Key)); err != nil {
			return err
		}
		for _, fr := range friends {
			if err := txn.Set(key(kindOutbox, fr.Sign[:], e.ID[:]), encodeHeaderRecord(now, h)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if failed := f.sendHeaders(ctx, me, friends, e.ID, h, prog); failed > 0 {
		return e, fmt.Errorf("%w: %d of %d friends", ErrNotDelivered, failed, len(friends))
	}
	return e, nil
}

// putEntry stores an entry and its place in the timeline.
func putEntry(txn *badger.Txn, e *Entry, content []byte, received time.Time) error {
	if err := txn.Set(key(kindEntry, e.ID[:]), encodeEntryRecord(received, content)); err != nil {
		return err
	}
	return txn.Set(key(kindTimeline, u64(uint64(e.Time.UnixMilli())), e.ID[:]), nil)
}

// sendHeaders sends h to each friend, each into the pairwise mailbox of
// the epoch current when it leaves, and clears their outbox record. It
// returns how many failed.
func (f *Feed) sendHeaders(ctx context.Context, me *Identity, friends []*friend, id EntryID, h *header, prog *progress) int {
	var (
		failed atomic.Int32
		wg     sync.WaitGroup
		slots  = make(chan struct{}, defaultParallel)
	)
	for _, fr := range friends {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := f.sendHeader(ctx, me, fr, id, h, prog); err != nil {
				failed.Add(1)
				f.log.Warn("feed: header not sent; the next sync retries", "friend", fr.Public, "entry", id, "err", err)
			}
		}()
	}
	wg.Wait()
	return int(failed.Load())
}

func (f *Feed) sendHeader(ctx context.Context, me *Identity, fr *friend, id EntryID, h *header, prog *progress) error {
	pair, err := pairSecret(me, fr.Public)
	if err != nil {
		return err
	}
	defer clear(pair[:])
	e := EpochAt(f.cfg.Clock.Now(), f.cfg.EpochPeriod)
	box := pairMailbox(&pair, me.pub.Sign, fr.Sign, e)
	coded, err := mailbox.Fragments(f.mb.Geometry(), box, h.encode(), halfParity)
	if err != nil {
		return err
	}
	if err := f.deposit(ctx, box.Cap, coded, prog); err != nil {
		return err
	}
	return f.store.update(func(txn *badger.Txn) error {
		return txn.Delete(key(kindOutbox, fr.Sign[:], id[:]))
	})
}

// fragmentCount is how many fragments a message of n bytes codes into.
func (f *Feed) fragmentCount(n int) int {
	shard := mailbox.ShardLen(f.mb.Geometry())
	k := max(1, (n+sealOverhead+shard-1)/shard)
	return k + halfParity(k)
}

// sealOverhead is what sealing adds to a message (SPEC.md §8.1).
const sealOverhead = 16

// deposit stores a coded message's fragments (mailbox.Client.SendCoded),
// telling progress per fragment: a 5 MiB post is thousands of packets.
func (f *Feed) deposit(ctx context.Context, cp mailbox.Capability, coded *mailbox.Coded, prog *progress) error {
	if err := f.mb.SendCoded(ctx, cp, coded, func() { prog.add(1, 0) }); err != nil {
		return fmt.Errorf("feed: %w", err)
	}
	return nil
}
