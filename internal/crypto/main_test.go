package crypto

import (
	"encoding/hex"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind:
// SearchPow promises that all its workers have exited when it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// unhex decodes a hex test vector, failing the test on a typo.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex vector %q: %v", s, err)
	}
	return b
}

// unhexN decodes a hex vector that must be exactly n bytes long.
func unhexN(t testing.TB, s string, n int) []byte {
	t.Helper()
	b := unhex(t, s)
	if len(b) != n {
		t.Fatalf("vector %q has %d bytes, want %d", s, len(b), n)
	}
	return b
}

func hexPK(t testing.TB, s string) PublicKey { return PublicKey(unhexN(t, s, PublicKeySize)) }

func hexSK(t testing.TB, s string) SecretKey { return SecretKey(unhexN(t, s, SecretKeySize)) }

func hexNonce(t testing.TB, s string) Nonce { return Nonce(unhexN(t, s, NonceSize)) }

func hexKey(t testing.TB, s string) ChannelKey { return ChannelKey(unhexN(t, s, ChannelKeySize)) }
