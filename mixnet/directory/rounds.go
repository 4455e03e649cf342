package directory

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"
)

// round is one run of the protocol for an epoch. Regular rounds vote at
// Start(e) − P/2; bootstrap rounds vote when Start says. Every later step is
// timed from the vote.
type round struct {
	epoch  uint64
	voteAt time.Time
	period time.Duration
}

func (r round) consensusAt() time.Time     { return r.voteAt.Add(r.period / consensusDelayDiv) }
func (r round) voteDeadline() time.Time    { return r.consensusAt().Add(r.period / voteWindowDiv) }
func (r round) collectAt() time.Time       { return r.voteAt.Add(r.period / collectDelayDiv) }
func (r round) collectDeadline() time.Time { return r.voteAt.Add(r.period) }

// voteTime is when the regular round of epoch e votes.
func (a *Authority) voteTime(e uint64) time.Time {
	return a.sched.Start(e).Add(-a.sched.Period / voteLeadDiv)
}

// begin schedules the protocol: bootstrap rounds for the current and next
// epoch if their vote time has passed without a document, then the regular
// rounds.
func (a *Authority) begin() {
	now := a.clk.Now()
	cur := a.sched.Epoch(now)
	first := cur + 1
	if !now.Before(a.voteTime(cur + 1)) {
		first = cur + 2
	}
	var missed []uint64
	for e := cur; e < first; e++ {
		if !a.hasDocument(e) && !a.adoptFromPeers(e) {
			missed = append(missed, e)
		}
	}
	voteAt := a.clk.Now().Add(a.bootstrap)
	for _, e := range missed {
		r := round{epoch: e, voteAt: voteAt, period: a.sched.Period}
		a.log.Info("directory: bootstrap round", "epoch", e, "vote_at", voteAt)
		a.at(voteAt, func() { a.runRound(r) })
	}
	a.scheduleRegular(first)
}

func (a *Authority) scheduleRegular(e uint64) {
	r := round{epoch: e, voteAt: a.voteTime(e), period: a.sched.Period}
	a.at(r.voteAt, func() {
		a.scheduleRegular(e + 1)
		a.prune(e)
		a.runRound(r)
	})
}

func (a *Authority) hasDocument(e uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.epochs[e]
	return st != nil && st.served != nil
}

// runRound votes and schedules the consensus, unless the epoch already has
// a document.
func (a *Authority) runRound(r round) {
	if a.hasDocument(r.epoch) {
		return
	}
	a.castVote(r.epoch)
	a.at(r.consensusAt(), func() { a.runConsensus(r) })
}

// castVote signs and publishes this authority's vote for e: every
// descriptor it holds with an onion key for e, except those sharing a link
// key, and its parameters. An authority votes once per epoch, also across
// restarts.
func (a *Authority) castVote(e uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state(e)
	if st.vote != nil {
		return
	}
	nodes := make([]*Descriptor, 0, len(a.descs))
	for _, d := range a.descs {
		if _, ok := d.OnionKey(e); ok {
			nodes = append(nodes, d)
		}
	}
	sortByID(nodes)
	if len(nodes) > MaxNodes {
		nodes = nodes[:MaxNodes]
	}
	raw := signVote(a.key, e, a.params, nodes)
	if err := a.store.put(a.store.epochPath(e, voteFile), raw); err != nil {
		a.log.Error("directory: storing vote", "epoch", e, "err", err)
	}
	st.vote = &vote{doc: &Document{Epoch: e, Params: a.params, Nodes: nodes}, authority: a.pub, raw: raw}
	a.log.Info("directory: voted", "epoch", e, "nodes", len(nodes))
}

// runConsensus fetches the peers' votes, retrying those missing every P/32
// until P/16 after the consensus time, then computes and signs the
// document and schedules the collection of signatures.
func (a *Authority) runConsensus(r round) {
	missing := a.fetchVotes(r.epoch)
	retry := a.clk.Now().Add(r.period / voteRetryDiv)
	if missing > 0 && !retry.After(r.voteDeadline()) {
		a.at(retry, func() { a.runConsensus(r) })
		return
	}
	if missing > 0 {
		a.log.Warn("directory: votes missing at consensus time", "epoch", r.epoch, "missing", missing)
	}
	a.decide(r.epoch)
	a.at(r.collectAt(), func() { a.runCollect(r) })
}

// fetchVotes asks every peer whose vote is missing for it and returns how
// many are still missing.
func (a *Authority) fetchVotes(e uint64) int {
	var want []Peer
	a.mu.Lock()
	st := a.state(e)
	for _, p := range a.peers {
		if st.peerVotes[[ed25519KeyLen]byte(p.Key)] == nil {
			want = append(want, p)
		}
	}
	a.mu.Unlock()
	got := a.fromPeers(want, func(p Peer) (any, error) {
		b, err := a.get(p, fmt.Sprintf("/v1/votes/%d", e), MaxDocumentLen)
		if err != nil {
			return nil, err
		}
		v, err := parseVote(b)
		if err == nil && (v.doc.Epoch != e || !bytes.Equal(v.authority, p.Key)) {
			err = fmt.Errorf("%w: vote is not %x's for epoch %d", ErrMalformed, p.Key[:4], e)
		}
		return v, err
	}, "vote", e)
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, v := range got {
		st.peerVotes[k] = v.(*vote)
	}
	return len(a.peers) - len(st.peerVotes)
}

// decide computes the consensus from the votes at hand and signs it, unless
// this authority already signed or adopted a document for the epoch.
func (a *Authority) decide(e uint64) {
	a.mu.Lock()
	st := a.state(e)
	votes := []*vote{st.vote}
	for _, v := range st.peerVotes {
		votes = append(votes, v)
	}
	clear(st.peerVotes) // up to MaxDocumentLen each; not needed after this
	if st.doc != nil || st.vote == nil {
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()

	doc, err := consensus(e, votes, a.threshold)
	if err != nil {
		a.log.Warn("directory: no consensus", "epoch", e, "votes", len(votes), "err", err)
		return
	}
	sig := doc.sign(a.key)
	hash := bodyHash(doc.Body())
	record := (&signatureRecord{epoch: e, authority: a.pub, bodyHash: hash, sig: sig.Sig}).marshal()

	a.mu.Lock()
	defer a.mu.Unlock()
	if st.doc != nil {
		return
	}
	// The document goes to disk before the signature is published, so a
	// restart can never sign a second body for this epoch.
	if err := a.store.put(a.store.epochPath(e, documentFile), doc.Marshal()); err != nil {
		a.log.Error("directory: storing document", "epoch", e, "err", err)
	}
	if err := a.store.put(a.store.epochPath(e, signatureFile), record); err != nil {
		a.log.Error("directory: storing signature", "epoch", e, "err", err)
	}
	st.doc, st.signed, st.record = doc, true, record
	a.updateServed(e, st)
	a.log.Info("directory: signed consensus", "epoch", e, "votes", len(votes),
		"nodes", len(doc.Nodes), "body_sha256", fmt.Sprintf("%x", hash[:8]))
}

// runCollect gathers the peers' signatures over the document this authority
// holds, adopts a peer's verified document if its own has too few, and
// tries again every P/16 until every authority has signed or a period has
// passed since the vote.
func (a *Authority) runCollect(r round) {
	a.collectSignatures(r.epoch)
	a.adoptFromPeers(r.epoch)
	a.mu.Lock()
	st := a.state(r.epoch)
	signatures := 0
	if st.doc != nil {
		signatures = len(st.doc.Signatures)
	}
	served := st.served != nil
	a.mu.Unlock()
	if signatures == len(a.trusted) {
		return
	}
	if retry := a.clk.Now().Add(r.period / collectRetryDiv); !retry.After(r.collectDeadline()) {
		a.at(retry, func() { a.runCollect(r) })
		return
	}
	if served {
		a.log.Warn("directory: document lacks signatures", "epoch", r.epoch,
			"signatures", signatures, "authorities", len(a.trusted))
	} else {
		a.log.Warn("directory: no document with enough signatures", "epoch", r.epoch,
			"signatures", signatures, "threshold", a.threshold)
	}
}

// collectSignatures fetches the signature records of peers that have not
// signed the document held and adds those valid over its body.
func (a *Authority) collectSignatures(e uint64) {
	a.mu.Lock()
	st := a.state(e)
	if st.doc == nil {
		a.mu.Unlock()
		return
	}
	body := st.doc.Body()
	have := make(map[string]bool)
	for _, s := range st.doc.Signatures {
		have[string(s.Authority)] = true
	}
	var want []Peer
	for _, p := range a.peers {
		if !have[string(p.Key)] {
			want = append(want, p)
		}
	}
	a.mu.Unlock()
	if len(want) == 0 {
		return
	}
	msg := signedMessage(labelDocument, body)
	hash := bodyHash(body)
	got := a.fromPeers(want, func(p Peer) (any, error) {
		b, err := a.get(p, fmt.Sprintf("/v1/signatures/%d", e), signatureRecordLen)
		if err != nil {
			return nil, err
		}
		s, err := parseSignatureRecord(b)
		switch {
		case err != nil:
			return nil, err
		case s.epoch != e || !bytes.Equal(s.authority, p.Key):
			return nil, fmt.Errorf("%w: signature record is not %x's for epoch %d", ErrMalformed, p.Key[:4], e)
		case s.bodyHash != hash:
			return nil, fmt.Errorf("signed a different document (body %x, ours %x)", s.bodyHash[:8], hash[:8])
		case !ed25519.Verify(p.Key, msg, s.sig):
			return nil, fmt.Errorf("%w: document signature", ErrBadSignature)
		}
		return Signature{Authority: s.authority, Sig: s.sig}, nil
	}, "signature", e)
	if len(got) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !bytes.Equal(st.doc.Body(), body) { // adopted another document meanwhile
		return
	}
	for _, s := range got {
		st.doc.Signatures = append(st.doc.Signatures, s.(Signature))
	}
	st.doc.Signatures = canonicalSignatures(st.doc.Signatures)
	a.updateServed(e, st)
}

// adoptFromPeers fetches the peers' documents for e when this authority has
// none with enough signatures, and adopts the first that verifies. It
// reports whether the authority then serves a document for e. The
// authority's own signature is never added to a body it did not sign
// itself.
func (a *Authority) adoptFromPeers(e uint64) bool {
	if a.hasDocument(e) {
		return true
	}
	got := a.fromPeers(a.peers, func(p Peer) (any, error) {
		b, err := a.get(p, fmt.Sprintf("/v1/documents/%d", e), MaxDocumentLen)
		if err != nil {
			return nil, err
		}
		d, err := ParseDocument(b)
		if err == nil && d.Epoch != e {
			err = fmt.Errorf("%w: document is for epoch %d", ErrMalformed, d.Epoch)
		}
		if err == nil {
			err = d.Verify(a.trusted, a.threshold)
		}
		return d, err
	}, "document", e)
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state(e)
	for _, v := range got {
		if st.served != nil {
			break
		}
		d := v.(*Document)
		d.Signatures = a.validSignatures(d)
		if st.doc != nil && bytes.Equal(st.doc.Body(), d.Body()) {
			st.doc.Signatures = canonicalSignatures(append(st.doc.Signatures, d.Signatures...))
		} else {
			st.doc, st.signed = d, false
		}
		a.updateServed(e, st)
		if st.served != nil {
			a.log.Info("directory: adopted a peer's document", "epoch", e, "signatures", len(st.doc.Signatures))
		}
	}
	return st.served != nil
}

// updateServed stores the document held for e and serves it once it has
// threshold signatures; a.mu is held.
func (a *Authority) updateServed(e uint64, st *epochState) {
	raw := st.doc.Marshal()
	if bytes.Equal(raw, st.served) {
		return
	}
	if err := a.store.put(a.store.epochPath(e, documentFile), raw); err != nil {
		a.log.Error("directory: storing document", "epoch", e, "err", err)
	}
	if len(st.doc.Signatures) >= a.threshold {
		if st.served == nil {
			a.log.Info("directory: document ready", "epoch", e, "nodes", len(st.doc.Nodes),
				"signatures", len(st.doc.Signatures))
		}
		st.served = raw
	}
}

// fromPeers runs fetch for every peer at once and returns the results that
// succeeded, by peer key. Failures are logged at debug level: peers are
// asked again, and each phase reports what is still missing when it ends.
func (a *Authority) fromPeers(peers []Peer, fetch func(Peer) (any, error), what string, e uint64) map[[ed25519KeyLen]byte]any {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[[ed25519KeyLen]byte]any)
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := fetch(p)
			if err != nil {
				if !errors.Is(err, errNotFound) && a.ctx.Err() == nil {
					a.log.Debug("directory: fetching "+what+" from peer", "epoch", e, "peer", p.URL, "err", err)
				}
				return
			}
			mu.Lock()
			out[[ed25519KeyLen]byte(p.Key)] = v
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// prune forgets epochs more than keepEpochs before e and descriptors
// without an onion key for e or later.
func (a *Authority) prune(e uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for old := range a.epochs {
		if old+keepEpochs < e {
			delete(a.epochs, old)
			if err := a.store.removeEpoch(old); err != nil {
				a.log.Warn("directory: pruning epoch", "epoch", old, "err", err)
			}
		}
	}
	cur := a.sched.Epoch(a.clk.Now())
	for id, d := range a.descs {
		if d.OnionKeys[len(d.OnionKeys)-1].Epoch < cur {
			delete(a.descs, id)
			delete(a.links, d.LinkKey)
			if err := a.store.removeDescriptor(id.String()); err != nil {
				a.log.Warn("directory: pruning descriptor", "node", id, "err", err)
			}
		}
	}
}
