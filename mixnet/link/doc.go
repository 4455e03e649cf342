// Package link implements the links of the Loam mixnet: node to node and
// client to gateway. A link is a Noise_XK_25519_ChaChaPoly_BLAKE2b session
// over a byte stream that a Transport makes (TCP, Tor, or in-memory in tests
// and simulation), carrying frames of one fixed size.
//
// Every write a link makes to its byte stream, the three handshake messages
// included, is a whole number of wire frames of Config.WireFrameLen() bytes,
// so an observer of a link sees only identical, equally sized units: not which
// is a handshake message, a mix packet, a keepalive or a rekey notice.
//
// The initiator (Client) must know the responder's static key, from the
// directory; the responder (Server) learns the initiator's static key from the
// third handshake message and may refuse it with Config.Authorize.
//
// After the handshake, one goroutine may write (WriteFrame, WriteKeepalive,
// Flush) while another reads (ReadFrame); Close may be called from any
// goroutine and unblocks both.
//
// SPEC.md §"Links" (drafted in docs/spec-drafts/links.md) is the byte-level
// definition; this package is one implementation of it.
package link
