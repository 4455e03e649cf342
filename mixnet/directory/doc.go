// Package directory is Loam's directory: the signed list of nodes, their keys
// and the network's parameters for every epoch.
//
// Each node signs a Descriptor of itself (identity, role, mix layer, link
// address and key, onion keys for upcoming epochs) and uploads it to every
// directory authority with Fetcher.Upload. For every epoch the authorities
// vote, each computes the same consensus Document from the votes it saw and
// signs it with Ed25519; an Authority serves its votes, its signature and the
// document over HTTP. Nodes and clients accept a Document only when
// Document.Verify finds valid signatures from at least a threshold of the
// authorities they trust, and a Fetcher keeps the last good document on disk
// for when no authority answers.
//
// Every structure has one deterministic binary encoding, so authorities that
// saw the same votes produce byte-identical documents. SPEC.md §3 (drafted in
// docs/spec-drafts/directory.md) is the byte-level definition; this package
// is one implementation of it.
package directory
