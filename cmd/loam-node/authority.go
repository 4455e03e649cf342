package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"loam/cmd/loam-node/nodeconfig"
	"loam/mixnet/directory"
)

// runAuthority runs a directory authority until ctx ends: its HTTP API on
// authority.listen, the epoch protocol, and metrics.
func runAuthority(ctx context.Context, stop func(), cfg *nodeconfig.Config, log *slog.Logger) error {
	a, err := directory.NewAuthority(directory.AuthorityConfig{
		Key:         cfg.Identity,
		Authorities: cfg.Authorities,
		Threshold:   cfg.Threshold,
		Params:      cfg.Params,
		DataDir:     filepath.Join(cfg.DataDir, "authority"),
		Logger:      log,
		Bootstrap:   cfg.Bootstrap,
	})
	if err != nil {
		return err
	}
	h := a.Handler()
	ready := func() bool { return servesCurrent(h, cfg.Params.EpochPeriod) }
	reg := newRegistry(ready)
	ln, err := net.Listen("tcp", cfg.AuthorityListen)
	if err != nil {
		a.Close()
		return fmt.Errorf("authority.listen: %w", err)
	}
	srv := newHTTPServer(h, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	metrics, err := startMetrics(cfg.MetricsListen, reg, ready, log)
	if err != nil {
		srv.Close()
		a.Close()
		return err
	}
	protocol := make(chan struct{})
	go func() {
		defer close(protocol)
		if err := a.Start(ctx); err != nil {
			log.Error("authority protocol", "err", err)
		}
	}()
	self := cfg.Self()
	log.Info("authority running", "config", cfg.Path, "name", cfg.Name, "listen", ln.Addr().String(),
		"url", self.URL, "authorities", len(cfg.Authorities), "threshold", cfg.Threshold,
		"epoch_period", cfg.Params.EpochPeriod)
	select {
	case <-ctx.Done():
	case err := <-served:
		stop()
		metrics.Shutdown()
		a.Close()
		return fmt.Errorf("authority HTTP API: %w", err)
	}
	awaitSignal(ctx, stop, log)
	return shutdown(
		a.Close,
		func() error { <-protocol; return nil },
		func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(ctx)
		},
		metrics.Shutdown,
	)
}

// servesCurrent asks the authority's own handler for the document of the
// current epoch: the authority is ready once it serves one.
func servesCurrent(h http.Handler, period time.Duration) bool {
	e := directory.Schedule{Period: period}.Epoch(time.Now())
	req, err := http.NewRequest(http.MethodGet, "/v1/documents/"+strconv.FormatUint(e, 10), nil)
	if err != nil {
		return false
	}
	var w statusWriter
	h.ServeHTTP(&w, req)
	return w.status == http.StatusOK
}

// statusWriter is a ResponseWriter that keeps only the status.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}
