// Package onion implements Loam's onion packet: a fixed-size layered packet
// that a mix peels with exactly one variable-base X25519 multiplication.
//
// Every packet, forward or SURB reply, at every hop, is Geometry.PacketLen()
// bytes long. A sender wraps a payload for a path of hops with NewPacket; each
// hop calls Unwrap with its onion key and learns only its routing command
// (relay to a node after a delay, deliver to a recipient, or deliver a SURB
// reply) and, at the final hop, the payload. A client that wants an answer
// makes a single-use reply block with NewSURB and sends it inside a payload;
// the service answers with NewReply and only the SURB's maker can read the
// answer, with OpenReply.
//
// SPEC.md §2 is the byte-level definition; this package is one implementation
// of it.
package onion
