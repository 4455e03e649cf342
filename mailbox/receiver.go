package mailbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"loam/internal/xrand"
	"loam/mixnet/directory"
	"loam/onion"
)

// Message is a message delivered from a box.
type Message struct {
	ID   MessageID
	Body []byte
}

// Receiver reads the messages of one box from its replicas and delivers
// each exactly once: fragments of a message may arrive more than once (a
// deposit retransmitted after a lost acknowledgement stores nothing new, but
// a fragment may sit on two replicas) and a message is handed over only the
// first time it is rebuilt (the fault of Katzenpost #152 was the opposite).
// After a message is delivered its fragments are deleted from the replicas,
// if the receiver holds the box's capability.
type Receiver struct {
	c   *Client
	box *Box
	// Seen, if set, reports messages delivered before (by an earlier
	// process: the caller's persistent record); Delivered is told of each
	// new one before Sync returns it.
	Seen      func(MessageID) bool
	Delivered func(MessageID)
	// Deliver, if set, takes each new message as soon as it is rebuilt,
	// before any of its fragments may be deleted. A caller that stores the
	// message here, durably, loses nothing to a crash at any point; if
	// Deliver fails, the message is left on the replicas for a later Sync.
	Deliver func(Message) error

	mu        sync.Mutex
	replicas  map[onion.NodeID]*replicaState
	partial   map[MessageID]*assembly
	delivered map[MessageID]time.Time
	bytes     int
	rewindTo  []MessageID // messages Deliver refused, to read again
}

type replicaState struct {
	cursor  uint64
	deleted uint64
	entries []tracked // ascending by seq, not yet deleted
	rewound bool      // a cursor moved back during this sync
}

type tracked struct {
	seq  uint64
	msg  MessageID
	done bool // its message was delivered, or it is junk
}

// Receiver memory bounds.
const (
	maxPartialMessages = 1024
	maxPartialBytes    = 64 << 20
	maxDelivered       = 1 << 18
	fetchWindow        = 64
)

// NewReceiver returns a receiver of box's messages.
func (c *Client) NewReceiver(box *Box) *Receiver {
	return &Receiver{c: c, box: box, replicas: map[onion.NodeID]*replicaState{},
		partial: map[MessageID]*assembly{}, delivered: map[MessageID]time.Time{}}
}

// Sync fetches what the box's replicas hold, returns the messages that are
// now complete and were not delivered before, and deletes what it has
// delivered. A replica that does not answer is skipped (and named in the
// error); the messages returned are good whatever the error.
func (r *Receiver) Sync(ctx context.Context) ([]Message, error) {
	replicas, err := r.c.Replicas(r.box.Cap.ID())
	if err != nil {
		return nil, err
	}
	out, errs := r.syncFrom(ctx, replicas)
	return out, errors.Join(append(errs, r.deleteAll(ctx, replicas)...)...)
}

// SyncUntil is Sync for a reader that wants particular messages (a content
// box's one entry): it reads the replicas in a random order, all but one
// at first, and the last only if enough does not find what it wants among
// the messages read so far. A message coded with parity for one missing
// replica (SPEC.md §8.4, §9.8) is then read with a third fewer fetches,
// and one that lost fragments still comes whole from the last replica.
func (r *Receiver) SyncUntil(ctx context.Context, enough func([]Message) bool) ([]Message, error) {
	replicas, err := r.c.Replicas(r.box.Cap.ID())
	if err != nil {
		return nil, err
	}
	replicas = slices.Clone(replicas)
	for i := len(replicas) - 1; i > 0; i-- { // which replica goes unread is nobody's to predict
		j := xrand.IntN(i + 1)
		replicas[i], replicas[j] = replicas[j], replicas[i]
	}
	first := max(1, len(replicas)-1)
	out, errs := r.syncFrom(ctx, replicas[:first])
	read := replicas[:first]
	if !enough(out) && first < len(replicas) {
		more, moreErrs := r.syncFrom(ctx, replicas[first:])
		out, errs, read = append(out, more...), append(errs, moreErrs...), replicas
	}
	return out, errors.Join(append(errs, r.deleteAll(ctx, read)...)...)
}

// syncFrom reads the given replicas at once.
func (r *Receiver) syncFrom(ctx context.Context, replicas []*directory.Descriptor) ([]Message, []error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		out  []Message
		errs []error
	)
	for _, rep := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs, err := r.syncReplica(ctx, rep)
			mu.Lock()
			defer mu.Unlock()
			out = append(out, msgs...)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", rep.Name, err))
			}
		}()
	}
	wg.Wait()
	return out, errs
}

// deleteAll deletes, at each of the replicas, what was delivered.
func (r *Receiver) deleteAll(ctx context.Context, replicas []*directory.Descriptor) []error {
	var errs []error
	for _, rep := range replicas {
		if err := r.deleteDone(ctx, rep); err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("%s: deleting: %w", rep.Name, err))
		}
	}
	return errs
}

func (r *Receiver) state(id onion.NodeID) *replicaState {
	s := r.replicas[id]
	if s == nil {
		s = &replicaState{cursor: 1}
		r.replicas[id] = s
	}
	return s
}

// syncReplica reads everything the replica holds past this receiver's
// cursor: one fetch learns the head, then fetches for the rest go out in
// parallel, each in its own packet.
func (r *Receiver) syncReplica(ctx context.Context, rep *directory.Descriptor) ([]Message, error) {
	id := r.box.Cap.ID()
	r.mu.Lock()
	cursor := r.state(rep.ID()).cursor
	r.mu.Unlock()

	first, err := r.c.Fetch(ctx, rep, id, cursor, 255)
	if err != nil {
		return nil, err
	}
	out := r.take(rep, first.Entries)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		slots = make(chan struct{}, fetchWindow)
	)
	for seq := first.Next; seq < first.Head; seq++ {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			rep2, err := r.c.Fetch(ctx, rep, id, seq, 1)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out = append(out, r.take(rep, rep2.Entries)...)
		}()
	}
	wg.Wait()
	r.mu.Lock()
	s := r.state(rep.ID())
	if len(errs) == 0 && !s.rewound {
		s.cursor = max(s.cursor, first.Head)
	}
	s.rewound = false
	r.mu.Unlock()
	return out, errors.Join(errs...)
}

// take records entries fetched from rep and returns the messages they
// complete.
func (r *Receiver) take(rep *directory.Descriptor, entries []Entry) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.state(rep.ID())
	var out []Message
	for _, e := range entries {
		if e.Seq <= s.deleted || s.has(e.Seq) {
			continue
		}
		t := tracked{seq: e.Seq, done: true}
		if f, err := parseFragment(e.Blob); err == nil {
			t.msg = f.id
			if !r.isDelivered(f.id) {
				_, macKey := messageKeys(&r.box.Key, f.id)
				ok := f.authentic(&macKey)
				clear(macKey[:])
				if ok {
					if m, complete := r.addFragment(f); complete {
						out = append(out, m)
					}
					// Deletable once its message is no longer pending:
					// delivered, or rebuilt but unopenable.
					_, pending := r.partial[f.id]
					t.done = !pending
				}
			}
		}
		s.insert(t)
		r.applyRewinds()
	}
	return out
}

// applyRewinds forgets the tracked fragments of messages Deliver refused
// and moves every cursor back to the first of them.
func (r *Receiver) applyRewinds() {
	for _, id := range r.rewindTo {
		for _, st := range r.replicas {
			kept := st.entries[:0]
			for _, t := range st.entries {
				if t.msg == id && t.seq > st.deleted {
					st.cursor = min(st.cursor, t.seq)
					st.rewound = true
					continue
				}
				kept = append(kept, t)
			}
			st.entries = kept
		}
	}
	r.rewindTo = r.rewindTo[:0]
}

// addFragment adds an authentic fragment; when its message is complete it
// opens it, hands it to Deliver and marks it delivered.
func (r *Receiver) addFragment(f *fragment) (Message, bool) {
	a := r.partial[f.id]
	if a == nil {
		r.evictIfFull()
		a = &assembly{}
		r.partial[f.id] = a
	}
	before := a.have
	if !a.add(f) {
		r.bytes += (a.have - before) * len(f.shard)
		return Message{}, false
	}
	r.bytes -= before * a.size
	delete(r.partial, f.id)
	body, err := a.open(&r.box.Key, f.id)
	if err != nil {
		r.markDone(f.id) // authentic fragments that do not open: nothing to deliver, ever
		return Message{}, false
	}
	m := Message{ID: f.id, Body: body}
	if r.Deliver != nil {
		if err := r.Deliver(m); err != nil {
			r.forget(f.id)
			return Message{}, false
		}
	}
	r.markDone(f.id)
	r.delivered[f.id] = r.c.clock.Now()
	r.trimDelivered()
	if r.Delivered != nil {
		r.Delivered(f.id)
	}
	return m, true
}

// forget drops what the receiver holds of a message Deliver refused and
// rewinds the cursors to its fragments, so a later Sync reads it again.
func (r *Receiver) forget(id MessageID) {
	r.rewindTo = append(r.rewindTo, id)
}

func (r *Receiver) isDelivered(id MessageID) bool {
	if _, ok := r.delivered[id]; ok {
		return true
	}
	return r.Seen != nil && r.Seen(id)
}

// markDone marks every tracked fragment of message id, on every replica,
// as deletable.
func (r *Receiver) markDone(id MessageID) {
	for _, s := range r.replicas {
		for i := range s.entries {
			if s.entries[i].msg == id {
				s.entries[i].done = true
			}
		}
	}
}

// evictIfFull forgets the oldest-started partial message when memory is
// full; its fragments stay on the replicas, so the cursors rewind to read
// them again later.
func (r *Receiver) evictIfFull() {
	if len(r.partial) < maxPartialMessages && r.bytes < maxPartialBytes {
		return
	}
	for id, a := range r.partial {
		delete(r.partial, id)
		r.bytes -= a.have * a.size
		for _, s := range r.replicas {
			for _, t := range s.entries {
				if t.msg == id && !t.done {
					s.cursor = min(s.cursor, t.seq)
				}
			}
			s.entries = dropMsg(s.entries, id)
		}
		return
	}
}

func dropMsg(ts []tracked, id MessageID) []tracked {
	out := ts[:0]
	for _, t := range ts {
		if t.done || t.msg != id {
			out = append(out, t)
		}
	}
	return out
}

func (r *Receiver) trimDelivered() {
	if len(r.delivered) <= maxDelivered {
		return
	}
	var oldest MessageID
	var at time.Time
	for id, t := range r.delivered {
		if at.IsZero() || t.Before(at) {
			oldest, at = id, t
		}
	}
	delete(r.delivered, oldest)
}

func (s *replicaState) has(seq uint64) bool {
	for _, t := range s.entries {
		if t.seq == seq {
			return true
		}
	}
	return false
}

func (s *replicaState) insert(t tracked) {
	i := len(s.entries)
	for i > 0 && s.entries[i-1].seq > t.seq {
		i--
	}
	s.entries = append(s.entries, tracked{})
	copy(s.entries[i+1:], s.entries[i:])
	s.entries[i] = t
}

// deleteDone deletes, at rep, the longest run of entries from the start
// whose messages are delivered (or that are junk). A reader with a
// read-only capability leaves the mailbox as it is.
func (r *Receiver) deleteDone(ctx context.Context, rep *directory.Descriptor) error {
	if !r.box.Cap.CanWrite() {
		return nil
	}
	r.mu.Lock()
	s := r.state(rep.ID())
	prev := s.deleted
	upTo := prev
	for n := 0; n < len(s.entries) && s.entries[n].done; n++ {
		upTo = s.entries[n].seq
	}
	r.mu.Unlock()
	if upTo == prev {
		return nil
	}
	if _, err := r.c.Delete(ctx, rep, r.box.Cap, upTo); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s.deleted = max(s.deleted, upTo)
	i := 0
	for i < len(s.entries) && s.entries[i].seq <= s.deleted {
		i++
	}
	s.entries = s.entries[i:]
	return nil
}
