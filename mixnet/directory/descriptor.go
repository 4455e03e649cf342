package directory

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"loam/onion"
)

// EpochKey is a node's onion public key for one epoch.
type EpochKey struct {
	Epoch uint64
	Key   onion.PublicKey
}

// Descriptor is what a node says about itself, signed with its identity key.
type Descriptor struct {
	// IdentityKey is the node's long-term Ed25519 signing key; the node id
	// derives from it.
	IdentityKey ed25519.PublicKey
	// Name is operator-chosen: 1 to MaxNameLen bytes of UTF-8 without
	// control characters.
	Name string
	Role Role
	// Layer is 1 to MixLayers for mixes and 0 for gateways and services.
	Layer uint8
	// Address is host:port of the node's link listener, printable ASCII,
	// at most MaxAddressLen bytes.
	Address string
	// OnionAddress is an optional Tor onion service "name.onion:port" where
	// a gateway also listens for clients; empty for other roles.
	OnionAddress string
	// LinkKey is the Noise static public key of the node's link listener.
	LinkKey [32]byte
	// Services names the services a service node offers ("echo",
	// "mailbox"): 1 to MaxServices names of 1 to MaxServiceNameLen printable
	// ASCII bytes, strictly ascending. Other roles offer none.
	Services []string
	// OnionKeys are the node's onion keys for upcoming epochs: 1 to
	// MaxOnionKeys entries, epochs strictly ascending, keys distinct and not
	// zero.
	OnionKeys []EpochKey
	// Published is when the node signed the descriptor, kept to the second.
	// Authorities replace a node's descriptor only with a newer one.
	Published time.Time

	// Set by ParseDescriptor: the signed encoding and the node id, kept
	// because a document looks nodes up by id for every packet relayed.
	// Parsed descriptors are therefore read-only.
	raw []byte
	id  onion.NodeID
}

// ID returns the node id: the first 16 bytes of
// SHA-256("loam node id v1" ‖ IdentityKey).
func (d *Descriptor) ID() onion.NodeID {
	if d.raw != nil {
		return d.id
	}
	return NodeIDOf(d.IdentityKey)
}

// NodeIDOf derives the node id of an identity key.
func NodeIDOf(identity ed25519.PublicKey) onion.NodeID {
	var in [len(labelNodeID) + ed25519KeyLen]byte
	n := copy(in[:], labelNodeID)
	n += copy(in[n:], identity)
	sum := sha256.Sum256(in[:n])
	return onion.NodeID(sum[:nodeIDLen])
}

// OnionKey returns the node's onion key for epoch.
func (d *Descriptor) OnionKey(epoch uint64) (onion.PublicKey, bool) {
	for _, k := range d.OnionKeys {
		if k.Epoch == epoch {
			return k.Key, true
		}
	}
	return onion.PublicKey{}, false
}

// Raw returns the signed encoding the descriptor was parsed from, or nil for
// a descriptor built in memory. The caller must not modify it, nor the
// fields of a parsed descriptor.
func (d *Descriptor) Raw() []byte { return d.raw }

// Validate checks every field rule and the consistency of role, layer,
// services and onion address. Errors wrap ErrInvalid.
func (d *Descriptor) Validate() error {
	if err := d.validate(); err != nil {
		return fmt.Errorf("%w: descriptor: %s", ErrInvalid, err)
	}
	return nil
}

// invalidField is a field-rule violation before it is wrapped as invalid
// (Validate) or malformed (ParseDescriptor).
type invalidField string

func (e invalidField) Error() string { return string(e) }

func bad(format string, args ...any) error { return invalidField(fmt.Sprintf(format, args...)) }

func (d *Descriptor) validate() error {
	if len(d.IdentityKey) != ed25519KeyLen {
		return bad("identity key of %d bytes, want %d", len(d.IdentityKey), ed25519KeyLen)
	}
	if err := validateName(d.Name); err != nil {
		return err
	}
	switch d.Role {
	case RoleMix:
		if d.Layer < 1 || d.Layer > MixLayers {
			return bad("mix in layer %d, want 1 to %d", d.Layer, MixLayers)
		}
	case RoleGateway, RoleService:
		if d.Layer != 0 {
			return bad("%v in layer %d, want 0", d.Role, d.Layer)
		}
	default:
		return bad("unknown role %d", uint8(d.Role))
	}
	if err := validateHostPort(d.Address, "address"); err != nil {
		return err
	}
	if d.OnionAddress != "" {
		if d.Role != RoleGateway {
			return bad("%v with an onion address; only gateways have one", d.Role)
		}
		if err := validateHostPort(d.OnionAddress, "onion address"); err != nil {
			return err
		}
		host, _, _ := net.SplitHostPort(d.OnionAddress)
		if !strings.HasSuffix(host, ".onion") || len(host) == len(".onion") {
			return bad("onion address %q is not name.onion:port", d.OnionAddress)
		}
	}
	if d.LinkKey == ([32]byte{}) {
		return bad("link key is zero")
	}
	if err := d.validateServices(); err != nil {
		return err
	}
	if err := validateOnionKeys(d.OnionKeys); err != nil {
		return err
	}
	if s := d.Published.Unix(); s < 0 {
		return bad("published time %v is before 1970", d.Published)
	}
	return nil
}

func validateName(s string) error {
	if len(s) < 1 || len(s) > MaxNameLen {
		return bad("name of %d bytes, want 1 to %d", len(s), MaxNameLen)
	}
	if !utf8.ValidString(s) {
		return bad("name is not UTF-8")
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return bad("name %q contains control characters", s)
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func validateHostPort(s, what string) error {
	if len(s) < 1 || len(s) > MaxAddressLen {
		return bad("%s of %d bytes, want 1 to %d", what, len(s), MaxAddressLen)
	}
	if !printableASCII(s) {
		return bad("%s %q is not printable ASCII", what, s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return bad("%s %q is not host:port", what, s)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
		return bad("%s %q has no port from 1 to 65535", what, s)
	}
	return nil
}

func (d *Descriptor) validateServices() error {
	if d.Role != RoleService {
		if len(d.Services) != 0 {
			return bad("%v offers services; only service nodes do", d.Role)
		}
		return nil
	}
	if len(d.Services) < 1 || len(d.Services) > MaxServices {
		return bad("service node offers %d services, want 1 to %d", len(d.Services), MaxServices)
	}
	for i, s := range d.Services {
		if len(s) < 1 || len(s) > MaxServiceNameLen || !printableASCII(s) {
			return bad("service name %q is not 1 to %d printable ASCII bytes", s, MaxServiceNameLen)
		}
		if i > 0 && d.Services[i-1] >= s {
			return bad("services not strictly ascending at %q", s)
		}
	}
	return nil
}

func validateOnionKeys(keys []EpochKey) error {
	if len(keys) < 1 || len(keys) > MaxOnionKeys {
		return bad("%d onion keys, want 1 to %d", len(keys), MaxOnionKeys)
	}
	for i, k := range keys {
		if k.Key == (onion.PublicKey{}) {
			return bad("onion key for epoch %d is zero", k.Epoch)
		}
		if i == 0 {
			continue
		}
		if keys[i-1].Epoch >= k.Epoch {
			return bad("onion key epochs not strictly ascending at %d", k.Epoch)
		}
		for _, o := range keys[:i] {
			if o.Key == k.Key {
				return bad("onion key for epoch %d repeats epoch %d's", k.Epoch, o.Epoch)
			}
		}
	}
	return nil
}

// SignDescriptor validates d and returns its signed encoding: the body
// followed by the Ed25519 signature of key over "loam descriptor v1" ‖ body.
// key must be the private half of d.IdentityKey. Published is encoded in
// whole seconds, rounded down.
func SignDescriptor(d *Descriptor, key ed25519.PrivateKey) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("directory: signing key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if !bytes.Equal(key.Public().(ed25519.PublicKey), d.IdentityKey) {
		return nil, fmt.Errorf("directory: signing key does not match the descriptor's identity key")
	}
	body := d.appendBody(make([]byte, 0, MaxDescriptorLen))
	sig := ed25519.Sign(key, signedMessage(labelDescriptor, body))
	return append(body, sig...), nil
}

// appendBody writes the descriptor's encoding without the signature; d is
// valid.
func (d *Descriptor) appendBody(b []byte) []byte {
	b = append(b, descriptorVersion)
	b = append(b, d.IdentityKey...)
	b = appendStr8(b, d.Name)
	b = append(b, byte(d.Role), d.Layer)
	b = appendStr8(b, d.Address)
	b = appendStr8(b, d.OnionAddress)
	b = append(b, d.LinkKey[:]...)
	b = append(b, byte(len(d.Services)))
	for _, s := range d.Services {
		b = appendStr8(b, s)
	}
	b = append(b, byte(len(d.OnionKeys)))
	for _, k := range d.OnionKeys {
		b = appendU64(b, k.Epoch)
		b = append(b, k.Key[:]...)
	}
	return appendU64(b, uint64(d.Published.Unix()))
}

func signedMessage(label string, body []byte) []byte {
	m := make([]byte, 0, len(label)+len(body))
	return append(append(m, label...), body...)
}

// ParseDescriptor decodes a signed descriptor, checks every field rule and
// verifies the self-signature. Errors wrap ErrMalformed or ErrBadSignature.
// The descriptor keeps a copy of b, returned by Raw.
func ParseDescriptor(b []byte) (*Descriptor, error) {
	if len(b) > MaxDescriptorLen {
		return nil, fmt.Errorf("%w: descriptor of %d bytes exceeds %d", ErrMalformed, len(b), MaxDescriptorLen)
	}
	r := &reader{b: b}
	if v := r.u8("version"); r.err == nil && v != descriptorVersion {
		return nil, fmt.Errorf("%w: descriptor version %d", ErrMalformed, v)
	}
	d := &Descriptor{IdentityKey: ed25519.PublicKey(bytes.Clone(r.take(ed25519KeyLen, "identity key")))}
	d.Name = r.str8("name")
	d.Role = Role(r.u8("role"))
	d.Layer = r.u8("layer")
	d.Address = r.str8("address")
	d.OnionAddress = r.str8("onion address")
	r.copyInto(d.LinkKey[:], "link key")
	if n := int(r.u8("service count")); n > 0 {
		if n > MaxServices {
			r.fail("%d services exceed %d", n, MaxServices)
		}
		for i := 0; i < n && r.err == nil; i++ {
			d.Services = append(d.Services, r.str8("service"))
		}
	}
	n := int(r.u8("onion key count"))
	if n > MaxOnionKeys {
		r.fail("%d onion keys exceed %d", n, MaxOnionKeys)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var k EpochKey
		k.Epoch = r.u64("onion key epoch")
		r.copyInto(k.Key[:], "onion key")
		d.OnionKeys = append(d.OnionKeys, k)
	}
	published := r.u64("published")
	if published > math.MaxInt64 {
		r.fail("published time %d out of range", published)
	}
	d.Published = time.Unix(int64(published), 0).UTC()
	bodyLen := r.off
	sig := r.take(ed25519SigLen, "signature")
	if err := r.done(); err != nil {
		return nil, err
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("%w: descriptor: %w", ErrMalformed, err)
	}
	if !ed25519.Verify(d.IdentityKey, signedMessage(labelDescriptor, b[:bodyLen]), sig) {
		return nil, fmt.Errorf("%w: descriptor of node %v", ErrBadSignature, d.ID())
	}
	d.raw = bytes.Clone(b)
	d.id = NodeIDOf(d.IdentityKey)
	return d, nil
}

// sortByID sorts descriptors by node id, the order of documents and votes.
func sortByID(ds []*Descriptor) {
	slices.SortFunc(ds, func(a, b *Descriptor) int {
		ia, ib := a.ID(), b.ID()
		return bytes.Compare(ia[:], ib[:])
	})
}
