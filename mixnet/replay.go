package mixnet

import (
	"encoding/binary"
	"math"
	"sync"

	"loam/onion"
)

// replayFilter remembers the replay tags one onion key has seen. It is a
// blocked Bloom filter: every tag sets k bits inside one 512-bit block, so a
// lookup costs one cache miss instead of k. Memory is fixed when the filter
// is made, whatever the traffic; past its capacity the false-positive rate
// rises (a false positive drops an honest packet), which the node reports as
// a metric. The filter dies with its key, so it never needs clearing. A
// node with a data directory keeps it in a file (replayfile.go).
type replayFilter struct {
	mu       sync.Mutex
	blocks   [][blockWords]uint64
	inserted *uint64 // in the file's header when the filter has a file
	k        int
	capacity uint64
	// unmap returns the blocks' memory, first writing a file's pages to
	// disk if flush is set.
	unmap func(flush bool) error
}

const (
	blockBits  = 512
	blockWords = blockBits / 64
	// A tag is 256 pseudorandom bits: 64 pick the block, the other 192
	// give at most 21 9-bit positions inside it.
	maxBloomK = (onion.ReplayTagLen*8 - 64) / 9
)

// replaySizing puts capacity and fp in range for sizeBlockedBloom: a
// capacity of 0 is 1, a rate outside (0, 1) the default, one below the
// minimum the minimum.
func replaySizing(capacity uint64, fp float64) (uint64, float64) {
	if !(fp > 0 && fp < 1) {
		fp = defaultReplayFP
	}
	return max(capacity, 1), max(fp, MinReplayFP)
}

// newReplayFilter sizes a filter for capacity tags at a false-positive rate
// of at most fp once full.
func newReplayFilter(capacity uint64, fp float64) *replayFilter {
	capacity, fp = replaySizing(capacity, fp)
	n, k := sizeBlockedBloom(capacity, fp)
	blocks, free := allocBlocks(int(n))
	return &replayFilter{blocks: blocks, inserted: new(uint64), k: k, capacity: capacity,
		unmap: func(bool) error { free(); return nil }}
}

// deadFilter is the filter of a key that is gone: it holds nothing and
// reports every tag seen, so the packets of that key are dropped.
func deadFilter() *replayFilter { return &replayFilter{inserted: new(uint64)} }

// release returns the filter's memory, after writing a file's pages to
// disk if flush is set. Later lookups report every tag seen: the packet's
// key is gone too, or the node is stopping.
func (f *replayFilter) release(flush bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocks == nil {
		return nil
	}
	n := *f.inserted // the count may live in the mapping that goes now
	f.blocks, f.inserted = nil, &n
	return f.unmap(flush)
}

// sizeBlockedBloom picks the number of blocks and bits per tag: the classic
// Bloom size first, grown until the blocked filter's rate (which suffers from
// uneven block loads) meets fp.
func sizeBlockedBloom(n uint64, fp float64) (blocks uint64, k int) {
	bits := math.Ceil(-float64(n) * math.Log(fp) / (math.Ln2 * math.Ln2))
	for {
		blocks = uint64(math.Ceil(bits / blockBits))
		k = int(math.Round(float64(blocks*blockBits) / float64(n) * math.Ln2))
		k = max(1, min(k, maxBloomK))
		if blockedFPRate(n, blocks, k) <= fp {
			return blocks, k
		}
		bits *= 1.05
	}
}

// blockedFPRate is the false-positive rate of a blocked Bloom filter of
// `blocks` 512-bit blocks holding n tags with k bits each: block loads are
// Poisson with mean n/blocks; a block holding i tags answers a fresh tag
// wrongly with probability (1 − (1 − 1/512)^(i·k))^k.
func blockedFPRate(n, blocks uint64, k int) float64 {
	lambda := float64(n) / float64(blocks)
	var sum, weight float64
	p := math.Exp(-lambda) // Poisson(0)
	for i := 0; i < int(lambda*4)+64; i++ {
		if i > 0 {
			p *= lambda / float64(i)
		}
		fill := 1 - math.Pow(1-1.0/blockBits, float64(i*k))
		sum += p * math.Pow(fill, float64(k))
		weight += p
	}
	return sum / weight
}

// seen records tag and reports whether it was (probably) recorded before.
func (f *replayFilter) seen(tag *onion.ReplayTag) bool { return f.probe(tag, true) }

// probe reports whether every bit of tag is set, setting them if insert.
func (f *replayFilter) probe(tag *onion.ReplayTag, insert bool) bool {
	blk := binary.LittleEndian.Uint64(tag[:8])
	var acc uint64 // 192 bits of positions, drawn 9 at a time
	bitsLeft := 0
	next := 8
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocks == nil {
		return true // released with its key: the packet's key is gone too
	}
	b := &f.blocks[blk%uint64(len(f.blocks))]
	present := true
	for range f.k {
		if bitsLeft < 9 {
			acc |= uint64(tag[next]) << bitsLeft
			next++
			bitsLeft += 8
			if bitsLeft < 9 {
				acc |= uint64(tag[next]) << bitsLeft
				next++
				bitsLeft += 8
			}
		}
		pos := acc & (blockBits - 1)
		acc >>= 9
		bitsLeft -= 9
		w, m := pos/64, uint64(1)<<(pos%64)
		if b[w]&m == 0 {
			present = false
			if insert {
				b[w] |= m
			}
		}
	}
	if !present && insert {
		*f.inserted++
	}
	return present
}

// fill reports how many tags the filter holds against its capacity.
func (f *replayFilter) fill() (inserted, capacity uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.inserted, f.capacity
}
