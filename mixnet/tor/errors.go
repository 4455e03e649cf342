package tor

import "errors"

var (
	// ErrNotInstalled means the tor program was not found.
	ErrNotInstalled = errors.New("tor: the tor program is not installed; install Debian's package: apt-get install tor")
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("tor: bad config")
	// ErrBootstrap means tor did not bootstrap before its deadline, or exited
	// while trying.
	ErrBootstrap = errors.New("tor: not bootstrapped")
	// ErrPublish means an onion service's descriptor was not uploaded before
	// the deadline.
	ErrPublish = errors.New("tor: onion service not published")
	// ErrListen is Transport.Listen's answer: a Tor client only dials.
	ErrListen = errors.New("tor: the Tor transport does not listen; publish an onion service with ListenOnion")
	// ErrClosed is returned by a Tor that was closed.
	ErrClosed = errors.New("tor: closed")
	// ErrServiceKey means an onion service key file is malformed.
	ErrServiceKey = errors.New("tor: malformed onion service key")
)
