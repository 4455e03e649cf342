package mixnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// A replay filter of a node with a data directory lives in a file, mapped
// into memory and shared with the kernel's page cache (SPEC.md §5.5): every
// tag the filter records is in the file as soon as it is in the filter, so
// a node that crashes or is killed, and comes back within its key's epoch,
// still recognises every packet it had already seen. Only a crash of the
// whole machine can lose what the kernel had not yet written back.

// Layout of a filter file: a 64-byte header, then the blocks.
const (
	replayMagic     = "LOAMRPF1"
	replayHeaderLen = 64
	offEpoch        = 8
	offCapacity     = 16
	offBlocks       = 24
	offK            = 32
	offInserted     = 40
	// maxReplayBlocks bounds what a header may claim: 2^32 blocks are a
	// 256 GiB filter, past the largest that loam-node's configuration
	// allows (2^32 tags at a false-positive rate of 10^-12, about 30 GB).
	maxReplayBlocks = 1 << 32
)

// errReplayFile says a filter file cannot be used as it is; the caller
// moves it aside and starts an empty filter.
var errReplayFile = errors.New("mixnet: replay filter file unusable")

// replayGeometry is what a filter file's header says about it.
type replayGeometry struct {
	epoch, capacity, blocks, inserted uint64
	k                                 int
}

func (g replayGeometry) fileSize() int64 {
	return replayHeaderLen + int64(g.blocks)*blockBits/8
}

// appendReplayHeader appends the 64-byte header of a filter file.
func appendReplayHeader(b []byte, g replayGeometry) []byte {
	b = append(b, replayMagic...)
	b = binary.LittleEndian.AppendUint64(b, g.epoch)
	b = binary.LittleEndian.AppendUint64(b, g.capacity)
	b = binary.LittleEndian.AppendUint64(b, g.blocks)
	b = binary.LittleEndian.AppendUint32(b, uint32(g.k))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, g.inserted)
	return append(b, make([]byte, replayHeaderLen-offInserted-8)...)
}

// parseReplayHeader checks a filter file's header against the file's size
// and the epoch its name gives.
func parseReplayHeader(h []byte, size int64, epoch uint64) (replayGeometry, error) {
	if len(h) < replayHeaderLen || string(h[:len(replayMagic)]) != replayMagic {
		return replayGeometry{}, fmt.Errorf("%w: not a filter file", errReplayFile)
	}
	le := binary.LittleEndian
	g := replayGeometry{epoch: le.Uint64(h[offEpoch:]), capacity: le.Uint64(h[offCapacity:]),
		blocks: le.Uint64(h[offBlocks:]), inserted: le.Uint64(h[offInserted:])}
	k := le.Uint32(h[offK:])
	switch {
	case g.epoch != epoch:
		return replayGeometry{}, fmt.Errorf("%w: made for epoch %d", errReplayFile, g.epoch)
	case g.capacity == 0 || g.blocks == 0 || g.blocks > maxReplayBlocks || k == 0 || k > maxBloomK:
		return replayGeometry{}, fmt.Errorf("%w: capacity %d, %d blocks, k %d", errReplayFile, g.capacity, g.blocks, k)
	case le.Uint32(h[offK+4:]) != 0 || !allZero(h[offInserted+8:replayHeaderLen]):
		return replayGeometry{}, fmt.Errorf("%w: reserved bytes set", errReplayFile)
	}
	g.k = int(k)
	if g.fileSize() > math.MaxInt {
		return replayGeometry{}, fmt.Errorf("%w: %d blocks do not fit in memory here", errReplayFile, g.blocks)
	}
	if size != g.fileSize() {
		return replayGeometry{}, fmt.Errorf("%w: %d bytes, header says %d", errReplayFile, size, g.fileSize())
	}
	return g, nil
}

// openReplayFile maps the filter file at path for epoch: the one already
// there if its header holds (its own size then wins over capacity and fp,
// which only size new filters), else a new one. A file that does not hold
// is renamed to path+badSuffix and replaced; moved says why.
func openReplayFile(path string, epoch, capacity uint64, fp float64) (f *replayFilter, restored bool, moved error, err error) {
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case err == nil:
		if err := lockReplayFile(file); err != nil {
			file.Close()
			return nil, false, nil, err
		}
		g, perr := readReplayHeader(file, epoch)
		if perr == nil {
			f, err = mapReplayFile(file, g, false)
			return f, err == nil, nil, err
		}
		file.Close()
		if err := os.Rename(path, path+badSuffix); err != nil {
			return nil, false, perr, fmt.Errorf("mixnet: moving a bad replay filter file aside: %w", err)
		}
		moved = perr
	case !errors.Is(err, os.ErrNotExist):
		return nil, false, nil, fmt.Errorf("mixnet: opening replay filter file: %w", err)
	}
	capacity, fp = replaySizing(capacity, fp)
	blocks, k := sizeBlockedBloom(capacity, fp)
	g := replayGeometry{epoch: epoch, capacity: capacity, blocks: blocks, k: k}
	if blocks > maxReplayBlocks || g.fileSize() > math.MaxInt {
		return nil, false, moved, fmt.Errorf("mixnet: a replay filter of %d blocks is too large for a file here", blocks)
	}
	file, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, moved, fmt.Errorf("mixnet: creating replay filter file: %w", err)
	}
	if err := lockReplayFile(file); err != nil {
		file.Close()
		return nil, false, moved, err
	}
	// The blocks are zeros; a crash before the header is written leaves a
	// file that the next start moves aside. mapReplayFile gives them disk
	// space before they are written through the mapping.
	if err := file.Truncate(g.fileSize()); err != nil {
		file.Close()
		os.Remove(path)
		return nil, false, moved, fmt.Errorf("mixnet: creating replay filter file: %w", err)
	}
	if _, err := file.WriteAt(appendReplayHeader(nil, g), 0); err != nil {
		file.Close()
		os.Remove(path)
		return nil, false, moved, fmt.Errorf("mixnet: creating replay filter file: %w", err)
	}
	f, err = mapReplayFile(file, g, true)
	if err != nil {
		os.Remove(path) // made here and never used: its space went to no one
	}
	return f, false, moved, err
}

func readReplayHeader(file *os.File, epoch uint64) (replayGeometry, error) {
	fi, err := file.Stat()
	if err != nil {
		return replayGeometry{}, fmt.Errorf("%w: %w", errReplayFile, err)
	}
	h := make([]byte, replayHeaderLen)
	if _, err := file.ReadAt(h, 0); err != nil {
		return replayGeometry{}, fmt.Errorf("%w: reading header: %w", errReplayFile, err)
	}
	return parseReplayHeader(h, fi.Size(), epoch)
}
