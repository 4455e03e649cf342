// Command demo is what `make demo` runs: a whole Loam network on 127.0.0.1
// as child processes in a throwaway directory, Alice and Bob exchanging
// friend codes, Alice posting a sentence and a picture, Bob syncing and
// reading both — then a short report, and every process stopped.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"loam/internal/demo"
)

func main() {
	defaultRates := flag.Bool("default-rates", false, "production's mixing delay and cover rates instead of the demo's faster ones (a 200 KiB picture then takes minutes)")
	picture := flag.Int("picture", 200, "the picture's size in KiB; 0 posts the sentence alone")
	flag.Parse()
	kib := *picture
	if kib == 0 {
		kib = -1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := demo.Run(ctx, demo.Options{Out: os.Stdout, DefaultRates: *defaultRates, PictureKiB: kib})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	fmt.Println()
	fmt.Println("Report")
	status := "yes: text and picture read back intact"
	if rep.PictureBytes == 0 {
		status = "yes: text read back intact"
	}
	if !rep.Delivered {
		status = "NO"
	}
	fmt.Printf("  delivered:            %s\n", status)
	fmt.Printf("  post to read:         %.1fs (post %.1fs, sync %.1fs)\n", rep.PostToRead.Seconds(), rep.PostTime.Seconds(), rep.SyncTime.Seconds())
	fmt.Printf("  Bob's first sync:     %.1fs (before the post; it reads every mailbox epoch in retention)\n", rep.FirstSync.Seconds())
	fmt.Printf("  packets sent:         %d by Alice's and Bob's clients, all of one size (2457 B)\n", rep.Real+rep.Cover)
	fmt.Printf("  share that was cover: %.0f%% (%d drop and loop packets beside %d real)\n", 100*rep.CoverShare(), rep.Cover, rep.Real)
	fmt.Printf("  whole demo:           %.1fs; all %d processes stopped\n", time.Since(start).Seconds(), rep.ProcessesStart)
	if !rep.Delivered {
		os.Exit(1)
	}
}
