package directory

import "errors"

var (
	// ErrMalformed reports bytes that are not a valid encoding: wrong
	// version, length, order, range, trailing bytes, or a field that breaks
	// the descriptor or parameter rules.
	ErrMalformed = errors.New("directory: malformed encoding")
	// ErrInvalid reports a Descriptor or Parameters value that breaks the
	// field rules, found by Validate before signing or encoding.
	ErrInvalid = errors.New("directory: invalid value")
	// ErrBadSignature reports a descriptor or vote whose signature does not
	// verify under the key it names.
	ErrBadSignature = errors.New("directory: bad signature")
	// ErrTooFewSignatures reports a document without valid signatures from
	// enough distinct trusted authorities.
	ErrTooFewSignatures = errors.New("directory: too few authority signatures")
	// ErrNoDocument reports that no authority (or cache) had a verified
	// document for what was asked.
	ErrNoDocument = errors.New("directory: no verified document")
	// ErrRefused reports a descriptor upload that fewer than the threshold
	// of authorities accepted.
	ErrRefused = errors.New("directory: upload refused")
	// ErrClosed reports use of a closed Authority.
	ErrClosed = errors.New("directory: authority closed")
)
