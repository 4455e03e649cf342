package link

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
)

func TestMemoryAddressing(t *testing.T) {
	checkNoLeak(t)
	m := NewMemory()
	if _, err := m.Dial(context.Background(), "nobody"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial without a listener: %v", err)
	}
	l, err := m.Listen("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Listen("a"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listener on one name: %v", err)
	}
	if l.Addr().String() != "a" || l.Addr().Network() != "memory" {
		t.Fatalf("address %v", l.Addr())
	}
	acc := make(chan error, 1)
	go func() { _, err := l.Accept(); acc <- err }()
	time.Sleep(10 * time.Millisecond)
	l.Close()
	if err := <-acc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	// The name is free again; a dial nobody accepts is closed with the
	// listener.
	l2, err := m.Listen("a")
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Dial(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on a conn never accepted: %v", err)
	}
	c.Close()
}

// TestMemoryBuffered: a writer runs ahead of a reader that is not reading,
// up to the pipe's capacity, and large writes stream through a busy reader.
func TestMemoryBuffered(t *testing.T) {
	checkNoLeak(t)
	a, b := rawPair(t, NewMemory(), nil)
	defer a.Close()
	defer b.Close()
	ahead := make([]byte, memoryPipeCap/2)
	rand.Read(ahead)
	done := make(chan error, 1)
	go func() { _, err := a.Write(ahead); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write within capacity waited for the reader")
	}
	big := make([]byte, 4*memoryPipeCap)
	rand.Read(big)
	go func() { _, err := a.Write(big); done <- err }()
	got := make([]byte, len(ahead)+len(big))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(ahead, big...)) {
		t.Fatal("bytes changed in the pipe")
	}
}

func TestMemoryClose(t *testing.T) {
	checkNoLeak(t)
	a, b := rawPair(t, NewMemory(), nil)
	a.Write([]byte("tail"))
	blocked := make(chan error, 1)
	go func() { _, err := a.Read(make([]byte, 1)); blocked <- err }()
	a.Close()
	if err := <-blocked; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("own blocked read after Close: %v", err)
	}
	// The peer reads what was written, then EOF; its writes fail.
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "tail" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if _, err := b.Write([]byte("x")); err == nil {
		t.Fatal("write to a closed peer succeeded")
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed conn: %v", err)
	}
	b.Close()
}

func TestMemoryDeadlines(t *testing.T) {
	checkNoLeak(t)
	a, b := rawPair(t, NewMemory(), nil)
	defer a.Close()
	defer b.Close()
	a.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	_, err := a.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v", err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("deadline fired early")
	}
	// A past deadline fails at once; clearing it restores the conn.
	a.SetDeadline(pastDeadline)
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with a past deadline: %v", err)
	}
	a.SetDeadline(time.Time{})
	b.Write([]byte("y"))
	if _, err := a.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read after clearing the deadline: %v", err)
	}
	// A later deadline replaces an earlier one that has not fired.
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	a.SetReadDeadline(time.Now().Add(time.Hour))
	go func() { time.Sleep(60 * time.Millisecond); b.Write([]byte("z")) }()
	if _, err := a.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read under a moved deadline: %v", err)
	}
}

func TestRecording(t *testing.T) {
	checkNoLeak(t)
	rec := NewRecording(NewMemory())
	d, a := rawPair(t, rec, nil)
	defer d.Close()
	defer a.Close()
	d.Write(make([]byte, 3))
	a.Write(make([]byte, 5))
	d.Write(make([]byte, 7))
	if w := rec.Writes(); len(w) != 3 || w[0]+w[1]+w[2] != 15 {
		t.Fatalf("writes %v", w)
	}
	per := rec.ConnWrites()
	if len(per) != 2 {
		t.Fatalf("%d conns", len(per))
	}
	total := 0
	for _, ws := range per {
		for _, n := range ws {
			total += n
		}
	}
	if total != 15 {
		t.Fatalf("per-conn writes %v", per)
	}
}

func TestKeyPair(t *testing.T) {
	k, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	again, err := KeyPairFromPrivate(k.Private)
	if err != nil || again != k {
		t.Fatalf("KeyPairFromPrivate disagrees: %v", err)
	}
	pub, err := curve25519.X25519(k.Private[:], curve25519.Basepoint)
	if err != nil || !bytes.Equal(pub, k.Public[:]) {
		t.Fatal("public key is not X25519(private, 9)")
	}
	if other, _ := GenerateKeyPair(); other.Private == k.Private {
		t.Fatal("two generated keys are equal")
	}
}
