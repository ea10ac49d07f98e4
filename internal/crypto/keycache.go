package crypto

import (
	"container/list"
	"sync"
)

// DefaultKeyCacheSize is the number of remote public keys a
// [ChannelKeyCache] made with size 0 remembers.
const DefaultKeyCacheSize = 1024

// ChannelKeyCache remembers the channel keys that one local secret key
// shares with the most recently used remote public keys, so that a peer
// that reconnects costs a map lookup instead of an X25519 scalar
// multiplication (tens of microseconds). It holds at most its size in
// entries (about 100 bytes each) and evicts the least recently used.
// Low-order keys are refused each time and never cached.
//
// It is safe for concurrent use. The scalar multiplication runs outside
// the lock, so concurrent misses for the same key may both compute it;
// they get the same key and one entry is kept.
type ChannelKeyCache struct {
	// Immutable after NewChannelKeyCache.
	local SecretKey
	size  int

	// Guarded by mu.
	mu           sync.Mutex
	entries      map[PublicKey]*list.Element // values are *keyCacheEntry
	recent       list.List                   // front is the most recently used
	hits, misses uint64
}

type keyCacheEntry struct {
	remote PublicKey
	key    ChannelKey
}

// NewChannelKeyCache returns an empty cache for the local secret key,
// holding at most size entries (DefaultKeyCacheSize when size <= 0).
func NewChannelKeyCache(local *SecretKey, size int) *ChannelKeyCache {
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	return &ChannelKeyCache{local: *local, size: size, entries: make(map[PublicKey]*list.Element)}
}

// Get returns the channel key shared with remote, what
// Precompute(remote, local) returns, computing it only on a miss. It fails
// with ErrLowOrderKey as Precompute does.
func (c *ChannelKeyCache) Get(remote *PublicKey) (ChannelKey, error) {
	// The lookup and the insertion are out of line, so that the scalar
	// multiplication of a miss runs on this small frame rather than on
	// theirs: it runs deep, on top of a handshake (see DeriveNonces).
	if key, ok := c.lookup(remote); ok {
		return key, nil
	}
	key, err := Precompute(remote, &c.local)
	if err != nil {
		return ChannelKey{}, err
	}
	c.add(remote, &key)
	return key, nil
}

// lookup returns remote's cached key, if any, and counts the hit or the
// miss.
//
//go:noinline
func (c *ChannelKeyCache) lookup(remote *PublicKey) (ChannelKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[*remote]; ok {
		c.recent.MoveToFront(e)
		c.hits++
		return e.Value.(*keyCacheEntry).key, true
	}
	c.misses++
	return ChannelKey{}, false
}

// add caches key for remote, evicting the least recently used entry when
// full.
//
//go:noinline
func (c *ChannelKeyCache) add(remote *PublicKey, key *ChannelKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[*remote]; ok { // a concurrent miss got here first
		c.recent.MoveToFront(e)
		return
	}
	if c.recent.Len() >= c.size {
		oldest := c.recent.Back()
		delete(c.entries, oldest.Value.(*keyCacheEntry).remote)
		c.recent.Remove(oldest)
	}
	c.entries[*remote] = c.recent.PushFront(&keyCacheEntry{remote: *remote, key: *key})
}

// KeyCacheStats is a snapshot of a [ChannelKeyCache]'s counters.
type KeyCacheStats struct {
	Len, Size    int    // entries held, and the most it holds
	Hits, Misses uint64 // Get calls answered from the cache, and not
}

// Stats returns the cache's current counters.
func (c *ChannelKeyCache) Stats() KeyCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return KeyCacheStats{Len: c.recent.Len(), Size: c.size, Hits: c.hits, Misses: c.misses}
}
