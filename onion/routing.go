package onion

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Command is the routing instruction a hop finds in its slot.
type Command uint8

const (
	// Relay: hold the packet for Delay, then send it to Next.
	Relay Command = Command(cmdRelay)
	// Deliver: hand the payload to the service named by Recipient.
	Deliver Command = Command(cmdDeliver)
	// SURBReply: hand the sealed reply to the client queue named by
	// Recipient, tagged with SURBID so its maker finds the keys.
	SURBReply Command = Command(cmdSURBReply)
)

func (c Command) String() string {
	switch c {
	case Relay:
		return "relay"
	case Deliver:
		return "deliver"
	case SURBReply:
		return "surb-reply"
	}
	return fmt.Sprintf("command(%#02x)", uint8(c))
}

// Hop is one node on a path as the sender sees it.
type Hop struct {
	Node NodeID
	Key  PublicKey
	// Phase selects which of the node's two live onion keys Key is (SPEC.md
	// §2.2): the parity of the epoch the key belongs to.
	Phase uint8
	// Delay is how long this hop holds the packet before relaying it. It is
	// encoded in microseconds and ignored for the final hop.
	Delay time.Duration
}

func delayMicros(d time.Duration) (uint32, error) {
	us := d / time.Microsecond
	if us < 0 || us > maxDelayMicros {
		return 0, fmt.Errorf("onion: delay %v outside 0 to %v", d, time.Duration(maxDelayMicros)*time.Microsecond)
	}
	return uint32(us), nil
}

// putRelay writes a Relay slot.
func putRelay(slot []byte, next NodeID, delay uint32, alpha []byte, gamma [MACLen]byte) {
	slot[slotCmd] = cmdRelay
	copy(slot[slotNode:], next[:])
	binary.BigEndian.PutUint32(slot[slotDelay:], delay)
	copy(slot[slotNextAlpha:], alpha)
	copy(slot[slotNextGamma:], gamma[:])
}

// putDeliver writes a Deliver slot; the reserved tail is zero.
func putDeliver(slot []byte, r Recipient) {
	clear(slot)
	slot[slotCmd] = cmdDeliver
	copy(slot[slotNode:], r[:])
}

// putSURBReply writes a SURBReply slot; the reserved tail is zero.
func putSURBReply(slot []byte, r Recipient, id SURBID) {
	clear(slot)
	slot[slotCmd] = cmdSURBReply
	copy(slot[slotNode:], r[:])
	copy(slot[slotSURBID:], id[:])
}

// parseSlot decodes an authenticated slot into u. A command this version does
// not know, or a final command with a non-zero reserved tail, is malformed:
// the tail is reserved so that later versions can extend the commands.
func parseSlot(slot []byte, u *Unwrapped) error {
	u.Command = Command(slot[slotCmd])
	switch slot[slotCmd] {
	case cmdRelay:
		copy(u.Next[:], slot[slotNode:])
		u.Delay = time.Duration(binary.BigEndian.Uint32(slot[slotDelay:])) * time.Microsecond
	case cmdDeliver:
		copy(u.Recipient[:], slot[slotNode:])
		if !allZero(slot[deliverEnd:]) {
			return ErrMalformed
		}
	case cmdSURBReply:
		copy(u.Recipient[:], slot[slotNode:])
		copy(u.SURBID[:], slot[slotSURBID:])
		if !allZero(slot[surbReplyEnd:]) {
			return ErrMalformed
		}
	default:
		return ErrMalformed
	}
	return nil
}

// allZero reports whether b is all zeros, in time that depends only on len(b).
func allZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}
