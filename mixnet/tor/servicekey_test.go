package tor

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// The RFC 8032 test 1 key and the onion address tor's own tests
// (test_hs_common.c, test_build_address) give for its public key.
const (
	rfcSeed    = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcPublic  = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	rfcService = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid"
)

func TestServiceIDOfKnownKey(t *testing.T) {
	seed, _ := hex.DecodeString(rfcSeed)
	k := expandSeed(seed)
	if got := hex.EncodeToString(k.public[:]); got != rfcPublic {
		t.Fatalf("public key %s, want %s", got, rfcPublic)
	}
	if got := k.ServiceID(); got != rfcService {
		t.Fatalf("service id %s, want %s", got, rfcService)
	}
	if got, want := k.Address(443), rfcService+".onion:443"; got != want {
		t.Fatalf("address %s, want %s", got, want)
	}
}

// TestServiceKeyRoundTrip: any key, written in tor's format and read back,
// is the same key, and the public key recomputed from the expanded secret
// is the one RFC 8032 derives from the seed.
func TestServiceKeyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "seed")
		k := expandSeed(seed)
		file := append(keyHeader(secretKeyHeader), k.secret[:]...)
		got, err := parseServiceKey(file)
		if err != nil {
			t.Fatal(err)
		}
		if *got != *k {
			t.Fatal("key changed in a round trip")
		}
		if !bytes.Equal(got.public[:], ed25519.NewKeyFromSeed(seed)[32:]) {
			t.Fatal("public key from the expanded secret differs from RFC 8032's")
		}
	})
}

func TestServiceKeyPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := OnionAddress(dir, 4242)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OnionAddress(dir, 4242)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("address changed between loads: %s then %s", a, b)
	}
	if !strings.HasSuffix(a, ".onion:4242") || len(a) != 56+len(".onion:4242") {
		t.Fatalf("malformed address %q", a)
	}
	svc := filepath.Join(dir, serviceDir)
	checkMode(t, svc, 0o700|os.ModeDir)
	checkMode(t, filepath.Join(svc, secretKeyFile), 0o600)
	host, err := os.ReadFile(filepath.Join(svc, hostnameFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSuffix(a, ":4242") + "\n"; string(host) != want {
		t.Fatalf("hostname file %q, want %q", host, want)
	}
	pub, err := os.ReadFile(filepath.Join(svc, publicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := LoadServiceKey(dir)
	if !bytes.Equal(pub, append(keyHeader(publicKeyHeader), k.public[:]...)) {
		t.Fatal("public key file does not match the key")
	}
	// Another directory, another key.
	c, err := OnionAddress(t.TempDir(), 4242)
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Fatal("two directories produced the same onion address")
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Fatalf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

func TestServiceKeyRejectsMalformed(t *testing.T) {
	seed, _ := hex.DecodeString(rfcSeed)
	good := append(keyHeader(secretKeyHeader), expandSeed(seed).secret[:]...)
	unclamped := bytes.Clone(good)
	unclamped[keyHeaderLen] |= 1
	wrongHeader := bytes.Clone(good)
	copy(wrongHeader, publicKeyHeader)
	for name, b := range map[string][]byte{
		"empty":        nil,
		"truncated":    good[:len(good)-1],
		"extended":     append(bytes.Clone(good), 0),
		"wrong header": wrongHeader,
		"unclamped":    unclamped,
	} {
		if _, err := parseServiceKey(b); !errors.Is(err, ErrServiceKey) {
			t.Errorf("%s: err %v, want ErrServiceKey", name, err)
		}
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, serviceDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, serviceDir, secretKeyFile), unclamped, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadServiceKey(dir); !errors.Is(err, ErrServiceKey) {
		t.Fatalf("loading a corrupt key file: err %v, want ErrServiceKey", err)
	}
}

func FuzzParseServiceKey(f *testing.F) {
	seed, _ := hex.DecodeString(rfcSeed)
	good := append(keyHeader(secretKeyHeader), expandSeed(seed).secret[:]...)
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte{})
	f.Add(append(keyHeader(publicKeyHeader), make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseServiceKey(b)
		if err != nil {
			if !errors.Is(err, ErrServiceKey) {
				t.Fatalf("error %v is not ErrServiceKey", err)
			}
			return
		}
		if len(k.ServiceID()) != 56 {
			t.Fatalf("service id %q", k.ServiceID())
		}
	})
}
