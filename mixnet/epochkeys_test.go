package mixnet

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestEpochKeysPersistAndDrop(t *testing.T) {
	dir := t.TempDir()
	ks, err := OpenEpochKeys(dir, 1000, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Ensure(10, 11, 12); err != nil {
		t.Fatal(err)
	}
	pubs := ks.Public(10, 11, 12, 13)
	if len(pubs) != 3 {
		t.Fatalf("%d public keys", len(pubs))
	}
	for _, e := range []uint64{10, 11, 12} {
		fi, err := os.Stat(filepath.Join(dir, fmt.Sprintf("onion-%d.key", e)))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v", fi.Mode().Perm())
		}
	}
	again, err := OpenEpochKeys(dir, 1000, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Public(10, 11, 12); got[10] != pubs[10] || got[12] != pubs[12] {
		t.Fatal("keys differ after reopening")
	}
	if err := again.Drop(12); err != nil {
		t.Fatal(err)
	}
	if ep := again.Epochs(); len(ep) != 1 || ep[0] != 12 {
		t.Fatalf("epochs after drop: %v", ep)
	}
	if _, err := os.Stat(filepath.Join(dir, "onion-10.key")); !os.IsNotExist(err) {
		t.Fatal("dropped key file still on disk")
	}
}

func TestEpochKeysLookupByPhase(t *testing.T) {
	ks, _ := OpenEpochKeys("", 100, 1e-6)
	if err := ks.Ensure(6, 7); err != nil {
		t.Fatal(err)
	}
	if k := ks.lookup(7, false, 1); k == nil || k.epoch != 7 {
		t.Fatal("current epoch not found by its phase")
	}
	if k := ks.lookup(7, true, 0); k == nil || k.epoch != 6 {
		t.Fatal("previous epoch not found in grace")
	}
	if k := ks.lookup(7, false, 0); k != nil {
		t.Fatal("previous epoch used outside grace")
	}
}

func TestEpochKeysCorruptFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "onion-5.key"), []byte("short"), 0o600)
	if _, err := OpenEpochKeys(dir, 100, 1e-6); err == nil {
		t.Fatal("corrupt key file accepted")
	}
	os.Remove(filepath.Join(dir, "onion-5.key"))
	os.WriteFile(filepath.Join(dir, "onion-x.key"), make([]byte, 32), 0o600)
	if _, err := OpenEpochKeys(dir, 100, 1e-6); err == nil {
		t.Fatal("badly named key file accepted")
	}
}
