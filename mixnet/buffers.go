package mixnet

// bufferPool recycles packet buffers between the links that read packets,
// the workers that unwrap them and the links that send them on: at tens of
// thousands of packets a second, allocating each would keep the garbage
// collector busy. A bounded free list rather than a sync.Pool, so its
// memory has a ceiling and Put costs no allocation.
type bufferPool struct {
	size int
	free chan []byte
}

func newBufferPool(size, capacity int) *bufferPool {
	return &bufferPool{size: size, free: make(chan []byte, capacity)}
}

// get returns a buffer of the packet length.
func (p *bufferPool) get() []byte {
	select {
	case b := <-p.free:
		return b
	default:
		return make([]byte, p.size)
	}
}

// put recycles b if it is a whole packet buffer and the list has room.
func (p *bufferPool) put(b []byte) {
	if cap(b) < p.size {
		return
	}
	select {
	case p.free <- b[:p.size]:
	default:
	}
}
