// Package greylist implements the in-memory access-control structures of the
// octez P2P pool (src/lib_p2p/p2p_acl.ml):
//
//   - Bloom: octez's generational ("countdown") Bloom filter
//     (src/lib_stdlib/bloomer.ml) specialised to IP addresses the way
//     P2p_acl.create configures it: 4-bit countdown cells, 5 indexes cut
//     out of the Blake2b-256 digest of the 16-byte IPv6 form of the
//     address, 2^ib cells with ib = bitlength(ip_size_KiB·8192/4).
//   - AddrGreylist: the IP greylist, i.e. a Bloom plus the bounded "display"
//     FIFO of greylisted addresses and its not_reliable_since date.
//   - PeerSet: the bounded FIFO set octez uses for the peer greylist
//     (Aches.Vache.Set FIFO_Precise Strong); AddrGreylist uses it for its
//     display FIFO as well.
//   - Multiset: the Hashtbl.add-based permanent ban lists (banned_ips,
//     banned_peers), where a double ban survives one unban.
//
// Memory is taken as it is used, not up front as octez does: the Bloom
// filter's cells are allocated in 4 KiB pages on the first Add that sets a
// cell in them and freed when they count down to zero (see Bloom), and the
// sets make their maps on the first Add. An unused AddrGreylist of the
// default 2048 KiB costs a few hundred bytes, not octez's 4 MiB; a full
// one costs octez's size.
//
// None of the types is safe for concurrent use: the pool's ACL owns a lock
// and serialises every call, including the periodic Countdown. They never
// read the clock: times are passed in by the caller.
package greylist
