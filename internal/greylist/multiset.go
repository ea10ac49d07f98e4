package greylist

import "iter"

// Multiset is the structure octez uses for its permanent ban lists
// (banned_ips: unit IpTable.t, banned_peers: unit P2p_peer.Table.t): a
// Hashtbl filled with Hashtbl.add, which stacks a new binding on top of any
// existing one, and emptied with Hashtbl.remove, which removes only the
// most recent binding. Hence a key banned twice is still banned after one
// unban (spec §2 "Blacklist quirk").
//
// The zero value is an empty multiset ready to use. A Multiset is not safe
// for concurrent use.
type Multiset[K comparable] struct {
	m     map[K]int
	total int
}

// Add adds one binding for k (Hashtbl.add) and returns k's new count.
func (s *Multiset[K]) Add(k K) int {
	if s.m == nil {
		s.m = make(map[K]int)
	}
	s.m[k]++
	s.total++
	return s.m[k]
}

// RemoveOne removes one binding for k (Hashtbl.remove) and returns k's
// remaining count; it is a no-op returning 0 if k is absent.
func (s *Multiset[K]) RemoveOne(k K) int {
	c, ok := s.m[k]
	if !ok {
		return 0
	}
	s.total--
	if c <= 1 {
		delete(s.m, k)
		return 0
	}
	s.m[k] = c - 1
	return c - 1
}

// RemoveAll removes every binding for k and reports whether there was any.
// octez has no such operation; it is provided for a pool that chooses not
// to keep the double-ban quirk.
func (s *Multiset[K]) RemoveAll(k K) bool {
	c, ok := s.m[k]
	if ok {
		s.total -= c
		delete(s.m, k)
	}
	return ok
}

// Contains reports whether k has at least one binding (Hashtbl.mem).
func (s *Multiset[K]) Contains(k K) bool {
	_, ok := s.m[k]
	return ok
}

// Count returns the number of bindings for k.
func (s *Multiset[K]) Count(k K) int { return s.m[k] }

// Len returns the total number of bindings, duplicates included
// (Hashtbl.length).
func (s *Multiset[K]) Len() int { return s.total }

// Distinct returns the number of distinct keys.
func (s *Multiset[K]) Distinct() int { return len(s.m) }

// Clear removes every binding (Hashtbl.clear).
func (s *Multiset[K]) Clear() {
	clear(s.m)
	s.total = 0
}

// All iterates over the distinct keys with their counts, in unspecified
// order. The multiset must not be modified during the iteration.
func (s *Multiset[K]) All() iter.Seq2[K, int] {
	return func(yield func(K, int) bool) {
		for k, c := range s.m {
			if !yield(k, c) {
				return
			}
		}
	}
}
