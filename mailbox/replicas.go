package mailbox

import (
	"bytes"
	"crypto/sha256"
	"slices"

	"loam/mixnet/directory"
)

// Replicas returns the replica set of id in doc: the r service nodes that
// offer the mailbox service with the highest rendezvous score
// SHA-256("loam replica v1" ‖ id ‖ node id) (SPEC.md §7.5). Everyone
// computes the same set from the same document, and a node's arrival or
// departure moves only the ids it wins or held.
func Replicas(doc *directory.Document, id ID, r int) []*directory.Descriptor {
	type scored struct {
		d     *directory.Descriptor
		score [32]byte
	}
	var all []scored
	for _, d := range doc.ByRole(directory.RoleService) {
		if !slices.Contains(d.Services, ServiceName) {
			continue
		}
		nid := d.ID()
		h := sha256.New()
		h.Write([]byte("loam replica v1"))
		h.Write(id[:])
		h.Write(nid[:])
		var s scored
		s.d = d
		h.Sum(s.score[:0])
		all = append(all, s)
	}
	slices.SortFunc(all, func(a, b scored) int { return -bytes.Compare(a.score[:], b.score[:]) })
	out := make([]*directory.Descriptor, 0, r)
	for _, s := range all[:min(r, len(all))] {
		out = append(out, s.d)
	}
	return out
}
