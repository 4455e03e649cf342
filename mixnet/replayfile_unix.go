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

// mapReplayFile maps file, whose header g describes, as a shared mapping:
// the filter's bits and its count are the file's bytes.
func mapReplayFile(file *os.File, g replayGeometry) (*replayFilter, error) {
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
		cerr := file.Close()
		if err := errors.Join(serr, merr, cerr); err != nil {
			return fmt.Errorf("mixnet: closing replay filter file: %w", err)
		}
		return nil
	}
	return f, nil
}
