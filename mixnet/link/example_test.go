package link_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"loam/mixnet/link"
)

// A client dials a node over the in-memory transport, both sides complete
// the handshake and one frame crosses the link.
func Example() {
	tr := link.NewMemory()
	nodeKey, _ := link.GenerateKeyPair()
	clientKey, _ := link.GenerateKeyPair()
	node := &link.Config{FrameLen: 2457, Static: nodeKey, Prologue: []byte("example net")}
	client := &link.Config{FrameLen: 2457, Static: clientKey, Prologue: []byte("example net")}

	l, err := tr.Listen("node")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := l.Accept(); accepted <- c }()
	raw, err := tr.Dial(context.Background(), "node")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan *link.Conn, 1)
	go func() {
		c, err := link.Server(context.Background(), <-accepted, node)
		if err != nil {
			log.Fatal(err)
		}
		served <- c
	}()
	c, err := link.Client(context.Background(), raw, client, nodeKey.Public)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s := <-served
	defer s.Close()

	c.WriteFrame(0x01, []byte("a packet"))
	c.Flush()
	typ, body, err := s.ReadFrame()
	fmt.Println(typ, len(body), string(body[:8]), err, s.Peer() == clientKey.Public)
	// Output: 1 2457 a packet <nil> true
}
