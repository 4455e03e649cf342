package nodeconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writeFile replaces path with data atomically: a temporary file in the
// same directory is written, synced and then moved into place, and the
// directory is synced, so a crash leaves the old file or the new one, never
// half of either. Without force an existing file is an error wrapping
// os.ErrExist; the no-clobber move is a hard link, which fails if path
// appeared meanwhile.
func writeFile(path string, data []byte, perm os.FileMode, force bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("nodeconfig: %w", err)
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			os.Remove(name)
		}
	}()
	if err = tmp.Chmod(perm); err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("nodeconfig: writing %s: %w", path, err)
	}
	if force {
		err = os.Rename(name, path)
	} else if err = os.Link(name, path); err == nil {
		os.Remove(name)
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("nodeconfig: %s: %w", path, os.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("nodeconfig: writing %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("nodeconfig: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("nodeconfig: syncing %s: %w", dir, err)
	}
	return nil
}
