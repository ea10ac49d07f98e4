package p2ppool_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"github.com/p2ppool/p2ppool"
)

// Example shows two pools on loopback: one listens, the other connects,
// and a Text message goes from one to the other.
func Example() {
	ctx := context.Background()
	// One message kind: Text, tag 0x1000, a data-encoding string.
	msgs := p2ppool.MessageConfig[string]{
		Encodings: []p2ppool.Encoding[string]{p2ppool.StringEncoding(0x1000, "text", 1<<16,
			func(s string) string { return s }, func(m string) (string, bool) { return m, true })},
		ChainName: "EXAMPLE",
	}
	newPool := func() *p2ppool.BasicPool[string] {
		id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil) // no proof of work: instant
		if err != nil {
			log.Fatal(err)
		}
		p, err := p2ppool.NewBasic(msgs, p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork})
		if err != nil {
			log.Fatal(err)
		}
		return p
	}
	server, client := newPool(), newPool()
	defer server.Close()
	defer client.Close()

	ln, err := p2ppool.ListenConfig().Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go server.Serve(ln)

	conn, err := client.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		log.Fatal(err)
	}
	if err := conn.Write(ctx, "hello, octez world"); err != nil {
		log.Fatal(err)
	}
	_, msg, err := server.Read(ctx) // the next message of any connection
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg)
	// Output: hello, octez world
}

// ExamplePool_Shutdown: a graceful stop sends what is queued, then tells
// each peer Disconnect; the peer sees why its connection ended.
func ExamplePool_Shutdown() {
	ctx := context.Background()
	a, _ := newTextPool()
	b, bPoint := newTextPool()
	defer b.Close()
	conn := connectAll(ctx, b, bPoint, a)[0]
	peer, _ := b.Conns().ByPeer(a.Config().Identity.PeerID)

	conn.Write(ctx, "last words")
	a.Shutdown(ctx)

	msg, _ := peer.Read(ctx)
	_, err := peer.Read(ctx)
	var de *p2ppool.DisconnectError
	fmt.Println(msg)
	fmt.Println(errors.As(err, &de), de.Reason)
	_, err = a.Connect(ctx, bPoint)
	fmt.Println(err)
	// Output:
	// last words
	// true peer said disconnect
	// p2ppool: pool closed
}
