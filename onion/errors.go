package onion

import "errors"

// ErrAuthentication is the one error for every failed authenticity check: a
// header MAC that does not verify, a Diffie-Hellman result of all zeros, or a
// payload whose zero prefix is wrong after the last layer is removed. It says
// nothing about which check failed, so an attacker probing a node learns
// nothing from the answer.
var ErrAuthentication = errors.New("onion: packet authentication failed")

// ErrMalformed reports input of the wrong length or an authenticated header
// carrying a routing command this implementation does not know.
var ErrMalformed = errors.New("onion: malformed input")
