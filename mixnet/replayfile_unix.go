//go:build unix

package mixnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileFiltersWork: the blocks are read and written in place as native
// 64-bit words, and the file's words are little-endian.
var fileFiltersWork = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// lockReplayFile takes an exclusive lock on a filter file for as long as
// it is open: two nodes on one data directory would otherwise share a
// filter, and one could shrink the file under the other's mapping.
func lockReplayFile(file *os.File) error {
	if err := unix.Flock(int(file.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("mixnet: replay filter file %s is in use by another process: %w", file.Name(), err)
	}
	return nil
}

// mapReplayFile maps file, whose header g describes, as a shared mapping:
// the filter's bits and its count are the file's bytes. It first gives
// every block disk space (fresh: the file was just made): a write through
// the mapping into a page that has none, on a full disk, would kill the
// process with SIGBUS instead of failing here.
func mapReplayFile(file *os.File, g replayGeometry, fresh bool) (*replayFilter, error) {
	if err := reserve(file, g.fileSize(), fresh); err != nil {
		file.Close()
		return nil, fmt.Errorf("mixnet: reserving disk space for replay filter file: %w", err)
	}
	mem, err := unix.Mmap(int(file.Fd()), 0, int(g.fileSize()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("mixnet: mapping replay filter file: %w", err)
	}
	f := &replayFilter{
		blocks:   unsafe.Slice((*[blockWords]uint64)(unsafe.Pointer(&mem[replayHeaderLen])), g.blocks),
		inserted: (*uint64)(unsafe.Pointer(&mem[offInserted])),
		k:        g.k,
		capacity: g.capacity,
	}
	f.unmap = func(flush bool) error {
		var serr error
		if flush {
			serr = unix.Msync(mem, unix.MS_SYNC)
		}
		merr := unix.Munmap(mem)
		cerr := file.Close() // and with it the lock
		if err := errors.Join(serr, merr, cerr); err != nil {
			return fmt.Errorf("mixnet: closing replay filter file: %w", err)
		}
		return nil
	}
	return f, nil
}
