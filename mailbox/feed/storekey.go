package feed

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
)

// StoreKey is the AES-256 key that encrypts the local store at rest.
type StoreKey [32]byte

// Wipe clears the key.
func (k *StoreKey) Wipe() { clear(k[:]) }

// KeyFromFile reads a store key file: exactly 32 random bytes, readable by
// its owner only. With create, a missing file is made (mode 0600).
func KeyFromFile(path string, create bool) (StoreKey, error) {
	var k StoreKey
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return newKeyFile(path)
	}
	if err != nil {
		return k, fmt.Errorf("feed: key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return k, fmt.Errorf("feed: key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return k, fmt.Errorf("feed: key file %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	if st.Size() != keyLen {
		return k, fmt.Errorf("feed: key file %s holds %d bytes, not %d", path, st.Size(), keyLen)
	}
	if _, err := io.ReadFull(f, k[:]); err != nil {
		return k, fmt.Errorf("feed: key file: %w", err)
	}
	return k, nil
}

func newKeyFile(path string) (StoreKey, error) {
	var k StoreKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return k, fmt.Errorf("feed: key file: %w", err)
	}
	if err := writeNew(path, k[:]); err != nil {
		k.Wipe()
		return k, fmt.Errorf("feed: key file: %w", err)
	}
	return k, nil
}

// writeNew writes a file that must not exist yet, durably, mode 0600.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// The passphrase's salt file, kept inside the store's directory (SPEC.md
// §9.10):
//
//	0x01 ‖ u32(time) ‖ u32(memory, KiB) ‖ u8(threads) ‖ salt (16)
//
// The Argon2id cost is written beside the salt so that it can grow for new
// stores while old ones still open.
const (
	saltFileName = "passphrase.salt"
	saltLen      = 16
	saltFileLen  = 1 + 4 + 4 + 1 + saltLen
	// Bounds on the cost read back, so a damaged file cannot ask for
	// gigabytes.
	maxKDFTime    = 64
	maxKDFMemory  = 1 << 20 // KiB: 1 GiB
	maxKDFThreads = 64
)

type kdfParams struct {
	time, memory uint32
	threads      uint8
}

// defaultKDF is the cost for new stores: RFC 9106's second recommended
// setting (t = 3, 64 MiB, 4 lanes).
var defaultKDF = kdfParams{time: 3, memory: 64 << 10, threads: 4}

// passphraseKDF is what new stores get; tests lower it.
var passphraseKDF = defaultKDF

// KeyFromPassphrase derives the store key of the store in dir from a
// passphrase with Argon2id. The salt and cost live in dir; a new store gets
// a fresh salt. A store that exists without its salt file cannot be opened
// with a passphrase.
func KeyFromPassphrase(dir string, passphrase []byte) (StoreKey, error) {
	var k StoreKey
	if len(passphrase) == 0 {
		return k, fmt.Errorf("%w: an empty passphrase", ErrInvalid)
	}
	path := filepath.Join(dir, saltFileName)
	raw, err := os.ReadFile(path)
	var p kdfParams
	var salt []byte
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if storeExists(dir) {
			return k, fmt.Errorf("feed: %s holds a store but no %s: it was not made with a passphrase, or the salt file is lost", dir, saltFileName)
		}
		p, salt = passphraseKDF, make([]byte, saltLen)
		if _, err := rand.Read(salt); err != nil {
			return k, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return k, fmt.Errorf("feed: %w", err)
		}
		if err := writeNew(path, encodeSaltFile(p, salt)); err != nil {
			return k, fmt.Errorf("feed: salt file: %w", err)
		}
	case err != nil:
		return k, fmt.Errorf("feed: salt file: %w", err)
	default:
		if p, salt, err = decodeSaltFile(raw); err != nil {
			return k, err
		}
	}
	dk := argon2.IDKey(passphrase, salt, p.time, p.memory, p.threads, keyLen)
	copy(k[:], dk)
	clear(dk)
	return k, nil
}

func encodeSaltFile(p kdfParams, salt []byte) []byte {
	b := []byte{versionRecord}
	b = binary.BigEndian.AppendUint32(b, p.time)
	b = binary.BigEndian.AppendUint32(b, p.memory)
	b = append(b, p.threads)
	return append(b, salt...)
}

func decodeSaltFile(b []byte) (kdfParams, []byte, error) {
	var p kdfParams
	if len(b) != saltFileLen || b[0] != versionRecord {
		return p, nil, fmt.Errorf("%w: the salt file %s is damaged", ErrCorrupt, saltFileName)
	}
	p.time = binary.BigEndian.Uint32(b[1:])
	p.memory = binary.BigEndian.Uint32(b[5:])
	p.threads = b[9]
	if p.time < 1 || p.time > maxKDFTime || p.threads < 1 || p.threads > maxKDFThreads ||
		p.memory < 8*uint32(p.threads) || p.memory > maxKDFMemory {
		return p, nil, fmt.Errorf("%w: the salt file %s names an impossible cost", ErrCorrupt, saltFileName)
	}
	return p, b[10:], nil
}

// storeExists reports whether dir holds a badger store.
func storeExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "MANIFEST"))
	return err == nil
}
