package p2ppool_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/p2ppool/p2ppool"
)

// ExampleBudget: a server answers "ping" requests, a few per peer: each
// connection may ask twice at once, then once a second. A request over
// budget is ignored, and counted; a peer that kept sending over budget
// would lose its connection and be greylisted (Config.Control.Abuse).
func ExampleBudget() {
	ctx := context.Background()
	msgs := p2ppool.MessageConfig[string]{
		Encodings: []p2ppool.Encoding[string]{p2ppool.StringEncoding(0x1000, "text", 1<<10,
			func(s string) string { return s }, func(m string) (string, bool) { return m, true })},
		ChainName: "EXAMPLE",
	}
	newPool := func() *p2ppool.BasicPool[string] {
		id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go server.Serve(ln)

	// Made once, shared by every connection.
	pings := p2ppool.NewBudget("ping", p2ppool.RateLimit{Rate: 1, Burst: 2})

	conn, err := client.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		log.Fatal(err)
	}
	for range 5 {
		if err := conn.Write(ctx, "ping"); err != nil {
			log.Fatal(err)
		}
	}
	answered := 0
	for range 5 {
		from, msg, err := server.Read(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if msg == "ping" && from.Allow(pings) {
			answered++
			from.WriteNow("pong")
		}
	}
	fmt.Printf("answered %d, refused %d\n", answered, pings.Refused())
	fmt.Println(server.Stats().Control.Requests, "refused in the server's Stats")
	// Output:
	// answered 2, refused 3
	// 3 refused in the server's Stats
}
