package p2ppool_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/p2ppool/p2ppool"
)

// ExampleListenConfig serves a pool on a listener with octez's socket
// options (keep-alive after 10 s of silence, then every 5 s; on Linux
// the 45 s TCP user timeout); the other pool dials with them too, as
// every pool does whose Config.Dialer is nil.
func ExampleListenConfig() {
	ctx := context.Background()
	newPool := func() *textPool {
		id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
		if err != nil {
			log.Fatal(err)
		}
		p, err := p2ppool.NewBasic(textMessages, p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork})
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
	conn.Write(ctx, "kept alive")
	_, msg, err := server.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg)
	// Output: kept alive
}
