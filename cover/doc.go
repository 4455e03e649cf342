// Package cover schedules Loam's cover traffic, the Loopix way: what hides
// whether anyone is talking at all.
//
// A client sends one Poisson stream of real-or-drop packets at rate λP: a
// real packet only ever leaves in a scheduled slot, and a slot that finds no
// real packet waiting carries a drop packet (to a random service, discarded
// there). The schedule never looks at the queue, so the times at which a
// client sends are the same whatever it is doing. Beside it run a loop
// stream at λL (packets that travel every layer and come back to the client)
// and a drop stream at λD. Mixes and gateways send their own loops at λM.
//
// Loops that do not come back are counted by a LoopTracker over a sliding
// window; a one-sided binomial test raises an alarm when more are lost than
// link failures explain: the trace of an n−1 attack, in which an adversary
// blocks or delays the other senders' packets at a mix to isolate a
// target's.
//
// Gaps are exponential, drawn from the operating system's CSPRNG
// (loam/internal/xrand), and time comes only from a clock.Clock, so the same
// code runs on the wall clock and in the simulator's virtual time. This
// package builds no packets: a Maker (the mixnet client or node) builds them
// on demand.
//
// SPEC.md's cover traffic section is the exact definition; this package is
// one implementation of it.
package cover
