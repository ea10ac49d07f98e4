package p2ppool

import (
	"fmt"
	"math"
	"time"

	"github.com/p2ppool/p2ppool/internal/rate"
)

// RateLimit is the shape of a token bucket: up to Burst events at once,
// then Rate a second. It bounds what a peer may make the pool do (the
// control messages it sends, the points it makes the pool dial) and what
// an application lets a peer ask of it.
//
// In a Config field the zero RateLimit means the field's documented
// default, and Unlimited turns the limit off. A Rate of zero with a
// positive Burst allows Burst events in all.
type RateLimit struct {
	// Rate is how many events a second the bucket refills.
	Rate float64
	// Burst is how many events the bucket holds: the most allowed at
	// once, and what a new bucket starts with.
	Burst int
}

// Unlimited, as a RateLimit in Config, allows everything.
var Unlimited = RateLimit{Rate: math.Inf(1)}

// IsUnlimited reports whether l allows everything.
func (l RateLimit) IsUnlimited() bool { return math.IsInf(l.Rate, 1) }

// String formats l as "RATE/s burst BURST", or "unlimited".
func (l RateLimit) String() string {
	if l.IsUnlimited() {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s burst %d", l.Rate, l.Burst)
}

// or is l, or d when l is the zero RateLimit.
func (l RateLimit) or(d RateLimit) RateLimit {
	if l == (RateLimit{}) {
		return d
	}
	return l
}

// check reports a RateLimit that makes no sense.
func (l RateLimit) check(name string) error {
	switch {
	case l.IsUnlimited() || l == (RateLimit{}):
		return nil
	case math.IsNaN(l.Rate) || l.Rate < 0:
		return fmt.Errorf("%s: rate %v must be a number >= 0 (use Unlimited for no limit)", name, l.Rate)
	case l.Burst < 1:
		return fmt.Errorf("%s: burst %d must be >= 1", name, l.Burst)
	}
	return nil
}

// allow takes a token from b under l at now. The caller owns b.
func (l RateLimit) allow(b *rate.Bucket, now time.Time) bool {
	return b.Allow(now, l.Rate, l.Burst)
}
