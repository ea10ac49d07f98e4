package greylist

import (
	"fmt"
	"iter"
)

// PeerSet is a bounded FIFO set with the semantics of
// Aches.Vache.Set (FIFO_Precise) (Strong), which octez uses for the peer
// greylist (PeerFIFOCache) and for the display list of greylisted IPs
// (IpFIFOCache):
//
//   - Add of a new element when the set is full evicts the oldest-added
//     element (Strong: the bound is enforced immediately).
//   - Add of an element already present moves it to the newest position
//     (FIFO_Precise's promote_write), so it is not evicted unfairly soon.
//   - Contains does not change the order (promote_read is a no-op).
//   - Remove really frees the slot (Precise accounting).
//
// All operations are O(1) except Clear (O(n)) and iteration. Nodes are
// recycled on eviction, so a full set adds without allocating. An empty
// set holds no map: it is made by the first Add and grows with the set
// (octez's Vache.create sizes its table up front), so an unused set costs
// a few words whatever its capacity.
//
// A PeerSet is not safe for concurrent use.
type PeerSet[K comparable] struct {
	m   map[K]*psNode[K]
	cap int
	// Circular doubly linked list through a sentinel: root.next is the
	// oldest element, root.prev the newest.
	root psNode[K]
}

type psNode[K comparable] struct {
	key        K
	prev, next *psNode[K]
}

// NewPeerSet returns an empty set holding at most capacity elements.
// capacity must be positive (octez: "bad value for peer_id_size").
func NewPeerSet[K comparable](capacity int) (*PeerSet[K], error) {
	if capacity <= 0 {
		return nil, fmt.Errorf("%w: set capacity %d must be positive", ErrInvalidSize, capacity)
	}
	s := &PeerSet[K]{cap: capacity}
	s.root.next, s.root.prev = &s.root, &s.root
	return s, nil
}

func (s *PeerSet[K]) unlink(n *psNode[K]) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}

func (s *PeerSet[K]) pushNewest(n *psNode[K]) {
	last := s.root.prev
	n.prev, n.next = last, &s.root
	last.next = n
	s.root.prev = n
}

// Add inserts k as the newest element. If k was present it is moved to the
// newest position. If k was absent and the set was full, the oldest element
// is evicted and returned with evicted = true.
func (s *PeerSet[K]) Add(k K) (old K, evicted bool) {
	if n, ok := s.m[k]; ok {
		if s.root.prev != n {
			s.unlink(n)
			s.pushNewest(n)
		}
		return old, false
	}
	if s.m == nil {
		s.m = make(map[K]*psNode[K])
	}
	var n *psNode[K]
	if len(s.m) >= s.cap {
		n = s.root.next
		s.unlink(n)
		delete(s.m, n.key)
		old, evicted = n.key, true
	} else {
		n = new(psNode[K])
	}
	n.key = k
	s.pushNewest(n)
	s.m[k] = n
	return old, evicted
}

// Contains reports whether k is in the set. It does not refresh k.
func (s *PeerSet[K]) Contains(k K) bool {
	_, ok := s.m[k]
	return ok
}

// Remove deletes k and reports whether it was present.
func (s *PeerSet[K]) Remove(k K) bool {
	n, ok := s.m[k]
	if !ok {
		return false
	}
	s.unlink(n)
	delete(s.m, k)
	return true
}

// Len returns the number of elements.
func (s *PeerSet[K]) Len() int { return len(s.m) }

// Cap returns the capacity given to NewPeerSet.
func (s *PeerSet[K]) Cap() int { return s.cap }

// Full reports whether Len() == Cap(), i.e. whether adding a new element
// would evict one.
func (s *PeerSet[K]) Full() bool { return len(s.m) >= s.cap }

// Clear removes every element and frees the map.
func (s *PeerSet[K]) Clear() {
	s.m = nil
	s.root.next, s.root.prev = &s.root, &s.root
}

// All iterates over the elements from the oldest to the newest. The set
// must not be modified during the iteration.
func (s *PeerSet[K]) All() iter.Seq[K] {
	return func(yield func(K) bool) {
		for n := s.root.next; n != &s.root; n = n.next {
			if !yield(n.key) {
				return
			}
		}
	}
}

// List returns the elements from the oldest to the newest, the order of
// octez's PeerGreylist.list / IPGreylist.list (a fold from newest to oldest
// consing onto a list).
func (s *PeerSet[K]) List() []K {
	out := make([]K, 0, len(s.m))
	for n := s.root.next; n != &s.root; n = n.next {
		out = append(out, n.key)
	}
	return out
}
