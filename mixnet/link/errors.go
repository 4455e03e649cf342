package link

import "errors"

// ErrHandshake reports a handshake that failed: a peer that sent malformed,
// truncated or unauthenticated messages, a wrong static key on either side, a
// prologue or frame-length mismatch, or a deadline that passed. It says
// nothing more to a peer; the wrapped cause is for local logs.
var ErrHandshake = errors.New("link: handshake failed")

// ErrUnauthorized reports that the responder's Config.Authorize refused the
// initiator's static key.
var ErrUnauthorized = errors.New("link: peer not authorized")

// ErrFrame reports a transport frame that failed authentication or carried a
// reserved type or a non-zero link-internal body. It is fatal: the link is
// closed and must not be used further. WriteFrame also returns it, without
// closing anything, for a caller frame it cannot send (a type outside
// 0x01..0x7f, or a body longer than FrameLen).
var ErrFrame = errors.New("link: bad frame")

// ErrConfig reports a Config that cannot make a link.
var ErrConfig = errors.New("link: invalid config")
