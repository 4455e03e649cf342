package feed

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestPairSecretAgrees(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		a, b := newIdentity(t, "A"), newIdentity(t, "B")
		ab, err := pairSecret(a, b.Public())
		if err != nil {
			rt.Fatal(err)
		}
		ba, err := pairSecret(b, a.Public())
		if err != nil {
			rt.Fatal(err)
		}
		if ab != ba {
			rt.Fatal("the two sides derive different secrets")
		}
	})
}

// TestPairSecretBindsBothParties: the secret depends on every public key of
// both parties, not on the Diffie-Hellman output alone, so a pair that
// shares one key with another pair still gets its own secret.
func TestPairSecretBindsBothParties(t *testing.T) {
	a, b := newIdentity(t, "A"), newIdentity(t, "B")
	base, err := pairSecret(a, b.Public())
	if err != nil {
		t.Fatal(err)
	}
	// B's signing key replaced: same X25519 output, another secret.
	pb := b.Public()
	pb.Sign[0] ^= 1
	s, err := pairSecret(a, pb)
	if err != nil || s == base {
		t.Fatalf("a changed signing key of the peer gives the same secret (%v)", err)
	}
	// A third party with its own keys cannot reach the pair's secret with
	// either of them.
	c := newIdentity(t, "C")
	for _, p := range []*Identity{a, b} {
		s, err := pairSecret(c, p.Public())
		if err != nil || s == base {
			t.Fatalf("a third party derives the pair's secret (%v)", err)
		}
	}
	// The name is not part of it: renaming oneself keeps one's friends.
	pb = b.Public()
	pb.Name = "Bobby"
	if s, _ := pairSecret(a, pb); s != base {
		t.Fatal("the secret depends on the display name")
	}
}

func TestPairSecretRejects(t *testing.T) {
	a := newIdentity(t, "A")
	if _, err := pairSecret(a, a.Public()); !errors.Is(err, ErrSelf) {
		t.Fatalf("pairing with oneself: %v", err)
	}
	// A low-order point makes X25519 output zero.
	p := newIdentity(t, "B").Public()
	p.DH = [keyLen]byte{}
	if _, err := pairSecret(a, p); err == nil {
		t.Fatal("an all-zero key agreement was accepted")
	}
	p.DH = [keyLen]byte{1}
	if _, err := pairSecret(a, p); err == nil {
		t.Fatal("a low-order point was accepted")
	}
}

func TestEpochAt(t *testing.T) {
	period := 6 * time.Hour
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	e := EpochAt(base, period)
	if want := Epoch(base.Unix() / int64(period/time.Second)); e != want {
		t.Fatalf("epoch %d, want %d", e, want)
	}
	if EpochAt(base.Add(period-time.Second), period) != e || EpochAt(base.Add(period), period) != e+1 {
		t.Fatal("epochs do not turn over at the period")
	}
	if EpochAt(time.Unix(-5, 0), period) != 0 {
		t.Fatal("times before 1970 are epoch 0")
	}
}

// TestMailboxRotation: a direction's mailbox id and key change every
// epoch, the two directions differ, and both friends derive the same box.
func TestMailboxRotation(t *testing.T) {
	a, b := newIdentity(t, "A"), newIdentity(t, "B")
	pair, _ := pairSecret(a, b.Public())
	pairB, _ := pairSecret(b, a.Public())
	ids := map[[keyLen]byte]bool{}
	keys := map[[keyLen]byte]bool{}
	for e := Epoch(1000); e < 1050; e++ {
		ab := pairMailbox(&pair, a.pub.Sign, b.pub.Sign, e)
		ba := pairMailbox(&pair, b.pub.Sign, a.pub.Sign, e)
		fromB := pairMailbox(&pairB, a.pub.Sign, b.pub.Sign, e)
		if ab.Cap.ID() != fromB.Cap.ID() || ab.Key != fromB.Key {
			t.Fatalf("epoch %d: the friends derive different boxes", e)
		}
		for _, box := range []*[keyLen]byte{(*[keyLen]byte)(&ab.Key), (*[keyLen]byte)(&ba.Key)} {
			if keys[*box] {
				t.Fatalf("epoch %d: a box key repeats", e)
			}
			keys[*box] = true
		}
		for _, id := range [][keyLen]byte{ab.Cap.ID(), ba.Cap.ID()} {
			if ids[id] {
				t.Fatalf("epoch %d: a mailbox id repeats", e)
			}
			ids[id] = true
		}
		if ab.Key == [keyLen]byte(ab.Cap.ID()) {
			t.Fatal("the box key is the id")
		}
		if !ab.Cap.CanWrite() {
			t.Fatal("the derived capability cannot write")
		}
	}
}
