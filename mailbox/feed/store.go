package feed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Store is the local record: identity, friends, every entry shared with or
// by the user, and the bookkeeping of delivery. It is a badger database
// encrypted at rest with AES-256 under a StoreKey; writes are synced to
// disk before they return, because the feed deletes from mailboxes only
// what the store holds.
type Store struct {
	db  *badger.DB
	dir string
}

// Store sizing: a client's store is small and mostly idle.
const (
	storeMemTable     = 16 << 20
	storeValueLogFile = 64 << 20
	storeValueInline  = 64 << 10 // larger values (photos) live in the value log
	storeBlockCache   = 16 << 20
	storeIndexCache   = 8 << 20
	storeKeyRotation  = 30 * 24 * time.Hour // badger's data keys under the store key
)

// maxKeyLen bounds the keys of the layout (SPEC.md §9.10): the longest is a
// delivered message's, 1 + 8 + 32 + 16 bytes.
const maxKeyLen = 64

// OpenStore opens (or creates) the store in dir under key. A key that does
// not open an existing store gives ErrWrongKey.
func OpenStore(dir string, key StoreKey) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("feed: store: %w", err)
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithSyncWrites(true).
		WithEncryptionKey(bytes.Clone(key[:])).
		WithEncryptionKeyRotationDuration(storeKeyRotation).
		WithMemTableSize(storeMemTable).
		WithNumMemtables(2).
		WithValueLogFileSize(storeValueLogFile).
		WithValueThreshold(storeValueInline).
		WithBlockCacheSize(storeBlockCache).
		WithIndexCacheSize(storeIndexCache).
		WithNumCompactors(2)
	db, err := badger.Open(opts)
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		return nil, ErrWrongKey
	}
	if err != nil {
		return nil, fmt.Errorf("feed: store %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir}
	if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("feed: store: %w", err)
	}
	return nil
}

// checkSchema writes the schema record into a new store and checks it in
// an old one.
func (s *Store) checkSchema() error {
	v, err := s.get(key(kindSchema))
	if err != nil {
		return err
	}
	if v == nil {
		empty := true
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			it.Rewind()
			empty = !it.Valid()
			return nil
		})
		if err != nil {
			return fmt.Errorf("feed: store: %w", err)
		}
		if !empty {
			return fmt.Errorf("%w: no schema record", ErrCorrupt)
		}
		return s.update(func(txn *badger.Txn) error {
			return txn.Set(key(kindSchema), []byte{schemaVersion})
		})
	}
	if len(v) != 1 || v[0] != schemaVersion {
		return fmt.Errorf("%w: schema %x, this program reads schema %d", ErrCorrupt, v, schemaVersion)
	}
	return nil
}

// get returns a copy of the value under k, or nil if there is none.
func (s *Store) get(k []byte) ([]byte, error) {
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		if v == nil {
			v = []byte{}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("feed: store: %w", err)
	}
	return v, nil
}

// has reports whether k is present.
func (s *Store) has(k []byte) (bool, error) {
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("feed: store: %w", err)
	}
	return found, nil
}

// update runs fn in a read-write transaction and commits it durably.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	if err := s.db.Update(fn); err != nil {
		return fmt.Errorf("feed: store: %w", err)
	}
	return nil
}

// scan calls fn with each key under prefix and its value, in key order (or
// reversed), until fn returns false or an error.
func (s *Store) scan(prefix []byte, reverse bool, keysOnly bool, fn func(k, v []byte) (bool, error)) error {
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.IteratorOptions{Prefix: prefix, Reverse: reverse, PrefetchValues: !keysOnly, PrefetchSize: 16}
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := prefix
		if reverse {
			seek = append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, maxKeyLen)...)
		}
		for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			var v []byte
			if !keysOnly {
				var err error
				if v, err = item.ValueCopy(nil); err != nil {
					return err
				}
			}
			more, err := fn(item.KeyCopy(nil), v)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("feed: store: %w", err)
	}
	return err
}
