package mixnet

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"loam/onion"
)

// EpochKeys holds a node's onion keys, one per epoch, with the replay filter
// of each. Keys are made ahead of their epoch (they are published in the
// node's descriptor before it starts), kept on disk so a restarted node still
// opens packets built for it, and destroyed with their filter once their
// grace window closes.
type EpochKeys struct {
	dir      string // "" keeps keys and replay filters in memory only
	capacity uint64
	fp       float64
	log      *slog.Logger

	mu   sync.RWMutex
	keys map[uint64]*epochKey
}

type epochKey struct {
	epoch uint64
	priv  *onion.PrivateKey
	ks    *EpochKeys

	once   sync.Once
	replay atomic.Pointer[replayFilter] // made on first use: only live keys pay its memory
}

func (k *epochKey) filter() *replayFilter {
	if f := k.replay.Load(); f != nil {
		return f
	}
	k.once.Do(func() { k.replay.Store(k.ks.openFilter(k.epoch)) })
	return k.replay.Load()
}

// openFilter opens epoch's replay filter: in its file when the keys have a
// directory, so that it outlives a restart (SPEC.md §5.5); in memory when
// they have none, or when the file cannot be had, which is logged: the
// filter then starts empty.
func (ks *EpochKeys) openFilter(epoch uint64) *replayFilter {
	if ks.dir == "" || !fileFiltersWork { // the latter said once, by SetLogger
		return newReplayFilter(ks.capacity, ks.fp)
	}
	path := ks.path(replayFilePrefix, epoch, replayFileSuffix)
	f, restored, moved, err := openReplayFile(path, epoch, ks.capacity, ks.fp)
	if moved != nil {
		ks.log.Warn("replay filter file moved aside; this epoch's filter starts empty", "epoch", epoch,
			"file", path+badSuffix, "err", moved)
	}
	if err != nil {
		ks.log.Error("replay filter kept in memory only: a restart will forget it", "epoch", epoch, "err", err)
		return newReplayFilter(ks.capacity, ks.fp)
	}
	if restored {
		in, _ := f.fill()
		ks.log.Info("replay filter restored", "epoch", epoch, "tags", in)
	}
	return f
}

const (
	keyFilePrefix, keyFileSuffix       = "onion-", ".key"
	replayFilePrefix, replayFileSuffix = "replay-", ".bloom"
	badSuffix                          = ".bad" // a filter file moved aside
)

func (ks *EpochKeys) path(prefix string, epoch uint64, suffix string) string {
	return filepath.Join(ks.dir, prefix+strconv.FormatUint(epoch, 10)+suffix)
}

// SetLogger sets where the keys report trouble with replay filter files.
func (ks *EpochKeys) SetLogger(l *slog.Logger) {
	ks.log = l
	if ks.dir != "" && !fileFiltersWork {
		l.Info("replay filters kept in memory only on this system: a restarted node starts them empty")
	}
}

// retire makes k's filter the dead one if it was never opened, so that a
// late lookup cannot open a file for a key that is gone, and releases it
// (flushing a file's pages first if flush is set) if it was.
func (k *epochKey) retire(flush bool) error {
	k.once.Do(func() { k.replay.Store(deadFilter()) })
	return k.replay.Load().release(flush)
}

// OpenEpochKeys loads the keys stored in dir (created with mode 0700 if
// missing); replay filters are sized for capacity tags at false-positive
// rate fp.
func OpenEpochKeys(dir string, capacity uint64, fp float64) (*EpochKeys, error) {
	ks := &EpochKeys{dir: dir, capacity: capacity, fp: fp, keys: map[uint64]*epochKey{},
		log: slog.New(slog.DiscardHandler)}
	if dir == "" {
		return ks, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mixnet: onion key directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mixnet: onion key directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		epoch, named, err := fileEpoch(name, keyFilePrefix, keyFileSuffix)
		if !named {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mixnet: onion key file %s: name is not onion-EPOCH.key", name)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("mixnet: onion key file %s: %w", name, err)
		}
		if len(b) != onion.KeyLen {
			clear(b)
			return nil, fmt.Errorf("mixnet: onion key file %s: %d bytes, want %d (corrupt?)", name, len(b), onion.KeyLen)
		}
		var seed [onion.KeyLen]byte
		copy(seed[:], b)
		clear(b)
		priv, err := onion.NewPrivateKey(seed)
		clear(seed[:])
		if err != nil {
			return nil, fmt.Errorf("mixnet: onion key file %s: %w", name, err)
		}
		ks.keys[epoch] = ks.newKey(epoch, priv)
	}
	// A filter whose key is gone (destroyed while the node was down) is
	// of no more use.
	for _, e := range entries {
		name := e.Name()
		epoch, ok := replayFileEpoch(name)
		if _, live := ks.keys[epoch]; ok && !live {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("mixnet: removing an old replay filter: %w", err)
			}
		}
	}
	return ks, nil
}

// replayFileEpoch parses the name of a filter file, or of one moved aside.
func replayFileEpoch(name string) (uint64, bool) {
	epoch, named, err := fileEpoch(strings.TrimSuffix(name, badSuffix), replayFilePrefix, replayFileSuffix)
	return epoch, named && err == nil
}

// fileEpoch parses a file name prefix‖EPOCH‖suffix; named reports whether
// the name has the prefix and suffix at all.
func fileEpoch(name, prefix, suffix string) (epoch uint64, named bool, err error) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false, nil
	}
	epoch, err = strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix), 10, 64)
	return epoch, true, err
}

func (ks *EpochKeys) newKey(epoch uint64, priv *onion.PrivateKey) *epochKey {
	return &epochKey{epoch: epoch, priv: priv, ks: ks}
}

// Ensure makes and stores a key for every listed epoch that has none.
func (ks *EpochKeys) Ensure(epochs ...uint64) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	for _, e := range epochs {
		if _, ok := ks.keys[e]; ok {
			continue
		}
		priv, err := onion.GenerateKey()
		if err != nil {
			return fmt.Errorf("mixnet: %w", err)
		}
		if err := ks.store(e, priv); err != nil {
			return err
		}
		ks.keys[e] = ks.newKey(e, priv)
	}
	return nil
}

// store writes a key atomically: a crash leaves the old state or the new
// one, never half a key.
func (ks *EpochKeys) store(epoch uint64, priv *onion.PrivateKey) error {
	if ks.dir == "" {
		return nil
	}
	seed := priv.Bytes()
	defer clear(seed[:])
	name := ks.path(keyFilePrefix, epoch, keyFileSuffix)
	tmp, err := os.CreateTemp(ks.dir, ".onion-*.tmp")
	if err != nil {
		return fmt.Errorf("mixnet: storing onion key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("mixnet: storing onion key: %w", err)
	}
	_, werr := tmp.Write(seed[:])
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("mixnet: storing onion key: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("mixnet: storing onion key: %w", err)
	}
	return nil
}

// Public returns the public keys of the listed epochs that have keys.
func (ks *EpochKeys) Public(epochs ...uint64) map[uint64]onion.PublicKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	out := map[uint64]onion.PublicKey{}
	for _, e := range epochs {
		if k, ok := ks.keys[e]; ok {
			out[e] = k.priv.Public()
		}
	}
	return out
}

// lookup returns the key a packet of the given phase needs: the current
// epoch's if the parity matches, else the previous epoch's while grace is
// open (SPEC.md §2.2, §5.3).
func (ks *EpochKeys) lookup(current uint64, inGrace bool, phase uint8) *epochKey {
	e := current
	if uint8(current&1) != phase {
		if !inGrace || current == 0 {
			return nil
		}
		e = current - 1
	}
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.keys[e]
}

// Drop destroys every key of an epoch before the given one, with its file
// and replay filter.
func (ks *EpochKeys) Drop(before uint64) error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var errs []error
	for e := range ks.keys {
		if e >= before {
			continue
		}
		errs = append(errs, ks.keys[e].retire(false))
		delete(ks.keys, e)
		if ks.dir == "" {
			continue
		}
		for _, name := range []string{ks.path(keyFilePrefix, e, keyFileSuffix),
			ks.path(replayFilePrefix, e, replayFileSuffix), ks.path(replayFilePrefix, e, replayFileSuffix+badSuffix)} {
			if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mixnet: destroying old onion keys: %w", err)
	}
	return nil
}

// Close writes every open replay filter to disk and releases it; the keys
// must not be used afterwards.
func (ks *EpochKeys) Close() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var errs []error
	for _, k := range ks.keys {
		errs = append(errs, k.retire(true))
	}
	return errors.Join(errs...)
}

// Epochs lists the epochs that have keys, ascending.
func (ks *EpochKeys) Epochs() []uint64 {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	out := make([]uint64, 0, len(ks.keys))
	for e := range ks.keys {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// fill reports the fill ratio of epoch's replay filter: tags held over the
// capacity it was sized for. A key whose filter was never used reports 0.
func (ks *EpochKeys) fill(epoch uint64) float64 {
	ks.mu.RLock()
	k := ks.keys[epoch]
	ks.mu.RUnlock()
	if k == nil || k.replay.Load() == nil {
		return 0
	}
	in, cp := k.replay.Load().fill()
	return float64(in) / float64(cp)
}
