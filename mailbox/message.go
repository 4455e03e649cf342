package mailbox

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/reedsolomon"
	"golang.org/x/crypto/chacha20poly1305"

	"loam/mixnet/directory"
	"loam/onion"
)

// Messages (SPEC.md §8): a message is sealed once, Reed-Solomon coded into
// k data and m parity fragments that each fit one deposit, and the
// fragments are spread over the mailbox's replicas. Any k fragments rebuild
// it, so one lost fragment — or, with enough parity, one lost replica —
// loses nothing.

// Box is a mailbox two parties share: the capability both hold and the key
// its messages are sealed under.
type Box struct {
	Cap Capability
	Key [32]byte
}

// MessageID names a message within its box.
type MessageID [16]byte

func (id MessageID) String() string { return fmt.Sprintf("%x", id[:]) }

const (
	fragmentVersion = 1
	fragHeaderLen   = 1 + 16 + 4 + 2 + 2 + 2 // version, id, sealed length, k, m, index
	fragTagLen      = 16
	shardAlign      = 64 // Leopard codes (over 256 fragments) need 64-byte multiples
	// MaxMessage bounds a message: 16 MiB, far above the 5 MiB a post may
	// carry.
	MaxMessage = 16 << 20
	maxShards  = 1 << 16

	labelMessageKey = "loam message v1"
)

// ShardLen is the largest shard a fragment carries in geometry g.
func ShardLen(g onion.Geometry) int {
	return (MaxBlob(g) - fragHeaderLen - fragTagLen) / shardAlign * shardAlign
}

// Parity returns m for k data fragments: ⌈k/4⌉, at least 1 (SPEC.md §8.1).
func Parity(k int) int { return max(1, (k+3)/4) }

// messageKeys derives the sealing key and the fragment MAC key of one
// message from its box key.
func messageKeys(box *[32]byte, id MessageID) (seal, mac [32]byte) {
	okm, err := hkdf.Key(sha256.New, box[:], id[:], labelMessageKey, 64)
	if err != nil {
		panic("mailbox: " + err.Error())
	}
	copy(seal[:], okm)
	copy(mac[:], okm[32:])
	clear(okm)
	return seal, mac
}

// Coded is a message sealed and coded into fragments.
type Coded struct {
	ID    MessageID
	K, M  int      // data and parity fragments: any K rebuild the message
	Blobs [][]byte // K+M fragments, each a blob for one deposit
}

// Fragments seals msg under box's key and codes it into fragments. parity
// chooses m from k; nil means Parity.
func Fragments(g onion.Geometry, box *Box, msg []byte, parity func(k int) int) (*Coded, error) {
	var id MessageID
	if len(msg) > MaxMessage {
		return nil, fmt.Errorf("mailbox: message of %d bytes exceeds %d", len(msg), MaxMessage)
	}
	if parity == nil {
		parity = Parity
	}
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	sealKey, macKey := messageKeys(&box.Key, id)
	defer clear(sealKey[:])
	defer clear(macKey[:])
	aead, err := chacha20poly1305.New(sealKey[:])
	if err != nil {
		return nil, err
	}
	var nonce [chacha20poly1305.NonceSize]byte // each key seals one message
	sealed := aead.Seal(nil, nonce[:], msg, id[:])

	shardMax := ShardLen(g)
	k := max(1, (len(sealed)+shardMax-1)/shardMax)
	m := parity(k)
	if m < 1 || k+m > maxShards {
		return nil, fmt.Errorf("mailbox: %d data and %d parity fragments are outside the code's range", k, m)
	}
	size := (len(sealed) + k - 1) / k
	size = (size + shardAlign - 1) / shardAlign * shardAlign
	shards := make([][]byte, k+m)
	for i := range shards {
		shards[i] = make([]byte, size)
		if i < k {
			lo := min(i*size, len(sealed))
			copy(shards[i], sealed[lo:min(lo+size, len(sealed))])
		}
	}
	enc, err := reedsolomon.New(k, m)
	if err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	if err := enc.Encode(shards); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	blobs := make([][]byte, k+m)
	for i, s := range shards {
		b := make([]byte, 0, fragHeaderLen+size+fragTagLen)
		b = append(b, fragmentVersion)
		b = append(b, id[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(sealed)))
		b = binary.BigEndian.AppendUint16(b, uint16(k))
		b = binary.BigEndian.AppendUint16(b, uint16(m-1)) // m ≥ 1; stored less one so 65536 fits
		b = binary.BigEndian.AppendUint16(b, uint16(i))
		b = append(b, s...)
		blobs[i] = append(b, fragmentTag(&macKey, b)...)
	}
	return &Coded{ID: id, K: k, M: m, Blobs: blobs}, nil
}

func fragmentTag(key *[32]byte, b []byte) []byte {
	h := hmac.New(sha256.New, key[:])
	h.Write(b)
	return h.Sum(nil)[:fragTagLen]
}

// fragment is a decoded, not yet authenticated fragment.
type fragment struct {
	id        MessageID
	sealedLen int
	k, m      int
	index     int
	shard     []byte
	raw       []byte
}

// parseFragment decodes a blob's fragment layout.
func parseFragment(b []byte) (*fragment, error) {
	if len(b) < fragHeaderLen+fragTagLen || b[0] != fragmentVersion {
		return nil, ErrMalformed
	}
	f := &fragment{raw: b}
	copy(f.id[:], b[1:])
	f.sealedLen = int(binary.BigEndian.Uint32(b[17:]))
	f.k = int(binary.BigEndian.Uint16(b[21:]))
	f.m = int(binary.BigEndian.Uint16(b[23:])) + 1
	f.index = int(binary.BigEndian.Uint16(b[25:]))
	f.shard = b[fragHeaderLen : len(b)-fragTagLen]
	size := len(f.shard)
	if f.k < 1 || f.k+f.m > maxShards || f.index >= f.k+f.m || size == 0 || size%shardAlign != 0 ||
		f.sealedLen > f.k*size || f.sealedLen <= (f.k-1)*size || f.sealedLen > MaxMessage+chacha20poly1305.Overhead {
		return nil, ErrMalformed
	}
	return f, nil
}

// authentic checks a fragment's tag under its message's MAC key.
func (f *fragment) authentic(macKey *[32]byte) bool {
	n := len(f.raw) - fragTagLen
	return hmac.Equal(fragmentTag(macKey, f.raw[:n]), f.raw[n:])
}

// assembly collects the fragments of one message.
type assembly struct {
	k, m, size, sealedLen int
	shards                [][]byte
	have                  int
}

// add keeps f if it fits the message's shape; it reports whether the
// message can now be rebuilt.
func (a *assembly) add(f *fragment) bool {
	if a.shards == nil {
		a.k, a.m, a.size, a.sealedLen = f.k, f.m, len(f.shard), f.sealedLen
		a.shards = make([][]byte, f.k+f.m)
	}
	if f.k != a.k || f.m != a.m || len(f.shard) != a.size || f.sealedLen != a.sealedLen {
		return a.have >= a.k // a fragment of another shape: authentic but inconsistent; ignore it
	}
	if a.shards[f.index] == nil {
		a.shards[f.index] = append([]byte(nil), f.shard...)
		a.have++
	}
	return a.have >= a.k
}

// open rebuilds and opens the message.
func (a *assembly) open(box *[32]byte, id MessageID) ([]byte, error) {
	enc, err := reedsolomon.New(a.k, a.m)
	if err != nil {
		return nil, err
	}
	if err := enc.ReconstructData(a.shards); err != nil {
		return nil, fmt.Errorf("mailbox: rebuilding message %v: %w", id, err)
	}
	sealed := make([]byte, 0, a.k*a.size)
	for _, s := range a.shards[:a.k] {
		sealed = append(sealed, s...)
	}
	sealed = sealed[:a.sealedLen]
	sealKey, macKey := messageKeys(box, id)
	defer clear(sealKey[:])
	clear(macKey[:])
	aead, err := chacha20poly1305.New(sealKey[:])
	if err != nil {
		return nil, err
	}
	var nonce [chacha20poly1305.NonceSize]byte
	msg, err := aead.Open(nil, nonce[:], sealed, id[:])
	if err != nil {
		return nil, fmt.Errorf("mailbox: message %v does not open: %w", id, err)
	}
	return msg, nil
}

// Send seals msg, codes it and stores its fragments (SendCoded).
func (c *Client) Send(ctx context.Context, box *Box, msg []byte, parity func(int) int) (MessageID, error) {
	coded, err := Fragments(c.Geometry(), box, msg, parity)
	if err != nil {
		return MessageID{}, err
	}
	return coded.ID, c.SendCoded(ctx, box.Cap, coded, nil)
}

// SendCoded deposits every fragment of coded (SPEC.md §8.3): fragment i at
// replica i mod R and, if that replica does not answer, at the next. A
// fragment that got no answer anywhere gets one more round: parity that is
// not stored cannot stand in for a lost replica. It returns once every
// fragment is stored or has failed twice, and succeeds when at least K
// fragments are stored. onFragment, if set, is called as each fragment is
// settled, for progress.
func (c *Client) SendCoded(ctx context.Context, cp Capability, coded *Coded, onFragment func()) error {
	replicas, err := c.Replicas(cp.ID())
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		stored int
		retry  []int
		errs   []error
		wg     sync.WaitGroup
		slots  = make(chan struct{}, sendWindow)
	)
	round := func(indexes []int, last bool) {
		for _, i := range indexes {
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				err := c.depositAnywhere(ctx, replicas, i, cp, coded.Blobs[i])
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					stored++
				case last:
					errs = append(errs, err)
				default:
					retry = append(retry, i)
				}
				if (err == nil || last) && onFragment != nil {
					onFragment()
				}
			}()
		}
		wg.Wait()
	}
	all := make([]int, len(coded.Blobs))
	for i := range all {
		all[i] = i
	}
	round(all, false)
	round(retry, true)
	if stored < coded.K {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
		}
		return fmt.Errorf("mailbox: message %v: %d of %d fragments stored, %d needed: %w",
			coded.ID, stored, len(coded.Blobs), coded.K, errors.Join(errs...))
	}
	return nil
}

// sendWindow bounds the deposits of one message in flight at once.
const sendWindow = 64

func (c *Client) depositAnywhere(ctx context.Context, replicas []*directory.Descriptor, i int, cp Capability, blob []byte) error {
	var errs []error
	for j := range replicas {
		r := replicas[(i+j)%len(replicas)]
		_, err := c.Deposit(ctx, r, cp, blob)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		var se *StatusError
		if ctx.Err() != nil || (errors.As(err, &se) && se.Status != StatusUnavailable) {
			break // a refusal would be the same anywhere
		}
	}
	return errors.Join(errs...)
}
