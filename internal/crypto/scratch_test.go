package crypto

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/nacl/secretbox"
)

// dirtyPolyScratch returns a polyScratch whose every byte is 0xa5, so a
// lane that read an accumulator or power it had not set would give a
// wrong tag.
func dirtyPolyScratch() *polyScratch {
	ps := new(polyScratch)
	b := unsafe.Slice((*byte)(unsafe.Pointer(ps)), unsafe.Sizeof(*ps))
	for i := range b {
		b[i] = 0xa5
	}
	return ps
}

// TestScratchReusedDirty seals and opens every length class with the
// pool's scratch left dirty by the previous call of another length and
// key: a keystream byte or Poly1305 table read before it was written
// would give bytes other than secretbox's.
func TestScratchReusedDirty(t *testing.T) {
	for i, n := range []int{33, 100, 992, 993, 1024, 1056, 1057, 2047, 2048, 5000, 65517, 40, 1100} {
		var key ChannelKey
		var nonce Nonce
		for j := range key {
			key[j] = byte(i*31 + j)
		}
		nonce[0] = byte(i)
		msg := bytes.Repeat([]byte{byte(i + 1)}, n)
		want := secretbox.Seal(nil, msg, (*[24]byte)(&nonce), (*[32]byte)(&key))
		got := Seal(nil, msg, &nonce, &key)
		require.Equal(t, want, got, "Seal, %d bytes", n)
		pt, ok := Open(nil, got, &nonce, &key)
		require.True(t, ok, "Open, %d bytes", n)
		require.Equal(t, msg, pt, "Open, %d bytes", n)
	}
}
