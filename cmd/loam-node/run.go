package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"loam/cmd/loam-node/nodeconfig"
)

type runOptions struct {
	config string
}

var runCommand = &command{
	name:    "run",
	summary: "run the node until SIGINT or SIGTERM",
	usage:   "run -c node.toml",
	help: `
Runs the node or authority the configuration describes until SIGINT or
SIGTERM, then shuts down gracefully (links closed, listeners stopped) and
exits 0. A second signal during shutdown exits at once. Logs go to stderr
(log_level, log_format); Prometheus metrics and readiness are served on
metrics_listen at /metrics and /readyz.`,
	flags: func(fs *flag.FlagSet) any {
		o := &runOptions{}
		fs.StringVar(&o.config, "c", "", "the node's configuration `FILE` (required)")
		fs.StringVar(&o.config, "config", "", "same as -c")
		return o
	},
	run: func(c *command, opts any, stdout, stderr io.Writer) int {
		return runRun(c, opts.(*runOptions), stderr)
	},
}

// shutdownTimeout bounds a graceful shutdown; past it the process exits
// with status 1 rather than hang.
const shutdownTimeout = 15 * time.Second

func runRun(c *command, o *runOptions, stderr io.Writer) int {
	if o.config == "" {
		return usageError(stderr, c, "-c is required: the node's configuration file")
	}
	cfg, err := nodeconfig.Load(o.config)
	if err != nil {
		return fail(stderr, c, err)
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Role == nodeconfig.RoleAuthority {
		err = runAuthority(ctx, stop, cfg, log)
	} else {
		err = runNode(ctx, stop, cfg, log)
	}
	if err != nil {
		log.Error("loam-node stopped", "err", err)
		return exitFailure
	}
	log.Info("loam-node stopped")
	return exitOK
}

func newLogger(cfg *nodeconfig.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	log := slog.New(h)
	slog.SetDefault(log)
	return log
}

// awaitSignal blocks until ctx ends (a signal), then restores the default
// signal handling so that a second signal kills the process at once.
func awaitSignal(ctx context.Context, stop func(), log *slog.Logger) {
	<-ctx.Done()
	stop()
	log.Info("shutting down", "timeout", shutdownTimeout)
}

// shutdown runs the closers in order and waits for them at most
// shutdownTimeout. Every closer runs; their errors are joined.
func shutdown(closers ...func() error) error {
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(shutdownTimeout):
		return fmt.Errorf("shutdown did not finish within %v", shutdownTimeout)
	}
}
