//go:build linux

// Command testbed runs Loam's multi-host test bed (package testbed): a
// whole network of loam-node processes, one network namespace per node,
// under faults, with people posting and reading through it; it prints one
// row per fault and the security checks, and can write them into
// docs/reliability.md. It must run as root.
//
//	testbed [-long] [-only id,id] [-doc docs/reliability.md] [-dir DIR]
//
// `make faults` runs `scripts/testbed --long`, which runs this.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"loam/internal/testbed"
)

func main() {
	long := flag.Bool("long", false, "the long run: minutes per scenario, more people (make faults)")
	only := flag.String("only", "", "comma-separated scenario and check ids to run (default: all)")
	doc := flag.String("doc", "", "write the result into this Markdown file's section for the run's mode")
	dir := flag.String("dir", "", "working directory, kept afterwards (default: a temporary one, removed unless the run fails)")
	bin := flag.String("bin", "", "a directory holding built loam-node, loam and tbclient (default: build them)")
	sweep := flag.Bool("sweep", false, "only delete what crashed runs left behind, then exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *sweep {
		if err := testbed.Sweep(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "testbed:", err)
			os.Exit(1)
		}
		return
	}
	limit := 20 * time.Minute
	if *long {
		limit = 90 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	o := testbed.Options{Long: *long, Dir: *dir, Bin: *bin, Out: os.Stdout}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	rep, err := testbed.Run(ctx, o)
	if rep != nil {
		fmt.Print("\n" + rep.Text())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbed:", err)
		os.Exit(1)
	}
	if *doc != "" {
		if err := testbed.WriteDoc(*doc, rep); err != nil {
			fmt.Fprintln(os.Stderr, "testbed:", err)
			os.Exit(1)
		}
		fmt.Printf("wrote the %s run's result into %s\n", rep.Mode, *doc)
	}
	if !rep.Pass() {
		os.Exit(1)
	}
}
