package main

import (
	"context"
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

// services are the implementations of nodeconfig.KnownServices.
var services = map[string]mixnet.Service{
	"echo": mixnet.Echo,
}

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
	n, err := mixnet.NewNode(nodeConfig(cfg, reg, log))
	if err != nil {
		return err
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
		return err
	}
	if err := n.Start(ctx); err != nil {
		metrics.Shutdown()
		return err
	}
	log.Info("node running", "config", cfg.Path, "role", cfg.Role, "name", cfg.Name, "id", n.ID().String(),
		"listen", n.Addr().String(), "epoch_period", cfg.Network.EpochPeriod)
	awaitSignal(ctx, stop, log)
	return shutdown(n.Close, metrics.Shutdown)
}

// nodeConfig maps a checked configuration onto mixnet's.
func nodeConfig(cfg *nodeconfig.Config, reg *prometheus.Registry, log *slog.Logger) mixnet.Config {
	svc := map[string]mixnet.Service{}
	for _, name := range cfg.Services {
		svc[name] = services[name]
	}
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
