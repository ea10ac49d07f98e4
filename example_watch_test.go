package p2ppool_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/p2ppool/p2ppool"
)

// Watch streams the pool's events in the order of the changes they
// report. Here a hub watches alice join, and leave once it has seen her
// connection up.
func ExamplePool_Watch() {
	ctx := context.Background()
	hub, hubPoint := newTextPool()
	defer hub.Close()
	alice, _ := newTextPool()
	defer alice.Close()

	events := hub.Watch(ctx, 16) // a watcher 16 events behind loses the next ones; it never slows the pool
	defer events.Close()
	conn, err := alice.Connect(ctx, hubPoint)
	if err != nil {
		log.Fatal(err)
	}
	for {
		e, err := events.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Kind)
		switch e.Kind {
		case p2ppool.EventConnectionEstablished:
			fmt.Println("  alice:", e.Peer == alice.Config().Identity.PeerID)
			conn.Disconnect(ctx, true) // alice leaves
		case p2ppool.EventDisconnection:
			var de *p2ppool.DisconnectError
			errors.As(e.Err, &de)
			fmt.Println("  why:", de.Reason)
			return
		}
	}
	// Output:
	// incoming_connection
	// new_point
	// new_peer
	// accepting_request
	// connection_established
	//   alice: true
	// disconnection
	//   why: closed by peer
}

// Next and Wait wait for the next occurrence of one of octez's pool
// conditions. Here a hub waits for its first connection while alice
// dials it: Next is taken before the dial, so the occurrence cannot be
// missed.
func ExamplePool_Next() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hub, hubPoint := newTextPool()
	defer hub.Close()
	alice, _ := newTextPool()
	defer alice.Close()

	connected := hub.Next(p2ppool.CondNewConnection) // before the dial: it cannot be missed
	if _, err := alice.Connect(ctx, hubPoint); err != nil {
		log.Fatal(err)
	}
	select {
	case <-connected:
	case <-ctx.Done():
		log.Fatal(ctx.Err())
	}
	_, ok := hub.Conns().ByPeer(alice.Config().Identity.PeerID)
	fmt.Println("hub has alice:", ok)
	// Output:
	// hub has alice: true
}
