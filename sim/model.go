package sim

import (
	"encoding/binary"
	"time"

	"loam/onion"
)

// The cost model's packet (crypto = "model"). It has the geometry's length
// and the onion packet's layout — header α ‖ β ‖ γ, then the payload — but
// nothing in it is encrypted: each hop's routing command sits in the clear
// in its slot, and a hop index says which slot is next. A Router unwraps it
// through its Unwrap hook exactly as it would a real packet, with a
// thousandth of the work. Only the simulator ever builds or reads one.
//
//	α (32):  id (8) ‖ sender (4) ‖ kind (1) ‖ hop (1) ‖ aux (4) ‖ 0 … ‖ phase (bit 7 of byte 31)
//	β:       slot 0 ‖ slot 1 ‖ …, each of onion.SlotLen bytes:
//	         command (1) ‖ next node or recipient (16) ‖ delay µs (4) or SURB id (16) ‖ … ‖
//	         key fingerprint (8, at offset 53)
//	γ (16):  "loamsim1" ‖ 0 (8)
//	payload: 0 (16) ‖ user payload
//
// The key fingerprint is the first 8 bytes of the onion public key of the
// node that reads the slot: a packet routed to the wrong node, or opened
// with the wrong epoch's key, fails as a real one would.
const (
	mOffID     = 0
	mOffSender = 8
	mOffKind   = 12
	mOffHop    = 13
	mOffAux    = 14
	mOffPhase  = onion.KeyLen - 1

	mSlotCmd   = 0
	mSlotNode  = 1
	mSlotDelay = 1 + onion.NodeIDLen
	mSlotSURB  = 1 + onion.NodeIDLen
	mSlotFP    = 53
	mFPLen     = 8

	cmdRelay     = byte(onion.Relay)
	cmdDeliver   = byte(onion.Deliver)
	cmdSURBReply = byte(onion.SURBReply)
)

var modelMagic = [8]byte{'l', 'o', 'a', 'm', 's', 'i', 'm', '1'}

// mhop is one hop of a path as the model writes it.
type mhop struct {
	node  onion.NodeID
	fp    [mFPLen]byte // of the key the node opens this packet with
	delay time.Duration
}

// final is a path's last command: Deliver to a recipient, or SURBReply to
// a client queue with a SURB id.
type final struct {
	cmd  byte
	rcpt onion.Recipient
	surb onion.SURBID
}

type modelFormat struct{ geo onion.Geometry }

// header writes a model header for path into hdr (geo.HeaderLen() bytes).
func (m modelFormat) header(hdr []byte, tr truth, phase uint8, path []mhop, fin final) {
	clear(hdr)
	binary.BigEndian.PutUint64(hdr[mOffID:], tr.id)
	binary.BigEndian.PutUint32(hdr[mOffSender:], uint32(tr.sender))
	hdr[mOffKind] = byte(tr.kind)
	binary.BigEndian.PutUint32(hdr[mOffAux:], tr.aux)
	hdr[mOffPhase] = phase << 7
	for h := range path {
		slot := hdr[onion.KeyLen+h*onion.SlotLen:][:onion.SlotLen]
		copy(slot[mSlotFP:], path[h].fp[:])
		if h < len(path)-1 {
			slot[mSlotCmd] = cmdRelay
			copy(slot[mSlotNode:], path[h+1].node[:])
			us := path[h].delay / time.Microsecond
			binary.BigEndian.PutUint32(slot[mSlotDelay:], uint32(min(max(us, 0), 1<<32-1)))
			continue
		}
		slot[mSlotCmd] = fin.cmd
		copy(slot[mSlotNode:], fin.rcpt[:])
		if fin.cmd == cmdSURBReply {
			copy(slot[mSlotSURB:], fin.surb[:])
		}
	}
	copy(hdr[m.geo.HeaderLen()-onion.MACLen:], modelMagic[:])
}

// packet writes a whole model packet into pkt (geo.PacketLen() bytes).
func (m modelFormat) packet(pkt []byte, tr truth, phase uint8, path []mhop, fin final, payload []byte) {
	hl := m.geo.HeaderLen()
	m.header(pkt[:hl], tr, phase, path, fin)
	// Only the zero prefix, the payload and the request's reply-block
	// field are ever read (a reused buffer's other bytes are the model's
	// padding); clearing all 2 KB of every packet cost more than routing it.
	body := pkt[hl:]
	n := onion.ZeroPrefixLen + max(len(payload), m.geo.SURBLen()+onion.NodeIDLen)
	clear(body[:min(n, len(body))])
	copy(body[onion.ZeroPrefixLen:], payload)
}

// surb makes a model reply block: first hop ‖ header ‖ a zero key seed
// (the replier's onion.NewReply seals the payload under it; nobody opens
// it again in the model).
func (m modelFormat) surb(tr truth, phase uint8, path []mhop, fin final) []byte {
	s := make([]byte, m.geo.SURBLen())
	copy(s, path[0].node[:])
	m.header(s[onion.NodeIDLen:onion.NodeIDLen+m.geo.HeaderLen()], tr, phase, path, fin)
	return s
}

// truthOf reads the simulator's record from a model packet.
func (m modelFormat) truthOf(pkt []byte) truth {
	return truth{
		id:     binary.BigEndian.Uint64(pkt[mOffID:]),
		sender: endpoint(binary.BigEndian.Uint32(pkt[mOffSender:])),
		kind:   Kind(pkt[mOffKind]),
		aux:    binary.BigEndian.Uint32(pkt[mOffAux:]),
	}
}

// unwrap is the Router's Unwrap hook for model packets. Like
// onion.Geometry.Unwrap it works in place, returns slices of pkt, and
// fails with onion.ErrMalformed or onion.ErrAuthentication.
func (m modelFormat) unwrap(key *onion.PrivateKey, pkt []byte) (onion.Unwrapped, error) {
	if len(pkt) != m.geo.PacketLen() {
		return onion.Unwrapped{}, onion.ErrMalformed
	}
	hl := m.geo.HeaderLen()
	if [8]byte(pkt[hl-onion.MACLen:]) != modelMagic {
		return onion.Unwrapped{}, onion.ErrMalformed
	}
	h := int(pkt[mOffHop])
	if h >= m.geo.Hops {
		return onion.Unwrapped{}, onion.ErrMalformed
	}
	slot := pkt[onion.KeyLen+h*onion.SlotLen:][:onion.SlotLen]
	pub := key.Public()
	if [mFPLen]byte(slot[mSlotFP:]) != [mFPLen]byte(pub[:]) {
		return onion.Unwrapped{}, onion.ErrAuthentication
	}
	u := onion.Unwrapped{Command: onion.Command(slot[mSlotCmd])}
	u.ReplayTag = replayTag(binary.BigEndian.Uint64(pkt[mOffID:]), h)
	switch slot[mSlotCmd] {
	case cmdRelay:
		copy(u.Next[:], slot[mSlotNode:])
		u.Delay = time.Duration(binary.BigEndian.Uint32(slot[mSlotDelay:])) * time.Microsecond
		pkt[mOffHop]++
		u.Packet = pkt
	case cmdDeliver:
		copy(u.Recipient[:], slot[mSlotNode:])
		u.Payload = pkt[hl+onion.ZeroPrefixLen:]
	case cmdSURBReply:
		copy(u.Recipient[:], slot[mSlotNode:])
		copy(u.SURBID[:], slot[mSlotSURB:])
		u.Payload = pkt[hl:]
	default:
		return onion.Unwrapped{}, onion.ErrMalformed
	}
	return u, nil
}

// replayTag derives a hop's tag from the packet id, as a real hop's tag
// comes from its shared secret: the same packet at the same hop always
// gives the same tag, and the tag's bits are uniform, as the replay
// filter's blocking needs.
func replayTag(id uint64, hop int) onion.ReplayTag {
	var t onion.ReplayTag
	x := id*0x9e3779b97f4a7c15 ^ uint64(hop+1)<<56
	for i := 0; i < onion.ReplayTagLen; i += 8 {
		x += 0x9e3779b97f4a7c15
		binary.LittleEndian.PutUint64(t[i:], splitmix(x))
	}
	return t
}

func splitmix(x uint64) uint64 {
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
