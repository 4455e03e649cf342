package mixnet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"loam/internal/killtest"
	"loam/onion"
)

func openFilterIn(t *testing.T, dir string, epoch, capacity uint64) (*EpochKeys, *replayFilter) {
	t.Helper()
	ks, err := OpenEpochKeys(dir, capacity, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Ensure(epoch); err != nil {
		t.Fatal(err)
	}
	k := ks.lookup(epoch, false, uint8(epoch&1))
	if k == nil {
		t.Fatal("no key for the epoch")
	}
	return ks, k.filter()
}

// TestReplayFilterSurvivesRestart: the tags a node's filter saw are still
// seen after the keys are closed and opened again, with the count.
func TestReplayFilterSurvivesRestart(t *testing.T) {
	if !fileFiltersWork {
		t.Skip("replay filter files are not supported on this system")
	}
	dir := t.TempDir()
	ks, f := openFilterIn(t, dir, 7, 10000)
	tags := make([]onion.ReplayTag, 3000)
	for i := range tags {
		tags[i] = randomTag()
		if f.seen(&tags[i]) {
			t.Fatalf("fresh tag %d seen", i)
		}
	}
	if err := ks.Close(); err != nil {
		t.Fatal(err)
	}
	if in, _ := f.fill(); in != 3000 {
		t.Fatalf("a closed filter reports %d tags", in)
	}
	ks, f = openFilterIn(t, dir, 7, 10000)
	defer ks.Close()
	if in, cp := f.fill(); in != 3000 || cp != 10000 {
		t.Fatalf("reopened filter holds %d/%d", in, cp)
	}
	for i := range tags {
		if !f.seen(&tags[i]) {
			t.Fatalf("tag %d forgotten across the restart", i)
		}
	}
	fresh := randomTag()
	if f.seen(&fresh) {
		t.Fatal("a fresh tag seen after the restart")
	}
}

// killEnv makes the test binary the kill test's child: it records tags in
// the filter of epoch 9 in the named directory and prints each once it is
// recorded, until it is killed.
const killEnv = "LOAM_MIXNET_REPLAY_KILL_DIR"

// TestReplayFilterSurvivesKill: a node killed with SIGKILL in mid stream
// forgets none of the tags it had recorded: they are in the kernel's page
// cache, which outlives the process.
func TestReplayFilterSurvivesKill(t *testing.T) {
	if dir := os.Getenv(killEnv); dir != "" {
		killChild(t, dir)
		return
	}
	if !fileFiltersWork {
		t.Skip("replay filter files are not supported on this system")
	}
	dir := t.TempDir()
	var tags []onion.ReplayTag
	killtest.Run(t, "TestReplayFilterSurvivesKill", []string{killEnv + "=" + dir}, func(line string) bool {
		hexTag, ok := strings.CutPrefix(line, "seen ")
		var tag onion.ReplayTag
		if n, err := hex.Decode(tag[:], []byte(hexTag)); !ok || err != nil || n != len(tag) {
			t.Errorf("child printed %q", line)
			return false
		}
		tags = append(tags, tag)
		return len(tags) == 2000
	})
	ks, f := openFilterIn(t, dir, 9, 1<<16)
	defer ks.Close()
	for i := range tags {
		if !f.seen(&tags[i]) {
			t.Fatalf("tag %d of %d acknowledged before the kill is forgotten", i, len(tags))
		}
	}
}

func killChild(t *testing.T, dir string) {
	_, f := openFilterIn(t, dir, 9, 1<<16)
	for {
		tag := randomTag()
		if !f.seen(&tag) {
			fmt.Printf("seen %x\n", tag[:])
		}
	}
}

// TestReplayFilterBadFileMovedAside: a filter file that does not hold is
// moved aside and an empty filter, in a new file, takes its place.
func TestReplayFilterBadFileMovedAside(t *testing.T) {
	if !fileFiltersWork {
		t.Skip("replay filter files are not supported on this system")
	}
	good := appendReplayHeader(nil, replayGeometry{epoch: 4, capacity: 100, blocks: 2, k: 7})
	for name, content := range map[string][]byte{
		"garbage":     []byte("not a filter at all"),
		"truncated":   append(bytes.Clone(good), make([]byte, 64)...),
		"other epoch": append(appendReplayHeader(nil, replayGeometry{epoch: 5, capacity: 100, blocks: 2, k: 7}), make([]byte, 128)...),
		"empty":       nil,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ks, err := OpenEpochKeys(dir, 1000, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if err := ks.Ensure(4); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "replay-4.bloom")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			f := ks.lookup(4, false, 0).filter()
			defer ks.Close()
			if in, cp := f.fill(); in != 0 || cp != 1000 {
				t.Fatalf("new filter holds %d/%d", in, cp)
			}
			tag := randomTag()
			if f.seen(&tag) || !f.seen(&tag) {
				t.Fatal("the new filter does not work")
			}
			if moved, err := os.ReadFile(path + ".bad"); err != nil || !bytes.Equal(moved, content) {
				t.Fatalf("bad file not kept aside: %v", err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("new filter file: %v", err)
			}
		})
	}
}

// TestReplayFilterFileKeepsItsSize: a filter made before the capacity was
// reconfigured keeps its own size until its key goes.
func TestReplayFilterFileKeepsItsSize(t *testing.T) {
	if !fileFiltersWork {
		t.Skip("replay filter files are not supported on this system")
	}
	dir := t.TempDir()
	ks, f := openFilterIn(t, dir, 3, 1000)
	tag := randomTag()
	f.seen(&tag)
	ks.Close()
	ks, f = openFilterIn(t, dir, 3, 50000)
	defer ks.Close()
	if in, cp := f.fill(); in != 1 || cp != 1000 {
		t.Fatalf("reopened with a new capacity: %d/%d", in, cp)
	}
	if !f.seen(&tag) {
		t.Fatal("tag forgotten")
	}
}

// TestReplayFilterFilesGoWithTheirKeys: dropping a key removes its filter
// file, and a filter file whose key is gone is removed on opening.
func TestReplayFilterFilesGoWithTheirKeys(t *testing.T) {
	if !fileFiltersWork {
		t.Skip("replay filter files are not supported on this system")
	}
	dir := t.TempDir()
	ks, _ := openFilterIn(t, dir, 10, 1000)
	if err := ks.Ensure(11); err != nil {
		t.Fatal(err)
	}
	ks.lookup(11, false, 1).filter()
	if err := ks.Drop(11); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "replay-10.bloom")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dropped key's filter file: %v", err)
	}
	ks.Close()
	os.WriteFile(filepath.Join(dir, "replay-6.bloom"), []byte("left by a node that went down"), 0o600)
	os.WriteFile(filepath.Join(dir, "replay-6.bloom.bad"), []byte("moved aside"), 0o600)
	ks, err := OpenEpochKeys(dir, 1000, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "replay-*"))
	if len(names) != 1 || filepath.Base(names[0]) != "replay-11.bloom" {
		t.Fatalf("filter files left: %v", names)
	}
}

func FuzzReplayHeader(f *testing.F) {
	g := replayGeometry{epoch: 12, capacity: 1 << 21, blocks: 17000, k: 20, inserted: 99}
	f.Add(appendReplayHeader(nil, g), g.fileSize())
	f.Add(appendReplayHeader(nil, replayGeometry{epoch: 12, capacity: 1, blocks: 1, k: 1}), int64(128))
	f.Add([]byte(replayMagic), int64(64))
	f.Fuzz(func(t *testing.T, h []byte, size int64) {
		g, err := parseReplayHeader(h, size, 12)
		if err != nil {
			if !errors.Is(err, errReplayFile) {
				t.Fatalf("error outside the contract: %v", err)
			}
			return
		}
		if g.fileSize() != size || g.k < 1 || g.k > maxBloomK || g.blocks == 0 {
			t.Fatalf("accepted %+v for a file of %d bytes", g, size)
		}
		if again := appendReplayHeader(nil, g); !bytes.Equal(again, h[:replayHeaderLen]) {
			t.Fatal("header does not encode back to itself")
		}
	})
}

// TestReplayFilterFileIsLocked: a second process (here a second set of
// keys) on the same data directory cannot take a filter file in use: it
// keeps its own filter in memory, and the file is neither moved aside nor
// changed.
func TestReplayFilterFileIsLocked(t *testing.T) {
	if !fileFiltersWork {
		t.Skip("replay filter files are not supported on this system")
	}
	dir := t.TempDir()
	first, f1 := openFilterIn(t, dir, 8, 1000)
	defer first.Close()
	tag := randomTag()
	f1.seen(&tag)
	second, f2 := openFilterIn(t, dir, 8, 1000)
	defer second.Close()
	if f2.seen(&tag) {
		t.Fatal("the second opener shares the first one's filter file")
	}
	if _, err := os.Stat(filepath.Join(dir, "replay-8.bloom.bad")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file in use was moved aside: %v", err)
	}
	if in, _ := f1.fill(); in != 1 {
		t.Fatalf("the first filter holds %d tags", in)
	}
}

// TestRetiredKeyOpensNoFilter: a key looked up before its Drop, and used
// after, drops its packets and makes no file.
func TestRetiredKeyOpensNoFilter(t *testing.T) {
	dir := t.TempDir()
	ks, err := OpenEpochKeys(dir, 1000, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Ensure(4, 5); err != nil {
		t.Fatal(err)
	}
	k := ks.lookup(4, false, 0)
	if err := ks.Drop(5); err != nil {
		t.Fatal(err)
	}
	tag := randomTag()
	if !k.filter().seen(&tag) {
		t.Fatal("a packet under a dropped key was let through")
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "replay-4*")); len(names) != 0 {
		t.Fatalf("files for a dropped key: %v", names)
	}
}

func TestReplaySizingBounds(t *testing.T) {
	for _, c := range []struct {
		capacity, wantCap uint64
		fp, wantFP        float64
	}{
		{0, 1, 0, defaultReplayFP}, {10, 10, 1, defaultReplayFP}, {10, 10, 2.5, defaultReplayFP},
		{10, 10, -1, defaultReplayFP}, {10, 10, 1e-300, MinReplayFP}, {5, 5, 0.01, 0.01},
	} {
		if gotCap, gotFP := replaySizing(c.capacity, c.fp); gotCap != c.wantCap || gotFP != c.wantFP {
			t.Errorf("replaySizing(%d, %g) = %d, %g; want %d, %g", c.capacity, c.fp, gotCap, gotFP, c.wantCap, c.wantFP)
		}
	}
}
