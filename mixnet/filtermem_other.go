//go:build !linux

package mixnet

// allocBlocks returns n zeroed filter blocks from the heap.
func allocBlocks(n int) (blocks [][blockWords]uint64, free func()) {
	return make([][blockWords]uint64, n), func() {}
}
