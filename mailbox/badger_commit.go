package mailbox

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/skl"
)

// Every change to a BadgerStore goes through one goroutine, the committer.
// It takes all the operations waiting for it, applies them in order to one
// badger transaction and commits it with one fsync (group commit); only
// then does it answer them. Being the only writer, it needs no conflict
// detection and no locks per mailbox: quotas and sequence numbers are
// checked and assigned inside the transaction, and it may cache mailboxes'
// meta records. A transaction that fails to commit leaves nothing behind,
// so a failed deposit consumes no sequence number and numbers stay dense.

type writeKind uint8

const (
	writeDeposit writeKind = iota
	writeDelete
	writePurge // expire the mailboxes of due expiry index keys
)

// writeOp is one change waiting for the committer.
type writeOp struct {
	kind writeKind
	id   ID
	blob []byte
	hash [32]byte
	upTo uint64   // delete
	keys [][]byte // purge: the due expiry index keys

	// Results, final once done is closed.
	seq  uint64 // deposit: the blob's number
	n    uint64 // delete: entries removed; purge: entries purged
	err  error
	done chan struct{}

	// What the op did in the transaction being built; it becomes the
	// result only if that transaction commits.
	tx struct {
		seq     uint64
		n       uint64
		refusal error  // ErrQuota: a refusal is a result, committed like any other
		resume  uint64 // delete: the next number to look at; purge: keys done
		more    bool   // the op needs another transaction
	}
	resume uint64 // committed progress of a delete or purge
}

func (o *writeOp) finish(err error) {
	o.err = err
	close(o.done)
}

func (o *writeOp) fold() {
	o.seq = o.tx.seq
	o.n += o.tx.n
	o.resume = o.tx.resume
}

// txnBudget bounds one transaction well inside badger's limits (15 % of
// the memtable), so that an operation never finds the transaction full
// half way through.
type txnBudget struct{ writes, bytes int }

// maxTxnWrites bounds a transaction's writes also for latency: a commit
// of this size takes a few milliseconds.
const maxTxnWrites = 16384

func newTxnBudget(memTable int64) txnBudget {
	size := memTable * 15 / 100
	return txnBudget{writes: int(min(size/int64(skl.MaxNodeSize)/2, maxTxnWrites)), bytes: int(size / 2)}
}

// Writes of one entry's removal (entry and dedup keys) and of a deposit at
// most (its entry, dedup and expiry keys, its meta, a stale copy's
// removal), and room for a key.
const (
	removeWrites  = 2
	depositWrites = 4 + removeWrites
	keyBytes      = 128
)

// maxCachedMetas bounds the committer's cache of meta records; past it the
// cache starts again empty.
const maxCachedMetas = 1 << 16

// wtxn is the transaction being built: what it has used, and the meta
// records of the mailboxes it touched, written when it commits.
type wtxn struct {
	txn          *badger.Txn
	writes, size int
	limit        txnBudget
	metas        map[ID]*boxMeta
	cache        map[ID]boxMeta // committed meta records
}

func (w *wtxn) set(k, v []byte) error {
	w.writes++
	w.size += len(k) + len(v) + 16
	return w.txn.Set(k, v)
}

func (w *wtxn) del(k []byte) error {
	w.writes++
	w.size += len(k) + 16
	return w.txn.Delete(k)
}

// room reports whether writes more writes of bytes more bytes fit.
func (w *wtxn) room(writes, bytes int) bool {
	return w.writes+writes <= w.limit.writes && w.size+bytes <= w.limit.bytes
}

// meta returns the meta record of id as this transaction sees it, for
// reading and changing; it is written when the transaction commits.
func (w *wtxn) meta(id ID) (*boxMeta, error) {
	if m := w.metas[id]; m != nil {
		return m, nil
	}
	m, ok := w.cache[id]
	if !ok {
		var err error
		if m, err = readMeta(w.txn, id); err != nil {
			return nil, err
		}
	}
	w.writes++ // its write when the transaction commits
	w.size += keyBytes
	w.metas[id] = &m
	return &m, nil
}

// flushMetas writes the meta records the transaction changed: a mailbox
// retired (no record left) is deleted.
func (w *wtxn) flushMetas() error {
	for id, m := range w.metas {
		var err error
		switch {
		case m.retired:
			err = w.txn.Delete(metaKey(id))
		case m.dirty:
			err = w.txn.Set(metaKey(id), m.encode())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// cost is the room an op needs to start in a transaction.
func (s *BadgerStore) cost(o *writeOp) (writes, bytes int) {
	if o.kind == writeDeposit {
		return depositWrites + 1, len(o.blob) + (depositWrites+1)*keyBytes
	}
	return 16 * removeWrites, 16 * removeWrites * keyBytes // a delete or purge goes on in the next one
}

// batchOps bounds the operations taken into one round.
const batchOps = 1024

func (s *BadgerStore) commitLoop() {
	defer close(s.stopped)
	batch := make([]*writeOp, 0, batchOps)
	for o := range s.ops {
		batch = append(batch[:0], o)
	more:
		for len(batch) < batchOps {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		for pending := batch; len(pending) > 0; {
			pending = s.commitOnce(pending)
		}
		clear(batch)
	}
}

// commitOnce applies ops in order to one transaction until it is full,
// commits it and answers the ops it finished; it returns the ops still to
// do (an op that needs another transaction first).
func (s *BadgerStore) commitOnce(ops []*writeOp) []*writeOp {
	w := &wtxn{txn: s.db.NewTransaction(true), limit: s.budget, metas: map[ID]*boxMeta{}, cache: s.metas}
	defer w.txn.Discard()
	t := s.clock.Now()
	now, cut := t.UnixNano(), t.Add(-s.limits.TTL).UnixNano()
	n := 0 // ops with writes in this transaction
	for n < len(ops) {
		o := ops[n]
		if writes, bytes := s.cost(o); n > 0 && !w.room(writes, bytes) {
			break
		}
		o.tx.seq, o.tx.n, o.tx.refusal, o.tx.more = 0, 0, nil, false
		if err := s.apply(w, o, now, cut); err != nil {
			// Damage or a badger failure: the transaction may hold part
			// of o's writes, so it is dropped, o fails and the others
			// start again in a new one.
			s.log.Error("mailbox store: operation failed", "mailbox", o.id, "err", err)
			o.finish(fmt.Errorf("mailbox: store: %w", err))
			return append(ops[:n:n], ops[n+1:]...)
		}
		n++
		if o.tx.more {
			break
		}
	}
	err := w.flushMetas()
	if err == nil {
		err = s.commit(w.txn)
	}
	if err == nil {
		s.cacheMetas(w.metas)
	} else {
		s.log.Error("mailbox store: commit failed", "ops", n, "err", err)
	}
	var again []*writeOp
	for _, o := range ops[:n] {
		switch {
		case err != nil:
			o.finish(fmt.Errorf("mailbox: store write failed: %w", err))
		case o.tx.more:
			o.fold()
			again = append(again, o)
		default:
			o.fold()
			o.finish(o.tx.refusal)
		}
	}
	return append(again, ops[n:]...)
}

func (s *BadgerStore) commit(txn *badger.Txn) error {
	if p := s.failCommit.Load(); p != nil {
		return *p
	}
	return txn.Commit()
}

// cacheMetas records the meta records a committed transaction wrote.
func (s *BadgerStore) cacheMetas(metas map[ID]*boxMeta) {
	if len(s.metas)+len(metas) > maxCachedMetas {
		clear(s.metas)
	}
	for id, m := range metas {
		if m.retired {
			delete(s.metas, id)
			continue
		}
		m.dirty = false
		s.metas[id] = *m
	}
}

func (s *BadgerStore) apply(w *wtxn, o *writeOp, now, cut int64) error {
	switch o.kind {
	case writeDeposit:
		return s.applyDeposit(w, o, now, cut)
	case writeDelete:
		return s.applyDelete(w, o)
	case writePurge:
		return s.applyPurge(w, o, cut)
	}
	return fmt.Errorf("unknown write %d", o.kind)
}

// applyDeposit stores o's blob unless the mailbox holds it already
// (SPEC.md §7.2) or is full.
func (s *BadgerStore) applyDeposit(w *wtxn, o *writeOp, now, cut int64) error {
	m, err := w.meta(o.id)
	if err != nil {
		return err
	}
	if m.entries > 0 {
		seq, found, err := readDedup(w.txn, o.id, &o.hash)
		if err != nil {
			return err
		}
		if found {
			at, blob, ok, err := readEntry(w.txn, o.id, seq)
			if err != nil {
				return err
			}
			if ok && at >= cut {
				o.tx.seq = seq
				return nil
			}
			// The first copy expired (not purged yet) or the index is
			// stale: this deposit is a new entry.
			if ok {
				err = removeEntry(w, m, o.id, seq, len(blob), &o.hash)
			} else {
				err = w.del(dedupKey(o.id, &o.hash))
			}
			if err != nil {
				return err
			}
		}
	}
	if s.full(m, len(o.blob)) {
		done, err := expireOldest(w, m, o.id, cut)
		switch {
		case err != nil:
			return err
		case !s.full(m, len(o.blob)):
		case !done:
			o.tx.more = true // more expired entries than this transaction had room for
			return nil
		default:
			o.tx.refusal = ErrQuota
			return nil
		}
	}
	m.last++
	if err := w.set(entryKey(o.id, m.last), encodeEntry(now, o.blob)); err != nil {
		return err
	}
	if err := w.set(dedupKey(o.id, &o.hash), encodeSeq(m.last)); err != nil {
		return err
	}
	// One expiry index key per mailbox and minute of deposits.
	if b := bucketOf(now); !m.exists || b != bucketOf(m.lastAt) {
		if err := w.set(expiryKey(b, o.id), nil); err != nil {
			return err
		}
	}
	m.exists, m.dirty, m.retired = true, true, false
	m.lastAt = max(m.lastAt, now)
	m.entries++
	m.bytes += uint64(len(o.blob))
	o.tx.seq = m.last
	return nil
}

// full reports whether a blob of n bytes would take the mailbox past its
// quota.
func (s *BadgerStore) full(m *boxMeta, n int) bool {
	return m.entries >= uint64(s.limits.MaxEntries) || m.bytes+uint64(n) > uint64(s.limits.MaxBytes)
}

// expireOldest removes the mailbox's expired entries from its oldest on,
// as many as the transaction has room for; done reports that it reached
// one that has not expired, or the end. Numbers and deposit times rise
// together (unless the clock went back, when a straggler waits for the
// entries before it), so the expired entries are the first ones.
func expireOldest(w *wtxn, m *boxMeta, id ID, cut int64) (done bool, err error) {
	type old struct {
		seq  uint64
		blob []byte
	}
	var due []old
	limit := w.removals()
	done = true
	it := w.txn.NewIterator(badger.IteratorOptions{Prefix: entryPrefix(id), PrefetchValues: true, PrefetchSize: 16})
	for it.Rewind(); it.Valid(); it.Next() {
		if len(due) == limit {
			done = false
			break
		}
		var seq uint64
		var v []byte
		if seq, err = parseEntryKey(it.Item().Key()); err == nil {
			v, err = it.Item().ValueCopy(nil)
		}
		var at int64
		var blob []byte
		if err == nil {
			at, blob, err = decodeEntry(v)
		}
		if err != nil {
			it.Close()
			return false, err
		}
		if at >= cut {
			break
		}
		due = append(due, old{seq, blob})
	}
	it.Close()
	for _, e := range due {
		h := sha256.Sum256(e.blob)
		if err := removeEntry(w, m, id, e.seq, len(e.blob), &h); err != nil {
			return false, err
		}
	}
	return done, nil
}

// removals is how many entry removals still fit.
func (w *wtxn) removals() int {
	return max(0, min((w.limit.writes-w.writes)/removeWrites, (w.limit.bytes-w.size)/(keyBytes*removeWrites)))
}

// applyDelete removes the entries numbered up to o.upTo, as many as fit;
// the rest go in the next transactions.
func (s *BadgerStore) applyDelete(w *wtxn, o *writeOp) error {
	m, err := w.meta(o.id)
	if err != nil || m.entries == 0 {
		return err
	}
	type victim struct {
		seq  uint64
		blob []byte
	}
	var vs []victim
	limit := w.removals()
	it := w.txn.NewIterator(badger.IteratorOptions{Prefix: entryPrefix(o.id), PrefetchValues: true, PrefetchSize: 64})
	for it.Seek(entryKey(o.id, o.resume)); it.Valid(); it.Next() {
		seq, err := parseEntryKey(it.Item().Key())
		if err != nil {
			it.Close()
			return err
		}
		if seq > o.upTo {
			break
		}
		if len(vs) == limit {
			o.tx.more = true
			break
		}
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			it.Close()
			return err
		}
		_, blob, err := decodeEntry(v)
		if err != nil {
			it.Close()
			return err
		}
		vs = append(vs, victim{seq, blob})
	}
	it.Close()
	for _, v := range vs {
		h := sha256.Sum256(v.blob)
		if err := removeEntry(w, m, o.id, v.seq, len(v.blob), &h); err != nil {
			return err
		}
	}
	o.tx.n = uint64(len(vs))
	o.tx.resume = o.resume
	if len(vs) > 0 {
		o.tx.resume = vs[len(vs)-1].seq + 1
	}
	return nil
}

// applyPurge expires the mailboxes named by the due expiry index keys
// o.keys, from o.resume on, as many entries as fit, and deletes each key
// once its mailbox is done. A mailbox left with no entries and no deposit
// for the TTL is forgotten: its entries would all have expired, and a
// record of every id ever used would grow without bound.
func (s *BadgerStore) applyPurge(w *wtxn, o *writeOp, cut int64) error {
	i := int(o.resume)
	for ; i < len(o.keys); i++ {
		if !w.room(16*removeWrites, 16*removeWrites*keyBytes) {
			o.tx.more = true
			break
		}
		_, id, err := parseExpiryKey(o.keys[i])
		if err != nil {
			return err
		}
		m, err := w.meta(id)
		if err != nil {
			return err
		}
		before := m.entries
		done, err := expireOldest(w, m, id, cut)
		if err != nil {
			return err
		}
		o.tx.n += before - m.entries
		if !done {
			o.tx.more = true
			break
		}
		if err := w.del(o.keys[i]); err != nil {
			return err
		}
		if m.exists && m.entries == 0 && m.lastAt < cut {
			m.retired = true
		}
	}
	o.tx.resume = uint64(i)
	return nil
}

// removeEntry deletes entry seq of id (a blob of n bytes hashing to h)
// with its dedup key, and takes it off m.
func removeEntry(w *wtxn, m *boxMeta, id ID, seq uint64, n int, h *[32]byte) error {
	if err := w.del(entryKey(id, seq)); err != nil {
		return err
	}
	// The dedup key names this entry unless a later copy took it over,
	// which cannot happen while this one exists; checked all the same.
	if d, ok, err := readDedup(w.txn, id, h); err != nil {
		return err
	} else if ok && d == seq {
		if err := w.del(dedupKey(id, h)); err != nil {
			return err
		}
	}
	if m.entries == 0 || m.bytes < uint64(n) {
		return fmt.Errorf("%w: mailbox %v counts %d entries and %d bytes, removing one of %d", ErrCorruptStore, id, m.entries, m.bytes, n)
	}
	m.entries--
	m.bytes -= uint64(n)
	m.dirty = true
	return nil
}

// readMeta returns id's meta record; a zero boxMeta if there is none.
func readMeta(txn *badger.Txn, id ID) (boxMeta, error) {
	item, err := txn.Get(metaKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return boxMeta{}, nil
	}
	if err != nil {
		return boxMeta{}, err
	}
	var m boxMeta
	err = item.Value(func(v []byte) (err error) {
		m, err = decodeMeta(id, v)
		return err
	})
	return m, err
}

func readDedup(txn *badger.Txn, id ID, h *[32]byte) (uint64, bool, error) {
	item, err := txn.Get(dedupKey(id, h))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var seq uint64
	err = item.Value(func(v []byte) (err error) {
		seq, err = decodeSeq(v)
		return err
	})
	return seq, err == nil, err
}

// readEntry returns entry seq of id; blob is a copy.
func readEntry(txn *badger.Txn, id ID, seq uint64) (at int64, blob []byte, ok bool, err error) {
	item, err := txn.Get(entryKey(id, seq))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return 0, nil, false, err
	}
	at, blob, err = decodeEntry(v)
	return at, blob, err == nil, err
}
