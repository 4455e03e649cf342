//go:build unix

package localnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"

	"loam/mixnet/directory"
)

// freePorts returns n distinct ports that are free on 127.0.0.1.
//
// They are picked below the kernel's ephemeral range: ports from 127.0.0.1:0
// listeners and the source ports of outgoing connections (of which a
// network of processes makes many) come from that range, so one of them
// could take a port between the moment it is picked here and the moment
// its node binds it, or while a stopped node waits to be restarted.
func freePorts(n int) ([]int, error) {
	lo, hi := portWindow()
	held := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("localnet: found only %d free ports of %d in %d-%d", len(ports), n, lo, hi)
		}
		p := lo + rand.IntN(hi-lo+1) // not security-relevant: any free port will do
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		held = append(held, ln)
		ports = append(ports, p)
	}
	return ports, nil
}

// portWindow is the range to pick from: below the ephemeral range when
// there is room, else above it.
func portWindow() (lo, hi int) {
	ephLo, ephHi := 32768, 60999 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			a, errA := strconv.Atoi(f[0])
			z, errZ := strconv.Atoi(f[1])
			if errA == nil && errZ == nil && a <= z {
				ephLo, ephHi = a, z
			}
		}
	}
	switch {
	case ephLo-1 >= 12000:
		return 10000, ephLo - 1
	case ephHi+1 <= 64535:
		return ephHi + 1, 65535
	}
	return 1024, 65535
}

func directoryPeer(a *Node) directory.Peer {
	return directory.Peer{Key: a.IdentityKey, URL: "http://" + a.Listen}
}
