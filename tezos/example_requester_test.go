package tezos_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/p2ppooltest"
	"github.com/p2ppool/p2ppool/tezos"
	"github.com/p2ppool/p2ppool/tezos/octeztest"
)

// A Requester fetches headers from a peer it does not trust: the
// application's read loop hands every message to Handle, and FetchHeaders
// returns only headers whose bytes hash to the hashes asked. Here the far
// end is an octeztest peer serving a chain of 30 blocks.
func ExampleRequester() {
	ctx := context.Background()
	nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
	chain := octeztest.NewChain("EXAMPLE_CHAIN", 30)
	host := nw.NewHost()
	peer, err := octeztest.New(ctx, octeztest.Config{Chain: chain, Pool: p2ppool.Config{Dialer: host}})
	if err != nil {
		log.Fatal(err)
	}
	defer peer.Close()
	ln, err := host.Listen("tcp", ":9732")
	if err != nil {
		log.Fatal(err)
	}
	go peer.Serve(ln)

	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := p2ppool.NewBasic(tezos.MessageConfig(chain.Name), p2ppool.Config{Identity: id,
		ProofOfWorkTarget: p2ppool.NoProofOfWork, Dialer: nw.NewHost()})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	req, err := tezos.NewRequester(client.ACL(), tezos.RequesterConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer req.Close()
	conn, err := client.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		log.Fatal(err)
	}
	req.AddPeer(conn)
	// The read loop: answers go to the requester, the rest elsewhere.
	go func() {
		for {
			m, err := conn.Read(ctx)
			if err != nil {
				return
			}
			req.Handle(conn, m)
		}
	}()

	// Ask for blocks 25 down to 11: two Get_block_headers of up to 10.
	var hashes []tezos.BlockHash
	for level := 25; level > 10; level-- {
		hashes = append(hashes, chain.Hashes[level])
	}
	got, err := req.FetchHeaders(ctx, hashes)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(got), "headers, verified")
	fmt.Println("first at level", got[0].Header.Shell.Level, "last at level", got[len(got)-1].Header.Shell.Level)
	fmt.Println("linked:", got[0].Header.Shell.Predecessor == got[1].Hash)
	// Output:
	// 15 headers, verified
	// first at level 25 last at level 11
	// linked: true
}
