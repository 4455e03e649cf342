package sim

import (
	"encoding/binary"

	"loam/onion"
)

// An endpoint is anything at the end of a link the adversary watches:
// clients are 0 … C−1, nodes C … C+N−1.
type endpoint = int32

// Role is a node's place in the stratified topology (SPEC.md §5.1).
type Role uint8

// Roles.
const (
	RoleGateway Role = iota + 1
	RoleMix
	RoleService
)

func (r Role) String() string {
	switch r {
	case RoleGateway:
		return "gateway"
	case RoleMix:
		return "mix"
	case RoleService:
		return "service"
	}
	return "unknown"
}

// Kind is what a packet is, known only to the simulator (the ground truth
// the adversary is scored against).
type Kind uint8

// Packet kinds.
const (
	KindDrop     Kind = iota + 1 // a drop: in a real-or-drop slot or of the drop stream
	KindLoop                     // a client's loop
	KindNodeLoop                 // a gateway's or mix's loop
	KindPost                     // a post's header packet to one friend
	KindShard                    // a post's content packet to a mailbox
	KindFetch                    // a mailbox fetch carrying a reply block
	KindReply                    // a service's answer through a reply block
	numKinds
)

var kindNames = [numKinds]string{"", "drop", "loop", "node-loop", "post", "content", "fetch", "reply"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Real reports whether a packet carries a user's real traffic.
func (k Kind) Real() bool { return k == KindPost || k == KindShard || k == KindFetch || k == KindReply }

// truth is the simulator's record of a packet: the adversary never reads
// it except to score itself, or for the mixing a compromised node reveals.
type truth struct {
	id     uint64   // unique per packet; the same at every hop
	sender endpoint // who made it
	kind   Kind
	aux    uint32 // KindPost: the post's number + 1
}

// Node ids and client queue ids carry the simulator's index so that a
// router's Send finds its next hop without a map.
var (
	nodeIDPrefix  = [4]byte{'s', 'i', 'm', 'N'}
	queueIDPrefix = [4]byte{'s', 'i', 'm', 'Q'}
)

func nodeID(i int) onion.NodeID {
	var id onion.NodeID
	copy(id[:], nodeIDPrefix[:])
	binary.BigEndian.PutUint32(id[12:], uint32(i))
	return id
}

// nodeIndex inverts nodeID; ok is false for an id the simulator never
// made or beyond n nodes.
func nodeIndex(id onion.NodeID, n int) (int, bool) {
	if [4]byte(id[:4]) != nodeIDPrefix {
		return 0, false
	}
	i := binary.BigEndian.Uint32(id[12:])
	return int(i), uint64(i) < uint64(n)
}

func queueID(client int) onion.Recipient {
	var r onion.Recipient
	copy(r[:], queueIDPrefix[:])
	binary.BigEndian.PutUint32(r[12:], uint32(client))
	return r
}

func queueIndex(r onion.Recipient, n int) (int, bool) {
	if [4]byte(r[:4]) != queueIDPrefix {
		return 0, false
	}
	i := binary.BigEndian.Uint32(r[12:])
	return int(i), uint64(i) < uint64(n)
}

func surbID(seq uint64) onion.SURBID {
	var id onion.SURBID
	binary.BigEndian.PutUint64(id[8:], seq)
	return id
}
