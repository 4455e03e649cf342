// Command loam-sim simulates a Loam network under a global passive
// adversary and reports what the adversary learns and what each setting
// costs.
//
//	loam-sim run SCENARIO.toml --out DIR
//	loam-sim sweep SCENARIO.toml --param rates.lambda_p --values 0.5,1,2,4 --out DIR
//
// run writes DIR/report.md with its plots, CSV files and metrics.json;
// sweep runs the scenario once per value of one parameter and draws
// entropy, ε, bandwidth and latency against it. A progress bar with an
// estimate of the time left goes to standard error. docs/sim.md describes
// scenarios, metrics and plots.
//
// Exit status: 0 success, 1 a failed run, 2 a usage or scenario error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"loam/sim"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `loam-sim simulates a Loam network and measures a global passive adversary.

Usage:
  loam-sim run SCENARIO.toml --out DIR [--no-compare] [--quiet]
  loam-sim sweep SCENARIO.toml --param PATH --values V1,V2,... --out DIR [--compare] [--full] [--quiet]

run writes DIR/report.md, metrics.json, one CSV per metric and PNG plots.
sweep runs the scenario for each value of the parameter PATH (a TOML path
such as rates.lambda_p, rates.mu, users.count, topology.mixes_per_layer,
adversary.compromised) and writes DIR/sweep.md, sweep.csv and plots of
entropy, ε, bandwidth and latency against it.

Example scenarios are in sim/scenarios/; docs/sim.md explains them.
`

// Main runs loam-sim with args (without the program name) and returns the
// exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "sweep":
		return sweepCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	fmt.Fprintf(stderr, "loam-sim: unknown command %q\n\n%s", args[0], usageText)
	return exitUsage
}

// parse parses flags placed before or after the one positional argument.
func parse(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", errors.New("a scenario file is required")
	}
	pos := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return "", err
	}
	if len(fs.Args()) > 0 {
		return "", fmt.Errorf("unexpected argument %q", fs.Args()[0])
	}
	return pos, nil
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for the report (required)")
	noCompare := fs.Bool("no-compare", false, "skip the cover-off twin run of the disclosure attack")
	quiet := fs.Bool("quiet", false, "no progress bar")
	path, err := parse(fs, args)
	if err != nil {
		return usageErr(stderr, err)
	}
	if *out == "" {
		return usageErr(stderr, errors.New("--out DIR is required"))
	}
	sc, err := sim.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "loam-sim: %v\n", err)
		return exitUsage
	}
	bar := newBar(stderr, *quiet, "simulating "+sc.Name)
	res, err := sim.Run(ctx, sc, sim.Options{Progress: bar.update, NoTwin: *noCompare})
	bar.finish()
	if err != nil {
		fmt.Fprintf(stderr, "loam-sim: %v\n", err)
		return exitFailure
	}
	if err := sim.WriteReport(*out, res); err != nil {
		fmt.Fprintf(stderr, "loam-sim: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: %s crypto, %.0f s virtual in %.1f s; mix entropy %.2f bits, end-to-end %.2f bits, ε median %.2f\nreport: %s\n",
		sc.Name, res.Crypto, res.VirtualSeconds, res.WallSeconds, float64(res.Mix.Entropy), float64(res.EndToEnd.Entropy),
		float64(res.Unlinkability.Median), filepath.Join(*out, sim.FileReport))
	return exitOK
}

func sweepCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for the report (required)")
	param := fs.String("param", "", "the parameter to vary, as a TOML path (required)")
	values := fs.String("values", "", "comma-separated values (required)")
	compare := fs.Bool("compare", false, "also run each point's cover-off twin for the disclosure attack")
	full := fs.Bool("full", false, "also write each run's full report in a subdirectory")
	quiet := fs.Bool("quiet", false, "no progress bar")
	path, err := parse(fs, args)
	if err != nil {
		return usageErr(stderr, err)
	}
	if *out == "" || *param == "" || *values == "" {
		return usageErr(stderr, errors.New("--out, --param and --values are required"))
	}
	sc, err := sim.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "loam-sim: %v\n", err)
		return exitUsage
	}
	vals := strings.Split(*values, ",")
	for i := range vals {
		vals[i] = strings.TrimSpace(vals[i])
		if _, err := sc.WithParam(*param, vals[i]); err != nil {
			fmt.Fprintf(stderr, "loam-sim: %v\n", err)
			return exitUsage
		}
	}
	bar := newBar(stderr, *quiet, "sweeping "+*param)
	points, err := sim.Sweep(ctx, sc, *param, vals, sim.Options{Progress: bar.update, NoTwin: !*compare})
	bar.finish()
	if err != nil {
		fmt.Fprintf(stderr, "loam-sim: %v\n", err)
		return exitFailure
	}
	if err := sim.WriteSweepReport(*out, *param, points, *full); err != nil {
		fmt.Fprintf(stderr, "loam-sim: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%d runs of %s\nreport: %s\n", len(points), *param, filepath.Join(*out, "sweep.md"))
	return exitOK
}

func usageErr(w io.Writer, err error) int {
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(w, "loam-sim: %v\n\n", err)
	}
	fmt.Fprint(w, usageText)
	return exitUsage
}

// bar shows the virtual time simulated against the total, with the time
// left estimated from the rate so far.
type bar struct {
	pb *progressbar.ProgressBar
	w  io.Writer
	d  string
}

func newBar(w io.Writer, quiet bool, desc string) *bar {
	if quiet {
		return &bar{}
	}
	return &bar{w: w, d: desc}
}

func (b *bar) update(done, total time.Duration) {
	if b.w == nil {
		return
	}
	if b.pb == nil {
		b.pb = progressbar.NewOptions64(int64(total/time.Second),
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(b.d),
			progressbar.OptionSetItsString("virtual s"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(250*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	_ = b.pb.Set64(int64(done / time.Second)) // a terminal write that fails only loses the bar
}

func (b *bar) finish() {
	if b.pb != nil {
		_ = b.pb.Finish()
		fmt.Fprintln(b.w)
	}
}
