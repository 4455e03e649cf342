package directory

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"loam/onion"

	"pgregory.net/rapid"
)

// drawDescriptor draws a valid descriptor and its key from rapid.
func drawDescriptor(t *rapid.T, keys []ed25519.PrivateKey) (*Descriptor, ed25519.PrivateKey) {
	key := rapid.SampledFrom(keys).Draw(t, "key")
	role := Role(rapid.IntRange(1, 3).Draw(t, "role"))
	d := &Descriptor{
		IdentityKey: key.Public().(ed25519.PublicKey),
		Name:        rapid.StringOfN(rapid.RuneFrom([]rune("aZ09 -_.éß漢🙂")), 1, 16, MaxNameLen).Draw(t, "name"),
		Role:        role,
		Address: rapid.StringMatching(`[a-z0-9.-]{1,40}`).Draw(t, "host") + ":" +
			fmt.Sprint(rapid.IntRange(1, 65535).Draw(t, "port")),
		Published: time.Unix(rapid.Int64Range(0, 1<<40).Draw(t, "published"), 0).UTC(),
	}
	copy(d.LinkKey[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "link"))
	d.LinkKey[0] |= 1
	switch role {
	case RoleMix:
		d.Layer = uint8(rapid.IntRange(1, MixLayers).Draw(t, "layer"))
	case RoleGateway:
		if rapid.Bool().Draw(t, "hasOnion") {
			d.OnionAddress = rapid.StringMatching(`[a-z2-7]{16,56}`).Draw(t, "onion") + ".onion:443"
		}
	case RoleService:
		names := rapid.SliceOfNDistinct(rapid.StringMatching(`[a-z]{1,16}`), 1, MaxServices, rapid.ID[string]).Draw(t, "services")
		d.Services = sortedCopy(names)
	}
	n := rapid.IntRange(1, MaxOnionKeys).Draw(t, "keys")
	e := rapid.Uint64Range(0, 1<<40).Draw(t, "firstEpoch")
	for i := range n {
		var k onion.PublicKey
		copy(k[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "onionKey"))
		k[0], k[1] = 1, byte(i) // not zero, distinct
		d.OnionKeys = append(d.OnionKeys, EpochKey{Epoch: e, Key: k})
		e += rapid.Uint64Range(1, 3).Draw(t, "gap")
	}
	return d, key
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func sameDescriptor(a, b *Descriptor) bool {
	return bytes.Equal(a.IdentityKey, b.IdentityKey) && a.Name == b.Name && a.Role == b.Role &&
		a.Layer == b.Layer && a.Address == b.Address && a.OnionAddress == b.OnionAddress &&
		a.LinkKey == b.LinkKey && fmt.Sprint(a.Services) == fmt.Sprint(b.Services) &&
		fmt.Sprint(a.OnionKeys) == fmt.Sprint(b.OnionKeys) && a.Published.Equal(b.Published)
}

// TestPropertyDescriptorRoundTrip: every valid descriptor signs, parses back
// to the same fields and keeps the exact signed bytes.
func TestPropertyDescriptorRoundTrip(t *testing.T) {
	keys := []ed25519.PrivateKey{newKey(t), newKey(t)}
	rapid.Check(t, func(t *rapid.T) {
		d, key := drawDescriptor(t, keys)
		b, err := SignDescriptor(d, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxDescriptorLen {
			t.Fatalf("%d bytes exceed MaxDescriptorLen", len(b))
		}
		p, err := ParseDescriptor(b)
		if err != nil {
			t.Fatal(err)
		}
		if !sameDescriptor(d, p) || !bytes.Equal(p.Raw(), b) {
			t.Fatalf("round trip changed the descriptor:\n%+v\n%+v", d, p)
		}
		if again, _ := SignDescriptor(p, key); !bytes.Equal(again, b) {
			t.Fatal("re-signing a parsed descriptor changed its bytes")
		}
		for _, k := range d.OnionKeys {
			if got, ok := p.OnionKey(k.Epoch); !ok || got != k.Key {
				t.Fatalf("onion key of epoch %d", k.Epoch)
			}
		}
	})
}

// TestDescriptorSingleByteChanges: flipping any bit of a signed descriptor
// makes it fail to parse.
func TestDescriptorSingleByteChanges(t *testing.T) {
	d, key := testDescriptor(t, RoleService, 0, 10, 3, time.Unix(1e9, 0))
	b, err := SignDescriptor(d, key)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		for bit := range 8 {
			c := bytes.Clone(b)
			c[i] ^= 1 << bit
			if _, err := ParseDescriptor(c); err == nil {
				t.Fatalf("accepted a change of byte %d bit %d", i, bit)
			} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("byte %d: unexpected error %v", i, err)
			}
		}
	}
	if _, err := ParseDescriptor(append(bytes.Clone(b), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
	for n := range len(b) {
		if _, err := ParseDescriptor(b[:n]); err == nil {
			t.Fatalf("accepted a truncation to %d bytes", n)
		}
	}
}

// TestDescriptorRules: each rule broken alone is refused by Validate and
// SignDescriptor, and a validly signed encoding of it by ParseDescriptor.
func TestDescriptorRules(t *testing.T) {
	cases := []struct {
		name   string
		role   Role
		layer  uint8
		mutate func(*Descriptor)
	}{
		{"empty name", RoleMix, 1, func(d *Descriptor) { d.Name = "" }},
		{"long name", RoleMix, 1, func(d *Descriptor) { d.Name = strings.Repeat("x", MaxNameLen+1) }},
		{"control in name", RoleMix, 1, func(d *Descriptor) { d.Name = "a\nb" }},
		{"invalid utf8 name", RoleMix, 1, func(d *Descriptor) { d.Name = "\xff" }},
		{"mix in layer 0", RoleMix, 0, nil},
		{"mix in layer 4", RoleMix, 4, nil},
		{"gateway in layer 1", RoleGateway, 1, nil},
		{"service in layer 2", RoleService, 2, nil},
		{"unknown role", Role(4), 0, nil},
		{"role zero", Role(0), 0, nil},
		{"address without port", RoleMix, 1, func(d *Descriptor) { d.Address = "127.0.0.1" }},
		{"address port 0", RoleMix, 1, func(d *Descriptor) { d.Address = "127.0.0.1:0" }},
		{"address port 65536", RoleMix, 1, func(d *Descriptor) { d.Address = "h:65536" }},
		{"address port +1", RoleMix, 1, func(d *Descriptor) { d.Address = "h:+1" }},
		{"address empty host", RoleMix, 1, func(d *Descriptor) { d.Address = ":80" }},
		{"address with space", RoleMix, 1, func(d *Descriptor) { d.Address = "a b:80" }},
		{"long address", RoleMix, 1, func(d *Descriptor) { d.Address = strings.Repeat("a", 251) + ":8080" }},
		{"onion address on a mix", RoleMix, 1, func(d *Descriptor) { d.OnionAddress = "abc.onion:1" }},
		{"onion address not .onion", RoleGateway, 0, func(d *Descriptor) { d.OnionAddress = "example.com:1" }},
		{"onion address bare .onion", RoleGateway, 0, func(d *Descriptor) { d.OnionAddress = ".onion:1" }},
		{"zero link key", RoleMix, 1, func(d *Descriptor) { d.LinkKey = [32]byte{} }},
		{"service node without services", RoleService, 0, func(d *Descriptor) { d.Services = nil }},
		{"mix with services", RoleMix, 1, func(d *Descriptor) { d.Services = []string{"echo"} }},
		{"services unsorted", RoleService, 0, func(d *Descriptor) { d.Services = []string{"mailbox", "echo"} }},
		{"services repeated", RoleService, 0, func(d *Descriptor) { d.Services = []string{"echo", "echo"} }},
		{"empty service name", RoleService, 0, func(d *Descriptor) { d.Services = []string{""} }},
		{"long service name", RoleService, 0, func(d *Descriptor) { d.Services = []string{strings.Repeat("s", 17)} }},
		{"too many services", RoleService, 0, func(d *Descriptor) {
			d.Services = strings.Split("a b c d e f g h i", " ")
		}},
		{"no onion keys", RoleMix, 1, func(d *Descriptor) { d.OnionKeys = nil }},
		{"too many onion keys", RoleMix, 1, func(d *Descriptor) {
			for i := range MaxOnionKeys {
				d.OnionKeys = append(d.OnionKeys, EpochKey{Epoch: uint64(100 + i), Key: onion.PublicKey(randomKey32())})
			}
		}},
		{"onion epochs descending", RoleMix, 1, func(d *Descriptor) {
			d.OnionKeys[0], d.OnionKeys[1] = d.OnionKeys[1], d.OnionKeys[0]
		}},
		{"onion epochs repeated", RoleMix, 1, func(d *Descriptor) { d.OnionKeys[1].Epoch = d.OnionKeys[0].Epoch }},
		{"onion key repeated", RoleMix, 1, func(d *Descriptor) { d.OnionKeys[1].Key = d.OnionKeys[0].Key }},
		{"zero onion key", RoleMix, 1, func(d *Descriptor) { d.OnionKeys[0].Key = onion.PublicKey{} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, key := testDescriptor(t, RoleMix, 1, 5, 2, time.Unix(1e9, 0))
			d.Role, d.Layer, d.OnionAddress, d.Services = c.role, c.layer, "", nil
			if c.role == RoleService {
				d.Services = []string{"echo"}
			}
			if c.mutate != nil {
				c.mutate(d)
			}
			if err := d.Validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := SignDescriptor(d, key); !errors.Is(err, ErrInvalid) {
				t.Fatalf("SignDescriptor: %v", err)
			}
			if len(d.Name) > 255 || len(d.Address) > 255 || len(d.OnionKeys) > 255 {
				return // not encodable at all
			}
			if _, err := ParseDescriptor(signRaw(d, key)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseDescriptor: %v", err)
			}
		})
	}
}

func TestDescriptorValidExamples(t *testing.T) {
	for _, addr := range []string{"[::1]:443", "node.example:1", "10.0.0.1:65535"} {
		d, key := testDescriptor(t, RoleMix, 2, 0, 1, time.Unix(0, 0))
		d.Address = addr
		if _, err := SignDescriptor(d, key); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestSignDescriptorKeyMismatch(t *testing.T) {
	d, _ := testDescriptor(t, RoleMix, 1, 0, 1, time.Unix(0, 0))
	if _, err := SignDescriptor(d, newKey(t)); err == nil {
		t.Fatal("signed with a key that is not the identity key")
	}
	if _, err := SignDescriptor(d, ed25519.PrivateKey{1, 2}); err == nil {
		t.Fatal("signed with a short key")
	}
}

func TestParseDescriptorVersionAndSignature(t *testing.T) {
	d, key := testDescriptor(t, RoleGateway, 0, 0, 1, time.Unix(5, 0))
	b := signRaw(d, key)
	b[0] = 2
	if _, err := ParseDescriptor(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("version 2: %v", err)
	}
	// A valid body signed by another key fails as a bad signature.
	other := signRaw(d, newKey(t))
	if _, err := ParseDescriptor(other); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("foreign signature: %v", err)
	}
	if _, err := ParseDescriptor(make([]byte, MaxDescriptorLen+1)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized: %v", err)
	}
}

func TestNodeID(t *testing.T) {
	d, _ := testDescriptor(t, RoleMix, 1, 0, 1, time.Unix(0, 0))
	sum := sha256.Sum256(append([]byte("loam node id v1"), d.IdentityKey...))
	if id := d.ID(); !bytes.Equal(id[:], sum[:16]) {
		t.Fatalf("id %v, want %x", id, sum[:16])
	}
}

func TestPublishedSecondResolution(t *testing.T) {
	d, key := testDescriptor(t, RoleMix, 1, 0, 1, time.Unix(0, 0))
	d.Published = time.Unix(1234, 999_999_999)
	b, err := SignDescriptor(d, key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseDescriptor(b)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Published.Equal(time.Unix(1234, 0)) {
		t.Fatalf("published %v", p.Published)
	}
	d.Published = time.Time{}
	if err := d.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero time: %v", err)
	}
}

func TestRole(t *testing.T) {
	for _, r := range []Role{RoleGateway, RoleMix, RoleService} {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Fatalf("%v: %v %v", r, got, err)
		}
	}
	if RoleGateway.String() != "gateway" || RoleMix.String() != "mix" || RoleService.String() != "service" {
		t.Fatal("role names")
	}
	for _, s := range []string{"", "Mix", "role(2)", "authority"} {
		if _, err := ParseRole(s); err == nil {
			t.Fatalf("parsed %q", s)
		}
	}
	if Role(9).String() != "role(9)" {
		t.Fatal(Role(9).String())
	}
}
