package mailbox

import (
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// A GC round, every GCInterval on the store's clock: purge the entries
// that have expired, found through the expiry index (oldest minute
// first), forgetting the mailboxes left empty and idle for the TTL, then
// let badger rewrite value-log files that are mostly garbage. Expired
// entries are hidden from Fetch and Deposit at once; the round only
// reclaims their space.

// gcScan bounds the index keys one purge operation carries.
const gcScan = 1024

// gcDiscardRatio is the share of garbage at which badger rewrites a
// value-log file.
const gcDiscardRatio = 0.5

func (s *BadgerStore) gcRound() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	if n, err := s.purge(); err != nil {
		s.log.Error("mailbox store: purging expired entries", "err", err)
	} else if n > 0 {
		s.log.Debug("mailbox store: purged expired entries", "entries", n)
	}
	s.collectValueLog()
	s.timer = s.clock.AfterFunc(s.gcEvery, s.gcRound)
}

// purge walks the expiry index from its oldest key to the last minute
// that has wholly expired and hands the keys to the committer, gcScan at a
// time. It returns how many entries were purged.
func (s *BadgerStore) purge() (uint64, error) {
	cut := s.cut()
	var total uint64
	from := []byte{keyExpiry}
	for {
		keys, err := s.dueKeys(from, cut)
		if err != nil || len(keys) == 0 {
			return total, err
		}
		o := &writeOp{kind: writePurge, keys: keys}
		if err := s.do(o); err != nil {
			return total, err
		}
		total += o.n
		if len(keys) < gcScan {
			return total, nil
		}
		from = slices.Concat(keys[len(keys)-1], []byte{0}) // just after the last one
	}
}

// dueKeys lists up to gcScan expiry index keys from from on whose minute
// ended by cut.
func (s *BadgerStore) dueKeys(from []byte, cut int64) ([][]byte, error) {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{keyExpiry}})
		defer it.Close()
		for it.Seek(from); it.Valid() && len(keys) < gcScan; it.Next() {
			k := it.Item().KeyCopy(nil)
			if len(k) != expiryKeyLen {
				return fmt.Errorf("%w: expiry key %x", ErrCorruptStore, k)
			}
			if keyTime(k) > cut-expiryBucket {
				break
			}
			keys = append(keys, k)
		}
		return nil
	})
	return keys, err
}

// collectValueLog runs badger's value-log GC until it finds nothing to
// rewrite.
func (s *BadgerStore) collectValueLog() {
	for range 64 { // each call rewrites at most one file
		err := s.db.RunValueLogGC(gcDiscardRatio)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.log.Warn("mailbox store: value-log GC", "err", err)
		}
		return
	}
}
