package sim

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func tinyScenario() Scenario {
	sc := DefaultScenario()
	sc.Name = "tiny"
	sc.Duration.Duration, sc.Warmup.Duration = 20*time.Second, 2*time.Second
	sc.Topology.Layers, sc.Topology.MixesPerLayer, sc.Topology.Gateways, sc.Topology.Services = 3, 2, 2, 1
	sc.Users.Count, sc.Users.Friends, sc.Users.PostsPerHour, sc.Users.FetchesPerHour = 20, 3, 360, 360
	sc.Adversary.Samples, sc.Adversary.Challenges, sc.Adversary.Posts, sc.Adversary.Targets, sc.Adversary.Checkpoints = 50, 50, 50, 3, 5
	return sc
}

// A tiny run writes every file of the report, and report.md links only
// files that exist.
func TestRunWritesReport(t *testing.T) {
	sc := tinyScenario()
	var last, total time.Duration
	res, err := Run(context.Background(), sc, Options{Progress: func(d, tot time.Duration) { last, total = d, tot }})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2*sc.Duration.Duration || last != total {
		t.Fatalf("progress ended at %v of %v", last, total)
	}
	if res.Crypto != CryptoModel || res.Transmissions == 0 || len(res.Mixes) != 6 || res.Disclosure.NoCover == nil {
		t.Fatalf("result: crypto %s, %d transmissions, %d mixes", res.Crypto, res.Transmissions, len(res.Mixes))
	}
	for _, m := range res.Mixes {
		if m.Outputs == 0 || math.IsNaN(float64(m.Entropy)) {
			t.Fatalf("mix %d measured nothing", m.Node)
		}
	}
	// What the clients sent matches the rates: λP + λL + λD = 3 per
	// second, within a generous margin over 18 s of 20 clients.
	if bw := float64(res.Bandwidth.SentPerClient); math.Abs(bw-3) > 0.4 {
		t.Fatalf("clients sent %.2f packets/s, want about 3", bw)
	}
	for _, k := range res.Traffic {
		if k.Dropped != 0 {
			t.Fatalf("%s: %d packets dropped by Routers", k.Kind, k.Dropped)
		}
	}
	if len(res.Latency) == 0 || res.EndToEnd.Samples == 0 || res.Timing.Posts == 0 {
		t.Fatalf("missing metrics: latency %d, e2e %d, timing %d", len(res.Latency), res.EndToEnd.Samples, res.Timing.Posts)
	}

	dir := t.TempDir()
	if err := WriteReport(dir, res); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, FileReport))
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`\]\(([^)]+)\)`).FindAllStringSubmatch(string(md), -1)
	if len(links) < 15 {
		t.Fatalf("report.md links only %d files", len(links))
	}
	for _, l := range links {
		st, err := os.Stat(filepath.Join(dir, l[1]))
		if err != nil || st.Size() == 0 {
			t.Fatalf("report.md links %s: %v", l[1], err)
		}
	}
	var back Result
	b, err := os.ReadFile(filepath.Join(dir, FileMetrics))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("metrics.json: %v", err)
	}
	if back.Transmissions != res.Transmissions || back.Crypto != res.Crypto {
		t.Fatal("metrics.json differs from the result")
	}
}

// A run that samples nothing still writes a whole report, its plots
// empty. (A dozen PNGs are slow under the race detector: `make test` runs
// this in its integration step.)
func TestReportWithoutSamplesIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	sc := tinyScenario()
	sc.Rates.Cover = ptr(false)
	sc.Users.PostsPerHour = 0
	sc.Adversary.Samples, sc.Adversary.Challenges, sc.Adversary.Posts, sc.Adversary.Targets = 0, 0, 0, 0
	res, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(t.TempDir(), res); err != nil {
		t.Fatal(err)
	}
}

// The real cryptographic path: real onion packets through real Routers;
// every fetch answer opens with its reply block's keys.
func TestRunRealCrypto(t *testing.T) {
	sc := tinyScenario()
	sc.Crypto = CryptoReal
	sc.Users.Count = 8
	sc.Duration.Duration = 10 * time.Second
	sc.Adversary.CompareCover = ptr(false)
	res, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Crypto != CryptoReal || res.RealPath == nil {
		t.Fatal("not a real-crypto run")
	}
	if res.RealPath.RepliesOpened == 0 || res.RealPath.RepliesBad != 0 {
		t.Fatalf("replies opened %d, failed %d", res.RealPath.RepliesOpened, res.RealPath.RepliesBad)
	}
	arrived := int64(0)
	for _, k := range res.Traffic {
		arrived += k.Arrived
		if k.Dropped != 0 {
			t.Fatalf("%s: %d dropped", k.Kind, k.Dropped)
		}
	}
	if arrived < 100 || math.IsNaN(float64(res.Mix.Entropy)) {
		t.Fatalf("%d packets arrived; mix entropy %v", arrived, res.Mix.Entropy)
	}
}

// Without cover nothing random is drawn outside the seed: two runs agree
// exactly.
func TestRunDeterministicWithoutCover(t *testing.T) {
	sc := tinyScenario()
	sc.Rates.Cover = ptr(false)
	sc.Rates.LambdaM = 0
	a, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Transmissions != b.Transmissions || a.Mix.Entropy != b.Mix.Entropy || a.EndToEnd.Entropy != b.EndToEnd.Entropy {
		t.Fatalf("runs differ: %d/%d transmissions, entropy %v/%v", a.Transmissions, b.Transmissions, a.Mix.Entropy, b.Mix.Entropy)
	}
	if a.Disclosure.NoCover != nil {
		t.Fatal("a run without cover made a cover-off twin")
	}
}

func TestRunCancelled(t *testing.T) {
	sc := tinyScenario()
	sc.Duration.Duration = 10 * time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, sc, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
}

func TestSweep(t *testing.T) {
	sc := tinyScenario()
	sc.Duration.Duration = 10 * time.Second
	points, err := Sweep(context.Background(), sc, "rates.lambda_p", []string{"1", "4"}, Options{NoTwin: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 || points[0].X != 1 || points[1].X != 4 {
		t.Fatalf("points %+v", points)
	}
	if !(points[1].Result.Bandwidth.SentPerClient > points[0].Result.Bandwidth.SentPerClient+1.5) {
		t.Fatalf("bandwidth did not follow λP: %v then %v", points[0].Result.Bandwidth.SentPerClient, points[1].Result.Bandwidth.SentPerClient)
	}
	dir := t.TempDir()
	full := !testing.Short() // each run's own report: a dozen PNGs, slow under the race detector
	if err := WriteSweepReport(dir, "rates.lambda_p", points, full); err != nil {
		t.Fatal(err)
	}
	files := []string{"sweep.md", "sweep.csv", "sweep_entropy.png", "sweep_epsilon.png", "sweep_bandwidth.png", "sweep_latency.png"}
	if full {
		files = append(files, "rates.lambda_p=4/report.md")
	}
	for _, f := range files {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if _, err := Sweep(context.Background(), sc, "rates.nothing", []string{"1"}, Options{}); !errors.Is(err, ErrScenario) {
		t.Fatalf("bad parameter: %v", err)
	}
}

// BenchmarkSimScale runs the scale goal: 10,000 clients, 3 layers × 10
// mixes, 10 virtual minutes at the default rates, the cost model. It is
// not part of `make test`:
//
//	go test ./sim -run '^$' -bench SimScale -benchtime 1x -timeout 30m
func BenchmarkSimScale(b *testing.B) {
	benchScenario(b, "scenarios/scale-10k.toml")
}

// BenchmarkSimDefault runs sim/scenarios/default.toml without its twin.
func BenchmarkSimDefault(b *testing.B) {
	benchScenario(b, "scenarios/default.toml")
}

func benchScenario(b *testing.B, path string) {
	sc, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	var res *Result
	for b.Loop() {
		if res, err = Run(context.Background(), sc, Options{NoTwin: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.Transmissions), "transmissions/op")
	b.ReportMetric(float64(res.Transmissions)/res.WallSeconds, "transmissions/s")
	b.ReportMetric(res.VirtualSeconds/res.WallSeconds, "virtual-s/wall-s")
	b.ReportMetric(res.SimCPUSeconds, "sim-cpu-s")
	b.ReportMetric(res.AdversaryCPUSeconds, "adversary-cpu-s")
}
