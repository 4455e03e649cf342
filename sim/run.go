package sim

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"time"

	"loam/mixnet/link"
)

// Options control a run; the zero value is fine.
type Options struct {
	// Progress, if set, is called now and then with the virtual time
	// simulated so far and the total, over every simulation the run makes
	// (the scenario, and its twin with cover off when compared).
	Progress func(done, total time.Duration)
	// Logger receives the nodes' and clients' logs (nil: discarded).
	Logger *slog.Logger
	// NoTwin skips the cover-off twin run whatever the scenario says.
	NoTwin bool
}

// Run simulates a scenario and measures it. With adversary.compare_cover
// (the default) and cover on, it then simulates the same scenario with
// cover off to compare the disclosure attack.
func Run(ctx context.Context, sc Scenario, opt Options) (*Result, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	twin := sc.CoverOn() && *sc.Adversary.CompareCover && !opt.NoTwin
	total := sc.Duration.Duration
	if twin {
		total *= 2
	}
	var done time.Duration
	progress := func(d time.Duration) {
		if opt.Progress != nil {
			opt.Progress(done+d, total)
		}
	}
	res, err := simulate(ctx, sc, opt.Logger, progress)
	if err != nil {
		return nil, err
	}
	res.Disclosure.Run = res.disclosure
	if twin {
		done = sc.Duration.Duration
		off := sc
		off.Rates.Cover = ptr(false)
		off.Adversary.Samples, off.Adversary.Challenges, off.Adversary.Posts = 0, 0, 0
		tw, err := simulate(ctx, off, opt.Logger, progress)
		if err != nil {
			return nil, fmt.Errorf("sim: the cover-off twin: %w", err)
		}
		res.Disclosure.NoCover = tw.disclosure
		res.WallSeconds += tw.WallSeconds
		res.SimCPUSeconds += tw.SimCPUSeconds
		res.AdversaryCPUSeconds += tw.AdversaryCPUSeconds
		res.Disclosure.factor()
	}
	return &res.Result, nil
}

// simulate is one simulation.
func simulate(ctx context.Context, sc Scenario, log *slog.Logger, progress func(time.Duration)) (*resultBuilder, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sim: run stopped: %w", err)
	}
	began := time.Now()
	runtime.LockOSThread() // so that threadCPU measures the simulation alone
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	w, err := newWorld(sc, log)
	if err != nil {
		return nil, err
	}
	w.adv.start()
	w.startNodeLoops()
	w.startClients()
	var cancelled error
	w.run(func(d time.Duration) {
		progress(d)
		if cancelled == nil {
			cancelled = ctx.Err()
		}
		if cancelled != nil {
			w.end = w.now() // stop at the next arrival
		}
	})
	simCPU := threadCPU() - cpu0
	w.adv.finish()
	if cancelled != nil {
		return nil, fmt.Errorf("sim: run stopped: %w", cancelled)
	}
	rb := &resultBuilder{}
	rb.collect(w)
	rb.WallSeconds = time.Since(began).Seconds()
	rb.SimCPUSeconds, rb.AdversaryCPUSeconds = simCPU.Seconds(), w.adv.cpu.Seconds()
	return rb, nil
}

// resultBuilder is a Result with the parts only the run assembles.
type resultBuilder struct {
	Result
	disclosure *Disclosure
}

func (r *resultBuilder) collect(w *world) {
	sc := w.sc
	a := w.adv
	obs := (sc.Duration.Duration - sc.Warmup.Duration).Seconds()
	r.Scenario, r.Crypto = sc, sc.Crypto
	r.VirtualSeconds, r.ObservedSeconds = sc.Duration.Seconds(), obs
	r.Transmissions = int64(w.seq)
	r.Deterministic = "paths, delays, users and the adversary's samples come from the seed; " +
		"cover streams draw their gaps from crypto/rand (cover.Stream), so runs with cover agree in distribution, not bit for bit"

	// Per mix.
	var hs, ths, ss, lms []float64
	for _, an := range a.nodes {
		if !an.mix {
			continue
		}
		m := MixMetrics{Node: an.n.idx, Layer: an.n.layer, Compromised: an.compromised, Outputs: an.nOut, Role: "mix",
			Entropy: nan(), EntropySD: nan(), Theory: nan(), AnonSet: nan(), SenderH: nan(), Lambda: nan(), LambdaOverM: nan(), SenderN: an.sN}
		if an.hN > 0 {
			mh := an.hSum / float64(an.hN)
			m.Entropy = Num(mh)
			m.EntropySD = Num(math.Sqrt(max(an.hSq/float64(an.hN)-mh*mh, 0)))
			m.AnonSet = Num(math.Exp2(mh))
		}
		if obs > 0 {
			lam := float64(an.nIn) / obs
			m.Lambda, m.LambdaOverM = Num(lam), Num(lam/sc.Rates.Mu)
			if lam > 0 {
				m.Theory = Num(math.Log2(math.E * lam / sc.Rates.Mu))
			}
		}
		if an.sN > 0 {
			m.SenderH = Num(an.sSum / float64(an.sN))
		}
		r.Mixes = append(r.Mixes, m)
		if !an.compromised {
			hs, ths, ss, lms = appendFinite(hs, m.Entropy), appendFinite(ths, m.Theory), appendFinite(ss, m.SenderH), appendFinite(lms, m.LambdaOverM)
		}
	}
	r.Mix = MixSummary{Entropy: Num(mean(hs)), Theory: Num(mean(ths)), SenderEntropy: Num(mean(ss)), LambdaOverMu: Num(mean(lms))}
	r.Mix.AnonSet = Num(math.Exp2(float64(r.Mix.Entropy)))
	r.Samples.MixEntropy = a.mixH.v

	// End to end, ε, and the posterior rank of posts.
	r.Samples.Exits = a.exits
	var ent, ranks, eps, postRanks []float64
	inf := 0
	for _, s := range a.exits {
		ent = append(ent, s.Entropy)
		if s.Rank > 0 {
			ranks = append(ranks, s.Rank)
		}
		if s.Challenge {
			switch {
			case math.IsNaN(s.Eps):
			case math.IsInf(s.Eps, 1):
				inf++
				eps = append(eps, s.Eps)
			default:
				eps = append(eps, s.Eps)
			}
		}
		if s.Post && s.Rank > 0 {
			postRanks = append(postRanks, s.Rank)
		}
	}
	se := sortedCopy(ent)
	r.EndToEnd = EndToEnd{Samples: len(ent), Entropy: Num(mean(ent)), EntropyMedian: Num(quantile(se, 0.5)),
		MaxEntropy: Num(math.Log2(float64(w.nc))), RankMedian: Num(quantile(sortedCopy(ranks), 0.5)), Truncated: nan()}
	r.EndToEnd.AnonSet = Num(math.Exp2(float64(r.EndToEnd.Entropy)))
	if len(a.exits) > 0 {
		r.EndToEnd.Truncated = Num(a.truncated / float64(len(a.exits)))
	}
	seps := sortedCopy(eps)
	var finite []float64
	for _, e := range eps {
		if !math.IsInf(e, 0) {
			finite = append(finite, e)
		}
	}
	r.Unlinkability = Unlinkability{Senders: [2]int{int(a.challenge[0]), int(a.challenge[1])}, Samples: len(eps),
		Median: Num(quantile(seps, 0.5)), Mean: Num(mean(finite)), P90: Num(quantile(seps, 0.9)), Infinite: inf}

	// Timing correlation.
	tr := sortedCopy(a.timing.ranks)
	top1, top10 := 0, 0
	for _, x := range tr {
		if x <= 1 {
			top1++
		}
		if x <= 10 {
			top10++
		}
	}
	r.Timing = Timing{Posts: len(tr), Clients: w.nc, RankMedian: Num(quantile(tr, 0.5)), RankMean: Num(mean(tr)),
		Top1: nan(), Top10: nan(), PosteriorRank: Num(quantile(sortedCopy(postRanks), 0.5)), PosteriorPosts: len(postRanks)}
	if len(tr) > 0 {
		r.Timing.Top1, r.Timing.Top10 = Num(float64(top1)/float64(len(tr))), Num(float64(top10)/float64(len(tr)))
	}
	r.Samples.TimingRank = a.timing.ranks

	r.disclosure = a.sda.summary(sc.CoverOn())
	r.collectTraffic(w, obs)
}

func (r *resultBuilder) collectTraffic(w *world, obs float64) {
	ac := w.acct
	// Latency.
	what := map[Kind]string{
		KindPost:     "post header: queued by the author → at the friend",
		KindShard:    "post content: queued → at the mailbox service",
		KindFetch:    "fetch request: queued → at the mailbox service",
		KindReply:    "fetch round trip: queued → answer at the client",
		KindLoop:     "client loop round trip",
		KindNodeLoop: "node loop round trip",
	}
	r.Samples.Latency = map[string][]float64{}
	for _, k := range []Kind{KindPost, KindShard, KindFetch, KindReply, KindLoop, KindNodeLoop} {
		res := ac.lat[k]
		if res.seen == 0 {
			continue
		}
		s := sortedCopy(res.v)
		r.Latency = append(r.Latency, LatencyMetrics{Kind: k.String(), What: what[k], Samples: res.seen, Mean: Num(mean(s)),
			P50: Num(quantile(s, 0.5)), P90: Num(quantile(s, 0.9)), P99: Num(quantile(s, 0.99)), Max: Num(s[len(s)-1])})
		r.Samples.Latency[k.String()] = res.v
	}

	// Bandwidth.
	frame := w.geo.PacketLen() + link.FrameOverhead
	var sent, recv []float64
	for i := range w.nc {
		sent = append(sent, float64(ac.clientSent[i])/obs)
		recv = append(recv, float64(ac.clientRecv[i])/obs)
	}
	r.Samples.SentPerSec, r.Samples.RecvPerSec = sent, recv
	var clientReal, clientAll, linkReal, linkAll int64
	for k := Kind(1); k < numKinds; k++ {
		clientAll += ac.clientKind[k]
		linkAll += ac.linkKind[k]
		if k.Real() {
			clientReal += ac.clientKind[k]
			linkReal += ac.linkKind[k]
		}
	}
	r.Bandwidth = Bandwidth{SentPerClient: Num(mean(sent)), RecvPerClient: Num(mean(recv)), WireFrameBytes: frame,
		RealPerClient: Num(float64(clientReal) / obs / float64(w.nc)), CoverShareClient: nan(), CoverShareNetwork: nan()}
	r.Bandwidth.SentBytesPerSec = Num(float64(r.Bandwidth.SentPerClient) * float64(frame))
	r.Bandwidth.RecvBytesPerSec = Num(float64(r.Bandwidth.RecvPerClient) * float64(frame))
	if clientAll > 0 {
		r.Bandwidth.CoverShareClient = Num(1 - float64(clientReal)/float64(clientAll))
	}
	if linkAll > 0 {
		r.Bandwidth.CoverShareNetwork = Num(1 - float64(linkReal)/float64(linkAll))
	}
	for k := Kind(1); k < numKinds; k++ {
		kt := KindTraffic{Kind: k.String(), Real: k.Real(), Built: ac.builtKind[k], Arrived: ac.arrivedKind[k],
			Dropped: ac.droppedKind[k], ClientTx: ac.clientKind[k], LinkTx: ac.linkKind[k], LinkShare: nan()}
		if linkAll > 0 {
			kt.LinkShare = Num(float64(ac.linkKind[k]) / float64(linkAll))
		}
		r.Traffic = append(r.Traffic, kt)
	}

	// Clients' cover counters, nodes' loops.
	for _, c := range w.clients {
		if c.cover == nil {
			continue
		}
		st := c.cover.Stats()
		r.Clients.Real += st.Real
		r.Clients.Drop += st.Drop
		r.Clients.Loop += st.Loop
		r.Clients.DropStream += st.DropStream
		r.Clients.Queued += st.Queued
		r.Clients.Expired += st.Expired
	}
	r.Clients.Refused = ac.refused
	for _, n := range w.nodes {
		if n.loops == nil {
			continue
		}
		rep := n.tracker.Check()
		r.NodeLoops = append(r.NodeLoops, NodeLoop{Node: n.idx, Role: n.role.String(), Layer: n.layer,
			Sent: n.loops.Stats().Sent, Judged: rep.Judged, Lost: rep.Lost, Loss: rep.Loss, Alarms: n.alarms})
	}
	if w.real {
		r.RealPath = &RealPath{RepliesOpened: ac.repliesOpened, RepliesBad: ac.repliesBad}
	}
}

// summary is the disclosure attack's result at the end of a run.
func (d *disclosure) summary(cover bool) *Disclosure {
	w := d.a.w
	s := &Disclosure{Cover: cover, Times: d.times, Fraction: d.frac, Observed: float64(w.end-d.a.warm) / 1e9}
	var found, extra []float64
	for ti, t := range d.targets {
		tg := Target{Client: int(t), Friends: len(w.clients[t].friends), Sends: int64(d.nSends[ti]),
			FoundAfter: Num(d.found[ti]), Extrapolated: Num(d.found[ti]), FinalShare: nan()}
		if len(d.frac) > 0 {
			tg.FinalShare = Num(d.frac[len(d.frac)-1][ti])
		}
		f := d.found[ti]
		if math.IsNaN(f) {
			f = math.Inf(1)
			tg.Extrapolated = Num(d.extrapolate(ti))
		} else {
			s.Found++
		}
		found = append(found, f)
		extra = append(extra, float64(tg.Extrapolated))
		s.Targets = append(s.Targets, tg)
	}
	s.Median = Num(quantile(sortedCopy(found), 0.5))
	s.Extrapolated = Num(quantile(sortedCopy(extra), 0.5))
	return s
}

// factor compares the attack with cover (Run) and without (NoCover).
func (ds *DisclosureSummary) factor() {
	ds.Factor, ds.LowerBound, ds.FactorKind = nan(), nan(), "none"
	on, off := ds.Run, ds.NoCover
	if on == nil || off == nil {
		return
	}
	ok := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) && x > 0 }
	// Each run's median time: measured if most targets were found, else
	// from each target's time found or, failing that, its extrapolation.
	toff, offMeasured := float64(off.Median), true
	if !ok(toff) {
		toff, offMeasured = float64(off.Extrapolated), false
	}
	if !ok(toff) {
		ds.FactorKind = "not found without cover"
		return
	}
	if ton := float64(on.Median); ok(ton) {
		ds.Factor, ds.FactorKind = Num(ton/toff), "measured"
		if !offMeasured {
			ds.FactorKind = "extrapolated"
		}
		return
	}
	if offMeasured {
		// Not found with cover in a run this long: a lower bound.
		ds.LowerBound = Num(on.Observed / toff)
	}
	switch ton := float64(on.Extrapolated); {
	case ok(ton):
		ds.Factor, ds.FactorKind = Num(max(ton, on.Observed)/toff), "extrapolated"
	case offMeasured:
		ds.Factor, ds.FactorKind = ds.LowerBound, "lower bound"
	default:
		ds.FactorKind = "no progress with cover"
	}
}

func nan() Num { return Num(math.NaN()) }

func appendFinite(v []float64, x Num) []float64 {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return v
	}
	return append(v, f)
}
