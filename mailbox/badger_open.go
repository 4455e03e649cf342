package mailbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// badgerFile matches the names badger v4 gives the files of its directory.
var badgerFile = regexp.MustCompile(`^(MANIFEST|MANIFEST-REWRITE|KEYREGISTRY|REWRITE-KEYREGISTRY|DISCARD|LOCK|\d+\.(sst|vlog|mem))$`)

// prepareDir makes sure dir is a directory that holds a badger database or
// nothing of anyone else's: a store is never created among another
// program's files.
func prepareDir(dir string) error {
	if dir == "" {
		return fmt.Errorf("mailbox: the store needs a directory")
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("mailbox: creating the store: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("mailbox: store %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrCorruptStore, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("mailbox: store %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.Name() == badger.ManifestFilename {
			return nil // badger's: it judges the rest
		}
	}
	for _, e := range entries {
		if !badgerFile.MatchString(e.Name()) {
			return fmt.Errorf("%w: %s holds %q and no badger MANIFEST; a store needs an empty or new directory of its own", ErrCorruptStore, dir, e.Name())
		}
	}
	return nil
}

// openBadger opens the database with the store's options. Badger's own
// panics while opening damaged files become errors.
func openBadger(dir string, o BadgerOptions) (db *badger.DB, err error) {
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(true).          // durable before acknowledged
		WithDetectConflicts(false).    // the committer is the only writer
		WithCompression(options.None). // blobs are ciphertext
		WithMetricsEnabled(false).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(3).
		WithBlockCacheSize(o.CacheSize).
		WithNumCompactors(2).
		WithValueLogFileSize(o.MemTableSize). // blobs never go there: see the threshold
		// Blobs stay in the LSM tree (values below the threshold), which
		// must stay below what one write batch takes.
		WithValueThreshold(min(1<<20, o.MemTableSize*15/100/2)).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithLogger(badgerLogger{o.Logger})
	if err := checkTables(dir, bo); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: badger cannot open %s: %v", ErrCorruptStore, dir, p)
		}
	}()
	db, err = badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("%w: badger cannot open %s: %w", ErrCorruptStore, dir, err)
	}
	return db, nil
}

// checkTables reads the MANIFEST and opens every table it lists the way
// badger will, reading its footer and index (whose checksum it verifies),
// before badger does: badger opens tables in goroutines of its own, where
// a damaged footer is a panic that kills the process. Blocks are verified
// by their checksums when read (options.OnBlockRead).
func checkTables(dir string, bo badger.Options) error {
	fp, err := os.Open(filepath.Join(dir, badger.ManifestFilename))
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new store
	}
	if err != nil {
		return fmt.Errorf("mailbox: store %s: %w", dir, err)
	}
	defer fp.Close()
	m, _, err := badger.ReplayManifestFile(fp, bo.ExternalMagicVersion, bo)
	if err != nil {
		return fmt.Errorf("%w: %s: unreadable MANIFEST: %v", ErrCorruptStore, dir, err)
	}
	for id, tm := range m.Tables {
		path := table.NewFilename(id, dir)
		if tm.KeyID != 0 {
			return fmt.Errorf("%w: %s has encrypted tables: not a mailbox store", ErrCorruptStore, dir)
		}
		if err := checkTable(path, tm.Compression); err != nil {
			return fmt.Errorf("%w: table %s is damaged: %v", ErrCorruptStore, path, err)
		}
	}
	return nil
}

func checkTable(path string, compression options.CompressionType) (err error) {
	var mf *z.MmapFile
	defer func() {
		if p := recover(); p != nil {
			if mf != nil {
				mf.Close(-1)
			}
			err = fmt.Errorf("unreadable footer or index")
		}
	}()
	mf, err = z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	t, err := table.OpenTable(mf, table.Options{ChkMode: options.NoVerification, BlockSize: 4 << 10, Compression: compression})
	if err != nil {
		mf.Close(-1)
		return err
	}
	return t.MmapFile.Close(-1)
}

// checkMarker tells a mailbox store from another badger database: a new
// store gets the marker, an empty database becomes a store, and anything
// else is refused.
func checkMarker(db *badger.DB, dir string) error {
	var found []byte
	empty := true
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(markerKey())
		if err == nil {
			found, err = item.ValueCopy(nil)
			return err
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("%w: reading %s: %w", ErrCorruptStore, dir, err)
	case found != nil && string(found) != storeMarker:
		return fmt.Errorf("%w: %s is marked %q; this build reads %q", ErrCorruptStore, dir, found, storeMarker)
	case found != nil:
		return nil
	case !empty:
		return fmt.Errorf("%w: %s is a badger database of another program (no mailbox marker)", ErrCorruptStore, dir)
	}
	err = db.Update(func(txn *badger.Txn) error { return txn.Set(markerKey(), []byte(storeMarker)) })
	if err != nil {
		return fmt.Errorf("mailbox: creating the store in %s: %w", dir, err)
	}
	return nil
}

// badgerLogger passes badger's messages to slog: its errors and warnings
// as such, its routine information at debug level; its debug output is
// dropped.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) logf(level slog.Level, format string, args []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, "badger: "+strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l badgerLogger) Errorf(f string, a ...any)   { l.logf(slog.LevelError, f, a) }
func (l badgerLogger) Warningf(f string, a ...any) { l.logf(slog.LevelWarn, f, a) }
func (l badgerLogger) Infof(f string, a ...any)    { l.logf(slog.LevelDebug, f, a) }
func (l badgerLogger) Debugf(string, ...any)       {}
