package main

import (
	"errors"
	"log/slog"

	"loam/cmd/loam-node/nodeconfig"
	"loam/mailbox"
	"loam/mixnet"
)

// starter starts one service for a node and returns what stops it once the
// node no longer delivers requests (nil: nothing to stop).
type starter func(cfg *nodeconfig.Config, log *slog.Logger) (mixnet.Service, func() error, error)

// services are the implementations of nodeconfig.KnownServices.
var services = map[string]starter{
	"echo": func(*nodeconfig.Config, *slog.Logger) (mixnet.Service, func() error, error) {
		return mixnet.Echo, nil, nil
	},
	mailbox.ServiceName: startMailbox,
}

// startServices starts the services the configuration names; on failure
// it stops those already started.
func startServices(cfg *nodeconfig.Config, log *slog.Logger) (map[string]mixnet.Service, func() error, error) {
	svc := map[string]mixnet.Service{}
	var stops []func() error
	stopAll := func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	for _, name := range cfg.Services {
		s, stop, err := services[name](cfg, log)
		if err != nil {
			return nil, nil, errors.Join(err, stopAll())
		}
		svc[name] = s
		if stop != nil {
			stops = append(stops, stop)
		}
	}
	return svc, stopAll, nil
}

// startMailbox opens the replica's store and runs the mailbox service over
// it (SPEC.md §7). Stopping it lets the queued requests finish, then
// closes the store.
func startMailbox(cfg *nodeconfig.Config, log *slog.Logger) (mixnet.Service, func() error, error) {
	m := cfg.Mailbox
	log = log.With("service", mailbox.ServiceName)
	store, err := mailbox.OpenBadgerStore(m.Dir, m.Limits, mailbox.BadgerOptions{GCInterval: m.GCInterval, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	svc := mailbox.NewService(store, cfg.Network.Geometry, m.Workers, m.Queue, log)
	return svc, func() error {
		svc.Close()
		return store.Close()
	}, nil
}
