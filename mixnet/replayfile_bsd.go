//go:build unix && !linux

package mixnet

import "os"

// reserve writes zeros over a new file's blocks, so that each has disk
// space before it is written through the mapping. A file made earlier was
// written whole when it was made.
func reserve(file *os.File, size int64, fresh bool) error {
	if !fresh {
		return nil
	}
	zeros := make([]byte, 1<<20)
	for off := int64(replayHeaderLen); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := file.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return file.Sync()
}
