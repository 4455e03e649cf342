package sim

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"
)

// adversary is the global passive observer. It sees every transmission on
// every link — when, from where, to where; all packets look alike — and
// streams what it sees into its estimators. It reads a packet's ground
// truth only to score itself, and, at a compromised mix, to learn which
// input each output was (what such a mix reveals).
type adversary struct {
	w        *world
	warm     int64
	mu       float64 // per second
	keep     int64   // how long the per-node histories are kept, ns
	win      int64   // one mix's kernel window, ns
	layers   int
	nodes    []*advNode
	inflight ring[flight] // node → node transmissions not yet arrived
	rng      *rand.Rand

	challenge [2]endpoint // the two challenge senders of ε

	pExit, pMix float64 // sampling probabilities
	left        struct{ samples, challenges, posts int }
	postSeen    map[uint32]bool // posts whose exit was scored
	postTimed   map[uint32]bool // posts whose delivery was timed

	post posterior

	// The simulation hands observations over in batches: the adversary
	// works on the second core.
	in, free chan []obs
	done     chan struct{}
	cpu      time.Duration // the adversary goroutine's CPU time

	// Results.
	exits     []exitSample
	mixH      *reservoir // per-output entropy, all mixes (for the histogram)
	sda       *disclosure
	timing    *timingAttack
	truncated float64 // mean posterior mass lost to the history's horizon
}

// advNode is what the adversary keeps about one node.
type advNode struct {
	n           *node
	mix         bool
	compromised bool
	mu          float64

	// Decayed sums over the inputs so far, at time last:
	// S = Σ e^{−μ(last−tᵢ)}, T = Σ e^{−μ(last−tᵢ)}·(last−tᵢ) (seconds).
	last int64
	S, T float64

	in   ring[inEv]
	out  ring[outEv]
	held map[uint64]uint64 // compromised: packet id → input seq

	// After the warm-up.
	nIn, nOut int64
	hSum, hSq float64
	hN        int64
	sSum, sSq float64 // entropy over the inputs' senders (sampled)
	sN        int64
}

// flight is a transmission between nodes on its way: the index of its
// sending in the sender's output history.
type flight struct {
	seq uint64
	abs int64
}

type inEv struct {
	t      int64
	seq    uint64
	srcAbs int64 // the transmission in the sender's output history
	src    endpoint
	sender endpoint // ground truth: for the sender-grouped entropy only
}

type outEv struct {
	t     int64
	seq   uint64
	S     float64 // the adversary's normaliser at the output
	inSeq uint64  // compromised: the input it was (0: the node's own packet)
	inAbs int64   // gateways and services: the latest input at the output's instant, or −1
}

// exitSample is one packet leaving the last layer whose sender the
// adversary estimated.
type exitSample struct {
	T         float64 // seconds
	Kind      Kind
	Entropy   float64 // bits, over all senders
	Rank      float64 // of the true sender among the clients (0: a node's packet)
	Eps       float64 // |ln(p0/p1)| for a challenge packet; NaN otherwise
	Challenge bool
	Post      bool
	Mass      float64 // posterior mass inside the history (1 − truncation)
}

func newAdversary(w *world) *adversary {
	sc := w.sc
	L := sc.Topology.Layers
	mu := sc.Rates.Mu
	win := int64(15 / mu * 1e9)
	a := &adversary{
		w: w, warm: int64(sc.Warmup.Duration), mu: mu, win: win, layers: L,
		keep:     int64(L)*win + int64(L+3)*w.lat + int64(time.Second),
		rng:      rand.New(rand.NewPCG(sc.Seed, 0xad7e)),
		postSeen: map[uint32]bool{}, postTimed: map[uint32]bool{},
	}
	a.mixH = newReservoir(100_000, a.rng)
	a.left.samples, a.left.challenges, a.left.posts = sc.Adversary.Samples, sc.Adversary.Challenges, sc.Adversary.Posts

	var mixes []int
	for _, n := range w.nodes {
		an := &advNode{n: n, mix: n.role == RoleMix, mu: mu}
		a.nodes = append(a.nodes, an)
		if an.mix {
			mixes = append(mixes, n.idx)
		}
	}
	nComp := int(math.Round(sc.Adversary.Compromised * float64(len(mixes))))
	for _, i := range a.rng.Perm(len(mixes))[:nComp] {
		an := a.nodes[mixes[i]]
		an.compromised, an.held = true, map[uint64]uint64{}
	}

	// Challenge senders: two posters where possible, so that they send
	// something even with cover off.
	var posters []int
	for _, c := range w.clients {
		if c.poster {
			posters = append(posters, c.idx)
		}
	}
	if len(posters) < 2 {
		posters = a.rng.Perm(w.nc)[:2]
	}
	p := a.rng.Perm(len(posters))
	a.challenge = [2]endpoint{endpoint(posters[p[0]]), endpoint(posters[p[1]])}

	// Sample about Samples exits, and about 200 outputs of each mix for
	// the sender-grouped entropy.
	span := (sc.Duration.Duration - sc.Warmup.Duration).Seconds()
	exits := w.expectedRate(RoleMix) * float64(sc.Topology.MixesPerLayer) * span
	a.pExit = min(1, float64(sc.Adversary.Samples)/max(exits, 1))
	a.pMix = min(1, 200/max(w.expectedRate(RoleMix)*span, 1))

	a.post = newPosterior(w.nc + len(w.nodes))
	a.sda = newDisclosure(a)
	a.timing = newTimingAttack(a)
	return a
}

// start runs the adversary in its own goroutine until finish.
func (a *adversary) start() {
	a.in, a.free, a.done = make(chan []obs, 16), make(chan []obs, 16), make(chan struct{})
	go func() {
		defer close(a.done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu0 := threadCPU()
		defer func() { a.cpu = threadCPU() - cpu0 }()
		for b := range a.in {
			for i := range b {
				a.observe(&b[i])
			}
			select {
			case a.free <- b:
			default:
			}
		}
	}()
}

// finish hands over the last observations and waits for the adversary to
// take them all in.
func (a *adversary) finish() {
	a.w.flush()
	close(a.in)
	<-a.done
}

// observe takes the next observation, in the order they happened.
func (a *adversary) observe(o *obs) {
	switch o.what {
	case obsSend:
		a.sent(o)
	case obsArrive:
		a.arrived(o)
	case obsCheckpoint:
		a.sda.checkpoint(o.t)
	}
}

// sent is one transmission seen on the wire at o.t.
func (a *adversary) sent(o *obs) {
	nc := a.w.nc
	now := o.t
	if int(o.from) < nc {
		a.timing.clientSent(o.from, now)
		a.sda.clientSent(o.from, now)
	} else {
		an := a.nodes[int(o.from)-nc]
		abs := an.output(a, o)
		if int(o.to) >= nc {
			// Every link has one latency: transmissions arrive in the
			// order they were sent, so a FIFO pairs each arrival with
			// its sending.
			a.inflight.push(flight{seq: o.seq, abs: abs})
		}
		if an.mix && an.n.layer == a.layers && now >= a.warm {
			a.exit(an, abs, o)
		}
	}
	if int(o.to) < nc {
		a.sda.received(o.to, now)
		if o.tr.kind == KindPost && now >= a.warm && !a.postTimed[o.tr.aux] && len(a.timing.ranks) < a.w.sc.Adversary.Posts {
			a.postTimed[o.tr.aux] = true
			a.timing.rankAuthor(o.tr.sender, now)
		}
	}
}

// arrived is a transmission reaching a node at o.t.
func (a *adversary) arrived(o *obs) {
	an := a.nodes[int(o.to)-a.w.nc]
	t := o.t
	srcAbs := int64(-1)
	if int(o.from) >= a.w.nc {
		for a.inflight.n > 0 && a.inflight.front().seq < o.seq {
			a.inflight.popFront() // a transmission that never arrived (the run ended)
		}
		if a.inflight.n > 0 && a.inflight.front().seq == o.seq {
			srcAbs = a.inflight.front().abs
			a.inflight.popFront()
		}
	}
	an.prune(t - a.keep)
	if an.mix {
		an.decay(t)
		an.S++
		if an.compromised {
			an.held[o.tr.id] = o.seq
		}
		if t >= a.warm {
			an.nIn++
		}
	}
	an.in.push(inEv{t: t, seq: o.seq, src: o.from, sender: o.tr.sender, srcAbs: srcAbs})
}

// output records a transmission leaving the node and returns its index in
// the node's output history.
func (an *advNode) output(a *adversary, o *obs) int64 {
	now := o.t
	an.prune(now - a.keep)
	ev := outEv{t: now, seq: o.seq, inAbs: -1}
	if !an.mix && an.in.n > 0 && an.in.at(an.in.hi()-1).t == now {
		// A node without delay sends what it received at this instant;
		// remember where, so the adversary need not search.
		ev.inAbs = an.in.hi() - 1
	}
	if an.mix {
		an.decay(now)
		ev.S = an.S
		if an.compromised {
			ev.inSeq = an.held[o.tr.id]
			delete(an.held, o.tr.id)
		}
		if now >= a.warm && an.S > 0 {
			h := math.Log2(an.S) + an.mu*math.Log2E*an.T/an.S
			h = max(h, 0)
			an.hSum += h
			an.hSq += h * h
			an.hN++
			an.nOut++
			a.mixH.add(h)
		}
	}
	an.out.push(ev)
	abs := an.out.hi() - 1
	if an.mix && now >= a.warm && a.rng.Float64() < a.pMix {
		a.senderEntropy(an, now)
	}
	return abs
}

// decay moves the decayed sums to time t.
func (an *advNode) decay(t int64) {
	if t <= an.last {
		return
	}
	dt := float64(t-an.last) * 1e-9
	f := math.Exp(-an.mu * dt)
	an.T = f * (an.T + dt*an.S)
	an.S *= f
	an.last = t
}

func (an *advNode) prune(before int64) {
	for an.in.n > 0 && an.in.front().t < before {
		an.in.popFront()
	}
	for an.out.n > 0 && an.out.front().t < before {
		an.out.popFront()
	}
}

// senderEntropy is the entropy of the senders of a mix's inputs, as the
// exponential delay weighs them for an output at now, were the senders of
// all inputs known (the mix's own contribution to a sender's anonymity).
func (a *adversary) senderEntropy(an *advNode, now int64) {
	p := &a.post
	p.reset()
	for i := an.in.hi() - 1; i >= an.in.lo(); i-- {
		e := an.in.at(i)
		x := a.mu * float64(now-e.t) * 1e-9
		if x > 30 {
			break
		}
		p.add(e.sender, math.Exp(-x))
	}
	h, _ := p.entropy()
	an.sSum += h
	an.sSq += h * h
	an.sN++
}

// exit considers a packet leaving the last layer for scoring.
func (a *adversary) exit(an *advNode, abs int64, o *obs) {
	tr, now := o.tr, o.t
	isChallenge := tr.sender == a.challenge[0] || tr.sender == a.challenge[1]
	isPost := tr.kind == KindPost && !a.postSeen[tr.aux]
	switch {
	case isChallenge && a.left.challenges > 0:
		a.left.challenges--
	case isPost && a.left.posts > 0:
		a.left.posts--
		a.postSeen[tr.aux] = true
	case a.left.samples > 0 && a.rng.Float64() < a.pExit:
		a.left.samples--
		isChallenge, isPost = false, false
	default:
		return
	}
	mass := a.posteriorOf(an, abs)
	p := &a.post
	s := exitSample{T: float64(now) / 1e9, Kind: tr.kind, Challenge: isChallenge, Post: isPost, Mass: mass, Eps: math.NaN()}
	s.Entropy, _ = p.entropy()
	if int(tr.sender) < a.w.nc {
		s.Rank = p.rank(tr.sender, a.w.nc)
	}
	if isChallenge {
		p0, p1 := p.mass[a.challenge[0]], p.mass[a.challenge[1]]
		s.Eps = math.Abs(math.Log(p0 / p1)) // +Inf when one is 0; NaN when both are
	}
	a.exits = append(a.exits, s)
}

// posteriorOf is the adversary's distribution over the senders of output
// abs of the last-layer mix an, by the Loopix/Danezis method taken back
// through every layer: at a mix, an output is each earlier input with
// probability proportional to the exponential delay density; at a gateway
// or service (no delay) it is the input of the same instant; at a
// compromised mix it is the input the mix reveals. Each input then came
// from an output one link back, and so on to the clients. It leaves the
// result in a.post and returns the mass found (1 less what fell beyond the
// kept history).
func (a *adversary) posteriorOf(an *advNode, abs int64) float64 {
	p := &a.post
	p.reset()
	p.push(an.n.idx, abs, 1)
	for l := a.layers; l >= 1; l-- {
		for _, ni := range a.w.layers[l] {
			if len(p.pend[ni]) > 0 {
				a.sweepMix(a.nodes[ni])
			}
		}
	}
	for _, gi := range a.w.gateways {
		if len(p.pend[gi]) > 0 {
			a.sweepDelta(a.nodes[gi])
		}
	}
	total := 0.0
	for _, e := range p.touched {
		total += p.mass[e]
	}
	if total > 0 {
		for _, e := range p.touched {
			p.mass[e] /= total
		}
	}
	a.truncated += max(0, 1-total) // rounding can overshoot 1 by a hair
	return total
}

// sweepMix spreads the weights of a mix's outputs over its inputs.
func (a *adversary) sweepMix(an *advNode) {
	p := &a.post
	ws := p.pend[an.n.idx]
	p.pend[an.n.idx] = ws[:0]
	if an.compromised {
		for _, o := range ws {
			out := an.out.at(o.abs)
			if out.inSeq == 0 {
				p.add(an.n.ep, o.w) // the mix's own loop
				continue
			}
			j := an.in.search(func(e *inEv) bool { return e.seq >= out.inSeq })
			if j < an.in.hi() && an.in.at(j).seq == out.inSeq {
				a.propagate(an.in.at(j), o.w)
			}
		}
		return
	}
	slices.SortFunc(ws, func(x, y wgt) int { return cmpInt64(y.abs, x.abs) }) // latest first
	tTop := an.out.at(ws[0].abs).t
	ii := an.in.search(func(e *inEv) bool { return e.t > tTop }) - 1
	x, tx, total := 0.0, tTop, 0.0
	for _, o := range ws {
		total += o.w
	}
	k := 0
	for {
		haveIn := ii >= an.in.lo()
		if k < len(ws) {
			out := an.out.at(ws[k].abs)
			if !haveIn || out.t >= an.in.at(ii).t {
				// An input at the same instant as an output is earlier
				// (it counts in the output's normaliser).
				x *= math.Exp(-a.mu * float64(tx-out.t) * 1e-9)
				tx = out.t
				if out.S > 0 {
					x += ws[k].w / out.S
				}
				k++
				continue
			}
		} else if !haveIn || x < 1e-13*total {
			return
		}
		if !haveIn {
			return
		}
		e := an.in.at(ii)
		x *= math.Exp(-a.mu * float64(tx-e.t) * 1e-9)
		tx = e.t
		if x > 0 {
			a.propagate(e, x)
		}
		ii--
	}
}

// sweepDelta maps each output of a gateway to the inputs of the same
// instant: a gateway holds nothing (SPEC.md §5.8). An output with no input
// at its instant is the gateway's own loop.
func (a *adversary) sweepDelta(an *advNode) {
	p := &a.post
	ws := p.pend[an.n.idx]
	p.pend[an.n.idx] = ws[:0]
	for _, o := range ws {
		out := an.out.at(o.abs)
		k := out.inAbs + 1 // one past the inputs of the instant
		if out.inAbs < an.in.lo() {
			p.add(an.n.ep, o.w)
			continue
		}
		j := out.inAbs
		for j > an.in.lo() && an.in.at(j-1).t == out.t {
			j--
		}
		share := o.w / float64(k-j)
		for i := j; i < k; i++ {
			// A client's packet, or (rarely) one ending here at the same
			// instant, which the adversary cannot tell apart.
			p.add(an.in.at(i).src, share)
		}
	}
}

// propagate passes weight w of input e back to where it came from.
func (a *adversary) propagate(e *inEv, w float64) {
	p := &a.post
	if int(e.src) < a.w.nc {
		p.add(e.src, w)
		return
	}
	sn := a.nodes[int(e.src)-a.w.nc]
	if sn.n.role == RoleService {
		p.add(e.src, w) // traffic a service sends on: counted as the service's
		return
	}
	if j := e.srcAbs; j >= sn.out.lo() && j < sn.out.hi() && sn.out.at(j).seq == e.seq {
		p.push(sn.n.idx, j, w)
	}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// posterior is a distribution over endpoints under construction, dense
// with a list of the entries touched so that reset costs what was used.
type posterior struct {
	mass    []float64
	touched []endpoint
	pend    [][]wgt // per node: output weights still to spread
}

type wgt struct {
	abs int64
	w   float64
}

func newPosterior(n int) posterior {
	return posterior{mass: make([]float64, n), pend: make([][]wgt, n)}
}

func (p *posterior) reset() {
	for _, e := range p.touched {
		p.mass[e] = 0
	}
	p.touched = p.touched[:0]
}

func (p *posterior) add(e endpoint, w float64) {
	if p.mass[e] == 0 {
		p.touched = append(p.touched, e)
	}
	p.mass[e] += w
}

func (p *posterior) push(node int, abs int64, w float64) {
	p.pend[node] = append(p.pend[node], wgt{abs, w})
}

// entropy returns the Shannon entropy in bits of the (unnormalised)
// masses, and their total.
func (p *posterior) entropy() (h, total float64) {
	for _, e := range p.touched {
		total += p.mass[e]
	}
	if total <= 0 {
		return 0, 0
	}
	for _, e := range p.touched {
		if q := p.mass[e] / total; q > 0 {
			h -= q * math.Log2(q)
		}
	}
	return h, total
}

// rank is the rank of client c among the n clients by mass, 1 the most
// likely; ties share the mean of their ranks.
func (p *posterior) rank(c endpoint, n int) float64 {
	mc := p.mass[c]
	above, ties, positive := 0, 0, 0
	for _, e := range p.touched {
		if int(e) >= n {
			continue
		}
		m := p.mass[e]
		if m > 0 {
			positive++
		}
		switch {
		case m > mc:
			above++
		case m == mc && e != c:
			ties++
		}
	}
	if mc == 0 {
		ties = n - positive - 1
	}
	return 1 + float64(above) + float64(ties)/2
}
