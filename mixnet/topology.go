package mixnet

import (
	"crypto/sha256"
	"sort"
	"sync"

	"loam/mixnet/directory"
	"loam/onion"
)

// position is where a node sits in the stratified topology: gateways
// before layer 1, services after layer 3.
type position struct {
	role  directory.Role
	layer int
}

func positionOf(d *directory.Descriptor) position {
	return position{role: d.Role, layer: int(d.Layer)}
}

// mayLink is the topology's one rule (SPEC.md §5.1): which node may send
// packets to which. Forward traffic runs gateway → L1 → L2 → L3 → service;
// replies and loops run service → L1 and L3 → gateway.
func mayLink(from, to position) bool {
	switch from.role {
	case directory.RoleGateway:
		return to.role == directory.RoleMix && to.layer == 1
	case directory.RoleService:
		return to.role == directory.RoleMix && to.layer == 1
	case directory.RoleMix:
		if from.layer < 3 {
			return to.role == directory.RoleMix && to.layer == from.layer+1
		}
		return to.role == directory.RoleService || to.role == directory.RoleGateway
	}
	return false
}

// topology is a node's view of the directory: the documents of the previous,
// current and next epochs, so that links and routes stay valid across a
// rollover while packets of either epoch are in flight.
type topology struct {
	mu   sync.RWMutex
	self position
	docs map[uint64]*directory.Document
}

func newTopology(self position) *topology {
	return &topology{self: self, docs: map[uint64]*directory.Document{}}
}

// add keeps doc and forgets documents older than keepFrom.
func (t *topology) add(doc *directory.Document, keepFrom uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.docs[doc.Epoch] = doc
	for e := range t.docs {
		if e < keepFrom {
			delete(t.docs, e)
		}
	}
}

// newestFirst returns the documents held, newest epoch first.
func (t *topology) newestFirst() []*directory.Document {
	out := make([]*directory.Document, 0, len(t.docs))
	for _, d := range t.docs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Epoch > out[j].Epoch })
	return out
}

// node finds a node by id in the newest document that lists it.
func (t *topology) node(id onion.NodeID) *directory.Descriptor {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, d := range t.newestFirst() {
		if n := d.Node(id); n != nil {
			return n
		}
	}
	return nil
}

// canSendTo reports whether this node may relay to id.
func (t *topology) canSendTo(id onion.NodeID) bool {
	n := t.node(id)
	return n != nil && mayLink(t.self, positionOf(n))
}

// sender finds the node whose link key is k, if the topology lets it send to
// this node.
func (t *topology) sender(k [32]byte) *directory.Descriptor {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, d := range t.newestFirst() {
		if n := d.ByLinkKey(k); n != nil && mayLink(positionOf(n), t.self) {
			return n
		}
	}
	return nil
}

// knows reports whether k is any node's link key: a gateway must not treat a
// node the topology forbids as a client.
func (t *topology) knows(k [32]byte) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, d := range t.docs {
		if d.ByLinkKey(k) != nil {
			return true
		}
	}
	return false
}

// nextHops lists the nodes of the newest document this node may send to,
// to keep links to them open.
func (t *topology) nextHops() []*directory.Descriptor {
	t.mu.RLock()
	defer t.mu.RUnlock()
	seen := map[onion.NodeID]bool{}
	var out []*directory.Descriptor
	for _, d := range t.newestFirst() {
		for _, n := range d.Nodes {
			if !seen[n.ID()] && mayLink(t.self, positionOf(n)) {
				seen[n.ID()] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// QueueID is the gateway queue of the client whose link key is k: the
// recipient its SURBs name (SPEC.md §5.6).
func QueueID(k [32]byte) onion.Recipient {
	h := sha256.New()
	h.Write([]byte("loam queue v1"))
	h.Write(k[:])
	var r onion.Recipient
	copy(r[:], h.Sum(nil))
	return r
}

// has reports whether the document of epoch e is held.
func (t *topology) has(e uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.docs[e]
	return ok
}

// current returns the document of epoch e, or the newest older one: a node
// whose directory is late keeps using the last good one.
func (t *topology) current(e uint64) *directory.Document {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if d := t.docs[e]; d != nil {
		return d
	}
	var best *directory.Document
	for ep, d := range t.docs {
		if ep < e && (best == nil || ep > best.Epoch) {
			best = d
		}
	}
	return best
}
