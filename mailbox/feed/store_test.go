package feed

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func init() {
	// Tests create many passphrase stores; RFC 9106's cost would make each
	// take a second under the race detector. The cost is read back from
	// the salt file, so opening is unaffected.
	passphraseKDF = kdfParams{time: 1, memory: 64, threads: 1}
}

func newKey(t testing.TB) StoreKey {
	var k StoreKey
	rand.Read(k[:])
	return k
}

func openStore(t testing.TB, dir string, k StoreKey) *Store {
	t.Helper()
	s, err := OpenStore(dir, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// offlineFeed is a feed over a fresh store with an identity, no network.
func offlineFeed(t testing.TB, name string) (*Feed, *Store, string) {
	t.Helper()
	dir := t.TempDir()
	s := openStore(t, dir, newKey(t))
	t.Cleanup(func() { s.Close() })
	f, err := New(s, nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Init(name); err != nil {
		t.Fatal(err)
	}
	return f, s, dir
}

// storeEntry signs and stores an entry as Post does, without a network.
func storeEntry(t testing.TB, f *Feed, author *Identity, when time.Time, text string, atts []Attachment) *Entry {
	t.Helper()
	raw, err := encodeEntry(author.pub.Sign, when, text, atts)
	if err != nil {
		t.Fatal(err)
	}
	content := append(raw, author.signEntry(raw)...)
	e, err := openContent(content, author.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.update(func(txn *badger.Txn) error { return putEntry(txn, e, content, when) }); err != nil {
		t.Fatal(err)
	}
	return e
}

// rawFiles returns every file under dir, concatenated, and their count.
func rawFiles(t testing.TB, dir string) ([]byte, int) {
	t.Helper()
	var all []byte
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		// Badger preallocates its logs; the zeros past the data hide nothing.
		all = append(all, bytes.TrimRight(b, "\x00")...)
		n++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all, n
}

// containsAny reports whether raw holds text or any 64-byte run of data.
func containsAny(raw []byte, text string, data []byte) bool {
	if text != "" && bytes.Contains(raw, []byte(text)) {
		return true
	}
	for i := 0; i+64 <= len(data); i += 4096 {
		if bytes.Contains(raw, data[i:i+64]) {
			return true
		}
	}
	return false
}

const secretText = "Meet me by the old oak tree at 4 o'clock, and bring the map"

// TestStoreEncryptedAtRest: the store's files hold neither a post's text
// nor its photo, nor the identity's private keys, whether the data sits in
// the write-ahead log (open) or in tables and the value log (closed).
func TestStoreEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	s := openStore(t, dir, key)
	f, _ := New(s, nil, Config{})
	me, err := f.Init("Alice")
	if err != nil {
		t.Fatal(err)
	}
	photo := make([]byte, 200<<10)
	rand.Read(photo)
	small := make([]byte, 300) // stored inline, beside the keys
	rand.Read(small)
	storeEntry(t, f, me, time.Now(), secretText, []Attachment{{"oak.jpg", "image/jpeg", photo}, {"x.bin", "application/octet-stream", small}})

	check := func(when string) {
		raw, n := rawFiles(t, dir)
		if n == 0 || len(raw) == 0 {
			t.Fatalf("%s: no files in the store", when)
		}
		if containsAny(raw, secretText, photo) || bytes.Contains(raw, small[:64]) {
			t.Fatalf("%s: the store's files hold the post in the clear", when)
		}
		if bytes.Contains(raw, me.signSeed[:]) || bytes.Contains(raw, me.dhPriv[:]) {
			t.Fatalf("%s: the store's files hold a private key in the clear", when)
		}
	}
	check("open")
	s.Close()
	check("closed")

	// The same check finds the data in a store without encryption, so it
	// would see a leak.
	plainDir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(plainDir).WithLogger(nil).WithSyncWrites(true).WithValueThreshold(storeValueInline))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte("k"), append([]byte(secretText), photo...))
	})
	db.Close()
	if raw, _ := rawFiles(t, plainDir); err != nil || !containsAny(raw, secretText, photo) {
		t.Fatalf("the leak check misses plaintext (%v)", err)
	}
}

func TestStoreWrongKey(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, newKey(t))
	f, _ := New(s, nil, Config{})
	if _, err := f.Init("Alice"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := OpenStore(dir, newKey(t)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another key: %v, want ErrWrongKey", err)
	}
}

func TestStoreKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "store.key")
	if _, err := KeyFromFile(path, false); err == nil {
		t.Fatal("a missing key file without create")
	}
	k1, err := KeyFromFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != keyLen {
		t.Fatalf("key file: %v, mode %v, %d bytes", err, st.Mode().Perm(), st.Size())
	}
	k2, err := KeyFromFile(path, true)
	if err != nil || k1 != k2 || k1 == (StoreKey{}) {
		t.Fatalf("reading the key file back: %v", err)
	}
	storeDir := filepath.Join(dir, "store")
	s := openStore(t, storeDir, k1)
	f, _ := New(s, nil, Config{})
	id, _ := f.Init("Alice")
	s.Close()
	s = openStore(t, storeDir, k2)
	f, _ = New(s, nil, Config{})
	got, err := f.Identity()
	if err != nil || got.Public() != id.Public() {
		t.Fatalf("identity after reopening: %v", err)
	}
	s.Close()
	// A store made with a key file has no salt: a passphrase cannot open it.
	if _, err := KeyFromPassphrase(storeDir, []byte("hunter2")); err == nil {
		t.Fatal("a passphrase was accepted for a key-file store")
	}

	os.Chmod(path, 0o644)
	if _, err := KeyFromFile(path, false); err == nil {
		t.Fatal("a key file readable by others was accepted")
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, make([]byte, 31), 0o600)
	if _, err := KeyFromFile(short, false); err == nil {
		t.Fatal("a 31-byte key file was accepted")
	}
}

func TestStorePassphrase(t *testing.T) {
	dir := t.TempDir()
	k1, err := KeyFromPassphrase(dir, []byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, k1)
	f, _ := New(s, nil, Config{})
	id, _ := f.Init("Alice")
	s.Close()

	k2, err := KeyFromPassphrase(dir, []byte("correct horse battery staple"))
	if err != nil || k2 != k1 {
		t.Fatalf("the passphrase gives another key (%v)", err)
	}
	s = openStore(t, dir, k2)
	f, _ = New(s, nil, Config{})
	if got, err := f.Identity(); err != nil || got.Public() != id.Public() {
		t.Fatalf("identity: %v", err)
	}
	s.Close()

	bad, err := KeyFromPassphrase(dir, []byte("correct horse battery stapler"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir, bad); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("a wrong passphrase: %v, want ErrWrongKey", err)
	}
	// Another store, same passphrase: another salt, another key.
	other, _ := KeyFromPassphrase(t.TempDir(), []byte("correct horse battery staple"))
	if other == k1 {
		t.Fatal("two stores with one passphrase share a key")
	}
	if _, err := KeyFromPassphrase(t.TempDir(), nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an empty passphrase: %v", err)
	}
	// A damaged salt file is reported, not guessed around.
	os.WriteFile(filepath.Join(dir, saltFileName), []byte{1, 2, 3}, 0o600)
	if _, err := KeyFromPassphrase(dir, []byte("x")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a damaged salt file: %v", err)
	}
}

// TestPassphraseDefaultCost pins the cost new stores get in production and
// checks that a salt file carries it.
func TestPassphraseDefaultCost(t *testing.T) {
	if defaultKDF != (kdfParams{time: 3, memory: 64 << 10, threads: 4}) {
		t.Fatalf("the default cost is %+v, not RFC 9106's second recommendation", defaultKDF)
	}
	p, salt, err := decodeSaltFile(encodeSaltFile(defaultKDF, make([]byte, saltLen)))
	if err != nil || p != defaultKDF || len(salt) != saltLen {
		t.Fatalf("%+v %v", p, err)
	}
}

// TestStoreCorruptRecords: damaged records give ErrCorrupt, never a panic.
func TestStoreCorruptRecords(t *testing.T) {
	f, s, _ := offlineFeed(t, "Alice")
	me, _ := f.Identity()
	other := newIdentity(t, "Bob")
	if _, err := f.AddFriend(other.FriendCode()); err != nil {
		t.Fatal(err)
	}
	e := storeEntry(t, f, me, time.Now(), "hi", nil)
	set := func(k, v []byte) {
		if err := s.update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
			t.Fatal(err)
		}
	}

	set(key(kindEntry, e.ID[:]), []byte{1, 2, 3})
	if _, err := f.Timeline(10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a damaged entry: %v", err)
	}
	set(key(kindFriend, other.pub.Sign[:]), []byte{9})
	if _, err := f.Friends(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a damaged friend: %v", err)
	}
	set(key(kindIdentity), []byte{1})
	f2, _ := New(s, nil, Config{})
	if _, err := f2.Identity(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a damaged identity: %v", err)
	}
}

func TestStoreSchema(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t)
	s := openStore(t, dir, k)
	s.update(func(txn *badger.Txn) error { return txn.Set(key(kindSchema), []byte{2}) })
	s.Close()
	if _, err := OpenStore(dir, k); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("schema 2: %v", err)
	}
}

// TestStoreDamagedFiles: bytes flipped in the store's files give an error
// when read, never a panic or wrong data.
func TestStoreDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t)
	s := openStore(t, dir, k)
	f, _ := New(s, nil, Config{})
	me, _ := f.Init("Alice")
	photo := make([]byte, 100<<10)
	rand.Read(photo)
	e := storeEntry(t, f, me, time.Now(), secretText, []Attachment{{"p.jpg", "image/jpeg", photo}})
	s.Close()
	// Damage the middle of the value log, where the photo is.
	vlogs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if len(vlogs) == 0 {
		t.Fatal("no value log")
	}
	damaged := false
	for _, path := range vlogs {
		b, _ := os.ReadFile(path)
		if len(b) > 50<<10 {
			for i := 40 << 10; i < 41<<10; i++ {
				b[i] ^= 0x55
			}
			os.WriteFile(path, b, 0o600)
			damaged = true
		}
	}
	if !damaged {
		t.Skip("the photo did not go to a value log file")
	}
	s2, err := OpenStore(dir, k)
	if err != nil {
		t.Logf("the damaged store does not open: %v", err)
		return // a clear error too
	}
	defer s2.Close()
	f2, _ := New(s2, nil, Config{})
	got, err := f2.Entry(e.ID)
	if err == nil && !bytes.Equal(got.Attachments[0].Data, photo) {
		t.Fatal("damaged data read back as an entry")
	}
	t.Logf("reading the damaged entry: %v", err)
}
