package directory

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeAtomic replaces path with data so that a reader, or a restart after a
// crash, sees either the old file or the new one, never a torn one: write a
// temporary file in the same directory, sync it, rename it over path, sync
// the directory. The file has mode 0600.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("directory: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("directory: syncing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("directory: closing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("directory: syncing %s: %w", dir, err)
	}
	return nil
}

// readLimited reads a whole file of at most max bytes; a longer file is
// an error, so a corrupt or hostile file cannot exhaust memory.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // keeps os.ErrNotExist visible to the caller
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("directory: reading %s: %w", path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s exceeds %d bytes", ErrMalformed, path, max)
	}
	return b, nil
}

// store is an authority's data directory:
//
//	descriptors/<node id hex>   the newest signed descriptor of each node
//	epochs/<epoch, 20 digits>/vote        this authority's signed vote
//	epochs/<epoch, 20 digits>/signature   its signature record
//	epochs/<epoch, 20 digits>/document    the document it signed or adopted,
//	                                       with the signatures collected
//
// An empty dir keeps nothing: for tests and the simulator.
type store struct{ dir string }

const (
	descriptorsDir = "descriptors"
	epochsDir      = "epochs"
	voteFile       = "vote"
	signatureFile  = "signature"
	documentFile   = "document"
)

func (s store) enabled() bool { return s.dir != "" }

func epochName(e uint64) string { return fmt.Sprintf("%020d", e) }

func (s store) epochPath(e uint64, name string) string {
	return filepath.Join(s.dir, epochsDir, epochName(e), name)
}

func (s store) descriptorPath(name string) string {
	return filepath.Join(s.dir, descriptorsDir, name)
}

// put writes a file under the data directory, creating its directory.
func (s store) put(path string, data []byte) error {
	if !s.enabled() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	return writeAtomic(path, data)
}

// get reads a file, returning nil without error if it does not exist.
func (s store) get(path string, max int64) ([]byte, error) {
	if !s.enabled() {
		return nil, nil
	}
	b, err := readLimited(path, max)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (s store) removeEpoch(e uint64) error {
	if !s.enabled() {
		return nil
	}
	return os.RemoveAll(filepath.Join(s.dir, epochsDir, epochName(e)))
}

func (s store) removeDescriptor(name string) error {
	if !s.enabled() {
		return nil
	}
	err := os.Remove(s.descriptorPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
