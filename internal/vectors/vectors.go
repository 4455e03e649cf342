// Package vectors is the scaffolding of Loam's test-vector files, for tests
// only: a hex type for JSON fields, one -update flag, and reading a vector
// file that -update first rewrites from the current implementation.
package vectors

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the package's test vectors from the current implementation")

// Hex is a byte string written in JSON as lowercase hex.
type Hex []byte

// MarshalText implements encoding.TextMarshaler.
func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hex) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*h = v
	return err
}

// Load decodes the JSON file at path into v. Run with -update, it first
// writes generate()'s value there, indented, so the file is made from the
// current implementation.
func Load(t testing.TB, path string, v any, generate func() any) {
	t.Helper()
	if *update {
		b, err := json.MarshalIndent(generate(), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
