package feed

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// fixedIdentity makes an identity whose keys are the byte b repeated
// (signing) and b+1 repeated (key agreement): reproducible, for vectors.
func fixedIdentity(t testing.TB, b byte, name string) *Identity {
	t.Helper()
	sign := [keyLen]byte(bytes.Repeat([]byte{b}, keyLen))
	dh := [keyLen]byte(bytes.Repeat([]byte{b + 1}, keyLen))
	id, err := identityFromKeys(&sign, &dh, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newIdentity(t testing.TB, name string) *Identity {
	t.Helper()
	id, err := NewIdentity(name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ed25519Sign(id *Identity, msg []byte) []byte { return ed25519.Sign(id.sign, msg) }
