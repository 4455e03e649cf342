package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"loam/cmd/loam-node/nodeconfig"
	"loam/mixnet"
	"loam/mixnet/directory"
)

// dropReasons are every mixnet.DropReason; the counter starts at zero for
// each, so dashboards and alerts see every series from the start.
var dropReasons = []mixnet.DropReason{
	mixnet.DropReplay, mixnet.DropMAC, mixnet.DropMalformed, mixnet.DropNoKey, mixnet.DropOverload,
	mixnet.DropUnknownPeer, mixnet.DropBadNextHop, mixnet.DropLinkDown, mixnet.DropNoService,
	mixnet.DropNoClient, mixnet.DropBadFrame,
}

// runNode runs a gateway, mix or service node until ctx ends.
func runNode(ctx context.Context, stop func(), cfg *nodeconfig.Config, log *slog.Logger) error {
	var node atomic.Pointer[mixnet.Node]
	reg := newRegistry(func() bool {
		n := node.Load()
		return n != nil && n.Ready()
	})
	svc, stopServices, err := startServices(cfg, log)
	if err != nil {
		return err
	}
	mc := nodeConfig(cfg, svc, reg, log)
	faults := newFaultInjector(cfg, reg, log)
	faultHooks(faults, &mc)
	if cfg.Tor.Enabled {
		if mc.OnionAddress, err = onionAddress(cfg); err != nil {
			return errors.Join(err, stopServices())
		}
	}
	n, err := mixnet.NewNode(mc)
	if err != nil {
		return errors.Join(err, stopServices())
	}
	m := n.Metrics()
	for _, r := range dropReasons {
		m.Drops.WithLabelValues(string(r))
	}
	m.Links.WithLabelValues("out", "node")
	m.Links.WithLabelValues("in", "node")
	if cfg.Role == nodeconfig.RoleGateway {
		m.Links.WithLabelValues("in", "client")
	}
	node.Store(n)
	metrics, err := startMetrics(cfg.MetricsListen, reg, n.Ready, log)
	if err != nil {
		return errors.Join(err, stopServices())
	}
	if err := n.Start(ctx); err != nil {
		return errors.Join(err, stopServices(), metrics.Shutdown())
	}
	if faults != nil {
		go faults.watch(ctx)
	}
	log.Info("node running", "config", cfg.Path, "role", cfg.Role, "name", cfg.Name, "id", n.ID().String(),
		"listen", n.Addr().String(), "epoch_period", cfg.Network.EpochPeriod, "services", cfg.Services)
	closeTor := func() error { return nil }
	if cfg.Tor.Enabled {
		t, err := serveOnion(ctx, cfg, n, log)
		if err != nil && ctx.Err() == nil {
			return errors.Join(err, shutdown(n.Close, stopServices, metrics.Shutdown))
		}
		if t != nil {
			closeTor = t.Close
		}
	}
	awaitSignal(ctx, stop, log)
	// The node first, so that no request reaches a closed service and the
	// onion listener goes before its tor.
	return shutdown(n.Close, closeTor, stopServices, metrics.Shutdown)
}

// nodeConfig maps a checked configuration onto mixnet's.
func nodeConfig(cfg *nodeconfig.Config, svc map[string]mixnet.Service, reg *prometheus.Registry, log *slog.Logger) mixnet.Config {
	l := cfg.Limits
	return mixnet.Config{
		Name:      cfg.Name,
		Role:      cfg.Role.Directory(),
		Layer:     cfg.Layer,
		Identity:  cfg.Identity,
		Link:      cfg.Link,
		Listen:    cfg.Listen,
		Advertise: cfg.Advertise,
		Network:   cfg.Network,
		Logger:    log,
		Registry:  reg,
		DataDir:   cfg.DataDir,
		Directory: &directory.Fetcher{
			Authorities: cfg.Authorities,
			Threshold:   cfg.Threshold,
			CacheDir:    filepath.Join(cfg.DataDir, "directory"),
			Client:      &http.Client{Timeout: fetchTimeout(cfg.Network.EpochPeriod)},
			Logger:      log,
		},
		Services:       svc,
		Workers:        l.Workers,
		QueueLen:       l.Queue,
		LinkQueue:      l.LinkQueue,
		MaxScheduled:   l.MaxScheduled,
		ReplayCapacity: l.ReplayCapacity,
		ReplayFP:       l.ReplayFP,
		ClientHold:     l.ClientHold,
		ClientHoldFor:  l.ClientHoldFor,
	}
}

// fetchTimeout bounds one directory request: a quarter epoch, so that a
// hung authority cannot stall the node's directory loop past the next
// document, but at least 2 s and at most the Fetcher's default 30 s.
func fetchTimeout(period time.Duration) time.Duration {
	return min(max(period/4, 2*time.Second), 30*time.Second)
}
