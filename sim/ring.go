package sim

// ring is a FIFO of events addressed by absolute index: an index stays
// valid while its event is held, however many older events have been
// dropped from the front.
type ring[T any] struct {
	buf   []T
	head  int   // position of the first event in buf
	n     int   // events held
	first int64 // absolute index of the first event
}

func (r *ring[T]) push(v T) {
	if r.n == len(r.buf) {
		buf := make([]T, max(256, 2*len(r.buf)))
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = v
	r.n++
}

// at returns the event of absolute index i, which must be held.
func (r *ring[T]) at(i int64) *T {
	return &r.buf[(r.head+int(i-r.first))%len(r.buf)]
}

func (r *ring[T]) lo() int64 { return r.first }
func (r *ring[T]) hi() int64 { return r.first + int64(r.n) } // one past the last

// front returns the oldest event; the ring must not be empty.
func (r *ring[T]) front() *T { return &r.buf[r.head] }

func (r *ring[T]) popFront() {
	var zero T
	r.buf[r.head] = zero
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.first++
}

// search returns the smallest absolute index i in [lo, hi) for which
// pred(at(i)) holds, or hi if none does; pred must be false then true
// along the ring.
func (r *ring[T]) search(pred func(*T) bool) int64 {
	lo, hi := r.lo(), r.hi()
	for lo < hi {
		mid := lo + (hi-lo)/2
		if pred(r.at(mid)) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
