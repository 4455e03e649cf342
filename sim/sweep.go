package sim

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// WithParam returns the scenario with one field, named by its TOML path
// ("rates.lambda_p", "topology.mixes_per_layer", "duration"), set to value,
// validated like a scenario file.
func (s Scenario) WithParam(param, value string) (Scenario, error) {
	b, err := s.Encode()
	if err != nil {
		return Scenario{}, err
	}
	var m map[string]any
	if _, err := toml.Decode(string(b), &m); err != nil {
		return Scenario{}, fmt.Errorf("%w: %w", ErrScenario, err)
	}
	keys := strings.Split(param, ".")
	tbl := m
	for _, k := range keys[:len(keys)-1] {
		sub, ok := tbl[k].(map[string]any)
		if !ok {
			return Scenario{}, fmt.Errorf("%w: unknown field %s", ErrScenario, param)
		}
		tbl = sub
	}
	last := keys[len(keys)-1]
	old, ok := tbl[last]
	if !ok {
		return Scenario{}, fmt.Errorf("%w: unknown field %s", ErrScenario, param)
	}
	switch old.(type) {
	case int64:
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return Scenario{}, fmt.Errorf("%w: %s = %q: want an integer", ErrScenario, param, value)
		}
		tbl[last] = v
	case float64:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return Scenario{}, fmt.Errorf("%w: %s = %q: want a number", ErrScenario, param, value)
		}
		tbl[last] = v
	case bool:
		v, err := strconv.ParseBool(value)
		if err != nil {
			return Scenario{}, fmt.Errorf("%w: %s = %q: want true or false", ErrScenario, param, value)
		}
		tbl[last] = v
	case string:
		tbl[last] = value
	default:
		return Scenario{}, fmt.Errorf("%w: %s is a table, not a value", ErrScenario, param)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(m); err != nil {
		return Scenario{}, fmt.Errorf("%w: %w", ErrScenario, err)
	}
	return Parse(buf.Bytes())
}

// SweepPoint is one run of a sweep.
type SweepPoint struct {
	Value  string
	X      float64 // the value as a number (its index if it is not one)
	Result *Result
}

// Sweep runs the scenario once for each value of one parameter.
// opt.Progress sees the virtual time over all the runs.
func Sweep(ctx context.Context, sc Scenario, param string, values []string, opt Options) ([]SweepPoint, error) {
	var scs []Scenario
	var total time.Duration
	for _, v := range values {
		s, err := sc.WithParam(param, v)
		if err != nil {
			return nil, err
		}
		scs = append(scs, s)
		total += s.Duration.Duration
		if s.CoverOn() && *s.Adversary.CompareCover && !opt.NoTwin {
			total += s.Duration.Duration
		}
	}
	var points []SweepPoint
	var done time.Duration
	for i, s := range scs {
		o := opt
		base := done
		o.Progress = func(d, _ time.Duration) {
			if opt.Progress != nil {
				opt.Progress(base+d, total)
			}
		}
		r, err := Run(ctx, s, o)
		if err != nil {
			return nil, fmt.Errorf("sim: sweep %s = %s: %w", param, values[i], err)
		}
		done += s.Duration.Duration
		if r.Disclosure.NoCover != nil {
			done += s.Duration.Duration
		}
		x, err := strconv.ParseFloat(values[i], 64)
		if err != nil {
			x = float64(i)
		}
		points = append(points, SweepPoint{Value: values[i], X: x, Result: r})
	}
	return points, nil
}

// WriteSweepReport writes a sweep's table (sweep.csv), its plots and
// sweep.md into dir; with full, also each run's own report in a
// subdirectory.
func WriteSweepReport(dir, param string, points []SweepPoint, full bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sim: sweep report: %w", err)
	}
	var rows [][]string
	var xs, mixH, theory, e2e, epsMed, sent, recv, postLat []float64
	for _, pt := range points {
		r := pt.Result
		lat := math.NaN()
		for _, l := range r.Latency {
			if l.Kind == KindPost.String() {
				lat = float64(l.P50)
			}
		}
		xs = append(xs, pt.X)
		mixH = append(mixH, float64(r.Mix.Entropy))
		theory = append(theory, float64(r.Mix.Theory))
		e2e = append(e2e, float64(r.EndToEnd.Entropy))
		epsMed = append(epsMed, float64(r.Unlinkability.Median))
		sent = append(sent, float64(r.Bandwidth.SentPerClient))
		recv = append(recv, float64(r.Bandwidth.RecvPerClient))
		postLat = append(postLat, lat)
		rows = append(rows, []string{pt.Value, fn(r.Mix.Entropy), fn(r.Mix.Theory), fn(r.Mix.AnonSet), fn(r.EndToEnd.Entropy),
			fn(r.EndToEnd.AnonSet), fn(r.Unlinkability.Median), fn(r.Unlinkability.Mean), strconv.Itoa(r.Unlinkability.Infinite),
			fn(r.Timing.RankMedian), fn(r.Bandwidth.SentPerClient), fn(r.Bandwidth.SentBytesPerSec), fn(r.Bandwidth.RecvPerClient),
			fn(r.Bandwidth.CoverShareClient), ff(lat), r.Crypto})
		if full {
			sub := filepath.Join(dir, sanitize(param+"="+pt.Value))
			if err := WriteReport(sub, r); err != nil {
				return err
			}
		}
	}
	if err := writeCSV(filepath.Join(dir, "sweep.csv"), []string{param, "mix_entropy_bits", "mix_theory_bits", "mix_anonymity_set",
		"e2e_entropy_bits", "e2e_anonymity_set", "eps_median", "eps_mean", "eps_infinite", "timing_rank_median",
		"sent_packets_per_s", "sent_bytes_per_s", "received_packets_per_s", "cover_share", "post_latency_p50_s", "crypto"}, rows); err != nil {
		return err
	}
	for _, e := range []error{
		plotSweep("Entropy against "+param, param, "bits", xs, []string{"per-mix H (mean)", "log2(e·λ/μ)", "end-to-end H (mean)"},
			[][]float64{mixH, theory, e2e}, filepath.Join(dir, "sweep_entropy.png")),
		plotSweep("Unlinkability against "+param, param, "median ε = |ln(p0/p1)|", xs, []string{"ε median"},
			[][]float64{epsMed}, filepath.Join(dir, "sweep_epsilon.png")),
		plotSweep("Bandwidth against "+param, param, "packets/s per client", xs, []string{"sent", "received"},
			[][]float64{sent, recv}, filepath.Join(dir, "sweep_bandwidth.png")),
		plotSweep("Cost in latency against "+param, param, "seconds", xs, []string{"post latency (median)"},
			[][]float64{postLat}, filepath.Join(dir, "sweep_latency.png")),
	} {
		if e != nil {
			return e
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# loam-sim sweep of %s\n\n", param)
	if len(points) > 0 {
		fmt.Fprintf(&b, "Scenario %q, crypto **%s**, %s virtual per run.\n\n", points[0].Result.Scenario.Name, points[0].Result.Crypto, points[0].Result.Scenario.Duration)
	}
	b.WriteString("![entropy](sweep_entropy.png)\n\n![epsilon](sweep_epsilon.png)\n\n![bandwidth](sweep_bandwidth.png)\n\n![latency](sweep_latency.png)\n\n")
	fmt.Fprintf(&b, "| %s | mix H (bits) | theory | e2e H (bits) | ε median | sent pkts/s | cover share | post latency p50 |\n|---|---|---|---|---|---|---|---|\n", param)
	for i, pt := range points {
		r := pt.Result
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", pt.Value, f2(r.Mix.Entropy), f2(r.Mix.Theory),
			f2(r.EndToEnd.Entropy), f2(r.Unlinkability.Median), f2(r.Bandwidth.SentPerClient), pct(r.Bandwidth.CoverShareClient), durNum(Num(postLat[i])))
		if full {
			fmt.Fprintf(&b, "\nFull report: [%[1]s](%[1]s/report.md)\n\n", sanitize(param+"="+pt.Value))
		}
	}
	b.WriteString("\nData: [sweep.csv](sweep.csv).\n")
	if err := os.WriteFile(filepath.Join(dir, "sweep.md"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("sim: sweep report: %w", err)
	}
	return nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '=':
			return r
		}
		return '_'
	}, s)
}
