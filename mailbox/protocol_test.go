package mailbox

import (
	"bytes"
	"context"
	"testing"

	"loam/mixnet"
	"loam/onion"
)

func TestRequestRoundTrip(t *testing.T) {
	g := onion.DefaultGeometry
	box := newBox(t)
	pad := func(b []byte) []byte { return append(b, make([]byte, mixnet.RequestBodyLen(g)-len(b))...) }
	blob := randomBytes(MaxBlob(g))
	r, st := ParseRequest(pad(AppendDeposit(nil, box.Cap, blob)))
	if st != StatusOK || r.Op != opDeposit || r.ID != box.Cap.ID() || !bytes.Equal(r.Blob, blob) {
		t.Fatalf("deposit: %v", st)
	}
	if len(AppendDeposit(nil, box.Cap, blob)) != mixnet.RequestBodyLen(g) {
		t.Fatal("MaxBlob does not fill a request exactly")
	}
	r, st = ParseRequest(pad(AppendFetch(nil, box.Cap.ID(), 42, 7)))
	if st != StatusOK || r.Op != opFetch || r.Cursor != 42 || r.Max != 7 {
		t.Fatalf("fetch: %v %+v", st, r)
	}
	r, st = ParseRequest(pad(AppendDelete(nil, box.Cap, 99)))
	if st != StatusOK || r.Op != opDelete || r.Cursor != 99 {
		t.Fatalf("delete: %v", st)
	}
}

func TestRequestCapabilityEnforced(t *testing.T) {
	box, other := newBox(t), newBox(t)
	dep := AppendDeposit(nil, box.Cap, []byte("hello"))
	// The same deposit claimed for another mailbox id.
	forged := bytes.Clone(dep)
	otherID := other.Cap.ID()
	copy(forged[2:], otherID[:])
	if _, st := ParseRequest(forged); st != StatusUnauthorized {
		t.Fatalf("deposit under another id: %v", st)
	}
	// Any change to the blob breaks the signature.
	for i := depositHeader; i < len(dep)-sigLen; i++ {
		bad := bytes.Clone(dep)
		bad[i] ^= 1
		if _, st := ParseRequest(bad); st != StatusUnauthorized {
			t.Fatalf("flipped blob byte %d: %v", i, st)
		}
	}
	del := AppendDelete(nil, box.Cap, 10)
	del[2+IDLen+7] = 11 // delete more than was signed for
	if _, st := ParseRequest(del); st != StatusUnauthorized {
		t.Fatalf("altered delete: %v", st)
	}
}

func TestRequestMalformed(t *testing.T) {
	box := newBox(t)
	dep := AppendDeposit(nil, box.Cap, []byte("x"))
	cases := map[string][]byte{
		"empty":          nil,
		"bad version":    append([]byte{9}, dep[1:]...),
		"unknown op":     append([]byte{1, 9}, dep[2:]...),
		"truncated":      dep[:len(dep)-1],
		"junk after":     append(bytes.Clone(dep), 1),
		"fetch zero max": AppendFetch(nil, box.Cap.ID(), 1, 0),
	}
	for name, b := range cases {
		if _, st := ParseRequest(b); st != StatusMalformed {
			t.Errorf("%s: %v, want malformed", name, st)
		}
	}
}

func TestReplyRoundTrip(t *testing.T) {
	g := onion.DefaultGeometry
	entries := []Entry{{Seq: 3, Blob: []byte("a")}, {Seq: 5, Blob: randomBytes(MaxBlob(g))}, {Seq: 9, Blob: randomBytes(MaxBlob(g))}}
	b, next := AppendFetchReply(nil, g.UserPayload, 1, 10, entries)
	if next != 6 || len(b) > g.UserPayload {
		t.Fatalf("next %d, %d bytes", next, len(b))
	}
	r, err := ParseReply(opFetch, append(b, make([]byte, g.UserPayload-len(b))...))
	if err != nil || len(r.Entries) != 2 || r.Next != 6 || r.Head != 10 || !bytes.Equal(r.Entries[1].Blob, entries[1].Blob) {
		t.Fatalf("fetch reply: %v %+v", err, r)
	}
	r, err = ParseReply(opDeposit, AppendDepositReply(nil, 77))
	if err != nil || r.Seq != 77 {
		t.Fatal("deposit reply")
	}
	r, err = ParseReply(opDelete, AppendStatus(nil, StatusQuota))
	if err != nil || r.Status != StatusQuota {
		t.Fatal("status reply")
	}
	for _, bad := range [][]byte{nil, {2, 0}, {1, 99}, append(AppendDepositReply(nil, 1), 5)} {
		if _, err := ParseReply(opDeposit, bad); err == nil {
			t.Errorf("reply %x accepted", bad)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	box := newBox(f)
	f.Add(AppendDeposit(nil, box.Cap, []byte("seed")))
	f.Add(AppendFetch(nil, box.Cap.ID(), 1, 255))
	f.Add(AppendDelete(nil, box.Cap, 3))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, st := ParseRequest(b)
		if st == StatusOK && r == nil {
			t.Fatal("ok without a request")
		}
	})
}

func FuzzParseReply(f *testing.F) {
	b, _ := AppendFetchReply(nil, 2048, 1, 3, []Entry{{Seq: 1, Blob: []byte("x")}, {Seq: 2, Blob: []byte("yy")}})
	f.Add(byte(opFetch), b)
	f.Add(byte(opDeposit), AppendDepositReply(nil, 1))
	f.Add(byte(opDelete), AppendStatus(nil, StatusUnavailable))
	f.Fuzz(func(t *testing.T, op byte, b []byte) {
		r, err := ParseReply(op, b)
		if err == nil && r.Status == StatusOK && op == opFetch {
			for i := 1; i < len(r.Entries); i++ {
				if r.Entries[i].Seq <= r.Entries[i-1].Seq {
					t.Fatal("entries out of order accepted")
				}
			}
		}
	})
}

func TestReadOnlyCapability(t *testing.T) {
	box := newBox(t)
	ro := ReadOnly(box.Cap.ID())
	if ro.ID() != box.Cap.ID() || ro.CanWrite() || !box.Cap.CanWrite() {
		t.Fatal("read-only capability")
	}
	c := &Client{}
	if _, err := c.Deposit(context.TODO(), nil, ro, nil); err != ErrReadOnly {
		t.Fatalf("deposit with a read-only capability: %v", err)
	}
	if _, err := c.Delete(context.TODO(), nil, ro, 1); err != ErrReadOnly {
		t.Fatalf("delete with a read-only capability: %v", err)
	}
}
