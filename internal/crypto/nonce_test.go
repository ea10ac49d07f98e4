package crypto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// V2 connection messages (tezedge crypto/src/nonce.rs), frames with their
// 2-byte length prefix.
const (
	v2Sent = "00874d1b98317bd6efad8352a7144c9eb0b218c9130e0a875973908ddc894b764ffc0d7f176cf800b978af9e919bdc35122585168475096d0ebcaca1f2a1172412b91b363ff484d1c64c03417e0e755e696c386a0000002d53414e44424f5845445f54455a4f535f414c5048414e45545f323031382d31312d33305431353a33303a35365a00000000"
	v2Recv = "00874d1ab3845960b32b039fef38ca5c9f8f867df1d522f27a83e07d9dfbe3b296a6c076412d98b369ab015d57247e5380d708b9edfcca0ca2c865346ef9c3d7ed00182cf4f613a6303c9b2a28cda8ff93687bd20000002d53414e44424f5845445f54455a4f535f414c5048414e45545f323031382d31312d33305431353a33303a35365a00000000"
)

func TestNonceIncrement(t *testing.T) { // V1 and carries
	tests := []struct{ name, in, want string }{
		{"V1 simple", "0000000000cff52f4be9352787d333e616a67853640d72c5", "0000000000cff52f4be9352787d333e616a67853640d72c6"},
		{"V1 wrap", "ffffffffffffffffffffffffffffffffffffffffffffffff", "000000000000000000000000000000000000000000000000"},
		{"carry one byte", "0000000000000000000000000000000000000000000000ff", "000000000000000000000000000000000000000000000100"},
		{"carry across 16-bit word", "00000000000000000000000000000000000000000000ffff", "000000000000000000000000000000000000000000010000"},
		{"carry to top", "00ffffffffffffffffffffffffffffffffffffffffffffff", "010000000000000000000000000000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := hexNonce(t, tt.in)
			n.Increment()
			assert.Equal(t, hexNonce(t, tt.want), n)
		})
	}
}

func TestDeriveNonces(t *testing.T) { // V2
	tests := []struct {
		name                string
		incoming            bool
		wantLocal, wantRemo string
	}{
		{"initiator", false, "8dde158c55cff52f4be9352787d333e616a67853640d72c5", "e67481a23cf9b404626a12bd405066e161b32dc53f469153"},
		{"responder", true, "ff0451d94af9f75a46d74a2a9f685cff20222a15829f121d", "8a09a2c43a61aa6eccee084aa66da9bc94b441b17615be58"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, remote := DeriveNonces(unhex(t, v2Sent), unhex(t, v2Recv), tt.incoming)
			assert.Equal(t, hexNonce(t, tt.wantLocal), local, "local")
			assert.Equal(t, hexNonce(t, tt.wantRemo), remote, "remote")
		})
	}
}

// Both ends of one connection must agree: my local nonce is the peer's
// remote nonce and the other way round.
func TestDeriveNoncesSymmetric(t *testing.T) {
	a, b := unhex(t, v2Sent), unhex(t, v2Recv)
	initLocal, initRemote := DeriveNonces(a, b, false)
	respLocal, respRemote := DeriveNonces(b, a, true)
	assert.Equal(t, initLocal, respRemote)
	assert.Equal(t, initRemote, respLocal)
}

func TestRandomNonce(t *testing.T) {
	src := bytes.NewReader(bytes.Repeat([]byte{7}, NonceSize))
	n, err := RandomNonce(src)
	require.NoError(t, err)
	assert.Equal(t, Nonce(bytes.Repeat([]byte{7}, NonceSize)), n)

	_, err = RandomNonce(bytes.NewReader(make([]byte, NonceSize-1)))
	assert.Error(t, err, "short read must fail")

	boom := errors.New("boom")
	_, err = RandomNonce(errReader{boom})
	assert.ErrorIs(t, err, boom)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
