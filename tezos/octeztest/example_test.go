package octeztest_test

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

// Example serves a 10-block chain from a test peer on an in-memory
// network and asks it for its head as a client that knows octez's rule:
// activate the chain first.
func Example() {
	ctx := context.Background()
	nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
	chain := octeztest.NewChain("EXAMPLE_CHAIN", 10)
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
	conn, err := client.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		log.Fatal(err)
	}
	m, _ := conn.Read(ctx)
	fmt.Printf("the peer asks first: %T\n", m)
	_ = conn.Write(ctx, tezos.GetCurrentBranch{ChainID: chain.ID}) // activates the chain
	_ = conn.Write(ctx, tezos.GetCurrentHead{ChainID: chain.ID})
	for range 2 {
		m, _ = conn.Read(ctx)
		switch m := m.(type) {
		case tezos.CurrentBranch:
			fmt.Printf("branch: head at level %d, %d in history\n", m.Locator.CurrentHead.Shell.Level, len(m.Locator.History))
		case tezos.CurrentHead:
			fmt.Printf("head: level %d\n", m.Header.Shell.Level)
		}
	}
	// Output:
	// the peer asks first: tezos.GetCurrentBranch
	// branch: head at level 9, 9 in history
	// head: level 9
}
