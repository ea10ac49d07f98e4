// Package rate is the token bucket behind every budget of the pool: the
// per-peer budgets of control and request messages, the dial limiter and
// the budget of points learned from peers.
//
// A Bucket is 16 bytes and holds no parameters, so a connection can keep
// one per kind of message for little; the rate and burst are passed on each
// call by whoever owns the bucket. A Bucket is not safe for concurrent use:
// its owner holds a lock or is the only goroutine to touch it.
package rate

import (
	"math"
	"time"
)

// Bucket is a token bucket: it holds up to burst tokens and refills at
// rate tokens per second. The zero Bucket is full the first time it is
// used.
type Bucket struct {
	// tokens is what the bucket held at last (the deficit below zero
	// after Take with debt).
	tokens float64
	// last is when tokens was last brought up to date, Unix nanoseconds;
	// 0 until the first call.
	last int64
}

// refill brings the bucket up to now.
func (b *Bucket) refill(now time.Time, r float64, burst int) {
	n := now.UnixNano()
	if b.last == 0 {
		b.tokens, b.last = float64(burst), n
		return
	}
	if el := n - b.last; el > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+r*float64(el)/1e9)
		b.last = n
	}
}

// Allow takes one token if the bucket has one at now and reports whether
// it did. A rate that is +Inf (or a burst below zero) allows everything.
func (b *Bucket) Allow(now time.Time, r float64, burst int) bool {
	return b.AllowN(now, r, burst, 1)
}

// AllowN takes n tokens if the bucket holds them at now and reports
// whether it did; it takes nothing otherwise.
func (b *Bucket) AllowN(now time.Time, r float64, burst int, n int) bool {
	if math.IsInf(r, 1) || burst < 0 {
		return true
	}
	b.refill(now, r, burst)
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// Tokens is what the bucket holds at now, without taking any.
func (b *Bucket) Tokens(now time.Time, r float64, burst int) float64 {
	if math.IsInf(r, 1) || burst < 0 {
		return math.Inf(1)
	}
	b.refill(now, r, burst)
	return b.tokens
}

// Delay is how long from now until the bucket holds one token (0 if it
// does now). A zero rate never refills: Delay is then the largest
// Duration.
func (b *Bucket) Delay(now time.Time, r float64, burst int) time.Duration {
	t := b.Tokens(now, r, burst)
	if t >= 1 {
		return 0
	}
	if r <= 0 || burst < 1 {
		return math.MaxInt64
	}
	return time.Duration(math.Ceil((1 - t) / r * 1e9))
}
