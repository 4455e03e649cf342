package sim

import "testing"

func TestBuffers(t *testing.T) {
	b := newBuffers(2457)
	seen := map[int32]bool{}
	var held [][]byte
	for range arenaBufs + 10 { // into a second arena
		p, i := b.get()
		if len(p) != 2457 || cap(p) != 2457 || seen[i] || b.number(p) != i {
			t.Fatalf("buffer %d: len %d cap %d number %d", i, len(p), cap(p), b.number(p))
		}
		seen[i] = true
		b.truths[i] = truth{id: uint64(i) + 1}
		held = append(held, p)
	}
	if len(b.arenas) != 2 {
		t.Fatalf("%d arenas", len(b.arenas))
	}
	if b.number(make([]byte, 2457)) != -1 || b.number(held[3][1:]) != -1 || b.number(nil) != -1 {
		t.Fatal("a foreign or misaligned slice taken for a buffer")
	}
	if !b.put(held[5]) || b.put(make([]byte, 10)) {
		t.Fatal("put")
	}
	if b.truths[b.number(held[5])] != (truth{}) {
		t.Fatal("a returned buffer kept its record")
	}
	if p, _ := b.get(); &p[0] != &held[5][0] {
		t.Fatal("the buffer returned last is not reused first")
	}
}
