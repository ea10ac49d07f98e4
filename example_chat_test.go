package p2ppool_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/dataenc"
)

// Example_chat is a gossip chat of three nodes on loopback: alice and
// carol join bob, who relays what each says to the others. It shows a
// message type of one's own, events, the pool-wide Read, WriteAll, a
// ban, Stats and the peers file. The README shows this body as is.
func Example_chat() {
	ctx := context.Background()
	// A chat message and its octez data-encoding:
	// obj3 (req "from" string) (req "seq" uint32) (req "text" string).
	type chat struct {
		From string
		Seq  uint32
		Text string
	}
	codec := dataenc.Codec[chat]{
		Name: "chat", MaxSize: 1100,
		Read: func(r *dataenc.Reader, m *chat) {
			r.Field("from")
			m.From = r.String(32)
			r.Field("seq")
			m.Seq = r.Uint32()
			r.Field("text")
			m.Text = r.String(1000)
		},
		Append: func(dst []byte, m *chat) ([]byte, error) {
			dst = dataenc.AppendString(dst, m.From)
			dst = dataenc.AppendUint32(dst, m.Seq)
			return dataenc.AppendString(dst, m.Text), nil
		},
	}
	msgs := p2ppool.MessageConfig[chat]{ChainName: "CHAT",
		Encodings: []p2ppool.Encoding[chat]{p2ppool.CodecEncoding(0x1001, codec)}}

	dir, _ := os.MkdirTemp("", "chat")
	defer os.RemoveAll(dir)
	node := func(name string) (*p2ppool.BasicPool[chat], netip.AddrPort) {
		id, _ := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil)
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		point := ln.Addr().(*net.TCPAddr).AddrPort()
		p, err := p2ppool.NewBasic(msgs, p2ppool.Config{Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork,
			Network: p2ppool.NetworkConfig{ListeningPort: point.Port()}, PeersFile: p2ppool.PeersFileConfig{Path: filepath.Join(dir, name+".json")},
			Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled}}) // no dials of its own: a deterministic output
		if err != nil {
			log.Fatal(err)
		}
		go p.Serve(ln)
		return p, point
	}
	bob, bobPoint := node("bob")
	alice, _ := node("alice")
	carol, _ := node("carol")
	defer alice.Close()
	defer carol.Close()
	aliceID, carolID := alice.Config().Identity.PeerID, carol.Config().Identity.PeerID

	events := bob.Watch(ctx, 0)
	join := func(p *p2ppool.BasicPool[chat]) *p2ppool.BasicConnection[chat] {
		c, err := p.Connect(ctx, bobPoint)
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	aliceToBob, carolToBob := join(alice), join(carol)
	for up := 0; up < 2; { // until bob's ends are up too
		if e, _ := events.Next(ctx); e.Kind == p2ppool.EventConnectionEstablished {
			up++
		}
	}
	go func() { // bob relays each message, from any connection, to everyone but its sender
		for {
			from, m, err := bob.Read(ctx)
			if err != nil {
				return // bob closed
			}
			bob.WriteAll(m, from.Peer())
		}
	}()
	say := func(via *p2ppool.BasicConnection[chat], m chat, to *p2ppool.BasicPool[chat]) {
		via.Write(ctx, m)
		_, got, _ := to.Read(ctx)
		fmt.Printf("%s #%d: %s\n", got.From, got.Seq, got.Text)
	}
	say(aliceToBob, chat{"alice", 1, "hello, carol"}, carol)
	say(carolToBob, chat{"carol", 1, "hi alice!"}, alice)

	bob.Peers().Ban(carolID) // ends carol's connection too
	for {
		if e, _ := events.Next(ctx); e.Kind == p2ppool.EventDisconnection {
			fmt.Println(e.Kind, e.Peer == carolID, e.Err)
			break
		}
	}
	<-carolToBob.Done() // carol's end has seen it too
	_, err := carol.Connect(ctx, bobPoint)
	fmt.Println("carol is turned away:", errors.Is(err, p2ppool.ErrClosedDuringHandshake))

	s := bob.Stats()
	fmt.Println("bob:", s.Connections.Established, "connection,", s.Tables.KnownPeers, "known peers,", s.Traffic.MsgsRecv, "messages in,",
		len(bob.ACL().List().BannedPeers), "banned")
	bob.Shutdown(ctx) // saves the peers file
	again, err := p2ppool.NewBasic(msgs, bob.Config())
	if err != nil {
		log.Fatal(err)
	}
	defer again.Close()
	_, known := again.Peers().Info(aliceID)
	fmt.Println("bob, restarted, knows alice:", known)
	// Output:
	// alice #1: hello, carol
	// carol #1: hi alice!
	// disconnection true p2ppool: connection closed: banned
	// carol is turned away: true
	// bob: 1 connection, 2 known peers, 2 messages in, 1 banned
	// bob, restarted, knows alice: true
}
