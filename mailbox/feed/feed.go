package feed

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"loam/internal/clock"
	"loam/mailbox"
)

// Config shapes a Feed. Zero values take the defaults.
type Config struct {
	// EpochPeriod is the life of a pairwise mailbox id (default 6 h). Both
	// friends must use the same period: it is part of the protocol.
	EpochPeriod time.Duration
	// MaxSkew is how far behind a friend's clock may run (default 10 min).
	MaxSkew time.Duration
	// Retention is how long replicas keep mailbox entries (default 7 days,
	// the replicas' TTL): a sync reads no older mailbox epoch, and a header
	// whose content cannot be fetched for this long is dropped.
	Retention time.Duration
	Clock     clock.Clock
	Logger    *slog.Logger
}

// Feed is one person's feed: their identity, friends and the entries they
// posted or were shown, kept in a Store and exchanged through mailboxes.
// Its methods are safe for concurrent use; Syncs run one at a time.
type Feed struct {
	store *Store
	mb    *mailbox.Client
	cfg   Config
	log   *slog.Logger

	mu     sync.Mutex // identity and friend updates
	id     *Identity
	syncMu sync.Mutex
}

// New returns the feed kept in store, reaching mailboxes through mb. mb may
// be nil for a feed that only reads its store and manages friends (Post
// and Sync then fail with ErrOffline).
func New(store *Store, mb *mailbox.Client, cfg Config) (*Feed, error) {
	if store == nil {
		return nil, errors.New("feed: a store is required")
	}
	if cfg.EpochPeriod == 0 {
		cfg.EpochPeriod = DefaultEpochPeriod
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.EpochPeriod < time.Second || cfg.EpochPeriod%time.Second != 0 {
		return nil, fmt.Errorf("%w: the mailbox epoch period is a whole number of seconds, not %v", ErrInvalid, cfg.EpochPeriod)
	}
	if cfg.MaxSkew < 0 || cfg.Retention < cfg.EpochPeriod || cfg.Retention/cfg.EpochPeriod > maxEpochsScanned {
		return nil, fmt.Errorf("%w: max skew %v, retention %v, epoch period %v (a sync reads retention / period mailboxes a friend, at most %d)",
			ErrInvalid, cfg.MaxSkew, cfg.Retention, cfg.EpochPeriod, maxEpochsScanned)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Feed{store: store, mb: mb, cfg: cfg, log: cfg.Logger}, nil
}

// Init creates a new identity called name in a store that has none.
func (f *Feed) Init(name string) (*Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, err := NewIdentity(name)
	if err != nil {
		return nil, err
	}
	err = f.store.update(func(txn *badger.Txn) error {
		if _, err := txn.Get(key(kindIdentity)); err == nil {
			return ErrIdentityExists
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return txn.Set(key(kindIdentity), encodeIdentity(id))
	})
	if err != nil {
		if errors.Is(err, ErrIdentityExists) {
			return nil, ErrIdentityExists
		}
		return nil, err
	}
	f.id = id
	return id, nil
}

// Identity returns the store's identity, or ErrNoIdentity.
func (f *Feed) Identity() (*Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.identityLocked()
}

func (f *Feed) identityLocked() (*Identity, error) {
	if f.id != nil {
		return f.id, nil
	}
	raw, err := f.store.get(key(kindIdentity))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, ErrNoIdentity
	}
	id, err := decodeIdentity(raw)
	if err != nil {
		return nil, err
	}
	f.id = id
	return id, nil
}

// AddFriend adds the person whose friend code is code and returns them.
// Adding a friend again updates their name. The first Sync after it reads
// every mailbox epoch the replicas may still hold (Retention), so posts the
// friend made before this user added them arrive too.
func (f *Feed) AddFriend(code string) (Public, error) {
	p, err := ParseFriendCode(code)
	if err != nil {
		return Public{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	me, err := f.identityLocked()
	if err != nil {
		return Public{}, err
	}
	pair, err := pairSecret(me, p)
	clear(pair[:])
	if err != nil {
		return Public{}, err // one's own code, or a key that agrees on nothing
	}
	now := f.cfg.Clock.Now()
	rec := &friend{Public: p, Next: EpochAt(now.Add(-f.cfg.Retention), f.cfg.EpochPeriod), Added: now}
	err = f.store.update(func(txn *badger.Txn) error {
		old, err := getFriend(txn, p.Sign)
		if err != nil {
			return err
		}
		if old != nil {
			if old.DH != p.DH {
				return ErrFriendConflict
			}
			old.Name = p.Name
			rec = old
		}
		return txn.Set(key(kindFriend, p.Sign[:]), encodeFriend(rec))
	})
	if errors.Is(err, ErrFriendConflict) {
		return Public{}, fmt.Errorf("%w: %v", ErrFriendConflict, p)
	}
	if err != nil {
		return Public{}, err
	}
	return p, nil
}

func getFriend(txn *badger.Txn, sign [keyLen]byte) (*friend, error) {
	item, err := txn.Get(key(kindFriend, sign[:]))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	fr, err := decodeFriend(v)
	if err != nil {
		return nil, err
	}
	if fr.Sign != sign {
		return nil, fmt.Errorf("%w: a friend record under another key", ErrCorrupt)
	}
	return fr, nil
}

// Friends returns the friends, ordered by signing key.
func (f *Feed) Friends() ([]Public, error) {
	frs, err := f.friends()
	if err != nil {
		return nil, err
	}
	out := make([]Public, len(frs))
	for i, fr := range frs {
		out[i] = fr.Public
	}
	return out, nil
}

func (f *Feed) friends() ([]*friend, error) {
	var out []*friend
	err := f.store.scan(key(kindFriend), false, false, func(k, v []byte) (bool, error) {
		fr, err := decodeFriend(v)
		if err != nil {
			return false, err
		}
		if len(k) != 1+keyLen || [keyLen]byte(k[1:]) != fr.Sign {
			return false, fmt.Errorf("%w: a friend record under another key", ErrCorrupt)
		}
		out = append(out, fr)
		return true, nil
	})
	return out, err
}

// progress reports (done, total) to an optional callback. The callback is
// called from several goroutines, one call at a time; it should return
// quickly (drawing a progress bar is fine).
type progress struct {
	mu          sync.Mutex
	fn          func(done, total int)
	done, total int
}

func (p *progress) add(done, total int) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += done
	p.total += total
	p.fn(p.done, p.total)
}
