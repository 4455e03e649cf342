package feed

import "errors"

var (
	// ErrFriendCode reports a friend code that does not parse: a typo, a
	// wrong checksum, a code of another kind or version.
	ErrFriendCode = errors.New("feed: invalid friend code (a typo? check it character by character)")
	// ErrMalformed reports bytes that are not a valid encoding of an entry
	// or a header: wrong version, length, range or trailing bytes.
	ErrMalformed = errors.New("feed: malformed encoding")
	// ErrBadSignature reports an entry whose signature does not verify
	// under the key of the friend it came from.
	ErrBadSignature = errors.New("feed: entry signature does not verify")
	// ErrInvalid reports a value the caller made that breaks a field rule
	// (a name too long, too many or too large attachments, …).
	ErrInvalid = errors.New("feed: invalid value")
	// ErrCorrupt reports a record in the local store that does not decode.
	ErrCorrupt = errors.New("feed: the local store is corrupt")
	// ErrWrongKey reports a store key (passphrase or key file) that does
	// not open the store.
	ErrWrongKey = errors.New("feed: wrong key: the passphrase or key file does not open this store")
	// ErrNoIdentity reports a store without an identity (run init first).
	ErrNoIdentity = errors.New("feed: no identity in this store")
	// ErrIdentityExists reports an Init on a store that has one.
	ErrIdentityExists = errors.New("feed: the store already holds an identity")
	// ErrSelf reports an attempt to befriend oneself.
	ErrSelf = errors.New("feed: that friend code is your own")
	// ErrFriendConflict reports a friend code whose signing key belongs to
	// a friend already known under another key agreement key.
	ErrFriendConflict = errors.New("feed: a friend with this signing key is known under a different key")
	// ErrOffline reports Post or Sync on a Feed made without a mailbox
	// client.
	ErrOffline = errors.New("feed: no mailbox client: the feed is offline")
	// ErrNotDelivered reports a post stored and published whose header did
	// not reach some friends yet; Sync retries them.
	ErrNotDelivered = errors.New("feed: the post did not reach every friend yet; the next sync retries")
)
