package nodeconfig

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"loam/mixnet/link"
)

// Key files in the data directory. Each holds one 32-byte secret as a PEM
// block whose type names what it is, so swapping the two files is caught:
//
//	identity.key  "LOAM IDENTITY KEY": the Ed25519 seed (RFC 8032 private key)
//	              that signs descriptors, or an authority's votes and documents
//	link.key      "LOAM LINK KEY": the X25519 private key of the Noise link
//	              listener (nodes only)
//
// Files are mode 0600 and written atomically; a key file that others may
// read is refused, as ssh does.
const (
	IdentityFile = "identity.key"
	LinkFile     = "link.key"

	identityBlock = "LOAM IDENTITY KEY"
	linkBlock     = "LOAM LINK KEY"

	keyLen        = 32
	maxKeyFileLen = 4096
)

// ErrKeyExists is returned when writing a key over an existing file without
// force: a node's identity is never replaced by accident.
var ErrKeyExists = errors.New("nodeconfig: key file exists")

// GenerateIdentity returns a fresh Ed25519 identity key.
func GenerateIdentity() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("nodeconfig: generating identity key: %w", err)
	}
	return priv, nil
}

// WriteIdentity stores key's seed in dir/identity.key.
func WriteIdentity(dir string, key ed25519.PrivateKey, force bool) error {
	return writeKey(filepath.Join(dir, IdentityFile), identityBlock, key.Seed(), force)
}

// WriteLink stores kp's private key in dir/link.key.
func WriteLink(dir string, kp link.KeyPair, force bool) error {
	priv := kp.Private
	defer clear(priv[:])
	return writeKey(filepath.Join(dir, LinkFile), linkBlock, priv[:], force)
}

// writeKey writes secret as a PEM block and wipes the buffers it used.
func writeKey(path, blockType string, secret []byte, force bool) error {
	defer clear(secret)
	var buf bytes.Buffer
	if err := pem.Encode(&buf, &pem.Block{Type: blockType, Bytes: secret}); err != nil {
		return fmt.Errorf("nodeconfig: encoding %s: %w", path, err)
	}
	b := buf.Bytes()
	defer clear(b)
	err := writeFile(path, b, 0o600, force)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s", ErrKeyExists, path)
	}
	return err
}

// ReadIdentity loads an identity key file.
func ReadIdentity(path string) (ed25519.PrivateKey, error) {
	seed, err := readKey(path, identityBlock)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	return ed25519.NewKeyFromSeed(seed), nil
}

// ReadLink loads a link key file.
func ReadLink(path string) (link.KeyPair, error) {
	b, err := readKey(path, linkBlock)
	if err != nil {
		return link.KeyPair{}, err
	}
	var priv [link.KeyLen]byte
	copy(priv[:], b)
	clear(b)
	defer clear(priv[:])
	kp, err := link.KeyPairFromPrivate(priv)
	if err != nil {
		return link.KeyPair{}, fmt.Errorf("%s: %w", path, err)
	}
	return kp, nil
}

// readKey returns the 32 secret bytes of a key file after checking its
// mode and form. Errors name the file and say how to fix it.
func readKey(path, blockType string) ([]byte, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file (`loam-node init` creates it)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, unwrapPath(err))
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets other users read the key; run chmod 600 %s", path, perm, path)
	}
	raw, err := io.ReadAll(io.LimitReader(fh, maxKeyFileLen+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, unwrapPath(err))
	}
	defer clear(raw)
	secret, err := decodeKeyFile(raw, blockType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return secret, nil
}

// decodeKeyFile parses the text of a key file: exactly one PEM block of
// the given type, without headers, holding 32 bytes that are not all zero,
// and nothing else but white space. The caller wipes the result.
func decodeKeyFile(raw []byte, blockType string) ([]byte, error) {
	if len(raw) > maxKeyFileLen {
		return nil, fmt.Errorf("longer than %d bytes; not a key file", maxKeyFileLen)
	}
	block, rest := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("not a key file (want a PEM block %q); corrupt?", blockType)
	}
	defer clear(block.Bytes)
	switch {
	case block.Type != blockType:
		return nil, fmt.Errorf("holds a %q, want a %q (files swapped?)", block.Type, blockType)
	case len(block.Headers) != 0:
		return nil, errors.New("PEM headers are not allowed in a key file")
	case len(bytes.TrimSpace(rest)) != 0:
		return nil, errors.New("trailing data after the key; corrupt?")
	case len(block.Bytes) != keyLen:
		return nil, fmt.Errorf("key of %d bytes, want %d; corrupt?", len(block.Bytes), keyLen)
	case allZero(block.Bytes):
		return nil, errors.New("the key is all zeros; corrupt?")
	}
	return bytes.Clone(block.Bytes), nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}

// EncodeKey writes a 32-byte public key as the configuration file does:
// standard base64 with padding (44 characters).
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// DecodeKey parses a public key written by EncodeKey.
func DecodeKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != keyLen {
		return nil, fmt.Errorf("%q is not a %d-byte key in standard base64 (44 characters, as `loam-node show` prints)", s, keyLen)
	}
	return b, nil
}
