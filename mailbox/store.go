package mailbox

import (
	"crypto/sha256"
	"errors"
	"sort"
	"sync"
	"time"

	"loam/internal/clock"
)

// Store is a replica's storage. Implementations make a deposit durable
// before Deposit returns: the replica acknowledges only what survives a
// crash.
type Store interface {
	// Deposit stores blob in mailbox id and returns its sequence number.
	// A blob identical to one the mailbox holds returns that entry's
	// number and stores nothing: a retransmitted deposit is idempotent.
	Deposit(id ID, blob []byte) (seq uint64, err error)
	// Fetch returns up to max entries with sequence numbers ≥ cursor in
	// ascending order, and head, the number the next deposit will get.
	Fetch(id ID, cursor uint64, max int) (entries []Entry, head uint64, err error)
	// Delete removes every entry with a sequence number ≤ upTo and reports
	// how many it removed.
	Delete(id ID, upTo uint64) (uint64, error)
	Close() error
}

// Store errors with a status of their own.
var (
	ErrQuota    = errors.New("mailbox: quota reached")
	ErrTooLarge = errors.New("mailbox: blob too large")
)

// Limits bound what one mailbox id may hold.
type Limits struct {
	MaxBlob    int           // bytes per blob
	MaxEntries int           // entries per id
	MaxBytes   int           // blob bytes per id
	TTL        time.Duration // entries older than this expire
}

// DefaultLimits: 7-day retention (SPEC.md §7.4); 64 MiB and 65,536 entries
// per id, enough for a 5 MiB post and its parity many times over.
var DefaultLimits = Limits{MaxBlob: 4096, MaxEntries: 1 << 16, MaxBytes: 64 << 20, TTL: 7 * 24 * time.Hour}

// MemoryStore is a Store in memory, for tests and the simulator. It keeps
// nothing across restarts.
type MemoryStore struct {
	limits Limits
	clock  clock.Clock

	mu    sync.Mutex
	boxes map[ID]*memBox
}

type memBox struct {
	next    uint64
	bytes   int
	entries []memEntry
	byHash  map[[32]byte]uint64
}

type memEntry struct {
	Entry
	at   time.Time
	hash [32]byte
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(limits Limits, c clock.Clock) *MemoryStore {
	if c == nil {
		c = clock.Real()
	}
	return &MemoryStore{limits: limits, clock: c, boxes: map[ID]*memBox{}}
}

// Deposit implements Store.
func (s *MemoryStore) Deposit(id ID, blob []byte) (uint64, error) {
	if len(blob) > s.limits.MaxBlob {
		return 0, ErrTooLarge
	}
	h := sha256.Sum256(blob)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(id, true)
	s.expire(b)
	if seq, ok := b.byHash[h]; ok {
		return seq, nil
	}
	if len(b.entries) >= s.limits.MaxEntries || b.bytes+len(blob) > s.limits.MaxBytes {
		return 0, ErrQuota
	}
	b.next++
	e := memEntry{Entry: Entry{Seq: b.next, Blob: append([]byte(nil), blob...)}, at: s.clock.Now(), hash: h}
	b.entries = append(b.entries, e)
	b.byHash[h] = e.Seq
	b.bytes += len(blob)
	return e.Seq, nil
}

func (s *MemoryStore) box(id ID, create bool) *memBox {
	b := s.boxes[id]
	if b == nil && create {
		b = &memBox{byHash: map[[32]byte]uint64{}}
		s.boxes[id] = b
	}
	return b
}

func (s *MemoryStore) expire(b *memBox) {
	cut := s.clock.Now().Add(-s.limits.TTL)
	i := 0
	for i < len(b.entries) && b.entries[i].at.Before(cut) {
		b.bytes -= len(b.entries[i].Blob)
		delete(b.byHash, b.entries[i].hash)
		i++
	}
	b.entries = b.entries[i:]
}

// Fetch implements Store.
func (s *MemoryStore) Fetch(id ID, cursor uint64, max int) ([]Entry, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(id, false)
	if b == nil {
		return nil, 1, nil
	}
	s.expire(b)
	i := sort.Search(len(b.entries), func(i int) bool { return b.entries[i].Seq >= cursor })
	var out []Entry
	for ; i < len(b.entries) && len(out) < max; i++ {
		out = append(out, Entry{Seq: b.entries[i].Seq, Blob: append([]byte(nil), b.entries[i].Blob...)})
	}
	return out, b.next + 1, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(id ID, upTo uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(id, false)
	if b == nil {
		return 0, nil
	}
	i := 0
	for i < len(b.entries) && b.entries[i].Seq <= upTo {
		b.bytes -= len(b.entries[i].Blob)
		delete(b.byHash, b.entries[i].hash)
		i++
	}
	b.entries = b.entries[i:]
	return uint64(i), nil
}

// Close implements Store.
func (s *MemoryStore) Close() error { return nil }
