//go:build linux

package mixnet

import (
	"syscall"
	"unsafe"
)

// allocBlocks returns n zeroed filter blocks in anonymous memory advised
// for transparent huge pages: every lookup touches a random block of a
// filter of several megabytes, and with 4 KiB pages each costs a TLB miss
// besides the cache miss. The memory is outside Go's heap (it holds no
// pointers) and freeBlocks returns it. On failure it falls back to the heap.
func allocBlocks(n int) (blocks [][blockWords]uint64, free func()) {
	size := n * blockBits / 8
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([][blockWords]uint64, n), func() {}
	}
	_ = syscall.Madvise(mem, 14) // MADV_HUGEPAGE; advice only, so an error changes nothing
	blocks = unsafe.Slice((*[blockWords]uint64)(unsafe.Pointer(&mem[0])), n)
	return blocks, func() { _ = syscall.Munmap(mem) }
}
