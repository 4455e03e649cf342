package tor

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	bineed25519 "github.com/cretz/bine/torutil/ed25519"

	"github.com/cretz/bine/torutil"
)

// ServiceKey is a v3 onion service's Ed25519 key in tor's expanded form. Its
// public half names the service: the onion address.
type ServiceKey struct {
	secret [expandedSecretLen]byte
	public [ed25519.PublicKeySize]byte
}

// LoadServiceKey returns the onion service key kept in dataDir (the same
// directory as Config.DataDir), creating it on first use. The key stays, so
// a gateway's onion address is the same across restarts.
func LoadServiceKey(dataDir string) (*ServiceKey, error) {
	if dataDir == "" {
		return nil, fmt.Errorf("%w: DataDir is required", ErrConfig)
	}
	dir := filepath.Join(dataDir, serviceDir)
	path := filepath.Join(dir, secretKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		defer clear(b)
		k, err := parseServiceKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w (file %s)", err, path)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tor: %w", err)
	}
	k, err := newServiceKey()
	if err != nil {
		return nil, err
	}
	if err := k.store(dir); err != nil {
		return nil, err
	}
	return k, nil
}

// OnionAddress is the "<56 characters>.onion:port" address the onion
// service of dataDir answers on, creating its key on first use: a gateway
// can publish it before its tor is up.
func OnionAddress(dataDir string, port int) (string, error) {
	k, err := LoadServiceKey(dataDir)
	if err != nil {
		return "", err
	}
	return k.Address(port), nil
}

// ServiceID is the address without ".onion": base32 of public key ‖
// checksum ‖ version (rend-spec-v3).
func (k *ServiceKey) ServiceID() string {
	return torutil.OnionServiceIDFromV3PublicKey(bineed25519.PublicKey(k.public[:]))
}

// Address is "<ServiceID>.onion:port".
func (k *ServiceKey) Address(port int) string {
	return k.ServiceID() + ".onion:" + strconv.Itoa(port)
}

// keyPair is the key as bine hands it to ADD_ONION.
func (k *ServiceKey) keyPair() bineed25519.KeyPair {
	return bineed25519.PrivateKey(bytes.Clone(k.secret[:])).KeyPair()
}

func newServiceKey() (*ServiceKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tor: %w", err)
	}
	defer clear(priv)
	return expandSeed(priv.Seed()), nil
}

// expandSeed turns an RFC 8032 seed into tor's expanded key: SHA-512 of
// the seed, the first half clamped into the scalar.
func expandSeed(seed []byte) *ServiceKey {
	h := sha512.Sum512(seed)
	defer clear(h[:])
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	k := &ServiceKey{}
	copy(k.secret[:], h[:])
	copy(k.public[:], ed25519.NewKeyFromSeed(seed)[32:])
	return k
}

// parseServiceKey reads tor's hs_ed25519_secret_key format: a 32-byte
// header "== ed25519v1-secret: type0 ==" padded with zeros, then the
// 64-byte expanded secret key.
func parseServiceKey(b []byte) (*ServiceKey, error) {
	if len(b) != keyHeaderLen+expandedSecretLen {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrServiceKey, len(b), keyHeaderLen+expandedSecretLen)
	}
	if !bytes.Equal(b[:keyHeaderLen], keyHeader(secretKeyHeader)) {
		return nil, fmt.Errorf("%w: not a tor ed25519v1 secret key", ErrServiceKey)
	}
	s := b[keyHeaderLen:]
	// A scalar that was never clamped was not made by tor or by us.
	if s[0]&7 != 0 || s[31]&128 != 0 || s[31]&64 == 0 {
		return nil, fmt.Errorf("%w: scalar is not clamped", ErrServiceKey)
	}
	k := &ServiceKey{}
	copy(k.secret[:], s)
	copy(k.public[:], bineed25519.PrivateKey(s).PublicKey())
	return k, nil
}

func keyHeader(h string) []byte {
	b := make([]byte, keyHeaderLen)
	copy(b, h)
	return b
}

// store writes the key as tor would in a HiddenServiceDir: the secret key
// (mode 0600, in a 0700 directory), the public key and the hostname.
func (k *ServiceKey) store(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tor: %w", err)
	}
	secret := append(keyHeader(secretKeyHeader), k.secret[:]...)
	defer clear(secret)
	if err := writeFileAtomic(filepath.Join(dir, publicKeyFile), append(keyHeader(publicKeyHeader), k.public[:]...)); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, hostnameFile), []byte(k.ServiceID()+".onion\n")); err != nil {
		return err
	}
	// The secret last: its presence means the set is complete.
	return writeFileAtomic(filepath.Join(dir, secretKeyFile), secret)
}

// writeFileAtomic writes by temporary file, fsync and rename, so a crash
// leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return fmt.Errorf("tor: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("tor: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("tor: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tor: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tor: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tor: %w", err)
	}
	return nil
}
