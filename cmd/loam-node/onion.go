package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"loam/cmd/loam-node/nodeconfig"
	"loam/mixnet"
	"loam/mixnet/tor"
)

// A gateway with [tor] enabled is also a v3 onion service (docs/tor.md):
// its onion address, known from the key in tor's data directory before tor
// runs, goes in its descriptor; once the node runs, loam-node starts a tor
// process of its own, publishes the service and serves links from it
// beside the TCP listener. On shutdown the node closes first (and with it
// the onion listener), then tor.

// onionAddress is the address the gateway publishes, creating the service
// key on first use.
func onionAddress(cfg *nodeconfig.Config) (string, error) {
	addr, err := tor.OnionAddress(cfg.Tor.DataDir, cfg.Tor.OnionPort)
	if err != nil {
		return "", fmt.Errorf("tor: onion service key in %s: %w", cfg.Tor.DataDir, err)
	}
	return addr, nil
}

// serveOnion starts tor, publishes the onion service and hands its
// listener to the running node. It returns the Tor to close after the
// node.
func serveOnion(ctx context.Context, cfg *nodeconfig.Config, n *mixnet.Node, log *slog.Logger) (*tor.Tor, error) {
	t, err := tor.Start(ctx, tor.Config{
		Path:             cfg.Tor.Path,
		DataDir:          cfg.Tor.DataDir,
		ExtraTorrc:       cfg.Tor.Torrc,
		BootstrapTimeout: cfg.Tor.BootstrapTimeout,
		Logger:           log.With("component", "tor"),
	})
	if err != nil {
		return nil, err
	}
	ln, addr, err := t.ListenOnion(ctx, cfg.Tor.OnionPort)
	if err == nil {
		err = n.Serve(ln)
		if err != nil {
			ln.Close()
		}
	}
	if err != nil {
		return nil, errors.Join(err, t.Close())
	}
	log.Info("serving the onion service", "address", addr)
	return t, nil
}
