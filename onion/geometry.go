package onion

import "fmt"

// Geometry fixes the shape of every packet on a network: the longest path a
// header can describe and the number of payload bytes a user gets. Every
// length follows from these two (SPEC.md §2.1), so two nodes agree on the
// wire format exactly when they agree on the Geometry.
type Geometry struct {
	// Hops is the number of routing slots in a header, the longest path.
	Hops int
	// UserPayload is the number of payload bytes a sender or replier fills.
	UserPayload int
}

// DefaultGeometry is the network default: gateway, three mix layers and a
// service (5 hops) with 2048 bytes of user payload, 2457 bytes a packet.
var DefaultGeometry = Geometry{Hops: 5, UserPayload: 2048}

// Validate reports whether g describes a usable packet.
func (g Geometry) Validate() error {
	if g.Hops < 1 || g.Hops > MaxHops {
		return fmt.Errorf("onion: geometry has %d hops, want 1 to %d", g.Hops, MaxHops)
	}
	if g.UserPayload < MinUserPayload || g.UserPayload > MaxUserPayload {
		return fmt.Errorf("onion: geometry has %d payload bytes, want %d to %d",
			g.UserPayload, MinUserPayload, MaxUserPayload)
	}
	return nil
}

func (g Geometry) mustValid() {
	if err := g.Validate(); err != nil {
		panic(err) // a Geometry is configuration the caller validated
	}
}

// BetaLen is the length of the encrypted routing information β.
func (g Geometry) BetaLen() int { return g.Hops * SlotLen }

// HeaderLen is the length of a header: α ‖ β ‖ γ.
func (g Geometry) HeaderLen() int { return KeyLen + g.BetaLen() + MACLen }

// PayloadLen is the length of the encrypted payload: the zero prefix and the
// user payload.
func (g Geometry) PayloadLen() int { return ZeroPrefixLen + g.UserPayload }

// PacketLen is the length of every packet: header ‖ payload.
func (g Geometry) PacketLen() int { return g.HeaderLen() + g.PayloadLen() }

// SURBLen is the length of a reply block: first hop ‖ header ‖ key seed.
func (g Geometry) SURBLen() int { return NodeIDLen + g.HeaderLen() + surbKeySeedLen }

// Named offsets of a packet's parts.
func (g Geometry) alpha(p []byte) []byte   { return p[:KeyLen] }
func (g Geometry) beta(p []byte) []byte    { return p[KeyLen : KeyLen+g.BetaLen()] }
func (g Geometry) gamma(p []byte) []byte   { return p[KeyLen+g.BetaLen() : g.HeaderLen()] }
func (g Geometry) payload(p []byte) []byte { return p[g.HeaderLen():g.PacketLen()] }
