// Package tor runs Debian's tor program for Loam through bine
// (github.com/cretz/bine), so that clients reach their gateway without the
// gateway learning their IP address, and gateways can publish themselves as
// v3 onion services.
//
// Each Tor is a tor process of its own: its own DataDirectory, a control
// port on 127.0.0.1 with cookie authentication and a SOCKS port on
// 127.0.0.1; no system tor service is involved. A client uses
// Tor.Transport as its mixnet.ClientConfig.Transport (with ViaOnion set);
// a gateway calls Tor.ListenOnion and hands the listener to Node.Serve, and
// publishes the address (known beforehand from OnionAddress) as its
// Config.OnionAddress.
//
// Tor hides the client's IP address from its gateway and from observers
// near the client; the mixnet hides who talks to whom. See docs/tor.md.
package tor
