package p2ppool_test

import (
	"context"
	"fmt"
)

// WriteAll queues a message on every connection but those to the peers
// it is told to skip, and never blocks: where a queue is full the message
// is dropped and counted. Here the hub skips alice, then writes to all:
// alice's first message is the second one.
func ExamplePool_WriteAll() {
	ctx := context.Background()
	hub, hubPoint := newTextPool()
	defer hub.Close()
	names := []string{"alice", "bob", "carol"}
	var clients []*textPool
	for range names {
		c, _ := newTextPool()
		defer c.Close()
		clients = append(clients, c)
	}
	conns := connectAll(ctx, hub, hubPoint, clients...)

	alice := clients[0].Config().Identity.PeerID
	n, _ := hub.WriteAll("not for alice", alice)
	fmt.Println("queued on", n, "connections")
	n, _ = hub.WriteAll("for everyone")
	fmt.Println("queued on", n, "connections")
	for i, conn := range conns {
		first, _ := conn.Read(ctx)
		fmt.Printf("%s reads %q\n", names[i], first)
	}
	// Output:
	// queued on 2 connections
	// queued on 3 connections
	// alice reads "for everyone"
	// bob reads "not for alice"
	// carol reads "not for alice"
}
