package cover

// ring is a double-ended queue on a circular buffer that doubles when full.
// Its buffer never shrinks, so its memory is bounded by the most items it
// ever held; callers bound that.
type ring[T any] struct {
	buf  []T
	head int // index of the first item
	n    int // number of items
}

func (r *ring[T]) len() int { return r.n }

// at returns a pointer to the i-th item from the front; 0 ≤ i < len().
func (r *ring[T]) at(i int) *T { return &r.buf[(r.head+i)%len(r.buf)] }

func (r *ring[T]) pushBack(v T) {
	r.growIfFull()
	r.buf[(r.head+r.n)%len(r.buf)] = v
	r.n++
}

func (r *ring[T]) pushFront(v T) {
	r.growIfFull()
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = v
	r.n++
}

// popFront removes and returns the first item; the ring must not be empty.
func (r *ring[T]) popFront() T {
	var zero T
	v := r.buf[r.head]
	r.buf[r.head] = zero // let the garbage collector have what it held
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return v
}

func (r *ring[T]) growIfFull() {
	if r.n < len(r.buf) {
		return
	}
	size := max(2*len(r.buf), 8)
	buf := make([]T, size)
	for i := range r.n {
		buf[i] = *r.at(i)
	}
	r.buf, r.head = buf, 0
}
