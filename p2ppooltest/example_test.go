package p2ppooltest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"syscall"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/p2ppooltest"
)

// Example runs two pools on an in-memory network: each pool dials from its
// own host, so the other sees its real address. A message crosses, then
// the test resets the link and both connections end with a typed reason.
func Example() {
	ctx := context.Background()
	nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
	alice, bob := nw.Host("192.0.2.1"), nw.Host("198.51.100.7")

	msgs := p2ppool.MessageConfig[string]{
		Encodings: []p2ppool.Encoding[string]{p2ppool.StringEncoding(0x1000, "text", 1<<16,
			func(s string) string { return s }, func(m string) (string, bool) { return m, true })},
		ChainName: "EXAMPLE",
	}
	newPool := func(h *p2ppooltest.Host) *p2ppool.BasicPool[string] {
		id, err := p2ppool.GenerateIdentity(ctx, p2ppool.NoProofOfWork, nil) // no proof of work: instant
		if err != nil {
			log.Fatal(err)
		}
		p, err := p2ppool.NewBasic(msgs, p2ppool.Config{
			Identity: id, ProofOfWorkTarget: p2ppool.NoProofOfWork, Dialer: h,
			// No maintenance: no Bootstrap is in flight when the link is
			// reset below, so each connection's reader, not its writer,
			// is the one to see the reset.
			Maintenance: p2ppool.MaintenanceConfig{IdleTime: p2ppool.Disabled},
		})
		if err != nil {
			log.Fatal(err)
		}
		return p
	}
	a, b := newPool(alice), newPool(bob)
	defer a.Close()
	defer b.Close()

	ln, err := bob.Listen("tcp", ":9732")
	if err != nil {
		log.Fatal(err)
	}
	incoming := make(chan *p2ppool.BasicConnection[string], 1)
	b.Conns().OnNew(func(c *p2ppool.BasicConnection[string]) { incoming <- c })
	go b.Serve(ln)

	ca, err := a.Connect(ctx, ln.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		log.Fatal(err)
	}
	cb := <-incoming
	if err := ca.Write(ctx, "hello over memory"); err != nil {
		log.Fatal(err)
	}
	msg, err := cb.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg)
	fmt.Println("bob sees alice at", cb.Info().RemoteAddr.(*net.TCPAddr).IP)

	// Cut the link: both ends get a reset, and each connection says why
	// it ended.
	nw.Reset(alice, bob)
	for _, c := range []*p2ppool.BasicConnection[string]{ca, cb} {
		<-c.Done()
		var de *p2ppool.DisconnectError
		errors.As(c.Err(), &de)
		fmt.Println(de.Reason, errors.Is(c.Err(), syscall.ECONNRESET))
	}
	// Output:
	// hello over memory
	// bob sees alice at 192.0.2.1
	// read error true
	// read error true
}

// ExampleNetwork_Partition cuts two hosts apart: dials fail at once, open
// connections stall until the partition heals.
func ExampleNetwork_Partition() {
	ctx := context.Background()
	nw := p2ppooltest.NewNetwork(p2ppooltest.Config{})
	a, b := nw.Host("2001:db8::1"), nw.Host("2001:db8::2")
	ln, _ := b.Listen("tcp", ":9732")
	defer ln.Close()
	c, _ := a.DialContext(ctx, "tcp", "[2001:db8::2]:9732")
	defer c.Close()
	s, _ := ln.Accept()
	defer s.Close()

	nw.Partition(a, b)
	_, err := a.DialContext(ctx, "tcp", "[2001:db8::2]:9732")
	fmt.Println(errors.Is(err, syscall.EHOSTUNREACH))
	c.Write([]byte("queued")) // waits in the buffer
	nw.Heal(a, b)
	buf := make([]byte, 16)
	n, _ := s.Read(buf)
	fmt.Println(string(buf[:n]))
	// Output:
	// true
	// queued
}
