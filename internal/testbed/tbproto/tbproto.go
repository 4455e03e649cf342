// Package tbproto is what the test bed's harness and its client program
// (tbclient) say to each other: one JSON object a line, requests on the
// client's stdin and responses on its stdout, matched by id. The first
// line the client writes, with id 0, lists the people it hosts.
package tbproto

// Operations.
const (
	OpFriend   = "friend"   // user adds the friend whose code is Code
	OpPost     = "post"     // user posts Text with an attachment of Attach random bytes
	OpSync     = "sync"     // user syncs; Entries are the entries new to them
	OpStatus   = "status"   // user's connection and directory
	OpClock    = "clock"    // every feed's clock runs OffsetMS ahead of the real one
	OpCapCheck = "capcheck" // user tries to write and delete in a mailbox without its capability
	OpQuit     = "quit"     // close every client and exit
)

// Request is one line to the client.
type Request struct {
	ID   uint64 `json:"id"`
	Op   string `json:"op"`
	User int    `json:"user"`
	Code string `json:"code,omitempty"`
	Text string `json:"text,omitempty"`
	// Attach is the size of a random attachment to post; 0 for none.
	Attach int `json:"attach,omitempty"`
	// OffsetMS moves the feeds' clock (OpClock).
	OffsetMS int64 `json:"offset_ms,omitempty"`
	// TimeoutMS bounds the operation; 0 means none.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// Response is one line from the client.
type Response struct {
	ID  uint64 `json:"id"`
	OK  bool   `json:"ok"`
	Err string `json:"err,omitempty"`
	// Ready lists the people, on the first line.
	Ready []User `json:"ready,omitempty"`
	// Entry is what a post made, even when it failed after storing the
	// content (some friend's header not yet sent).
	Entry   *Entry   `json:"entry,omitempty"`
	Entries []Entry  `json:"entries,omitempty"`
	Status  *Status  `json:"status,omitempty"`
	Check   *Check   `json:"check,omitempty"`
	Traffic *Traffic `json:"traffic,omitempty"`
}

// User is one person a client hosts.
type User struct {
	Name        string `json:"name"`
	Code        string `json:"code"`
	Fingerprint string `json:"fingerprint"`
	Gateway     string `json:"gateway"`
}

// Entry is a feed entry as posted or read.
type Entry struct {
	ID     string `json:"id"`
	Author string `json:"author"` // the author's fingerprint
	Text   string `json:"text"`
	// Attachments are the SHA-256 of each attachment's data, hex.
	Attachments []string `json:"attachments,omitempty"`
}

// Status is a person's client.
type Status struct {
	Connected bool   `json:"connected"`
	Gateway   string `json:"gateway"`
	// Stale says why the directory in use is an old one; empty when it
	// is the current epoch's.
	Stale string `json:"stale,omitempty"`
	// Epoch is the directory document in use.
	Epoch uint64 `json:"epoch"`
}

// Check is what a capability check found at one replica: a deposit and a
// delete signed with another mailbox's capability, and whether the real
// owner's entry survived them.
type Check struct {
	Replica string `json:"replica"`
	// Deposit and Delete are the replica's answers to the forged requests:
	// "not authorized" is the one wanted.
	Deposit string `json:"deposit"`
	Delete  string `json:"delete"`
	// Intact: the owner's entry is still there, unchanged, and nothing was
	// added.
	Intact bool `json:"intact"`
}

// Traffic counts the packets a person's client sent: in all (status), or
// while a sync ran (sync; a post meanwhile counts too).
type Traffic struct {
	Real uint64 `json:"real"`
	Drop uint64 `json:"drop"`
	Loop uint64 `json:"loop"`
}
