package lioness

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var k Key
	rand.Read(k[:])
	for _, n := range []int{MinBlockSize, 64, 2064, 5000} {
		p := make([]byte, n)
		rand.Read(p)
		c := bytes.Clone(p)
		Encrypt(&k, c)
		if bytes.Equal(c, p) {
			t.Fatalf("%d bytes: ciphertext equals plaintext", n)
		}
		Decrypt(&k, c)
		if !bytes.Equal(c, p) {
			t.Fatalf("%d bytes: round trip failed", n)
		}
	}
}

// TestWideBlock checks the property onion payloads rely on: one flipped
// ciphertext bit anywhere changes about half of all plaintext bits, the
// leading ones included.
func TestWideBlock(t *testing.T) {
	var k Key
	rand.Read(k[:])
	p := make([]byte, 2064)
	c := bytes.Clone(p)
	Encrypt(&k, c)
	for _, pos := range []int{0, 31, 32, 1000, len(c) - 1} {
		bad := bytes.Clone(c)
		bad[pos] ^= 0x01
		Decrypt(&k, bad)
		if bytes.Equal(bad[:16], p[:16]) {
			t.Fatalf("flip at %d left the first 16 bytes intact", pos)
		}
		diff := 0
		for i := range bad {
			diff += popcount(bad[i] ^ p[i])
		}
		if total := 8 * len(p); diff < total*45/100 || diff > total*55/100 {
			t.Fatalf("flip at %d changed %d of %d bits", pos, diff, total)
		}
	}
}

func TestShortBlockPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a block shorter than MinBlockSize")
		}
	}()
	var k Key
	Encrypt(&k, make([]byte, MinBlockSize-1))
}

func popcount(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}
