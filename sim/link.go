package sim

import "loam/onion"

// linkMsg is one transmission on a link: what the adversary sees (from, to,
// when) and what the simulator needs to hand it over (the packet, and its
// ground truth for scoring).
type linkMsg struct {
	due      int64 // arrival, ns since the start
	from, to endpoint
	pkt      []byte
	tr       truth
	seq      uint64 // the transmission's number, for the adversary
	sid      onion.SURBID
	reply    bool // gateway → client: a SURB reply (sid says which)
}

// linkQueue holds the transmissions in flight. Every link has the same
// latency, so arrivals come in the order of sending: a FIFO ring, with no
// heap and no timer per packet.
type linkQueue struct {
	buf        []linkMsg
	head, size int
}

func (q *linkQueue) push(m linkMsg) {
	if q.size == len(q.buf) {
		n := max(1024, 2*len(q.buf))
		buf := make([]linkMsg, n)
		for i := range q.size {
			buf[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = m
	q.size++
}

func (q *linkQueue) peek() *linkMsg {
	if q.size == 0 {
		return nil
	}
	return &q.buf[q.head]
}

func (q *linkQueue) pop() linkMsg {
	m := q.buf[q.head]
	q.buf[q.head] = linkMsg{}
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return m
}

// obs is one thing the adversary observes, passed from the simulation to
// the adversary's goroutine in batches.
type obs struct {
	t        int64
	seq      uint64
	tr       truth
	from, to endpoint
	what     obsWhat
}

type obsWhat uint8

const (
	obsSend       obsWhat = iota + 1 // a transmission leaves from
	obsArrive                        // a transmission reaches node to
	obsCheckpoint                    // the disclosure attack ranks its targets' recipients
)

const obsBatch = 4096

// emit queues an observation for the adversary.
func (w *world) emit(o obs) {
	w.batch = append(w.batch, o)
	if len(w.batch) == obsBatch {
		w.flush()
	}
}

// flush hands the queued observations to the adversary.
func (w *world) flush() {
	if len(w.batch) == 0 {
		return
	}
	w.adv.in <- w.batch
	select {
	case b := <-w.adv.free:
		w.batch = b[:0]
	default:
		w.batch = make([]obs, 0, obsBatch)
	}
}
