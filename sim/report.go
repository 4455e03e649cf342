package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Files a report writes into its directory.
const (
	FileMetrics = "metrics.json"
	FileReport  = "report.md"
)

// WriteReport writes a run's report into dir (created if missing):
// metrics.json, one CSV per metric, PNG plots, and report.md linking them.
func WriteReport(dir string, r *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileMetrics), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	for _, f := range []func(string, *Result) error{writeCSVs, writePlots, writeMarkdown} {
		if err := f(dir, r); err != nil {
			return err
		}
	}
	return nil
}

func writeCSV(path string, header []string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write(header)
	_ = w.WriteAll(rows) // WriteAll flushes; its error is w.Error
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("sim: report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sim: report %s: %w", path, err)
	}
	return nil
}

func ff(x float64) string {
	switch {
	case math.IsNaN(x):
		return ""
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	return strconv.FormatFloat(x, 'g', 6, 64)
}

func fn(x Num) string { return ff(float64(x)) }

func writeCSVs(dir string, r *Result) error {
	var rows [][]string
	for _, m := range r.Mixes {
		rows = append(rows, []string{strconv.Itoa(m.Node), strconv.Itoa(m.Layer), strconv.FormatBool(m.Compromised),
			strconv.FormatInt(m.Outputs, 10), fn(m.Lambda), fn(m.LambdaOverM), fn(m.Entropy), fn(m.EntropySD), fn(m.Theory),
			fn(m.AnonSet), fn(m.SenderH), strconv.FormatInt(m.SenderN, 10)})
	}
	if err := writeCSV(filepath.Join(dir, "mixes.csv"), []string{"node", "layer", "compromised", "outputs", "lambda",
		"lambda_over_mu", "entropy_bits", "entropy_sd", "theory_bits", "anonymity_set", "sender_entropy_bits", "sender_samples"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, h := range r.Samples.MixEntropy {
		rows = append(rows, []string{ff(h)})
	}
	if err := writeCSV(filepath.Join(dir, "mix_entropy_samples.csv"), []string{"entropy_bits"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, s := range r.Samples.Exits {
		rows = append(rows, []string{ff(s.T), s.Kind.String(), ff(s.Entropy), ff(s.Rank), ff(s.Eps),
			strconv.FormatBool(s.Challenge), strconv.FormatBool(s.Post), ff(s.Mass)})
	}
	if err := writeCSV(filepath.Join(dir, "end_to_end.csv"), []string{"time_s", "kind", "entropy_bits", "true_sender_rank",
		"epsilon", "challenge", "post", "mass"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, x := range r.Samples.TimingRank {
		rows = append(rows, []string{ff(x)})
	}
	if err := writeCSV(filepath.Join(dir, "timing_ranks.csv"), []string{"author_rank"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, d := range []*Disclosure{r.Disclosure.Run, r.Disclosure.NoCover} {
		if d == nil {
			continue
		}
		for k, t := range d.Times {
			for ti, tg := range d.Targets {
				rows = append(rows, []string{strconv.FormatBool(d.Cover), ff(t), strconv.Itoa(tg.Client), ff(d.Fraction[k][ti])})
			}
		}
	}
	if err := writeCSV(filepath.Join(dir, "disclosure.csv"), []string{"cover", "observation_s", "target", "share_in_top_m"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, l := range r.Latency {
		for _, x := range r.Samples.Latency[l.Kind] {
			rows = append(rows, []string{l.Kind, ff(x)})
		}
	}
	if err := writeCSV(filepath.Join(dir, "latency.csv"), []string{"kind", "seconds"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for i := range r.Samples.SentPerSec {
		rows = append(rows, []string{strconv.Itoa(i), ff(r.Samples.SentPerSec[i]), ff(r.Samples.RecvPerSec[i])})
	}
	if err := writeCSV(filepath.Join(dir, "bandwidth.csv"), []string{"client", "sent_packets_per_s", "received_packets_per_s"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, k := range r.Traffic {
		rows = append(rows, []string{k.Kind, strconv.FormatBool(k.Real), strconv.FormatInt(k.Built, 10), strconv.FormatInt(k.Arrived, 10),
			strconv.FormatInt(k.Dropped, 10), strconv.FormatInt(k.ClientTx, 10), strconv.FormatInt(k.LinkTx, 10), fn(k.LinkShare)})
	}
	if err := writeCSV(filepath.Join(dir, "traffic.csv"), []string{"kind", "real", "built", "arrived", "dropped",
		"client_transmissions", "link_transmissions", "link_share"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, n := range r.NodeLoops {
		rows = append(rows, []string{strconv.Itoa(n.Node), n.Role, strconv.Itoa(n.Layer), strconv.FormatUint(n.Sent, 10),
			strconv.Itoa(n.Judged), strconv.Itoa(n.Lost), ff(n.Loss), strconv.Itoa(n.Alarms)})
	}
	return writeCSV(filepath.Join(dir, "node_loops.csv"), []string{"node", "role", "layer", "sent", "judged", "lost", "loss", "alarms"}, rows)
}

func writePlots(dir string, r *Result) error {
	var e2e, eps, postRank []float64
	for _, s := range r.Samples.Exits {
		e2e = append(e2e, s.Entropy)
		if s.Challenge {
			eps = append(eps, s.Eps)
		}
		if s.Post && s.Rank > 0 {
			postRank = append(postRank, s.Rank)
		}
	}
	var latNames []string
	var lat [][]float64
	for _, l := range r.Latency {
		latNames = append(latNames, l.Kind)
		lat = append(lat, r.Samples.Latency[l.Kind])
	}
	var kinds []string
	var kindTx []float64
	for _, k := range r.Traffic {
		kinds = append(kinds, k.Kind)
		kindTx = append(kindTx, float64(k.LinkTx))
	}
	steps := []error{
		plotMixEntropy(r, filepath.Join(dir, "mix_entropy.png")),
		plotHist("Entropy of each mix output (all mixes)", "entropy (bits)", r.Samples.MixEntropy, 40,
			float64(r.Mix.Theory), "log2(e·λ/μ)", filepath.Join(dir, "mix_entropy_hist.png")),
		plotHist("End-to-end sender entropy", "entropy (bits)", e2e, 40,
			float64(r.EndToEnd.MaxEntropy), "log2(clients)", filepath.Join(dir, "e2e_entropy.png")),
		plotCDFs("Unlinkability of two challenge senders", "ε = |ln(p0/p1)|", []string{"challenge packets (finite ε)"},
			[][]float64{eps}, false, filepath.Join(dir, "epsilon.png")),
		plotDisclosure(r.Disclosure, filepath.Join(dir, "disclosure.png")),
		plotCDFs("Timing correlation on posts: rank of the true author", "rank among clients (1 = found)",
			[]string{"timing score", "end-to-end estimate"}, [][]float64{r.Samples.TimingRank, postRank}, true,
			filepath.Join(dir, "timing_rank.png")),
		plotCDFs("Latency", "seconds", latNames, lat, true, filepath.Join(dir, "latency.png")),
		plotHist("Packets sent per client", "packets/s", r.Samples.SentPerSec, 30, float64(r.Bandwidth.SentPerClient), "mean",
			filepath.Join(dir, "bandwidth.png")),
		plotBars("Link transmissions by kind (cover and real)", "transmissions", kinds, kindTx,
			filepath.Join(dir, "traffic.png")),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	return nil
}

func writeMarkdown(dir string, r *Result) error {
	var b strings.Builder
	sc := r.Scenario
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# loam-sim report: %s\n\n", sc.Name)
	p("Crypto: **%s** (%s). Seed %d. %s virtual (%s observed after a %s warm-up), %d link transmissions; %.1f s of wall time (CPU: simulation %.1f s, adversary %.1f s, in parallel).\n\n",
		r.Crypto, cryptoNote(r.Crypto), sc.Seed, sc.Duration, dur(r.ObservedSeconds), sc.Warmup, r.Transmissions, r.WallSeconds,
		r.SimCPUSeconds, r.AdversaryCPUSeconds)
	p("Network: %d gateways, %d layers × %d mixes, %d services, link latency %s. Rates: μ = %g/s (mean delay %s), λP = %g, λL = %g, λD = %g, λM = %g per second; cover %s. ",
		sc.Topology.Gateways, sc.Topology.Layers, sc.Topology.MixesPerLayer, sc.Topology.Services, sc.Topology.LinkLatency,
		sc.Rates.Mu, dur(1/sc.Rates.Mu), sc.Rates.LambdaP, sc.Rates.LambdaL, sc.Rates.LambdaD, sc.Rates.LambdaM, onOff(sc.CoverOn()))
	p("Users: %d, %d friends on average (%s graph), %.0f%% post %g times an hour (%d content packets each), everyone fetches %g times an hour. ",
		sc.Users.Count, sc.Users.Friends, sc.Users.Graph, 100*sc.Users.Posters, sc.Users.PostsPerHour, sc.Users.PostPackets, sc.Users.FetchesPerHour)
	p("Adversary: a global passive observer of every link; %.0f%% of mixes compromised.\n\n", 100*sc.Adversary.Compromised)
	p("%s. Every number below is in metrics.json; docs/sim.md explains each metric.\n\n", r.Deterministic)

	p("## Per-mix entropy\n\n![per-mix entropy](mix_entropy.png)\n\n")
	p("For each packet leaving a mix the adversary weighs every earlier input by the exponential delay density (Loopix, after Danezis 2004) and takes the Shannon entropy of that distribution. ")
	p("Mean over honest mixes: **H = %s bits**, effective anonymity set 2^H = **%s**; theory log2(e·λ/μ) at the measured λ/μ = %s gives %s bits. ",
		f2(r.Mix.Entropy), f1(r.Mix.AnonSet), f1(r.Mix.LambdaOverMu), f2(r.Mix.Theory))
	p("Over the inputs' senders (as if each input's sender were known) the entropy is %s bits. Data: [mixes.csv](mixes.csv); the distribution over outputs: [mix_entropy_hist.png](mix_entropy_hist.png), [mix_entropy_samples.csv](mix_entropy_samples.csv).\n\n", f2(r.Mix.SenderEntropy))

	e := r.EndToEnd
	p("## End-to-end sender entropy\n\n![end-to-end entropy](e2e_entropy.png)\n\n")
	p("For %d packets leaving the last layer the adversary takes the per-mix weights back through every layer to the clients (a compromised mix passes the true input). ", e.Samples)
	p("Mean entropy **%s bits** (median %s) of at most log2(%d) = %s: an anonymity set of **%s** clients. The true sender's median rank in the adversary's estimate: %s of %d. ",
		f2(e.Entropy), f2(e.EntropyMedian), sc.Users.Count, f2(e.MaxEntropy), f1(e.AnonSet), f1(e.RankMedian), sc.Users.Count)
	p("Data: [end_to_end.csv](end_to_end.csv).\n\n")

	u := r.Unlinkability
	p("## Unlinkability ε of two challenge senders\n\n![epsilon](epsilon.png)\n\n")
	p("Clients %d and %d are the challenge senders; for each of their packets leaving the last layer, ε = |ln(p0/p1)| with p0, p1 the adversary's probabilities that each sent it (Loopix). ", u.Senders[0], u.Senders[1])
	p("%d packets: median ε = **%s**, mean (finite) %s, 90th percentile %s; %d with ε = ∞ (one sender excluded outright). Small ε is good: 0 means the two are indistinguishable.\n\n",
		u.Samples, f2(u.Median), f2(u.Mean), f2(u.P90), u.Infinite)

	ds := r.Disclosure
	p("## Statistical disclosure attack\n\n![disclosure](disclosure.png)\n\n")
	p("Each target's sends are correlated with the packets every client receives shortly after (weighted by the path-delay density), less each client's background; the attack succeeds when the target's friends fill its top m (m = its number of friends). ")
	for _, d := range []*Disclosure{ds.Run, ds.NoCover} {
		if d == nil {
			continue
		}
		p("Cover %s: %d of %d targets found within %s; median time **%s** (found or estimated: %s). ",
			onOff(d.Cover), d.Found, len(d.Targets), dur(d.Observed), durNum(d.Median), durNum(d.Extrapolated))
	}
	switch ds.FactorKind {
	case "measured":
		p("\n\nWith cover the attack needs **%s×** as long as without (measured).", f1(ds.Factor))
	case "extrapolated":
		p("\n\nWith cover the attack needs about **%s×** as long as without (from the times found or, for targets not found within the run, extrapolated from the growth of their scores).", f1(ds.Factor))
		if !math.IsNaN(float64(ds.LowerBound)) {
			p(" Measured alone, at least %s× (the run's length over the cover-off time).", f1(ds.LowerBound))
		}
	case "lower bound":
		p("\n\nWith cover the attack needs at least **%s×** as long as without (not found within the run).", f1(ds.LowerBound))
	case "no progress with cover":
		p("\n\nWith cover the attack made no progress within the run (the targets' friends scored no higher than other clients); without cover it needs about %s.", durNum(ds.NoCover.Extrapolated))
	case "none":
		p("\n\n(Run with adversary.compare_cover = true and cover on to compare with cover off.)")
	default:
		p("\n\n(%s.)", ds.FactorKind)
	}
	p(" Data: [disclosure.csv](disclosure.csv).\n\n")

	t := r.Timing
	p("## Timing correlation on posts\n\n![timing](timing_rank.png)\n\n")
	p("The adversary learns when a post's first header packet reaches a friend and ranks every client by the likelihood that one of its recent sends was that packet. ")
	p("%d posts: the author's median rank **%s** of %d (mean %s; found first in %s, in the top 10 in %s of posts). A random guess ranks at %d on average. ",
		t.Posts, f1(t.RankMedian), t.Clients, f1(t.RankMean), pct(t.Top1), pct(t.Top10), (t.Clients+1)/2)
	p("Ranked by the end-to-end estimate instead (%d posts): median %s. Data: [timing_ranks.csv](timing_ranks.csv).\n\n", t.PosteriorPosts, f1(t.PosteriorRank))

	p("## Latency\n\n![latency](latency.png)\n\n| what | samples | mean | median | p90 | p99 |\n|---|---|---|---|---|---|\n")
	for _, l := range r.Latency {
		p("| %s | %d | %s | %s | %s | %s |\n", l.What, l.Samples, durNum(l.Mean), durNum(l.P50), durNum(l.P90), durNum(l.P99))
	}
	p("\nData: [latency.csv](latency.csv).\n\n")

	bw := r.Bandwidth
	p("## Bandwidth and cover\n\n![bandwidth](bandwidth.png) ![traffic](traffic.png)\n\n")
	p("A client sends **%s packets/s** (%s bytes/s of %d-byte link frames) and receives %s packets/s (%s bytes/s), of which %s packets/s are real. ",
		f2(bw.SentPerClient), f0(bw.SentBytesPerSec), bw.WireFrameBytes, f2(bw.RecvPerClient), f0(bw.RecvBytesPerSec), f2(bw.RealPerClient))
	p("Cover is **%s** of what clients send and %s of all link transmissions. Data: [bandwidth.csv](bandwidth.csv), [traffic.csv](traffic.csv), node loops [node_loops.csv](node_loops.csv).\n\n",
		pct(bw.CoverShareClient), pct(bw.CoverShareNetwork))
	alarms := 0
	for _, n := range r.NodeLoops {
		alarms += n.Alarms
	}
	p("Node loops: %d nodes, %d loop alarms raised. Client cover counters: %d real, %d drop and %d loop packets, %d drop-stream packets, %d expired, %d refused.\n",
		len(r.NodeLoops), alarms, r.Clients.Real, r.Clients.Drop, r.Clients.Loop, r.Clients.DropStream, r.Clients.Expired, r.Clients.Refused)
	if r.RealPath != nil {
		p("\nReal path: %d fetch replies opened with their reply-block keys, %d failed.\n", r.RealPath.RepliesOpened, r.RealPath.RepliesBad)
	}
	if err := os.WriteFile(filepath.Join(dir, FileReport), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("sim: report: %w", err)
	}
	return nil
}

func cryptoNote(c string) string {
	if c == CryptoReal {
		return "real onion packets: onion.NewPacket/NewSURB at clients, Geometry.Unwrap at every hop"
	}
	return "the cost model: packets of the real length whose routing commands travel in the clear, unwrapped through the Router's Unwrap hook; mixing, delays, replay filters and cover are the real code"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func f0(x Num) string { return numf(x, "%.0f") }
func f1(x Num) string { return numf(x, "%.1f") }
func f2(x Num) string { return numf(x, "%.2f") }

func numf(x Num, f string) string {
	v := float64(x)
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "∞"
	}
	return fmt.Sprintf(f, v)
}

func pct(x Num) string {
	if math.IsNaN(float64(x)) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(x))
}

func durNum(x Num) string {
	v := float64(x)
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.IsInf(v, 1):
		return "never"
	}
	return dur(v)
}

// dur prints seconds readably.
func dur(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 120:
		return fmt.Sprintf("%.1f s", s)
	case s < 7200:
		return fmt.Sprintf("%.1f min", s/60)
	case s < 2*86400:
		return fmt.Sprintf("%.1f h", s/3600)
	}
	return fmt.Sprintf("%.1f days", s/86400)
}
