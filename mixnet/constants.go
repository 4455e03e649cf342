package mixnet

import "time"

// Link frame types (SPEC.md §5.2): the caller-defined types (§4.5) the
// link layer carries.
const (
	// framePacket carries one onion packet: node to node, client to gateway.
	framePacket byte = 0x01
	// frameReply carries a SURB reply from a gateway to its client:
	// SURB id (16) ‖ sealed reply (16 + UserPayload).
	frameReply byte = 0x02
	// frameReady is the responder's first frame, sent once it has
	// authorized the initiator's key. Noise XK completes on the
	// initiator's side before the responder has judged that key, so the
	// initiator counts a link as established only once this arrives.
	frameReady byte = 0x03
)

// MinReplayFP is the lowest false-positive rate a replay filter may be
// sized for: below it the filter's size grows past any use (k is at most
// 21). Rates of 1 or more are refused too: sizing would never end.
const MinReplayFP = 1e-12

// Tunables: defaults an operator may change in the node's configuration.
const (
	defaultMaxScheduled   = 1 << 15 // packets held for their delay (about 80 MB at 2457 B)
	defaultQueueLen       = 4096    // packets waiting for an unwrap worker
	defaultLinkQueue      = 2048    // packets waiting for one outgoing link
	defaultReplayCapacity = 2 << 20 // tags per onion key's filter
	defaultReplayFP       = 1e-6    // filter false-positive rate at capacity
	defaultClientHold     = 4096    // replies queued per client at its gateway
	defaultClientHoldFor  = 10 * time.Minute
	defaultKeepalive      = 15 * time.Second
	// defaultWriteStall is how long one batch of frames may take to leave:
	// a peer that takes nothing for that long, while its link stays open,
	// is treated as gone and the link is redialled.
	defaultWriteStall       = 2 * defaultKeepalive
	defaultRedial           = 500 * time.Millisecond
	defaultHandshakeTimeout = 10 * time.Second
	defaultSyncAfterRefusal = time.Second // at most one early directory sync a second
	defaultMaxRedial        = 30 * time.Second
)
