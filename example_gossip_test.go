package p2ppool_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"

	"github.com/p2ppool/p2ppool"
)

// The examples of this package (but Example and Example_chat, which stand
// alone) share the helpers of this file: pools of Text messages on
// loopback.

type textPool = p2ppool.BasicPool[string]

// textMessages is a message set of one kind: Text, tag 0x1000, a
// data-encoding string.
var textMessages = p2ppool.MessageConfig[string]{
	Encodings: []p2ppool.Encoding[string]{p2ppool.StringEncoding(0x1000, "text", 1<<16,
		func(s string) string { return s }, func(m string) (string, bool) { return m, true })},
	ChainName: "EXAMPLE",
}

// newTextPool is a pool of Text messages serving on loopback, and its
// point. Identities have no proof of work (instant), and the maintenance
// is off, so the pool dials no one and sends nothing of its own: the
// examples' outputs depend on what they do alone.
func newTextPool() (*textPool, netip.AddrPort) {
	id, err := p2ppool.GenerateIdentity(context.Background(), p2ppool.NoProofOfWork, nil)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	point := ln.Addr().(*net.TCPAddr).AddrPort()
	p, err := p2ppool.NewBasic(textMessages, p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork,
		Network: p2ppool.NetworkConfig{ListeningPort: point.Port()}, Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled}})
	if err != nil {
		log.Fatal(err)
	}
	go p.Serve(ln)
	return p, point
}

// connectAll connects each client to hub and returns their connections
// once the hub's ends are up too: Connect returns when the client's end
// is, a moment before the hub's.
func connectAll(ctx context.Context, hub *textPool, hubPoint netip.AddrPort, clients ...*textPool) []*p2ppool.BasicConnection[string] {
	events := hub.Watch(ctx, 0)
	defer events.Close()
	var conns []*p2ppool.BasicConnection[string]
	for _, c := range clients {
		conn, err := c.Connect(ctx, hubPoint)
		if err != nil {
			log.Fatal(err)
		}
		conns = append(conns, conn)
	}
	for up := 0; up < len(clients); {
		e, err := events.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if e.Kind == p2ppool.EventConnectionEstablished {
			up++
		}
	}
	return conns
}

// ExamplePool_Read: a hub reads from all its connections at once with
// Pool.Read, which takes the next message of any connection, and relays
// each to everyone but its sender with WriteAll: a gossip relay in a few
// lines.
func ExamplePool_Read() {
	ctx := context.Background()
	hub, hubPoint := newTextPool()
	defer hub.Close()
	alice, _ := newTextPool()
	defer alice.Close()
	bob, _ := newTextPool()
	defer bob.Close()
	conns := connectAll(ctx, hub, hubPoint, alice, bob)

	conns[0].Write(ctx, "hello from alice")
	from, msg, err := hub.Read(ctx) // from any connection
	if err != nil {
		log.Fatal(err)
	}
	n, _ := hub.WriteAll(msg, from.Peer()) // everyone but the sender
	got, _ := conns[1].Read(ctx)
	fmt.Println(from.Peer() == alice.Config().Identity.PeerID, n, got)
	// Output: true 1 hello from alice
}
