package sim

import (
	"math/rand/v2"
)

// accounting counts what the network carries and what it costs: packets
// by kind on every link, per client sent and received, latencies of what
// users do, losses. Counts of traffic start after the warm-up.
type accounting struct {
	w    *world
	warm int64

	clientSent, clientRecv []uint32
	linkKind               [numKinds]int64 // link transmissions
	clientKind             [numKinds]int64 // client → gateway transmissions
	builtKind              [numKinds]int64 // packets made (whole run)
	arrivedKind            [numKinds]int64 // packets that reached their end (whole run)
	droppedKind            [numKinds]int64 // packets a Router dropped

	lat [numKinds]*reservoir // seconds, by the kind of the pending record

	posts []post

	expired, refused, buildErrors int64
	repliesOpened, repliesBad     int64
}

func newAccounting(w *world) *accounting {
	a := &accounting{w: w, warm: int64(w.sc.Warmup.Duration),
		clientSent: make([]uint32, w.nc), clientRecv: make([]uint32, w.nc)}
	r := rand.New(rand.NewPCG(w.sc.Seed, 0x1a7e))
	for k := range a.lat {
		a.lat[k] = newReservoir(200_000, r)
	}
	return a
}

func (a *accounting) built(k Kind) { a.builtKind[k]++ }

func (a *accounting) sent(from, to endpoint, tr truth, now int64) {
	if now < a.warm {
		return
	}
	a.linkKind[tr.kind]++
	if int(from) < a.w.nc {
		a.clientSent[from]++
		a.clientKind[tr.kind]++
	}
	if int(to) < a.w.nc {
		a.clientRecv[to]++
	}
}

func (a *accounting) dropped(_ *node, tr truth) { a.droppedKind[tr.kind]++ }

// arrived records a packet delivered to a service or a node's loop
// recipient.
func (a *accounting) arrived(tr truth, now int64) {
	a.arrivedKind[tr.kind]++
	rec, ok := a.w.pending[tr.id]
	if !ok {
		return
	}
	delete(a.w.pending, tr.id)
	if rec.at >= a.warm {
		a.lat[rec.kind].add(float64(now-rec.at) / 1e9)
	}
}

// arrivedID records a packet that reached a client: a loop back home, a
// post's header at a friend, a fetch's answer.
func (a *accounting) arrivedID(id uint64, now int64, c *client) {
	rec, ok := a.w.pending[id]
	if !ok {
		return
	}
	delete(a.w.pending, id)
	a.arrivedKind[rec.kind]++
	if rec.at >= a.warm {
		a.lat[rec.kind].add(float64(now-rec.at) / 1e9)
	}
	if rec.kind == KindPost {
		p := &a.posts[rec.post]
		p.delivered++
		if p.first == 0 {
			p.first = now
		}
	}
}

// reservoir keeps a uniform sample of at most n values.
type reservoir struct {
	n    int
	seen int64
	v    []float64
	r    *rand.Rand
}

func newReservoir(n int, r *rand.Rand) *reservoir { return &reservoir{n: n, r: r} }

func (s *reservoir) add(x float64) {
	s.seen++
	if len(s.v) < s.n {
		s.v = append(s.v, x)
		return
	}
	if j := s.r.Int64N(s.seen); j < int64(s.n) {
		s.v[j] = x
	}
}
