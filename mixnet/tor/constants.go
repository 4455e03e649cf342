package tor

import "time"

// Tunables.
const (
	// DefaultBootstrapTimeout bounds Start's wait for tor to reach 100 %.
	DefaultBootstrapTimeout = 3 * time.Minute
	// DefaultPublishTimeout bounds ListenOnion's wait for the descriptor
	// upload.
	DefaultPublishTimeout = 3 * time.Minute

	// launchTimeout bounds the wait for a new tor to open its control port.
	launchTimeout = time.Minute
	// haltGrace is how long Close lets tor act on HALT; then SIGTERM, and
	// SIGKILL killGrace after that.
	haltGrace = 2 * time.Second
	killGrace = 2 * time.Second
	// pollEvery paces the watch on tor's bootstrap and control-port file.
	pollEvery = 100 * time.Millisecond
	// logTail is how many of tor's last log lines an error quotes.
	logTail = 12
)

// Onion service key files, in tor's own HiddenServiceDir layout so that an
// operator can move the key to a torrc-configured service (docs/tor.md).
const (
	serviceDir        = "onion-service"
	secretKeyFile     = "hs_ed25519_secret_key"
	publicKeyFile     = "hs_ed25519_public_key"
	hostnameFile      = "hostname"
	secretKeyHeader   = "== ed25519v1-secret: type0 =="
	publicKeyHeader   = "== ed25519v1-public: type0 =="
	keyHeaderLen      = 32 // the header, zero-padded
	expandedSecretLen = 64 // clamped scalar ‖ nonce prefix
)
