package mixnet

import (
	"errors"
	"fmt"
	"sync/atomic"

	"loam/onion"
)

// A Service runs at a service node and receives the payloads delivered to
// its recipient name. Serve must not block for long: it runs on an unwrap
// worker. A service that does slow work (disk, for the mailbox) copies what
// it needs and replies later; Request.Reply may be called after Serve
// returns, from any goroutine.
type Service interface {
	Serve(req *Request)
}

// ServiceFunc adapts a function to Service.
type ServiceFunc func(req *Request)

// Serve calls f(req).
func (f ServiceFunc) Serve(req *Request) { f(req) }

// Request is one delivered payload (SPEC.md §5.7): a SURB for the answer, if
// the sender wants one, and the body.
type Request struct {
	// Body is valid only during Serve; copy what you keep.
	Body []byte

	surb    []byte // a copy; nil when the sender wants no answer
	replied atomic.Bool
	send    func(surb, body []byte) error
}

// ErrNoSURB is returned by Reply when the request carried no reply block.
var ErrNoSURB = errors.New("mixnet: request carries no reply block")

// CanReply reports whether the sender attached a reply block.
func (r *Request) CanReply() bool { return r.surb != nil }

// Reply sends body (at most Geometry.UserPayload bytes) back through the
// request's single-use reply block. A second call fails: a SURB is single-use.
func (r *Request) Reply(body []byte) error {
	if r.surb == nil {
		return ErrNoSURB
	}
	if r.replied.Swap(true) {
		return errors.New("mixnet: request already answered; a reply block is single-use")
	}
	return r.send(r.surb, body)
}

// RequestBodyLen is the body capacity of a service request: the user payload
// less the reply block.
func RequestBodyLen(g onion.Geometry) int { return g.UserPayload - g.SURBLen() }

// NewRequestPayload lays out a service request: surb ‖ body, zero-padded to
// the user payload. A nil surb means no answer is wanted and is sent as
// zeros.
func NewRequestPayload(g onion.Geometry, surb, body []byte) ([]byte, error) {
	if surb != nil && len(surb) != g.SURBLen() {
		return nil, fmt.Errorf("mixnet: reply block of %d bytes, want %d", len(surb), g.SURBLen())
	}
	if len(body) > RequestBodyLen(g) {
		return nil, fmt.Errorf("mixnet: request body of %d bytes exceeds %d", len(body), RequestBodyLen(g))
	}
	p := make([]byte, g.UserPayload)
	copy(p, surb)
	copy(p[g.SURBLen():], body)
	return p, nil
}

// parseRequest splits a delivered payload. A reply block whose first-hop
// field is zero means none was sent.
func parseRequest(g onion.Geometry, payload []byte) (surb, body []byte) {
	surb = payload[:g.SURBLen()]
	if allZero(surb[:onion.NodeIDLen]) {
		surb = nil
	}
	return surb, payload[g.SURBLen():]
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// RecipientName turns a service name into its recipient id: the name's
// bytes, zero-padded to 16 (SPEC.md §5.7).
func RecipientName(name string) (onion.Recipient, error) {
	var r onion.Recipient
	if len(name) == 0 || len(name) > len(r) {
		return r, fmt.Errorf("mixnet: service name %q must be 1 to %d bytes", name, len(r))
	}
	copy(r[:], name)
	return r, nil
}

// mustRecipient is RecipientName for the built-in names.
func mustRecipient(name string) onion.Recipient {
	r, err := RecipientName(name)
	if err != nil {
		panic(err)
	}
	return r
}

// Built-in recipients.
var (
	// RecipientDrop discards the payload: the destination of drop cover
	// traffic.
	RecipientDrop = mustRecipient("drop")
	// RecipientLoop ends a node's own loop packets (SPEC.md §6).
	RecipientLoop = mustRecipient("loop")
	// RecipientEcho answers with the request's body: the test service.
	RecipientEcho = mustRecipient("echo")
)

// Echo answers every request with its own body.
var Echo Service = ServiceFunc(func(req *Request) {
	if req.CanReply() {
		_ = req.Reply(req.Body) // a reply that cannot be sent is the sender's loss, as with any drop
	}
})
