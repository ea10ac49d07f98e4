package p2ppool_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"

	"github.com/p2ppool/p2ppool"
)

type textPool = p2ppool.BasicPool[string]

// newTextPool is a pool of Text messages (tag 0x1000) listening on
// loopback, and its point.
func newTextPool() (*textPool, netip.AddrPort) {
	msgs := p2ppool.MessageConfig[string]{
		Encodings: []p2ppool.Encoding[string]{p2ppool.StringEncoding(0x1000, "text", 1<<16,
			func(s string) string { return s }, func(m string) (string, bool) { return m, true })},
		ChainName: "EXAMPLE",
	}
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	point := netip.MustParseAddrPort(ln.Addr().String())
	p, err := p2ppool.NewBasic(msgs, p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, ListeningPort: point.Port()})
	if err != nil {
		log.Fatal(err)
	}
	go p.Serve(ln)
	return p, point
}

// ExamplePool_Read: a hub reads from all its connections at once with
// Pool.Read and relays each message to everyone but its sender with
// WriteAll: a gossip relay in a few lines. Watch tells when the hub's
// ends of the connections are up.
func ExamplePool_Read() {
	ctx := context.Background()
	hub, hubPoint := newTextPool()
	defer hub.Close()
	alice, _ := newTextPool()
	defer alice.Close()
	bob, _ := newTextPool()
	defer bob.Close()
	events := hub.Watch(ctx, 64) // to know when the hub's ends are up
	defer events.Close()
	toHubA, err := alice.Connect(ctx, hubPoint)
	if err != nil {
		log.Fatal(err)
	}
	toHubB, err := bob.Connect(ctx, hubPoint)
	if err != nil {
		log.Fatal(err)
	}
	for up := 0; up < 2; {
		e, err := events.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if e.Kind == p2ppool.EventConnectionEstablished {
			up++
		}
	}

	toHubA.Write(ctx, "hello from alice")
	from, msg, err := hub.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	n, _ := hub.WriteAll(msg, from.Peer()) // everyone but the sender
	got, _ := toHubB.Read(ctx)
	fmt.Println(from.Peer() == alice.Config().Identity.PeerID, n, got)
	// Output: true 1 hello from alice
}
