package directory

import "time"

// Constants fixed by the directory specification. Changing any of them
// changes the wire format or what peers accept.
const (
	// MixLayers is the number of mix layers of the stratified topology.
	MixLayers = 3

	// MaxNameLen bounds a descriptor's operator-chosen name in bytes.
	MaxNameLen = 64
	// MaxAddressLen bounds a link or onion address in bytes.
	MaxAddressLen = 255
	// MaxServices bounds the services one node offers.
	MaxServices = 8
	// MaxServiceNameLen bounds a service name in bytes.
	MaxServiceNameLen = 16
	// MaxOnionKeys bounds the onion keys one descriptor carries: a node can
	// publish keys up to this many epochs ahead.
	MaxOnionKeys = 8

	// MaxNodes bounds the descriptors of a document or vote. With
	// MaxDescriptorLen it keeps every valid document under MaxDocumentLen.
	MaxNodes = 3000
	// MaxAuthorities bounds the authorities of a network and the signatures
	// a document carries.
	MaxAuthorities = 32
	// MaxDocumentLen bounds an encoded document or vote.
	MaxDocumentLen = 4 << 20

	// MaxDescriptorLen is the longest valid signed descriptor.
	MaxDescriptorLen = 1 + ed25519KeyLen + // version, identity
		1 + MaxNameLen + 1 + 1 + // name, role, layer
		1 + MaxAddressLen + 1 + MaxAddressLen + // address, onion address
		linkKeyLen + // link key
		1 + MaxServices*(1+MaxServiceNameLen) + // services
		1 + MaxOnionKeys*epochKeyLen + // onion keys
		8 + ed25519SigLen // published, signature

	// ParamsLen is the length of encoded Parameters.
	ParamsLen = 1 + 4 + 8 + 4*8 + 8 + 8 + 1
	// signatureRecordLen is the length of a published signature record.
	signatureRecordLen = 1 + 8 + ed25519KeyLen + 32 + ed25519SigLen

	ed25519KeyLen = 32
	ed25519SigLen = 64
	linkKeyLen    = 32
	epochKeyLen   = 8 + 32
	nodeIDLen     = 16
)

// Version bytes that open each encoding.
const (
	descriptorVersion byte = 0x01
	documentVersion   byte = 0x01
	signatureVersion  byte = 0x01
)

// Domain-separation labels prefixed to every signed message, so a signature
// made for one purpose can never be replayed as another.
const (
	labelDescriptor = "loam descriptor v1"
	labelDocument   = "loam directory v1"
	labelVote       = "loam vote v1"
	labelNodeID     = "loam node id v1"
)

// Bounds on Parameters.
const (
	maxMu          = time.Minute
	maxLambda      = 1000.0
	minEpochPeriod = time.Second
	maxEpochPeriod = 24 * time.Hour
	maxReplicas    = 16
)

// The authority protocol's timeline, as fractions of the epoch period P
// (SPEC: "Authority protocol"). Votes for epoch e are cast at
// Start(e) − P/voteLead.
const (
	voteLeadDiv       = 2  // vote at Start(e) − P/2
	consensusDelayDiv = 8  // compute and sign the consensus P/8 after voting
	collectDelayDiv   = 4  // collect signatures and serve P/4 after voting
	voteRetryDiv      = 32 // re-fetch missing votes every P/32 …
	voteWindowDiv     = 16 // … for at most P/16 after the consensus time
	collectRetryDiv   = 16 // re-collect missing signatures every P/16 …
	// … until one period after the vote.
)

// Tunables: not part of the wire format, but part of how an authority
// behaves.
const (
	// maxPublishedSkew is how far in the future a descriptor's Published
	// time may lie; later ones are refused so that a node cannot pin its
	// descriptor against its own replacement with a far-future time.
	maxPublishedSkew = 10 * time.Minute
	// keepEpochs is how many past epochs an authority keeps on disk and a
	// Fetcher keeps in its cache.
	keepEpochs = 4
	// minRequestTimeout and maxRequestTimeout clamp the per-request HTTP
	// timeout an authority derives from the period (P/8).
	minRequestTimeout = time.Second
	maxRequestTimeout = 30 * time.Second
)
