package cover

import "errors"

// ErrQueueFull is returned by Client.Enqueue when QueueLen real packets are
// already waiting for a slot. The packet is not kept.
var ErrQueueFull = errors.New("cover: real packet queue full")

// ErrConfig reports a configuration value out of its bounds (a negative or
// non-finite rate, a probability outside its range, a negative duration, a
// missing Maker or Send function).
var ErrConfig = errors.New("cover: invalid configuration")
