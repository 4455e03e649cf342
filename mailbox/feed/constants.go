package feed

import "time"

// Constants fixed by the specification (SPEC.md §9). Changing any of them
// changes a format or a derivation; tunables live in Config.
const (
	// Labels, each used by exactly one derivation, signature or hash.
	labelPair        = "loam feed pair v1"
	labelMailboxCap  = "loam feed mailbox capability v1"
	labelMailboxKey  = "loam feed mailbox key v1"
	labelEntrySig    = "loam feed entry v1"
	labelEntryID     = "loam feed entry id v1"
	friendCodePrefix = "loam" // the Bech32m human-readable part

	// Format versions: the first byte of every encoding.
	versionFriendCode = 1
	versionEntry      = 1
	versionHeader     = 1
	versionRecord     = 1 // every local store record

	// Header kinds.
	headerKindEntry byte = 0x01

	keyLen = 32 // Ed25519 and X25519 public keys, seeds, box keys
	sigLen = 64 // Ed25519 signatures

	// MaxNameLen bounds a display name in UTF-8 bytes.
	MaxNameLen = 32
	// MaxTextLen bounds a post's text in UTF-8 bytes.
	MaxTextLen = 64 << 10
	// MaxAttachments bounds the attachments of one post.
	MaxAttachments = 16
	// MaxAttachmentBytes bounds the data of all a post's attachments.
	MaxAttachmentBytes = 5 << 20
	// MaxAttachmentNameLen and MaxMediaTypeLen bound an attachment's name
	// (UTF-8) and media type (printable ASCII).
	MaxAttachmentNameLen = 255
	MaxMediaTypeLen      = 127

	entryFixedLen = 1 + keyLen + 8 + 4 + 1 // version, author, time, text length, attachment count
	// maxEntryLen bounds an encoded entry: fixed part, text, and per
	// attachment its three length fields, name, type and data.
	maxEntryLen = entryFixedLen + MaxTextLen +
		MaxAttachments*(1+MaxAttachmentNameLen+1+MaxMediaTypeLen+4) + MaxAttachmentBytes
	// maxContentLen bounds a content message: an entry and its signature.
	maxContentLen = maxEntryLen + sigLen

	headerLen = 1 + 1 + keyLen + keyLen + keyLen + 4 // version, kind, box id, box key, entry id, size
)

// Tunables: defaults a Config may change.
const (
	// DefaultEpochPeriod is the life of one pairwise mailbox id. Both
	// friends must use the same period (SPEC.md §9.5 says why 6 h).
	DefaultEpochPeriod = 6 * time.Hour
	// DefaultMaxSkew is how far a friend's clock may lag: a reader keeps
	// rescanning the epoch that was current this long before its last sync.
	DefaultMaxSkew = 10 * time.Minute
	// DefaultRetention is how long replicas keep what they store
	// (SPEC.md §7.4): older mailbox epochs hold nothing and are not scanned.
	DefaultRetention = 7 * 24 * time.Hour
	// maxEpochsScanned bounds Retention / EpochPeriod: the mailboxes a sync
	// may read per friend (the defaults give 28).
	maxEpochsScanned = 256
	// defaultParallel bounds mailboxes scanned, and headers sent, at once.
	defaultParallel = 8
	// contentParallel bounds content boxes fetched at once; each fetch
	// already has up to 64 requests in flight per replica.
	contentParallel = 2
)
