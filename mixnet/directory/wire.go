package directory

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// The encodings are built with append-style writers and read with a cursor
// that remembers its first error, so decoders read top to bottom and check
// once.

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendF64(b []byte, v float64) []byte { return appendU64(b, math.Float64bits(v)) }

// appendMicros writes a duration as whole microseconds; Validate has already
// refused durations that are negative or not whole microseconds.
func appendMicros(b []byte, d time.Duration) []byte { return appendU64(b, uint64(d/time.Microsecond)) }

// appendStr8 writes a string with a one-byte length; callers have checked
// that it fits.
func appendStr8(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

// take returns the next n bytes, aliasing the input, or nil after an error.
func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail("%s: truncated at byte %d", what, r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8(what string) uint8 {
	if p := r.take(1, what); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if p := r.take(2, what); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if p := r.take(4, what); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if p := r.take(8, what); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) f64(what string) float64 { return math.Float64frombits(r.u64(what)) }

// micros reads a duration in microseconds, refusing values that overflow
// time.Duration.
func (r *reader) micros(what string) time.Duration {
	v := r.u64(what)
	if v > math.MaxInt64/uint64(time.Microsecond) {
		r.fail("%s: %d µs out of range", what, v)
		return 0
	}
	return time.Duration(v) * time.Microsecond
}

// str8 reads a string with a one-byte length.
func (r *reader) str8(what string) string {
	n := int(r.u8(what + " length"))
	return string(r.take(n, what))
}

func (r *reader) copyInto(dst []byte, what string) {
	if p := r.take(len(dst), what); p != nil {
		copy(dst, p)
	}
}

// rest returns the unread bytes.
func (r *reader) rest() int { return len(r.b) - r.off }

// done fails unless every byte has been read.
func (r *reader) done() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}
