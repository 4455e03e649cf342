// Package sim is Loam's traffic-analysis simulator: a discrete-event
// simulation that runs the real node logic (mixnet.Router, with real epoch
// keys, replay filters and Poisson mixing) and the real cover schedules
// (cover.Client, cover.NodeLoops) under one virtual clock, over an in-memory
// transport, and measures what a global passive adversary learns from the
// links it watches.
//
// A Scenario (TOML) fixes the topology, the rates, the users and their
// behaviour, and the adversary. Run simulates it and returns a Result;
// WriteReport turns a Result into metrics.json, one CSV per metric, PNG
// plots and report.md. Sweep runs one scenario over the values of one
// parameter.
//
// Onion packets are either real (crypto = "real": onion.NewPacket and
// onion.NewSURB at the clients, Geometry.Unwrap at every hop) or a cost
// model (crypto = "model": a simulator-only packet of the same length that
// carries its routing commands in the clear, unwrapped through the Router's
// Unwrap hook). Every report says which was used. docs/sim.md explains the
// model, the metrics and the plots.
//
// The simulator is a measurement tool, not protocol: its scenario
// randomness (paths, delays, users) comes from a PRNG seeded by the
// scenario, so runs are repeatable, except for the cover streams' gaps,
// which cover.Stream draws from crypto/rand (see docs/sim.md).
package sim
