package tornet

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
)

// Ports are drawn from below Linux's ephemeral range (32768 up), so the
// ":0" listeners other tests open at the same time never take a port chosen
// here between the check and tor binding it.
const (
	portLow  = 20000
	portHigh = 32000
)

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago. It holds every one open until all are chosen, so it cannot return
// one port twice.
func freePorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 50*n {
			return nil, errors.New("tornet: no free ports on 127.0.0.1")
		}
		// Port choice needs no secrecy, only spread between concurrent runs.
		p := portLow + rand.IntN(portHigh-portLow)
		ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		held = append(held, ln)
		ports = append(ports, p)
	}
	return ports, nil
}
