package onion

// Constants fixed by SPEC.md §2 ("Onion packets"). Changing any of them
// changes the wire format; tunables live in Geometry instead.
const (
	// KeyLen is the length of an X25519 key and of an ephemeral key (α).
	KeyLen = 32
	// NodeIDLen is the length of a node id, a recipient id and a SURB id.
	NodeIDLen = 16
	// MACLen is the length of the per-hop header MAC (γ).
	MACLen = 16
	// SlotLen is the length of one hop's routing slot inside β.
	SlotLen = 1 + NodeIDLen + 4 + KeyLen + MACLen
	// ZeroPrefixLen is the length of the all-zero block that opens a
	// payload's plaintext; the final reader checks it to detect tampering.
	ZeroPrefixLen = 16
	// ReplayTagLen is the length of the replay tag Unwrap returns.
	ReplayTagLen = 32
	// surbKeySeedLen is the length of the payload key seed carried in a SURB.
	surbKeySeedLen = 32

	// MaxHops bounds Geometry.Hops; a longer path buys no anonymity and
	// would only grow every header.
	MaxHops = 16
	// MinUserPayload and MaxUserPayload bound Geometry.UserPayload.
	MinUserPayload = 64
	MaxUserPayload = 1 << 16

	// maxDelayMicros is the largest per-hop delay a Relay command encodes.
	maxDelayMicros = 1<<32 - 1
)

// Routing command codes (SPEC.md §2.4). Zero is never valid, so a slot of
// garbage or zeros never decodes as a command.
const (
	cmdRelay     byte = 0x01
	cmdDeliver   byte = 0x02
	cmdSURBReply byte = 0x03
)

// Offsets inside a routing slot (SPEC.md §2.4).
const (
	slotCmd       = 0
	slotNode      = 1                      // Relay: next hop; Deliver, SURBReply: recipient
	slotDelay     = slotNode + NodeIDLen   // Relay: delay in microseconds, big-endian uint32
	slotSURBID    = slotNode + NodeIDLen   // SURBReply: the SURB id
	slotNextAlpha = slotDelay + 4          // Relay: the next hop's α
	slotNextGamma = slotNextAlpha + KeyLen // Relay: the next hop's γ
	deliverEnd    = slotNode + NodeIDLen   // Deliver: bytes after this are zero
	surbReplyEnd  = slotSURBID + NodeIDLen // SURBReply: bytes after this are zero
)

// Domain-separation labels for the key schedule (SPEC.md §2.3).
const (
	labelHop        = "loam onion v1 hop"
	labelSURB       = "loam onion v1 surb"
	phaseBitByte    = KeyLen - 1 // α's last byte holds the key-phase bit
	phaseBitMask    = 0x80
	hopKeyMaterial  = macKeyLen + sprpKeyLen + ReplayTagLen
	macKeyLen       = 32
	sprpSubKeyLen   = 32
	sprpKeyLen      = 4 * sprpSubKeyLen
	minSPRPBlockLen = sprpSubKeyLen + 1
)
