package directory

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"loam/onion"
)

var errNoConsensus = errors.New("directory: no consensus")

// consensus computes the document of an epoch from votes of distinct
// authorities, each already verified and for that epoch. It is a pure
// function of the set of votes, so honest authorities that saw the same
// votes compute byte-identical bodies:
//
//   - Parameters: the encoding found in at least threshold votes (the most
//     votes, then the lowest encoding); none means no document.
//   - Nodes: every descriptor (compared by its signed bytes) found in at least
//     threshold votes is a candidate; per node id the newest Published wins,
//     ties going to the lowest SHA-256 of the signed bytes. Nodes whose link
//     key another chosen node also claims are all left out. At most
//     MaxNodes, the lowest ids.
func consensus(epoch uint64, votes []*vote, threshold int) (*Document, error) {
	if len(votes) < threshold {
		return nil, fmt.Errorf("%w: %d votes for epoch %d, need %d", errNoConsensus, len(votes), epoch, threshold)
	}
	params, err := agreedParams(votes, threshold)
	if err != nil {
		return nil, fmt.Errorf("%w: epoch %d: %w", errNoConsensus, epoch, err)
	}

	type candidate struct {
		d     *Descriptor
		hash  [32]byte
		votes int
	}
	byHash := make(map[[32]byte]*candidate)
	for _, v := range votes {
		for _, d := range v.doc.Nodes {
			h := sha256.Sum256(d.raw)
			c := byHash[h]
			if c == nil {
				c = &candidate{d: d, hash: h}
				byHash[h] = c
			}
			c.votes++ // a vote holds each node id once, so each descriptor once
		}
	}
	chosen := make(map[onion.NodeID]*candidate)
	for _, c := range byHash {
		if c.votes < threshold {
			continue
		}
		id := c.d.ID()
		if cur := chosen[id]; cur == nil || newer(c.d.Published, c.hash, cur.d.Published, cur.hash) {
			chosen[id] = c
		}
	}
	links := make(map[[32]byte]int, len(chosen))
	for _, c := range chosen {
		links[c.d.LinkKey]++
	}
	nodes := make([]*Descriptor, 0, len(chosen))
	for _, c := range chosen {
		if links[c.d.LinkKey] == 1 {
			nodes = append(nodes, c.d)
		}
	}
	sortByID(nodes)
	if len(nodes) > MaxNodes {
		nodes = nodes[:MaxNodes]
	}
	return &Document{Epoch: epoch, Params: params, Nodes: nodes}, nil
}

// newer reports whether descriptor a (published pa, hash ha) wins over b.
func newer(pa time.Time, ha [32]byte, pb time.Time, hb [32]byte) bool {
	if !pa.Equal(pb) {
		return pa.After(pb)
	}
	return bytes.Compare(ha[:], hb[:]) < 0
}

func agreedParams(votes []*vote, threshold int) (Parameters, error) {
	count := make(map[string]int)
	var best string
	for _, v := range votes {
		enc := string(appendParams(nil, v.doc.Params))
		count[enc]++
	}
	for enc, n := range count {
		if n > count[best] || (n == count[best] && enc < best) {
			best = enc
		}
	}
	if count[best] < threshold {
		return Parameters{}, fmt.Errorf("no parameters in %d votes (best %d)", threshold, count[best])
	}
	r := &reader{b: []byte(best)}
	return readParams(r), r.done()
}
