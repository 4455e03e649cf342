//go:build !unix

package mixnet

import (
	"errors"
	"os"
)

// fileFiltersWork is false: without mmap the filters stay in memory, and a
// restarted node starts them empty (SPEC.md §5.5).
const fileFiltersWork = false

var errNoFileFilters = errors.New("mixnet: replay filter files are not supported on this system")

func lockReplayFile(file *os.File) error { return errNoFileFilters }

func mapReplayFile(file *os.File, g replayGeometry, fresh bool) (*replayFilter, error) {
	file.Close()
	return nil, errNoFileFilters
}
