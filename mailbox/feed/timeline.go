package feed

import (
	"context"
	"errors"
	"fmt"
)

// Timeline returns up to limit entries, the user's own and their friends',
// newest first (by the time their authors gave them). limit ≤ 0 means all.
func (f *Feed) Timeline(limit int) ([]*Entry, error) {
	me, err := f.Identity()
	if err != nil {
		return nil, err
	}
	friends, err := f.friends()
	if err != nil {
		return nil, err
	}
	names := map[[keyLen]byte]Public{me.pub.Sign: me.pub}
	for _, fr := range friends {
		names[fr.Sign] = fr.Public
	}
	var ids []EntryID
	err = f.store.scan(key(kindTimeline), true, true, func(k, _ []byte) (bool, error) {
		if len(k) != 1+8+keyLen {
			return false, fmt.Errorf("%w: a timeline key", ErrCorrupt)
		}
		ids = append(ids, EntryID(k[9:]))
		return limit <= 0 || len(ids) < limit, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*Entry, 0, len(ids))
	for _, id := range ids {
		e, err := f.Entry(id)
		if err != nil {
			return nil, err
		}
		if p, ok := names[e.Author.Sign]; ok {
			e.Author = p
		}
		out = append(out, e)
	}
	return out, nil
}

// ErrNotFound reports an entry the store does not hold.
var ErrNotFound = errors.New("feed: no such entry")

// Entry returns one stored entry (the author's name is not filled in).
func (f *Feed) Entry(id EntryID) (*Entry, error) {
	v, err := f.store.get(key(kindEntry, id[:]))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, id)
	}
	return decodeEntryRecord(v, id)
}

// Retract deletes the content of one of the user's own posts from the
// replicas, so that friends who have not fetched it yet never will. Friends
// who fetched it keep their copy, and so does the user.
func (f *Feed) Retract(ctx context.Context, id EntryID) error {
	if f.mb == nil {
		return ErrOffline
	}
	v, err := f.store.get(key(kindOwnPost, id[:]))
	if err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("%w: %v is not one of your posts", ErrNotFound, id)
	}
	box, err := decodeOwnPost(v)
	if err != nil {
		return err
	}
	replicas, err := f.mb.Replicas(box.Cap.ID())
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range replicas {
		// Sequence numbers start at 1; deleting up to the largest removes
		// everything the box holds.
		if _, err := f.mb.Delete(ctx, r, box.Cap, ^uint64(0)); err != nil {
			errs = append(errs, fmt.Errorf("feed: retracting %v at %s: %w", id, r.Name, err))
		}
	}
	return errors.Join(errs...)
}
