package sim

// timingAttack correlates each post with the clients' send times: the
// adversary learns when a post's first header packet reaches a friend
// (the friend, or the friend's screen, is watched) and scores every client
// by the likelihood that one of its recent sends was that packet — the sum
// of the path-delay density over its sends. The rank of the true author
// among all clients is the measure: 1 is found, about half the clients is
// nothing learnt.
type timingAttack struct {
	a       *adversary
	kern    pathKernel
	sends   ring[sendEv]
	score   []float64
	touched []int32
	ranks   []float64
	clients int
}

type sendEv struct {
	t int64
	c int32
}

func newTimingAttack(a *adversary) *timingAttack {
	w := a.w
	L := w.sc.Topology.Layers
	return &timingAttack{a: a, kern: newPathKernel(L, w.sc.Rates.Mu, int64(L+2)*w.lat),
		score: make([]float64, w.nc), clients: w.nc}
}

func (t *timingAttack) clientSent(c endpoint, now int64) {
	if t.a.w.sc.Adversary.Posts == 0 {
		return
	}
	span := t.kern.span()
	for t.sends.n > 0 && now-t.sends.front().t > span {
		t.sends.popFront()
	}
	t.sends.push(sendEv{t: now, c: c})
}

// score ranks the author of a post delivered now.
func (t *timingAttack) rankAuthor(author endpoint, now int64) {
	span := t.kern.span()
	for i := t.sends.hi() - 1; i >= t.sends.lo(); i-- {
		e := t.sends.at(i)
		d := now - e.t
		if d > span {
			break
		}
		if k := t.kern.density(d); k > 0 {
			if t.score[e.c] == 0 {
				t.touched = append(t.touched, e.c)
			}
			t.score[e.c] += k
		}
	}
	sa := t.score[author]
	above, ties, positive := 0, 0, 0
	for _, c := range t.touched {
		s := t.score[c]
		if s > 0 {
			positive++
		}
		switch {
		case s > sa:
			above++
		case s == sa && c != author:
			ties++
		}
	}
	if sa == 0 {
		ties = t.clients - positive - 1
	}
	t.ranks = append(t.ranks, 1+float64(above)+float64(ties)/2)
	for _, c := range t.touched {
		t.score[c] = 0
	}
	t.touched = t.touched[:0]
}
