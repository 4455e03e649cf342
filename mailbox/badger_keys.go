package mailbox

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The key layout of a BadgerStore (docs/spec-drafts/replica.md). Every key
// starts with one byte naming its kind; integers are big-endian so that
// badger's byte order is numeric order, and times are t64: Unix nanoseconds
// with the sign bit flipped, so that they sort as times do.
//
//	"v"                                  → storeMarker
//	'm' ‖ id (32)                        → u64 last seq ‖ u64 entries ‖ u64 bytes ‖ t64 last deposit
//	'e' ‖ id (32) ‖ u64 seq              → t64 deposited ‖ blob
//	'd' ‖ id (32) ‖ SHA-256(blob) (32)   → u64 seq
//	'x' ‖ t64 minute ‖ id (32)           → empty: id took a deposit in the minute
//	                                       starting at that time (expiry index)
const (
	keyMarker = 'v'
	keyMeta   = 'm'
	keyEntry  = 'e'
	keyDedup  = 'd'
	keyExpiry = 'x'
)

// expiryBucket is the granularity of the expiry index: a mailbox has one
// index key for each minute in which it took deposits, not one per entry.
const expiryBucket = int64(time.Minute)

// bucketOf is the start of the bucket holding time at (Unix nanoseconds).
func bucketOf(at int64) int64 {
	b := at - at%expiryBucket
	if at < 0 && at%expiryBucket != 0 {
		b -= expiryBucket
	}
	return b
}

// storeMarker is the value of the key "v": it tells a mailbox store from
// any other badger database, and its version from later ones.
const storeMarker = "loam mailbox store v1"

const (
	metaLen      = 8 + 8 + 8 + 8
	entryKeyLen  = 1 + IDLen + 8
	expiryKeyLen = 1 + 8 + IDLen
)

func markerKey() []byte { return []byte{keyMarker} }

func metaKey(id ID) []byte {
	return append([]byte{keyMeta}, id[:]...)
}

func entryPrefix(id ID) []byte {
	k := make([]byte, 0, entryKeyLen)
	k = append(k, keyEntry)
	return append(k, id[:]...)
}

func entryKey(id ID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(entryPrefix(id), seq)
}

func dedupKey(id ID, hash *[32]byte) []byte {
	k := make([]byte, 0, 1+IDLen+32)
	k = append(k, keyDedup)
	k = append(k, id[:]...)
	return append(k, hash[:]...)
}

func expiryKey(bucket int64, id ID) []byte {
	k := make([]byte, 0, expiryKeyLen)
	k = append(k, keyExpiry)
	k = binary.BigEndian.AppendUint64(k, t64(bucket))
	return append(k, id[:]...)
}

// t64 encodes Unix nanoseconds so that byte order is time order, before
// 1970 included.
func t64(ns int64) uint64 { return uint64(ns) ^ 1<<63 }

func fromT64(u uint64) int64 { return int64(u ^ 1<<63) }

// keyTime reads the time of an expiry index key.
func keyTime(k []byte) int64 { return fromT64(binary.BigEndian.Uint64(k[1:9])) }

// parseEntryKey returns the sequence number of an entry key.
func parseEntryKey(k []byte) (uint64, error) {
	if len(k) != entryKeyLen || k[0] != keyEntry {
		return 0, fmt.Errorf("%w: entry key %x", ErrCorruptStore, k)
	}
	return binary.BigEndian.Uint64(k[1+IDLen:]), nil
}

// parseExpiryKey splits an expiry index key.
func parseExpiryKey(k []byte) (bucket int64, id ID, err error) {
	if len(k) != expiryKeyLen || k[0] != keyExpiry {
		return 0, id, fmt.Errorf("%w: expiry key %x", ErrCorruptStore, k)
	}
	copy(id[:], k[9:])
	return keyTime(k), id, nil
}

// boxMeta is what a store knows of one mailbox id besides its entries.
type boxMeta struct {
	exists  bool   // the id has a meta record
	last    uint64 // the last sequence number given out; the next is last+1
	entries uint64 // entries held
	bytes   uint64 // blob bytes held
	lastAt  int64  // Unix nanoseconds of the latest deposit stored

	dirty   bool // changed in the transaction being built
	retired bool // to be forgotten when that transaction commits
}

func (m *boxMeta) encode() []byte {
	b := make([]byte, 0, metaLen)
	b = binary.BigEndian.AppendUint64(b, m.last)
	b = binary.BigEndian.AppendUint64(b, m.entries)
	b = binary.BigEndian.AppendUint64(b, m.bytes)
	return binary.BigEndian.AppendUint64(b, t64(m.lastAt))
}

func decodeMeta(id ID, b []byte) (boxMeta, error) {
	if len(b) != metaLen {
		return boxMeta{}, fmt.Errorf("%w: meta record of mailbox %v has %d bytes, want %d", ErrCorruptStore, id, len(b), metaLen)
	}
	m := boxMeta{
		exists:  true,
		last:    binary.BigEndian.Uint64(b),
		entries: binary.BigEndian.Uint64(b[8:]),
		bytes:   binary.BigEndian.Uint64(b[16:]),
		lastAt:  fromT64(binary.BigEndian.Uint64(b[24:])),
	}
	if m.entries > m.last {
		return boxMeta{}, fmt.Errorf("%w: mailbox %v holds %d entries but gave out only %d numbers", ErrCorruptStore, id, m.entries, m.last)
	}
	return m, nil
}

// encodeEntry is an entry's value: when it was deposited, then the blob.
func encodeEntry(at int64, blob []byte) []byte {
	v := make([]byte, 0, 8+len(blob))
	v = binary.BigEndian.AppendUint64(v, t64(at))
	return append(v, blob...)
}

// decodeEntry splits an entry's value; blob aliases v.
func decodeEntry(v []byte) (at int64, blob []byte, err error) {
	if len(v) < 8 {
		return 0, nil, fmt.Errorf("%w: entry value of %d bytes", ErrCorruptStore, len(v))
	}
	return fromT64(binary.BigEndian.Uint64(v)), v[8:], nil
}

func encodeSeq(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func decodeSeq(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: dedup value of %d bytes", ErrCorruptStore, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
