package p2ppool_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"

	"github.com/p2ppool/p2ppool"
)

// The ACL refuses addresses and peer ids: greylisted ones for a while
// (Config.Greylist.Timeout; the pool greylists misbehaving peers itself),
// banned ones until unbanned. Peer bans are on Peers. Banning or
// greylisting ends the connections it covers, and a refused peer's
// handshake is cut without a word, as octez does.
func ExampleACL() {
	ctx := context.Background()
	hub, hubPoint := newTextPool()
	defer hub.Close()
	alice, _ := newTextPool()
	defer alice.Close()
	bob, _ := newTextPool()
	defer bob.Close()
	conns := connectAll(ctx, hub, hubPoint, alice, bob)
	bobID := bob.Config().Identity.PeerID
	loopback := netip.MustParseAddr("127.0.0.1")

	ended := hub.Watch(ctx, 8) // to see the hub's side of both ends
	defer ended.Close()
	hub.Peers().Ban(bobID)           // bob's connection ends; he may not come back
	hub.ACL().GreylistAddr(loopback) // all of loopback's connections end, alice's too
	<-conns[0].Done()
	<-conns[1].Done()
	for n := 0; n < 2; {
		if e, err := ended.Next(ctx); err != nil {
			log.Fatal(err)
		} else if e.Kind == p2ppool.EventDisconnection {
			n++
		}
	}
	list := hub.ACL().List()
	fmt.Println("greylisted addresses:", len(list.GreylistedAddrs))
	fmt.Println("banned peers:", len(list.BannedPeers), list.BannedPeers[0] == bobID)
	fmt.Println("refused:", hub.ACL().AddrBanned(loopback), hub.Peers().Banned(bobID))
	_, err := alice.Connect(ctx, hubPoint)
	fmt.Println("alice turned away:", errors.Is(err, p2ppool.ErrClosedDuringHandshake))

	hub.ACL().Clear() // lifts every ban and greylisting
	fmt.Println("refused:", hub.ACL().AddrBanned(loopback), hub.Peers().Banned(bobID))
	_, err = alice.Connect(ctx, hubPoint)
	fmt.Println("alice connects:", err)
	// Output:
	// greylisted addresses: 1
	// banned peers: 1 true
	// refused: true true
	// alice turned away: true
	// refused: false false
	// alice connects: <nil>
}
