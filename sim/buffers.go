package sim

import "unsafe"

// buffers are the model's packet buffers. A packet keeps one buffer for
// its whole path (a Router unwraps in place and relays the same slice), and
// the buffer comes back here when the packet ends. Buffers are carved from
// arenas, so a buffer's number follows from its address alone; the
// simulator's record of the packet (its truth) is kept in a dense array
// under that number. Reading the record from the packet instead cost a
// cache miss at every hop: a packet's header is cold after it has waited
// out its delay in a mix, and a large run moves 90 million of them.
type buffers struct {
	size   int // bytes of a packet
	stride int // bytes between buffers: size rounded up to a cache line
	arenas []arena
	free   []int32
	truths []truth // by buffer number
}

type arena struct {
	mem   []byte
	base  uintptr
	first int32 // number of its first buffer
}

const arenaBufs = 4096

func newBuffers(size int) *buffers {
	return &buffers{size: size, stride: (size + 63) &^ 63}
}

// get returns a free buffer and its number.
func (b *buffers) get() ([]byte, int32) {
	if len(b.free) == 0 {
		b.grow()
	}
	i := b.free[len(b.free)-1]
	b.free = b.free[:len(b.free)-1]
	a := &b.arenas[int(i)/arenaBufs]
	off := int(i-a.first) * b.stride
	return a.mem[off : off+b.size : off+b.size], i
}

func (b *buffers) grow() {
	first := int32(len(b.arenas) * arenaBufs)
	mem := make([]byte, arenaBufs*b.stride)
	b.arenas = append(b.arenas, arena{mem: mem, base: uintptr(unsafe.Pointer(unsafe.SliceData(mem))), first: first})
	b.truths = append(b.truths, make([]truth, arenaBufs)...)
	// Hand out low addresses first.
	for k := arenaBufs - 1; k >= 0; k-- {
		b.free = append(b.free, first+int32(k))
	}
}

// number returns the number of the buffer pkt is, or −1 if pkt is not one
// of these buffers (a reply a service sealed into a fresh packet).
func (b *buffers) number(pkt []byte) int32 {
	if len(pkt) == 0 {
		return -1
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(pkt)))
	span := uintptr(arenaBufs * b.stride)
	for k := range b.arenas {
		a := &b.arenas[k]
		if p-a.base < span { // unsigned: also false below base
			off := p - a.base
			if off%uintptr(b.stride) != 0 {
				return -1
			}
			return a.first + int32(off/uintptr(b.stride))
		}
	}
	return -1
}

// put returns a buffer; it reports false for one that is not ours.
func (b *buffers) put(pkt []byte) bool {
	i := b.number(pkt)
	if i < 0 {
		return false
	}
	b.truths[i] = truth{}
	b.free = append(b.free, i)
	return true
}
