package crypto

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/sync/errgroup"
)

// PowTarget is a proof-of-work target: a 256-bit unsigned integer in
// big-endian byte order. A stamp passes when Blake2b-256(pk ‖ stamp), read
// as a little-endian integer, is at most the target.
type PowTarget [32]byte

// MakePowTarget returns octez's target for a difficulty in bits
// (Crypto_box.make_pow_target). For an integer difficulty f the target is
// 2^(256−f)−1, i.e. the f most significant bits of the little-endian hash
// must be zero; fractional difficulties interpolate between those.
//
// The mantissa 2^(54−frac) is computed correctly rounded, which is what
// glibc's pow returns for octez, so fractional targets match octez bit for
// bit (Go's math.Pow is one ulp off for many fractions).
//
// It fails when difficulty is NaN or outside [0, 256], where octez raises
// Invalid_argument (octez lets NaN through; we refuse it).
func MakePowTarget(difficulty float64) (PowTarget, error) {
	if math.IsNaN(difficulty) || difficulty < 0 || difficulty > 256 {
		return PowTarget{}, fmt.Errorf("crypto: proof-of-work difficulty %v outside [0, 256]", difficulty)
	}
	shiftF, frac := math.Modf(difficulty)
	shift := int(shiftF)

	m := new(big.Int)
	if frac == 0 {
		m.SetInt64(1<<54 - 1)
	} else {
		// OCaml evaluates 54. -. frac in float64 first; do the same so
		// that the rounding of that subtraction matches too.
		m.SetInt64(int64(exp2(54 - frac)))
	}

	t := new(big.Int)
	if shift < 202 {
		low := new(big.Int).Lsh(big.NewInt(1), uint(202-shift))
		low.Sub(low, big.NewInt(1))
		t.Lsh(m, uint(202-shift)).Or(t, low)
	} else {
		t.Rsh(m, uint(shift-202))
	}

	var target PowTarget
	if t.BitLen() > 256 {
		// Only for tiny fractional difficulties, where 54−frac rounds to
		// 54 and octez's unbounded Z target exceeds 2^256: every hash
		// passes, exactly as with the all-ones target.
		for i := range target {
			target[i] = 0xff
		}
		return target, nil
	}
	t.FillBytes(target[:])
	return target, nil
}

// accepts reports whether the little-endian integer h is at most t.
func (t *PowTarget) accepts(h *[32]byte) bool {
	// Compare 64-bit words from the most significant one: the last eight
	// bytes of h, the first eight of t.
	for i := 0; i < 4; i++ {
		hw := binary.LittleEndian.Uint64(h[24-8*i:])
		tw := binary.BigEndian.Uint64(t[8*i:])
		if hw != tw {
			return hw < tw
		}
	}
	return true
}

// CheckPow reports whether stamp is a valid proof of work for pk at target
// (octez Crypto_box.check_proof_of_work). It does not allocate.
func CheckPow(pk *PublicKey, stamp *Nonce, target *PowTarget) bool {
	var buf [PublicKeySize + NonceSize]byte
	copy(buf[:PublicKeySize], pk[:])
	copy(buf[PublicKeySize:], stamp[:])
	h := blake2b.Sum256(buf[:])
	return target.accepts(&h)
}

// powBatch is how many stamps a search worker tries between two looks at
// the shared state: large enough to make the atomic add and the context
// poll negligible, small enough (under a millisecond at ~190ns a stamp)
// that cancellation and progress stay prompt.
const powBatch = 4096

// progressInterval is how often SearchPow reports progress.
const progressInterval = 100 * time.Millisecond

// SearchPow looks for a stamp that makes pk pass target, the way octez
// generates an identity: from a random starting stamp, test, increment the
// stamp (big-endian), repeat. It runs workers such searches in parallel,
// each from its own random start; workers <= 0 means runtime.GOMAXPROCS(0).
//
// If progress is not nil it is called with the cumulative number of stamps
// tried, about every 100ms and once more before SearchPow returns, always
// from the goroutine that called SearchPow (so never concurrently).
//
// It returns the first stamp found, or an error wrapping ctx.Err() if ctx
// ends first. Every goroutine it starts has exited when it returns.
func SearchPow(ctx context.Context, pk *PublicKey, target *PowTarget, workers int, progress func(attempts uint64)) (Nonce, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	searchCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		attempts atomic.Uint64
		once     sync.Once
		found    bool
		stamp    Nonce
	)
	var g errgroup.Group
	for range workers {
		g.Go(func() error {
			start, err := RandomNonce(rand.Reader)
			if err != nil {
				cancel()
				return fmt.Errorf("crypto: proof-of-work search: random start: %w", err)
			}
			if s, ok := searchFrom(searchCtx, pk, &start, target, &attempts); ok {
				once.Do(func() { found, stamp = true, s })
				cancel()
			}
			return nil
		})
	}

	// Report progress from this goroutine until a worker finds a stamp
	// or ctx ends; both cancel searchCtx.
	if progress != nil {
		tick := time.NewTicker(progressInterval)
	loop:
		for {
			select {
			case <-tick.C:
				progress(attempts.Load())
			case <-searchCtx.Done():
				break loop
			}
		}
		tick.Stop()
	}
	<-searchCtx.Done()
	err := g.Wait()
	if progress != nil {
		progress(attempts.Load())
	}
	// g.Wait is a happens-before edge for the workers' writes.
	if found {
		return stamp, nil
	}
	if err != nil {
		return Nonce{}, err
	}
	return Nonce{}, fmt.Errorf("crypto: proof-of-work search: %w", ctx.Err())
}

// searchFrom tests start, start+1, … until one passes target or ctx ends,
// adding the number of stamps tried to attempts. It hashes in place in one
// stack buffer, so the loop does not allocate.
func searchFrom(ctx context.Context, pk *PublicKey, start *Nonce, target *PowTarget, attempts *atomic.Uint64) (Nonce, bool) {
	var buf [PublicKeySize + NonceSize]byte
	copy(buf[:PublicKeySize], pk[:])
	stamp := (*Nonce)(buf[PublicKeySize:])
	*stamp = *start
	done := ctx.Done()
	for {
		for i := range powBatch {
			h := blake2b.Sum256(buf[:])
			if target.accepts(&h) {
				attempts.Add(uint64(i + 1))
				return *stamp, true
			}
			stamp.Increment()
		}
		attempts.Add(powBatch)
		select {
		case <-done:
			return Nonce{}, false
		default:
		}
	}
}
