// Command demo is what `make demo` runs: Loam on one machine, end to end, as
// far as the project has built it. Today that is the onion packet: a message
// wrapped for a five-hop path, peeled hop by hop, and answered through a
// single-use reply block.
package main

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"loam/onion"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type node struct {
	name string
	id   onion.NodeID
	key  *onion.PrivateKey
}

func run() error {
	g := onion.DefaultGeometry
	names := []string{"gateway", "mix L1", "mix L2", "mix L3", "service"}
	nodes := make([]node, len(names))
	for i, name := range names {
		k, err := onion.GenerateKey()
		if err != nil {
			return err
		}
		nodes[i] = node{name: name, id: onion.NodeID{byte(i + 1)}, key: k}
	}
	path := make([]onion.Hop, len(nodes))
	for i, n := range nodes {
		path[i] = onion.Hop{Node: n.id, Key: n.key.Public(), Delay: time.Duration(i) * 50 * time.Millisecond}
	}

	fmt.Printf("Loam onion packet: %d hops, header %d B, payload %d B of user data, %d B on every link\n\n",
		g.Hops, g.HeaderLen(), g.UserPayload, g.PacketLen())

	// The reply comes back L1 → L2 → L3 → gateway.
	replyPath := append(append([]onion.Hop{}, path[1:4]...), path[0])
	surb, surbKeys, err := g.NewSURB(replyPath, onion.Recipient{0xa1})
	if err != nil {
		return err
	}

	msg := []byte("hello from Alice, through five hops")
	payload := append(append([]byte{byte(len(msg))}, msg...), surb...)
	pkt, err := g.NewPacket(path, onion.Recipient{'e', 'c', 'h', 'o'}, payload)
	if err != nil {
		return err
	}
	fmt.Println("Forward packet:")
	var delivered []byte
	for _, n := range nodes {
		start := time.Now()
		u, err := g.Unwrap(n.key, pkt)
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		took := time.Since(start)
		switch u.Command {
		case onion.Relay:
			fmt.Printf("  %-8s peeled in %6.1f µs: relay to next hop after %v (%d B out)\n",
				n.name, float64(took.Nanoseconds())/1e3, u.Delay, len(u.Packet))
			pkt = u.Packet
		case onion.Deliver:
			fmt.Printf("  %-8s peeled in %6.1f µs: deliver to service %q\n",
				n.name, float64(took.Nanoseconds())/1e3, bytes.TrimRight(u.Recipient[:], "\x00"))
			delivered = u.Payload
		}
	}
	text := delivered[1 : 1+int(delivered[0])]
	fmt.Printf("  service reads: %q\n\n", text)

	first, reply, err := g.NewReply(delivered[1+len(msg):1+len(msg)+g.SURBLen()], append([]byte("echo: "), text...))
	if err != nil {
		return err
	}
	fmt.Printf("Reply through Alice's single-use reply block (first hop %v):\n", first)
	byID := map[onion.NodeID]node{}
	for _, n := range nodes {
		byID[n.id] = n
	}
	next := first
	for {
		n := byID[next]
		u, err := g.Unwrap(n.key, reply)
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		if u.Command == onion.Relay {
			fmt.Printf("  %-8s relays (%d B)\n", n.name, len(u.Packet))
			reply, next = u.Packet, u.Next
			continue
		}
		fmt.Printf("  %-8s hands the sealed reply to client queue %v (it cannot read it)\n", n.name, u.Recipient)
		body, err := g.OpenReply(surbKeys, u.Payload)
		if err != nil {
			return err
		}
		fmt.Printf("  Alice opens it: %q\n", bytes.TrimRight(body, "\x00"))
		return nil
	}
}
