package sim

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// The streaming entropy of a mix (two decayed sums) equals the entropy
// computed from every input's weight.
func TestDecayedEntropyMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		mu := 1 + r.Float64()*50
		an := &advNode{mu: mu}
		var times []int64
		now := int64(0)
		for range 1 + r.IntN(200) {
			now += int64(r.ExpFloat64() / (mu * 3) * 1e9)
			an.decay(now)
			an.S++
			times = append(times, now)
		}
		now += int64(r.Float64() * 1e8)
		an.decay(now)
		got := math.Log2(an.S) + an.mu*math.Log2E*an.T/an.S

		var ws []float64
		total := 0.0
		for _, ti := range times {
			w := mu * math.Exp(-mu*float64(now-ti)/1e9) // the exponential density
			ws = append(ws, w)
			total += w
		}
		want := 0.0
		for _, w := range ws {
			if p := w / total; p > 0 {
				want -= p * math.Log2(p)
			}
		}
		if !near(got, want, 1e-6*max(1, want)) {
			t.Fatalf("trial %d: streaming H %v, direct %v", trial, got, want)
		}
	}
}

// A Poisson stream of rate λ into a mix whose delays are exponential of
// rate μ: the adversary's mean entropy over outputs is log2(e·λ/μ)
// (Danezis 2004) within 5 % when μ ≪ e·λ. This checks the estimator alone;
// TestValidationMixEntropyIntegration checks it on the real Router.
func TestEstimatorPoissonMixEntropy(t *testing.T) {
	for _, ratio := range []float64{10, 30, 100} {
		const mu = 20.0
		lambda := ratio * mu
		r := rand.New(rand.NewPCG(uint64(ratio), 9))
		an := &advNode{mu: mu}
		var outs []int64
		n := 20000
		if testing.Short() {
			n = 5000
		}
		var arrivals []int64
		now := int64(0)
		for range n {
			now += int64(r.ExpFloat64() / lambda * 1e9)
			arrivals = append(arrivals, now)
			outs = append(outs, now+int64(r.ExpFloat64()/mu*1e9))
		}
		sortInt64(outs)
		var sum float64
		var cnt int
		i := 0
		warm := arrivals[n/10]
		for _, o := range outs {
			for i < len(arrivals) && arrivals[i] <= o {
				an.decay(arrivals[i])
				an.S++
				i++
			}
			an.decay(o)
			if o < warm || i == len(arrivals) {
				continue
			}
			sum += math.Log2(an.S) + an.mu*math.Log2E*an.T/an.S
			cnt++
		}
		got, want := sum/float64(cnt), math.Log2(math.E*ratio)
		if math.Abs(got-want)/want > 0.05 {
			t.Errorf("λ/μ = %v: mean entropy %.3f bits, theory %.3f", ratio, got, want)
		}
		t.Logf("λ/μ = %v: mean entropy %.3f bits, log2(e·λ/μ) = %.3f (%+.1f%%)", ratio, got, want, 100*(got-want)/want)
	}
}

func sortInt64(s []int64) {
	if len(s) < 2 {
		return
	}
	// Heap sort: no allocation, no import.
	for i := len(s)/2 - 1; i >= 0; i-- {
		siftInt64(s, i, len(s))
	}
	for end := len(s) - 1; end > 0; end-- {
		s[0], s[end] = s[end], s[0]
		siftInt64(s, 0, end)
	}
}

func siftInt64(s []int64, i, n int) {
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && s[c+1] > s[c] {
			c++
		}
		if s[i] >= s[c] {
			return
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
}

// tinyWorld is a network of one gateway, one mix and one service with
// three clients, built but not run: tests feed its adversary by hand.
func tinyWorld(t *testing.T, compromised float64) *world {
	t.Helper()
	sc := DefaultScenario()
	sc.Topology.Layers, sc.Topology.MixesPerLayer, sc.Topology.Gateways, sc.Topology.Services = 1, 1, 1, 1
	sc.Users.Count, sc.Users.Friends = 3, 1
	sc.Adversary.Samples, sc.Adversary.Challenges, sc.Adversary.Posts, sc.Adversary.Targets = 0, 0, 0, 0
	sc.Adversary.Compromised = compromised
	sc.Warmup.Duration = 0
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	w, err := newWorld(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

const ms = int64(time.Millisecond)

// feed plays a transmission from → to sent at t into the adversary.
func feed(a *adversary, seq *uint64, from, to endpoint, t int64, tr truth) {
	*seq++
	a.observe(&obs{what: obsSend, t: t, seq: *seq, from: from, to: to, tr: tr})
	if int(to) >= a.w.nc {
		a.observe(&obs{what: obsArrive, t: t + ms, seq: *seq, from: from, to: to, tr: tr})
	}
}

// The end-to-end estimate on a hand-made trace: three clients' packets
// enter one mix through the gateway; the mix's output is each of them
// with probability proportional to e^{−μ·age}.
func TestPosteriorByHand(t *testing.T) {
	for _, compromised := range []bool{false, true} {
		frac := 0.0
		if compromised {
			frac = 1
		}
		w := tinyWorld(t, frac)
		a := w.adv
		gw, mix, svc := w.ep(w.gateways[0]), w.ep(w.layers[1][0]), w.ep(w.services[0])
		var seq uint64
		sendAt := []int64{0, 10 * ms, 30 * ms}
		for c, t0 := range sendAt {
			tr := truth{id: uint64(c + 1), sender: endpoint(c), kind: KindDrop}
			feed(a, &seq, endpoint(c), gw, t0, tr)
			feed(a, &seq, gw, mix, t0+ms, tr) // a gateway holds nothing
		}
		// The mix sends client 1's packet at 50 ms.
		feed(a, &seq, mix, svc, 50*ms, truth{id: 2, sender: 1, kind: KindDrop})
		an := a.nodes[w.layers[1][0]]
		mass := a.posteriorOf(an, an.out.hi()-1)
		if !near(mass, 1, 1e-9) {
			t.Fatalf("mass %v", mass)
		}
		mu := w.sc.Rates.Mu
		var want [3]float64
		total := 0.0
		for c, t0 := range sendAt {
			want[c] = math.Exp(-mu * float64(50*ms-(t0+2*ms)) / 1e9)
			total += want[c]
		}
		for c := range want {
			want[c] /= total
			if compromised {
				want[c] = 0
				if c == 1 {
					want[c] = 1 // the mix reveals which input it was
				}
			}
			if got := a.post.mass[c]; !near(got, want[c], 1e-9) {
				t.Fatalf("compromised %v: p(client %d) = %v, want %v", compromised, c, got, want[c])
			}
		}
		h, _ := a.post.entropy()
		wantH := 0.0
		for _, p := range want {
			if p > 0 {
				wantH -= p * math.Log2(p)
			}
		}
		if !near(h, wantH, 1e-9) {
			t.Fatalf("entropy %v, want %v", h, wantH)
		}
	}
}

// A gateway output with no input at its instant is the gateway's own
// packet (its loop): the adversary attributes it to the gateway.
func TestPosteriorGatewayOwnPacket(t *testing.T) {
	w := tinyWorld(t, 0)
	a := w.adv
	gw, mix, svc := w.ep(w.gateways[0]), w.ep(w.layers[1][0]), w.ep(w.services[0])
	var seq uint64
	feed(a, &seq, gw, mix, 5*ms, truth{id: 1, sender: gw, kind: KindNodeLoop})
	feed(a, &seq, mix, svc, 20*ms, truth{id: 1, sender: gw, kind: KindNodeLoop})
	an := a.nodes[w.layers[1][0]]
	a.posteriorOf(an, an.out.hi()-1)
	if a.post.mass[gw] != 1 {
		t.Fatalf("gateway's own loop attributed elsewhere: %v", a.post.mass[:w.nc+len(w.nodes)])
	}
}

func TestPosteriorRankAndEntropy(t *testing.T) {
	p := newPosterior(10)
	for e, m := range map[endpoint]float64{0: 0.5, 1: 0.25, 2: 0.25} {
		p.add(e, m)
	}
	if h, total := p.entropy(); !near(h, 1.5, 1e-12) || !near(total, 1, 1e-12) {
		t.Fatalf("entropy %v total %v", h, total)
	}
	// Among 6 clients: 0 first; 1 and 2 tied for second and third; the
	// three with nothing share places 4 to 6.
	for c, want := range map[endpoint]float64{0: 1, 1: 2.5, 2: 2.5, 4: 5} {
		if got := p.rank(c, 6); got != want {
			t.Fatalf("rank of %d = %v, want %v", c, got, want)
		}
	}
	p.reset()
	if h, total := p.entropy(); h != 0 || total != 0 || len(p.touched) != 0 {
		t.Fatal("reset left mass")
	}
}

func TestPathKernel(t *testing.T) {
	for _, k := range []int{1, 2, 3, 5} {
		pk := newPathKernel(k, 20, 4*ms)
		// It integrates to 1 over its window, and is zero before the
		// links' fixed delay.
		sum, step := 0.0, int64(50*time.Microsecond)
		for d := int64(0); d <= pk.span(); d += step {
			sum += pk.density(d) * float64(step) / 1e9
		}
		if !near(sum, 1, 2e-3) {
			t.Fatalf("k=%d: integral %v", k, sum)
		}
		if pk.density(3*ms) != 0 {
			t.Fatal("density before the links' delay")
		}
	}
	pk := newPathKernel(3, 20, 0)
	x := 0.1
	if want := 20 * 20 * 20 * x * x * math.Exp(-2) / 2; !near(pk.density(int64(x*1e9)), want, 1e-9) {
		t.Fatalf("Erlang(3, 20) at 0.1 s: %v, want %v", pk.density(int64(x*1e9)), want)
	}
}

func TestFriendsInTop(t *testing.T) {
	cases := []struct {
		score   []float64
		friends []int32
		want    int
	}{
		{[]float64{5, 4, 3, 2, 1}, []int32{0, 1}, 2},
		{[]float64{5, 4, 3, 2, 1}, []int32{0, 4}, 1},
		{[]float64{1, 2, 3, 4, 5}, []int32{0, 1}, 0},
		{[]float64{math.Inf(-1), 9, 1, 1, 1, 1}, []int32{1, 2}, 1}, // one place at 1, shared by four tied: none counted
		{[]float64{3, 3, 3, 3}, []int32{0, 1}, 1},                  // two places, four tied, two friends among them
		{[]float64{7, 7, 1}, []int32{0, 1}, 2},
	}
	for i, c := range cases {
		if got := friendsInTop(c.score, c.friends); got != c.want {
			t.Errorf("case %d: %d friends in the top, want %d", i, got, c.want)
		}
	}
}

func TestTimingRankByHand(t *testing.T) {
	w := tinyWorld(t, 0)
	a := w.adv
	a.w.sc.Adversary.Posts = 1
	ta := newTimingAttack(a)
	lat := ta.kern.offset
	// One layer: the delay past the links is exponential, densest at 0.
	// Client 2 sent 10 ms before the delivery (less the links), client 1
	// 110 ms before, client 0 310 ms before.
	ta.clientSent(0, 0)
	ta.clientSent(1, 200*ms)
	ta.clientSent(2, 300*ms)
	ta.rankAuthor(2, 300*ms+lat+10*ms)
	ta.rankAuthor(1, 300*ms+lat+10*ms)
	if ta.ranks[0] != 1 || ta.ranks[1] != 2 {
		t.Fatalf("ranks %v, want [1 2]", ta.ranks)
	}
	ta.rankAuthor(0, 2000*ms) // nobody sent in the window: everyone ties
	if ta.ranks[2] != 2 {
		t.Fatalf("rank with no evidence %v, want 2 (the middle of 3)", ta.ranks[2])
	}
}

// The disclosure attack on a synthetic trace: the target's every send is
// followed by a reception at one of its friends; other clients receive at
// random. It finds the friends.
func TestDisclosureSynthetic(t *testing.T) {
	sc := DefaultScenario()
	sc.Topology.Layers, sc.Topology.MixesPerLayer, sc.Topology.Gateways, sc.Topology.Services = 1, 1, 1, 1
	sc.Users.Count, sc.Users.Friends, sc.Adversary.Targets = 50, 3, 1
	sc.Adversary.Samples, sc.Adversary.Challenges, sc.Adversary.Posts = 0, 0, 0
	sc.Warmup.Duration = 0
	w, err := newWorld(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := w.adv.sda
	target := d.targets[0]
	friends := w.clients[target].friends
	r := rand.New(rand.NewPCG(4, 4))
	now := int64(0)
	for i := range 400 {
		now += 500 * ms
		d.clientSent(endpoint(target), now)
		d.received(endpoint(friends[i%len(friends)]), now+d.kern.offset+int64(r.ExpFloat64()/sc.Rates.Mu*1e9))
		for range 5 {
			d.received(endpoint(r.IntN(w.nc)), now+int64(r.Float64()*float64(500*ms)))
		}
	}
	d.checkpoint(now + time.Second.Nanoseconds())
	if got := d.frac[0][0]; got != 1 {
		t.Fatalf("share of friends in the top m: %v", got)
	}
	if d.found[0] <= 0 || math.IsNaN(d.found[0]) {
		t.Fatalf("found after %v", d.found[0])
	}
}

func TestQuantileAndNum(t *testing.T) {
	s := []float64{1, 2, 3, 4}
	if quantile(s, 0) != 1 || quantile(s, 1) != 4 || quantile(s, 0.5) != 2.5 || !math.IsNaN(quantile(nil, 0.5)) {
		t.Fatal("quantile")
	}
	b, err := json.Marshal([]Num{1.5, Num(math.NaN()), Num(math.Inf(1)), Num(math.Inf(-1))})
	if err != nil || string(b) != `[1.5,null,"+Inf","-Inf"]` {
		t.Fatalf("%s %v", b, err)
	}
	var back []Num
	if err := json.Unmarshal(b, &back); err != nil || back[0] != 1.5 || !math.IsNaN(float64(back[1])) || !math.IsInf(float64(back[2]), 1) {
		t.Fatalf("%v %v", back, err)
	}
}

func TestFriendGraph(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, model := range []string{GraphRandom, GraphRing} {
		g := friendGraph(r, 200, 6, model)
		total := 0
		for i, fs := range g {
			total += len(fs)
			for _, f := range fs {
				if int(f) == i {
					t.Fatal("self friendship")
				}
				found := false
				for _, b := range g[f] {
					found = found || int(b) == i
				}
				if !found {
					t.Fatalf("%s: friendship %d–%d one-sided", model, i, f)
				}
			}
		}
		if mean := float64(total) / 200; !near(mean, 6, 0.5) {
			t.Fatalf("%s: mean degree %v", model, mean)
		}
	}
}

func TestDisclosureFactor(t *testing.T) {
	inf := Num(math.Inf(1))
	d := func(median, extra Num) *Disclosure {
		return &Disclosure{Median: median, Extrapolated: extra, Observed: 600}
	}
	for _, c := range []struct {
		on, off *Disclosure
		factor  float64
		kind    string
	}{
		{d(3000, 3000), d(30, 30), 100, "measured"},
		{d(inf, 60000), d(30, 30), 2000, "extrapolated"},
		{d(inf, 100), d(30, 30), 20, "extrapolated"}, // never below what was observed
		{d(inf, inf), d(30, 30), 20, "lower bound"},
		{d(3000, 3000), d(inf, 1500), 2, "extrapolated"},
		{d(inf, inf), d(inf, 1500), math.NaN(), "no progress with cover"},
		{d(inf, inf), d(inf, inf), math.NaN(), "not found without cover"},
	} {
		ds := DisclosureSummary{Run: c.on, NoCover: c.off}
		ds.factor()
		if ds.FactorKind != c.kind || !(float64(ds.Factor) == c.factor || math.IsNaN(c.factor) && math.IsNaN(float64(ds.Factor))) {
			t.Errorf("on %v/%v off %v/%v: factor %v (%s), want %v (%s)", c.on.Median, c.on.Extrapolated, c.off.Median,
				c.off.Extrapolated, ds.Factor, ds.FactorKind, c.factor, c.kind)
		}
	}
}
