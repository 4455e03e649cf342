package feed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"loam/mailbox"
)

// Sync reads what friends sent: it sends the headers the outbox still
// holds, reads every friend's pairwise mailbox of every mailbox epoch since
// that friend's last sync (within Retention), fetches the content each new
// header names, checks it is signed by the friend whose mailbox carried the
// header, stores it, and deletes what it stored from the pairwise mailboxes.
// It returns the entries it stored for the first time. progress, if set,
// hears (steps done, steps known), a step being a mailbox or a content
// fetch; the total grows once the headers are read.
//
// A mailbox or content box that cannot be read now is read again by the
// next Sync; the entries returned are good whatever the error.
func (f *Feed) Sync(ctx context.Context, progressFn func(done, total int)) ([]*Entry, error) {
	if f.mb == nil {
		return nil, ErrOffline
	}
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	me, err := f.Identity()
	if err != nil {
		return nil, err
	}
	friends, err := f.friends()
	if err != nil {
		return nil, err
	}
	prog := &progress{fn: progressFn}
	now := f.cfg.Clock.Now()
	var errs []error
	if err := f.flushOutbox(ctx, me, friends, prog); err != nil {
		errs = append(errs, err)
	}
	if err := f.readMailboxes(ctx, me, friends, now, prog); err != nil {
		errs = append(errs, err)
	}
	entries, err := f.fetchPending(ctx, friends, now, prog)
	if err != nil {
		errs = append(errs, err)
	}
	if err := f.forgetDelivered(EpochAt(now.Add(-f.cfg.Retention), f.cfg.EpochPeriod)); err != nil {
		errs = append(errs, err)
	}
	return entries, errors.Join(errs...)
}

// flushOutbox sends the headers that Post could not.
func (f *Feed) flushOutbox(ctx context.Context, me *Identity, friends []*friend, prog *progress) error {
	byKey := map[[keyLen]byte]*friend{}
	for _, fr := range friends {
		byKey[fr.Sign] = fr
	}
	type item struct {
		fr *friend
		id EntryID
		h  *header
	}
	var items []item
	err := f.store.scan(key(kindOutbox), false, false, func(k, v []byte) (bool, error) {
		_, h, err := decodeHeaderRecord(v)
		if err != nil || len(k) != 1+2*keyLen || !bytes.Equal(k[1+keyLen:], h.Entry[:]) {
			return false, fmt.Errorf("%w: an outbox record", ErrCorrupt)
		}
		if fr := byKey[[keyLen]byte(k[1:])]; fr != nil {
			items = append(items, item{fr, h.Entry, h})
		}
		return true, nil
	})
	if err != nil || len(items) == 0 {
		return err
	}
	prog.add(0, len(items)*f.fragmentCount(headerLen))
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, defaultParallel)
	for _, it := range items {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := f.sendHeader(ctx, me, it.fr, it.id, it.h, prog); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("feed: header of %v to %v: %w", it.id, it.fr.Public, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// readMailboxes reads every friend's mailboxes to this user of the epochs
// from the friend's Next on and moves Next past the epochs read in full.
func (f *Feed) readMailboxes(ctx context.Context, me *Identity, friends []*friend, now time.Time, prog *progress) error {
	cur := EpochAt(now, f.cfg.EpochPeriod)
	oldest := EpochAt(now.Add(-f.cfg.Retention), f.cfg.EpochPeriod)
	// Next stops at the epoch current MaxSkew ago: a friend whose clock
	// runs behind may still write there.
	next := EpochAt(now.Add(-f.cfg.MaxSkew), f.cfg.EpochPeriod)
	type job struct {
		fr   *friend
		pair [keyLen]byte
		e    Epoch
	}
	var jobs []job
	for _, fr := range friends {
		pair, err := pairSecret(me, fr.Public)
		if err != nil {
			return err
		}
		for e := max(fr.Next, oldest); e <= cur; e++ {
			jobs = append(jobs, job{fr, pair, e})
		}
	}
	prog.add(0, len(jobs))
	var (
		mu     sync.Mutex
		errs   []error
		failed = map[[keyLen]byte]Epoch{} // a friend's lowest epoch not read in full
		wg     sync.WaitGroup
	)
	slots := make(chan struct{}, defaultParallel)
	for _, j := range jobs {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			err := f.readMailbox(ctx, me, j.fr, &j.pair, j.e)
			prog.add(1, 0)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, fmt.Errorf("feed: mailbox of %v, epoch %d: %w", j.fr.Public, j.e, err))
			if e, ok := failed[j.fr.Sign]; !ok || j.e < e {
				failed[j.fr.Sign] = j.e
			}
		}()
	}
	wg.Wait()
	for i := range jobs {
		clear(jobs[i].pair[:])
	}
	for _, fr := range friends {
		n := next
		if e, ok := failed[fr.Sign]; ok {
			n = min(e, n)
		}
		n = max(n, fr.Next) // a friend added during this sync keeps its own
		if n == fr.Next {
			continue
		}
		err := f.store.update(func(txn *badger.Txn) error {
			cur, err := getFriend(txn, fr.Sign)
			if err != nil || cur == nil {
				return err
			}
			cur.Next = max(cur.Next, n)
			return txn.Set(key(kindFriend, fr.Sign[:]), encodeFriend(cur))
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readMailbox reads one inbound pairwise mailbox and deletes what it has
// stored. Each header is committed to the store, with its delivery record,
// by the receiver's Deliver hook before any of its fragments may be
// deleted, so a crash at any point loses no header and delivers none twice:
// the store has a header and its delivery record, or the replicas still
// have it.
func (f *Feed) readMailbox(ctx context.Context, me *Identity, fr *friend, pair *[keyLen]byte, e Epoch) error {
	box := pairMailbox(pair, fr.Sign, me.pub.Sign, e)
	id := box.Cap.ID()
	r := f.mb.NewReceiver(box)
	r.Seen = func(m mailbox.MessageID) bool {
		ok, err := f.store.has(deliveredKey(e, id, m))
		return ok && err == nil // on a store error read it again: storing is idempotent
	}
	r.Deliver = func(m mailbox.Message) error {
		return f.storeHeaders(fr, e, id, []mailbox.Message{m})
	}
	_, err := r.Sync(ctx)
	return err
}

func deliveredKey(e Epoch, box mailbox.ID, m mailbox.MessageID) []byte {
	return key(kindDelivered, u64(uint64(e)), box[:], m[:])
}

// storeHeaders commits delivered header messages: each one's delivery
// record, and the header as pending unless its entry is stored already.
func (f *Feed) storeHeaders(fr *friend, e Epoch, box mailbox.ID, msgs []mailbox.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	now := f.cfg.Clock.Now()
	return f.store.update(func(txn *badger.Txn) error {
		for _, m := range msgs {
			if err := txn.Set(deliveredKey(e, box, m.ID), nil); err != nil {
				return err
			}
			h, err := decodeHeader(m.Body)
			if err != nil {
				f.log.Warn("feed: a header that does not decode", "friend", fr.Public, "err", err)
				continue
			}
			if _, err := txn.Get(key(kindEntry, h.Entry[:])); err == nil {
				continue
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			if err := txn.Set(key(kindPending, fr.Sign[:], h.Entry[:]), encodeHeaderRecord(now, h)); err != nil {
				return err
			}
		}
		return nil
	})
}

// fetchPending fetches the content of every pending header, stores each
// entry that verifies and returns those stored for the first time.
func (f *Feed) fetchPending(ctx context.Context, friends []*friend, now time.Time, prog *progress) ([]*Entry, error) {
	byKey := map[[keyLen]byte]*friend{}
	for _, fr := range friends {
		byKey[fr.Sign] = fr
	}
	type item struct {
		k  []byte
		fr *friend
		at time.Time
		h  *header
	}
	var items []item
	err := f.store.scan(key(kindPending), false, false, func(k, v []byte) (bool, error) {
		at, h, err := decodeHeaderRecord(v)
		if err != nil || len(k) != 1+2*keyLen || !bytes.Equal(k[1+keyLen:], h.Entry[:]) {
			return false, fmt.Errorf("%w: a pending header record", ErrCorrupt)
		}
		if fr := byKey[[keyLen]byte(k[1:])]; fr != nil {
			items = append(items, item{k, fr, at, h})
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	prog.add(0, len(items))
	var (
		mu   sync.Mutex
		out  []*Entry
		errs []error
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, contentParallel)
	for _, it := range items {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			e, fresh, err := f.fetchEntry(ctx, it.k, it.fr, it.h)
			prog.add(1, 0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				if fresh {
					out = append(out, e)
				}
			case errors.Is(err, ErrBadSignature) || errors.Is(err, ErrMalformed) || now.Sub(it.at) > f.cfg.Retention:
				// A forgery stays one; content gone past retention never comes.
				f.log.Warn("feed: dropping a header", "friend", it.fr.Public, "entry", it.h.Entry, "err", err)
				if derr := f.store.update(func(txn *badger.Txn) error { return txn.Delete(it.k) }); derr != nil {
					errs = append(errs, derr)
				}
				errs = append(errs, fmt.Errorf("feed: entry %v from %v: %w", it.h.Entry, it.fr.Public, err))
			default:
				errs = append(errs, fmt.Errorf("feed: entry %v from %v: %w", it.h.Entry, it.fr.Public, err))
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// errContentMissing means a content box did not (yet) yield its message.
var errContentMissing = errors.New("feed: the content box holds no complete message for this header")

// fetchEntry reads the content box a header names, checks the entry and
// stores it with the pending record's removal. fresh reports whether the
// entry was new to the store.
func (f *Feed) fetchEntry(ctx context.Context, pendingKey []byte, fr *friend, h *header) (*Entry, bool, error) {
	r := f.mb.NewReceiver(&mailbox.Box{Cap: mailbox.ReadOnly(h.Box), Key: h.Key})
	var found *Entry
	var body []byte
	var bad error
	match := func(msgs []mailbox.Message) bool {
		for _, m := range msgs {
			if found != nil {
				break
			}
			if len(m.Body) != h.Size {
				continue
			}
			e, err := openContent(m.Body, fr.Public)
			switch {
			case err != nil:
				bad = err
			case e.ID == h.Entry:
				found, body = e, m.Body
			}
		}
		return found != nil
	}
	// Content is coded so that any two of the three replicas rebuild it
	// (§9.8): the third is read only if the first two did not.
	msgs, syncErr := r.SyncUntil(ctx, match)
	if found == nil && !match(msgs) {
		switch {
		case bad != nil:
			return nil, false, bad
		case syncErr != nil:
			return nil, false, syncErr
		}
		return nil, false, errContentMissing
	}
	fresh := false
	err := f.store.update(func(txn *badger.Txn) error {
		if _, err := txn.Get(key(kindEntry, found.ID[:])); errors.Is(err, badger.ErrKeyNotFound) {
			fresh = true
			if err := putEntry(txn, found, body, f.cfg.Clock.Now()); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		return txn.Delete(pendingKey)
	})
	return found, fresh, err
}

// forgetDelivered drops delivery records of mailbox epochs before oldest:
// the replicas no longer hold those mailboxes, so nothing can be delivered
// from them twice.
func (f *Feed) forgetDelivered(oldest Epoch) error {
	const batch = 4096
	for {
		var keys [][]byte
		err := f.store.scan(key(kindDelivered), false, true, func(k, _ []byte) (bool, error) {
			if len(k) < 9 || Epoch(beUint64(k[1:9])) >= oldest {
				return false, nil
			}
			keys = append(keys, k)
			return len(keys) < batch, nil
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		err = f.store.update(func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || len(keys) < batch {
			return err
		}
	}
}
