package directory

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"loam/onion"
)

// newKey returns a fresh Ed25519 key.
func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomKey32() [32]byte {
	var k [32]byte
	rand.Read(k[:])
	k[0] |= 1 // never zero
	return k
}

// testDescriptor returns a valid descriptor of a fresh node with onion keys
// for epochs first … first+n−1, and the node's identity key.
func testDescriptor(t testing.TB, role Role, layer uint8, first uint64, n int, published time.Time) (*Descriptor, ed25519.PrivateKey) {
	t.Helper()
	key := newKey(t)
	d := &Descriptor{
		IdentityKey: key.Public().(ed25519.PublicKey),
		Name:        fmt.Sprintf("%v-%d", role, layer),
		Role:        role,
		Layer:       layer,
		Address:     "127.0.0.1:4000",
		LinkKey:     randomKey32(),
		Published:   published.Truncate(time.Second),
	}
	if role == RoleService {
		d.Services = []string{"echo", "mailbox"}
	}
	if role == RoleGateway {
		d.OnionAddress = "abcdefghijklmnop.onion:443"
	}
	for i := range n {
		d.OnionKeys = append(d.OnionKeys, EpochKey{Epoch: first + uint64(i), Key: onion.PublicKey(randomKey32())})
	}
	return d, key
}

// signed signs d and parses it back, as a document holds it.
func signed(t testing.TB, d *Descriptor, key ed25519.PrivateKey) *Descriptor {
	t.Helper()
	b, err := SignDescriptor(d, key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseDescriptor(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signRaw signs d's encoding without validating it, to build hostile input
// whose only fault is a field rule.
func signRaw(d *Descriptor, key ed25519.PrivateKey) []byte {
	body := d.appendBody(nil)
	return append(body, ed25519.Sign(key, signedMessage(labelDescriptor, body))...)
}

// testNetwork returns signed descriptors of a gateway, mixes in layers 1 to
// 3 (two in layer 1), and a service node, with keys for first … first+n−1.
func testNetwork(t testing.TB, first uint64, n int, published time.Time) []*Descriptor {
	t.Helper()
	specs := []struct {
		role  Role
		layer uint8
	}{{RoleGateway, 0}, {RoleMix, 1}, {RoleMix, 1}, {RoleMix, 2}, {RoleMix, 3}, {RoleService, 0}}
	var out []*Descriptor
	for _, s := range specs {
		d, k := testDescriptor(t, s.role, s.layer, first, n, published)
		out = append(out, signed(t, d, k))
	}
	return out
}

// makeDocument builds the document of epoch over nodes, signed by keys.
func makeDocument(epoch uint64, params Parameters, nodes []*Descriptor, keys ...ed25519.PrivateKey) *Document {
	d := &Document{Epoch: epoch, Params: params, Nodes: append([]*Descriptor(nil), nodes...)}
	sortByID(d.Nodes)
	for _, k := range keys {
		d.sign(k)
	}
	return d
}

func publicKeys(keys []ed25519.PrivateKey) []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(keys))
	for i, k := range keys {
		out[i] = k.Public().(ed25519.PublicKey)
	}
	return out
}

func testParams(period time.Duration) Parameters {
	p := DefaultParameters()
	p.EpochPeriod = period
	p.Grace = period / 10
	return p
}
