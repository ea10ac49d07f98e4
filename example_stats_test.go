package p2ppool_test

import (
	"context"
	"fmt"
	"log"
)

// Stats is a snapshot of the pool's counters, for monitoring (its String
// is one line for logs); it still answers after Close, for a final report.
// Message counts are whole P2P messages and their plaintext bytes, size
// prefix and tag included; Flow counts the bytes on the wire.
func ExamplePool_Stats() {
	ctx := context.Background()
	hub, hubPoint := newTextPool()
	alice, _ := newTextPool()
	defer alice.Close()
	conn := connectAll(ctx, hub, hubPoint, alice)[0]

	for _, text := range []string{"one", "two", "three"} {
		if err := conn.WriteSync(ctx, text); err != nil { // returns once written
			log.Fatal(err)
		}
		if _, _, err := hub.Read(ctx); err != nil {
			log.Fatal(err)
		}
	}
	a := alice.Stats()
	fmt.Println("alice sent:", a.Traffic.MsgsSent, "messages,", a.Traffic.BytesSent, "bytes")
	hub.Close()
	s := hub.Stats()
	fmt.Println("hub received:", s.Traffic.MsgsRecv, "messages,", s.Traffic.BytesRecv, "bytes")
	fmt.Println("hub wire bytes in >= plaintext:", s.Traffic.Flow.TotalRecv >= int64(s.Traffic.BytesRecv))
	fmt.Println("hub connections:", s.Connections.Established, "known peers:", s.Tables.KnownPeers, "dropped:", s.Queues.Dropped)
	// Output:
	// alice sent: 3 messages, 41 bytes
	// hub received: 3 messages, 41 bytes
	// hub wire bytes in >= plaintext: true
	// hub connections: 0 known peers: 1 dropped: 0
}
