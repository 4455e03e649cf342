//go:build unix

package mixnet_test

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"loam/internal/localnet"
	"loam/mixnet"
	"loam/mixnet/directory"
	"loam/mixnet/link"
)

// BenchmarkClientIdle measures the CPU an idle client spends with cover
// traffic on at the default rates (λP, λL, λD of DefaultParameters) over 10
// s of wall time: real-or-drop drops, loops and drops, directory refreshes,
// keepalives. The network runs as separate loam-node processes so that this
// process's CPU time is the client's alone. Reports cpu-percent of one
// core; goal under 2 (Nym #491 saw 140 % while idle).
func BenchmarkClientIdle(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bin, err := localnet.Build(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	params := directory.DefaultParameters()
	params.EpochPeriod, params.Grace = time.Minute, 10*time.Second // a document within seconds; rates as in production
	layout, err := localnet.Generate(localnet.Spec{Dir: b.TempDir(), Bin: bin, Params: params, Bootstrap: 3 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	running, err := layout.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer running.StopAll()
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	if err := running.WaitReady(rctx); err != nil {
		b.Fatal(err)
	}
	lk, _ := link.GenerateKeyPair()
	c, err := mixnet.NewClient(mixnet.ClientConfig{Link: lk, Network: layout.Network(), Cover: true,
		Directory: layout.Fetcher(b.TempDir()), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for connected, _, _ := c.Status(); !connected; connected, _, _ = c.Status() {
		time.Sleep(50 * time.Millisecond)
	}

	const window = 10 * time.Second
	var percent float64
	b.ResetTimer()
	for range b.N {
		before, start := cpuTime(), time.Now()
		time.Sleep(window) // the client idles on its own goroutines meanwhile
		percent = float64(cpuTime()-before) / float64(time.Since(start)) * 100
	}
	b.StopTimer()
	stats, loops, _ := c.CoverStatus()
	b.ReportMetric(percent, "cpu-percent")
	b.ReportMetric(float64(stats.Drop+stats.Loop+stats.DropStream), "cover-packets")
	if loops.Alarm {
		b.Logf("loop alarm raised while idle: %+v", loops)
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
