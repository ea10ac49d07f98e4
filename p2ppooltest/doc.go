// Package p2ppooltest is an in-memory network for testing programs built
// on p2ppool, and p2ppool itself: hosts with IP addresses of their own
// listen and dial each other over buffered connections, and the test
// injects faults into any link.
//
// A [Network] holds hosts ([Network.Host], [Network.NewHost]). A [Host]
// listens ([Host.Listen]) and dials ([Host.DialContext]) from its own
// address, so a pool given the host as its Config.Dialer and one of its
// listeners to Serve sees real, distinct peer addresses: its admission
// rules, greylists, bans and per-subnet limits work as on a real network.
//
// Connections ([Conn]) behave as TCP sockets: bounded buffers that stall a
// writer whose reader stops reading, deadlines, half-close, EOF, and the
// errors the net package returns (net.ErrClosed, os.ErrDeadlineExceeded,
// syscall.ECONNRESET, syscall.ECONNREFUSED...), matched with errors.Is.
//
// # Faults
//
// A link is one connection ([Conn.SetFaults], [Conn.Reset]) or every
// connection between two hosts ([Network.SetFaults], [Network.Reset],
// [Network.Partition] and [Network.Heal]). [Faults] adds latency, a
// bandwidth cap, a slow reader, or stalls a direction outright (a
// half-open connection); a reset fails both ends at once; a partition
// stalls the hosts' connections and fails their dials until it heals.
// [Network.Lookup] finds the connection behind a pool's connection from
// the addresses the pool reports.
//
// # Time
//
// Every wait is on a channel or a timer, never a busy loop, so the network
// works under testing/synctest: create it inside the bubble, and latency,
// rates and deadlines run on the bubble's clock, in no real time. It works
// as well over real time.
package p2ppooltest
