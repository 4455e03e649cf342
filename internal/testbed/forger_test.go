//go:build linux

package testbed

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"testing"
	"time"

	"loam/mixnet/directory"
)

// TestForgeriesAreRefused: each kind of forged document the directory
// proxy serves fails to parse or to verify against the real authorities,
// while the genuine document it was made from verifies; and the
// forgeries list the rogue nodes at the honeypot.
func TestForgeriesAreRefused(t *testing.T) {
	var keys []ed25519.PrivateKey
	var trusted []ed25519.PublicKey
	for range 3 {
		pub, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys, trusted = append(keys, k), append(trusted, pub)
	}
	trap := netip.MustParseAddr("10.77.0.9")
	f, err := newForger(keys[0], len(keys), trap)
	if err != nil {
		t.Fatal(err)
	}
	// A genuine document of a network made of the rogues themselves,
	// signed by two of three authorities.
	const epoch = 1000
	genuine := &directory.Document{Epoch: epoch, Params: BedParameters(5*time.Second, 5*time.Second, 1)}
	g, err := newForger(keys[1], 3, netip.MustParseAddr("10.77.0.50"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range g.rogues {
		d, err := r.descriptor(epoch)
		if err != nil {
			t.Fatal(err)
		}
		genuine.Nodes = append(genuine.Nodes, d)
	}
	sortNodes(genuine.Nodes)
	genuine.Signatures = []directory.Signature{signDocument(genuine, keys[1]), signDocument(genuine, keys[2])}
	raw := genuine.Marshal()
	doc, err := directory.ParseDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Verify(trusted, 2); err != nil {
		t.Fatalf("the genuine document does not verify: %v", err)
	}
	seen := map[string]bool{}
	for range 2 * len(forgeryVariants) {
		variant, forged, err := f.forge(raw)
		if err != nil {
			t.Fatalf("%s: %v", variant, err)
		}
		seen[variant] = true
		d, err := directory.ParseDocument(forged)
		if err != nil {
			continue // refused at parsing
		}
		if err := d.Verify(trusted, 2); err == nil {
			t.Fatalf("the %s forgery verifies", variant)
		}
		if variant != "garbled" {
			rogues := 0
			for _, n := range d.Nodes {
				if ap, err := netip.ParseAddrPort(n.Address); err == nil && ap.Addr() == trap {
					rogues++
				}
			}
			if rogues != len(f.rogues) {
				t.Fatalf("the %s forgery lists %d rogue nodes at the honeypot, want %d", variant, rogues, len(f.rogues))
			}
		}
	}
	if len(seen) != len(forgeryVariants) {
		t.Fatalf("variants served: %v", seen)
	}
}
