package sim

import (
	"math"
	"slices"
	"time"
)

// disclosure is the statistical disclosure attack (Danezis 2003), in the
// continuous-time form of Mathewson and Dingledine (2004): for each target,
// every packet the target sends raises the score of each client that
// receives a packet shortly after, weighted by the adversary's model of
// the path delay; the background each client would score anyway (its
// reception rate times the target's sends) is subtracted; the target's
// friends should rise to the top. With cover off every send is real; with
// cover on the real ones hide among a constant Poisson stream, and the
// friends' receptions among their own loops.
type disclosure struct {
	a       *adversary
	kern    pathKernel
	targets []int32
	target  []int16 // client → 1 + its index in targets, 0 if not a target

	sends  [][]int64 // per target: its recent sends
	nSends []float64 // per target, after the warm-up
	score  [][]float64
	recv   []float64 // receptions per client, after the warm-up

	// Per checkpoint.
	times []float64   // seconds of observation
	frac  [][]float64 // [checkpoint][target]: share of friends in the top m
	found []float64   // per target: seconds of observation until every friend is in the top m; NaN if never
	now   int64       // time of the last checkpoint
}

func newDisclosure(a *adversary) *disclosure {
	w := a.w
	L := w.sc.Topology.Layers
	d := &disclosure{a: a, kern: newPathKernel(L, w.sc.Rates.Mu, int64(L+2)*w.lat), target: make([]int16, w.nc),
		recv: make([]float64, w.nc)}
	// Targets: posters with friends, in a seeded order.
	for _, i := range a.rng.Perm(w.nc) {
		if len(d.targets) == w.sc.Adversary.Targets {
			break
		}
		if c := w.clients[i]; c.poster && len(c.friends) > 0 && len(c.friends) < w.nc-1 {
			d.targets = append(d.targets, int32(i))
			d.target[i] = int16(len(d.targets))
		}
	}
	d.sends = make([][]int64, len(d.targets))
	d.nSends = make([]float64, len(d.targets))
	d.score = make([][]float64, len(d.targets))
	for i := range d.score {
		d.score[i] = make([]float64, w.nc)
	}
	d.found = make([]float64, len(d.targets))
	for i := range d.found {
		d.found[i] = math.NaN()
	}
	if len(d.targets) > 0 {
		n := w.sc.Adversary.Checkpoints
		span := w.end - a.warm
		for i := 1; i <= n; i++ {
			at := a.warm + span*int64(i)/int64(n)
			if i == n {
				at = w.end - 1 // still inside the run
			}
			w.clk.AfterFunc(time.Duration(at), func() { w.emit(obs{what: obsCheckpoint, t: w.now()}) })
		}
	}
	return d
}

func (d *disclosure) clientSent(c endpoint, now int64) {
	ti := d.target[c] - 1
	if ti < 0 || now < d.a.warm {
		return
	}
	d.sends[ti] = append(d.sends[ti], now)
	d.nSends[ti]++
}

func (d *disclosure) received(r endpoint, now int64) {
	if now < d.a.warm {
		return
	}
	d.recv[r]++
	span := d.kern.span()
	for ti, s := range d.sends {
		// Forget sends too old to explain anything from now on.
		k := 0
		for k < len(s) && now-s[k] > span {
			k++
		}
		if k > 0 {
			s = append(s[:0], s[k:]...)
			d.sends[ti] = s
		}
		sum := 0.0
		for _, t := range s {
			sum += d.kern.density(now - t)
		}
		if sum > 0 {
			d.score[ti][r] += sum
		}
	}
}

// adjusted is target ti's score of each client less the background:
// a client that receives at rate ρ scores ρ per send of the target on
// average, whoever it talks to.
func (d *disclosure) adjusted(ti int, obs float64, out []float64) []float64 {
	out = out[:0]
	for r, s := range d.score[ti] {
		out = append(out, s-d.nSends[ti]*d.recv[r]/obs)
		_ = r
	}
	out[d.targets[ti]] = math.Inf(-1) // the target is not its own recipient
	return out
}

func (d *disclosure) checkpoint(now int64) {
	w := d.a.w
	d.now = now
	obs := float64(now-d.a.warm) / 1e9
	if obs <= 0 {
		return
	}
	d.times = append(d.times, obs)
	row := make([]float64, len(d.targets))
	var adj []float64
	for ti, t := range d.targets {
		adj = d.adjusted(ti, obs, adj)
		friends := w.clients[t].friends
		row[ti] = float64(friendsInTop(adj, friends)) / float64(len(friends))
		if row[ti] == 1 && math.IsNaN(d.found[ti]) {
			d.found[ti] = obs
		}
	}
	d.frac = append(d.frac, row)
}

// friendsInTop counts the friends among the len(friends) highest scores;
// a friend tied with the last place counts only if it fits.
func friendsInTop(score []float64, friends []int32) int {
	m := len(friends)
	if m == 0 {
		return 0
	}
	sorted := slices.Clone(score)
	slices.SortFunc(sorted, func(a, b float64) int { return cmpFloat(b, a) })
	threshold := sorted[m-1]
	above := 0 // non-friends strictly above the threshold take places first
	isFriend := map[int32]bool{}
	for _, f := range friends {
		isFriend[f] = true
	}
	for r, s := range score {
		if s > threshold && !isFriend[int32(r)] {
			above++
		}
	}
	n, atThreshold := 0, 0
	for _, f := range friends {
		switch {
		case score[f] > threshold:
			n++
		case score[f] == threshold:
			atThreshold++
		}
	}
	// Places left at the threshold are shared by everyone tied there.
	left := m - n - above
	tied := 0
	for _, s := range score {
		if s == threshold {
			tied++
		}
	}
	if left > 0 && tied > 0 {
		n += int(math.Floor(float64(left) * float64(atThreshold) / float64(tied)))
	}
	return n
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// extrapolate estimates, for a target not yet found, how long the
// adversary would need: friends' scores grow with the observation time T
// and the noise as √T, so the friends' mean z-score grows as √T; it must
// reach the z-score of the best non-friend. It returns +Inf while there is
// no signal to extrapolate from: the friends' mean z-score is less than
// three standard errors (3/√m for m friends) above the crowd's.
func (d *disclosure) extrapolate(ti int) float64 {
	w := d.a.w
	obs := float64(d.now-d.a.warm) / 1e9
	if obs <= 0 {
		return math.Inf(1)
	}
	adj := d.adjusted(ti, obs, nil)
	isFriend := map[int32]bool{}
	for _, f := range w.clients[d.targets[ti]].friends {
		isFriend[f] = true
	}
	var fSum, nSum, nSq, nMax float64
	var fN, nN int
	nMax = math.Inf(-1)
	for r, s := range adj {
		if math.IsInf(s, -1) {
			continue
		}
		if isFriend[int32(r)] {
			fSum += s
			fN++
			continue
		}
		nSum += s
		nSq += s * s
		nN++
		nMax = max(nMax, s)
	}
	if fN == 0 || nN < 2 {
		return math.Inf(1)
	}
	mean := nSum / float64(nN)
	sd := math.Sqrt(max(nSq/float64(nN)-mean*mean, 0))
	if sd == 0 {
		return math.Inf(1)
	}
	zf := (fSum/float64(fN) - mean) / sd
	zn := (nMax - mean) / sd
	if zf < 3/math.Sqrt(float64(fN)) {
		return math.Inf(1)
	}
	return obs * (zn / zf) * (zn / zf)
}
