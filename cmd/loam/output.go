package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// printJSON writes v as indented JSON to stdout.
func printJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printf(g *globals, format string, args ...any) { fmt.Fprintf(g.stdout, format, args...) }

// progress returns a callback for Post and Sync that shows a progress bar
// on stderr once the work has taken longer than a second (short work shows
// nothing), and a function that finishes the bar. JSON output shows none.
func progress(g *globals, what string) (update func(done, total int), finish func()) {
	if g.json {
		return nil, func() {}
	}
	start := time.Now()
	var (
		mu  sync.Mutex
		bar *progressbar.ProgressBar
	)
	update = func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if bar == nil {
			if time.Since(start) < time.Second || total <= 0 {
				return
			}
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(g.stderr),
				progressbar.OptionSetDescription(what), progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(100*time.Millisecond))
		}
		bar.ChangeMax(total)
		bar.Set(done)
	}
	finish = func() {
		mu.Lock()
		defer mu.Unlock()
		if bar != nil {
			bar.Finish()
		}
	}
	return update, finish
}

func humanBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
