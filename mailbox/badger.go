package mailbox

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"loam/internal/clock"
)

// BadgerStore is a replica's durable Store: a badger database in a
// directory of its own. A deposit returns only once it is on stable storage
// (badger's SyncWrites); concurrent deposits share one fsync, since every
// change goes through one committer that applies all the requests waiting
// for it in one transaction. Entries expire after Limits.TTL on the store's
// Clock; expired entries are hidden at once and purged every GCInterval.
// SPEC.md §7.4; the key layout is in docs/spec-drafts/replica.md.
type BadgerStore struct {
	db      *badger.DB
	dir     string
	limits  Limits
	clock   clock.Clock
	log     *slog.Logger
	gcEvery time.Duration
	budget  txnBudget      // what one transaction may hold
	metas   map[ID]boxMeta // the committer's cache of committed meta records

	ops     chan *writeOp // to the committer
	stopped chan struct{} // closed when the committer has returned

	// mu is held shared by every operation and the GC round, and
	// exclusively by Close: Close waits for what is under way, and nothing
	// starts after it.
	mu     sync.RWMutex
	closed bool
	timer  clock.Timer // the next GC round; guarded by mu

	// failCommit, if set, makes every commit fail with its error (tests:
	// a store that cannot write).
	failCommit atomic.Pointer[error]
}

// BadgerOptions tune a BadgerStore. Zero values take the defaults noted.
type BadgerOptions struct {
	// Clock dates deposits, decides expiry and times the GC rounds;
	// clock.Real() by default. Badger's own TTL is not used: it reads the
	// wall clock.
	Clock clock.Clock
	// GCInterval is the time between rounds that purge expired entries
	// and collect badger's value log; 10 minutes.
	GCInterval time.Duration
	// Logger receives the store's and badger's messages (badger's info as
	// debug); slog.Default().
	Logger *slog.Logger
	// MemTableSize is badger's memtable size, which also bounds one
	// transaction (15 % of it); 32 MiB.
	MemTableSize int64
	// CacheSize is badger's block cache; 32 MiB.
	CacheSize int64
}

// Defaults of BadgerOptions.
const (
	DefaultGCInterval   = 10 * time.Minute
	defaultMemTableSize = 32 << 20
	defaultCacheSize    = 32 << 20
	minMemTableSize     = 1 << 20
)

func (o *BadgerOptions) defaults() {
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.GCInterval <= 0 {
		o.GCInterval = DefaultGCInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = defaultMemTableSize
	}
	o.MemTableSize = max(o.MemTableSize, minMemTableSize)
	if o.CacheSize <= 0 {
		o.CacheSize = defaultCacheSize
	}
}

// Errors of a BadgerStore.
var (
	// ErrStoreClosed is returned by every operation after Close.
	ErrStoreClosed = errors.New("mailbox: store closed")
	// ErrCorruptStore means the directory is not a mailbox store, or its
	// data does not decode: another program's files, a badger database of
	// another program, or damage.
	ErrCorruptStore = errors.New("mailbox: not a usable mailbox store")
)

// OpenBadgerStore opens the store in dir, creating dir (mode 0700) and the
// store if there is none. A directory holding anything but a mailbox store
// is refused with an error wrapping ErrCorruptStore, as is a store badger
// cannot open.
func OpenBadgerStore(dir string, limits Limits, opts BadgerOptions) (*BadgerStore, error) {
	opts.defaults()
	budget := newTxnBudget(opts.MemTableSize)
	if err := checkLimits(limits, budget); err != nil {
		return nil, err
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	db, err := openBadger(dir, opts)
	if err != nil {
		return nil, err
	}
	if err := checkMarker(db, dir); err != nil {
		db.Close()
		return nil, err
	}
	s := &BadgerStore{
		db: db, dir: dir, limits: limits, clock: opts.Clock, log: opts.Logger,
		gcEvery: opts.GCInterval, budget: budget, metas: map[ID]boxMeta{},
		ops: make(chan *writeOp, 1024), stopped: make(chan struct{}),
	}
	go s.commitLoop()
	s.mu.Lock()
	s.timer = s.clock.AfterFunc(s.gcEvery, s.gcRound)
	s.mu.Unlock()
	s.log.Info("mailbox store open", "dir", dir, "ttl", limits.TTL, "gc_interval", s.gcEvery)
	return s, nil
}

// checkLimits refuses limits the store cannot honour: a blob must fit in
// one transaction with room to spare.
func checkLimits(l Limits, b txnBudget) error {
	switch {
	case l.MaxBlob < 0 || l.MaxBlob > b.bytes/4:
		return fmt.Errorf("mailbox: MaxBlob %d: want 0 to %d bytes with this memtable size", l.MaxBlob, b.bytes/4)
	case l.MaxEntries < 1:
		return fmt.Errorf("mailbox: MaxEntries %d: want at least 1", l.MaxEntries)
	case l.MaxBytes < 1:
		return fmt.Errorf("mailbox: MaxBytes %d: want at least 1", l.MaxBytes)
	case l.TTL <= 0:
		return fmt.Errorf("mailbox: TTL %v: want a positive duration", l.TTL)
	}
	return nil
}

// Dir is the store's directory.
func (s *BadgerStore) Dir() string { return s.dir }

// Deposit implements Store. It returns once the entry is durable.
func (s *BadgerStore) Deposit(id ID, blob []byte) (uint64, error) {
	if len(blob) > s.limits.MaxBlob {
		return 0, ErrTooLarge
	}
	o := &writeOp{kind: writeDeposit, id: id, blob: blob, hash: sha256.Sum256(blob)}
	if err := s.submit(o); err != nil {
		return 0, err
	}
	return o.seq, nil
}

// Delete implements Store. It returns once the removal is durable.
func (s *BadgerStore) Delete(id ID, upTo uint64) (uint64, error) {
	o := &writeOp{kind: writeDelete, id: id, upTo: upTo}
	if err := s.submit(o); err != nil {
		return 0, err
	}
	return o.n, nil
}

// Fetch implements Store. It reads a consistent snapshot: every deposit
// acknowledged before the call is in it.
func (s *BadgerStore) Fetch(id ID, cursor uint64, max int) ([]Entry, uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, 0, ErrStoreClosed
	}
	cut := s.cut()
	var (
		out  []Entry
		head uint64
	)
	err := s.db.View(func(txn *badger.Txn) error {
		m, err := readMeta(txn, id)
		if err != nil {
			return err
		}
		head = m.last + 1
		if max <= 0 || !m.exists {
			return nil
		}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: entryPrefix(id), PrefetchValues: true, PrefetchSize: min(max, 64)})
		defer it.Close()
		for it.Seek(entryKey(id, cursor)); it.Valid() && len(out) < max; it.Next() {
			item := it.Item()
			seq, err := parseEntryKey(item.Key())
			if err != nil {
				return err
			}
			err = item.Value(func(v []byte) error {
				at, blob, err := decodeEntry(v)
				if err == nil && at >= cut {
					out = append(out, Entry{Seq: seq, Blob: append([]byte(nil), blob...)})
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("mailbox: fetching from the store: %w", err)
	}
	return out, head, nil
}

// cut is the deposit time (Unix nanoseconds) before which entries have
// expired: an entry deposited at t is gone once t < now − TTL.
func (s *BadgerStore) cut() int64 { return s.clock.Now().Add(-s.limits.TTL).UnixNano() }

// submit hands o to the committer and waits for its result.
func (s *BadgerStore) submit(o *writeOp) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrStoreClosed
	}
	return s.do(o)
}

// do is submit for a caller that holds mu.
func (s *BadgerStore) do(o *writeOp) error {
	o.done = make(chan struct{})
	s.ops <- o
	<-o.done
	return o.err
}

// Close waits for the operations under way, stops the committer and the
// GC rounds, and closes the database (flushing its memtables). Later
// operations return ErrStoreClosed.
func (s *BadgerStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.timer.Stop()
	s.mu.Unlock()
	close(s.ops)
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("mailbox: closing the store: %w", err)
	}
	return nil
}
