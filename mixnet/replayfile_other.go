//go:build !unix

package mixnet

import (
	"errors"
	"os"
)

// fileFiltersWork is false: without mmap the filters stay in memory, and a
// restarted node starts them empty (SPEC.md §5.5).
const fileFiltersWork = false

func mapReplayFile(file *os.File, g replayGeometry) (*replayFilter, error) {
	file.Close()
	return nil, errors.New("mixnet: replay filter files are not supported on this system")
}
