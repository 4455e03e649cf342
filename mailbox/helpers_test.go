package mailbox

import (
	"crypto/rand"
	"testing"
)

func newBox(t testing.TB) *Box {
	t.Helper()
	var seed [32]byte
	rand.Read(seed[:])
	b := &Box{Cap: NewCapability(seed)}
	rand.Read(b.Key[:])
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
