package p2ppool_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/p2ppool/p2ppool"
)

// The peers file is octez's peers.json: the known peers, their last
// connections and histories. A pool saves it at Shutdown, every
// Config.PeersFile.SavePeriod, and on Peers().Save; the next pool with
// the same file knows those peers from the start.
func ExamplePeers_Save() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "p2ppool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
	if err != nil {
		log.Fatal(err)
	}
	cfg := p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork,
		PeersFile: p2ppool.PeersFileConfig{Path: filepath.Join(dir, "peers.json")}, Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled}}
	node, err := p2ppool.NewBasic(textMessages, cfg)
	if err != nil {
		log.Fatal(err)
	}
	friend, friendPoint := newTextPool()
	defer friend.Close()
	if _, err := node.Connect(ctx, friendPoint); err != nil {
		log.Fatal(err)
	}
	if err := node.Peers().Save(); err != nil {
		log.Fatal(err)
	}
	node.Close()

	again, err := p2ppool.NewBasic(textMessages, cfg) // same file
	if err != nil {
		log.Fatal(err)
	}
	defer again.Close()
	info, known := again.Peers().Info(friend.Config().Identity.PeerID)
	fmt.Println("known:", known)
	fmt.Println("state:", info.State)
	fmt.Println("last connected at its point:", info.LastEstablishedConnection.Point == friendPoint)
	// Output:
	// known: true
	// state: disconnected
	// last connected at its point: true
}
