// Package testbed is Loam's multi-host test bed: a whole network — three
// directory authorities, gateways, two mixes in each of three layers,
// three mailbox replicas and people's clients — run as real loam-node and
// tbclient processes, one Linux network namespace per host, joined by veth
// pairs to a bridge in a switch namespace of its own. Every address lives
// in namespaces the bed made (10.77.0.0/24 by default); the machine's own
// namespace gets no interface, address or route, and every namespace and
// process is torn down at the end, whatever happened, with a sweep at the
// start for what a crashed run left.
//
// Faults are named scenarios, each run while people post and sync: packet
// loss and link delay injected by the nodes themselves (loam-node's
// [faults], a testing aid), SIGKILL and restart of a mix, a gateway and a
// replica, a replica cut off the network and back, an epoch rollover under
// load, authorities down, forged directory documents, garbage on every
// port, and heavy load. The ledger counts, for each, the entries posted,
// acknowledged (the post returned success) and read back intact by every
// friend; a scenario passes only if nothing acknowledged was lost or
// delivered twice. Security checks run in the same bed: links from keys
// not in the directory, writes and deletes without a capability, replayed
// and tampered packets and link bytes.
//
// Run it with `go run ./internal/testbed/cmd/testbed` (root); `make test`
// runs the short version as TestTestbedIntegration, `make faults` the long
// one. docs/reliability.md holds the results.
package testbed
