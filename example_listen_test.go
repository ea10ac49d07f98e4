package p2ppool_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/p2ppool/p2ppool"
)

// ExampleListenConfig listens with octez's socket options (keep-alive
// after 10 s of silence, then every 5 s; on Linux the 45 s TCP user
// timeout), for Pool.Serve as in Example, and dials with quicker probes
// than octez's by editing the Dialer that NewDialer returns, which a pool
// whose Config.Dialer is nil uses as it is.
func ExampleListenConfig() {
	ln, err := p2ppool.ListenConfig().Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close() // a node hands it to pool.Serve

	d := p2ppool.NewDialer()
	fmt.Println("octez's:", d.KeepAliveConfig.Idle, d.KeepAliveConfig.Interval)
	d.KeepAliveConfig.Idle = 3 * time.Second // then Config{Dialer: d, ...}
	fmt.Println("edited:", d.KeepAliveConfig.Idle, d.KeepAliveConfig.Interval)
	// Output:
	// octez's: 10s 5s
	// edited: 3s 5s
}
