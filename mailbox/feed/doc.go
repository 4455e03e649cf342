// Package feed is Loam's social layer on top of mailboxes: identities,
// friend codes, the pairwise secrets friends share, the rotating mailboxes
// derived from them, and signed posts that are encrypted once and announced
// to each friend by a small header.
//
// A post goes as one message into a fresh content box (its own random
// capability and key); each friend then gets a header in the pairwise
// mailbox from the author to that friend for the current mailbox epoch,
// carrying the content box's id and key. Posting S bytes to n friends costs
// about S × (1 + parity) plus two packets a friend, not n × S. Friends read
// content boxes with a read-only capability: only the author can delete
// them. Everything the user posted or was shown is kept in a local badger
// store, encrypted at rest.
//
// SPEC.md §9 (drafted in docs/spec-drafts/feed.md) is the byte-level
// definition of every format and derivation here.
package feed
