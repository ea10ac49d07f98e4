package wire

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Test vectors from the wire specification (section 11), verbatim.
const (
	// V2: connection message frames (2-byte length included) of a
	// sandboxed session, from tezedge crypto/src/nonce.rs.
	v2SentMsg = "00874d1b98317bd6efad8352a7144c9eb0b218c9130e0a875973908ddc894b764ffc0d7f176cf800b978af9e919bdc35122585168475096d0ebcaca1f2a1172412b91b363ff484d1c64c03417e0e755e696c386a0000002d53414e44424f5845445f54455a4f535f414c5048414e45545f323031382d31312d33305431353a33303a35365a00000000"
	v2RecvMsg = "00874d1ab3845960b32b039fef38ca5c9f8f867df1d522f27a83e07d9dfbe3b296a6c076412d98b369ab015d57247e5380d708b9edfcca0ca2c865346ef9c3d7ed00182cf4f613a6303c9b2a28cda8ff93687bd20000002d53414e44424f5845445f54455a4f535f414c5048414e45545f323031382d31312d33305431353a33303a35365a00000000"

	// V11: the first two rows of a captured session (connection message
	// frames), from tezedge tezos/messages/benches/tezedge_communication.csv.
	v11Sent     = "0086260440a2c1e551c1e48b89e2a13bb58114f613801439ec6c4fc3396799768a748b6eff6d772406b595e2ae0fd5c640a62a47212f21cbbcaac6b430f1069e8db55d9506a7bdb07be08805a6287d6848f5dfef0000002c54455a4f535f414c5048414e45545f43415254484147455f323031392d31312d32385431333a30323a31335a00000001"
	v11Received = "00862604e20639fd5df66ebbf5a480093778a12d3139e37d94fc97cba9992cbcb083a971815f987cc7eaf3b774cd500ed5c6c55e06e584fedd59767986605f5d933f3104f9b0164c826a21eaad5e9430e76d1cb60000002c54455a4f535f414c5048414e45545f43415254484147455f323031392d31312d32385431333a30323a31335a00000001"
	v11Chain    = "TEZOS_ALPHANET_CARTHAGE_2019-11-28T13:02:13Z"
	v2Chain     = "SANDBOXED_TEZOS_ALPHANET_2018-11-30T15:30:56Z"

	// V6 bench identity public key (the V11 local side) and V11 remote key.
	v11SentPK     = "40a2c1e551c1e48b89e2a13bb58114f613801439ec6c4fc3396799768a748b6e"
	v11SentPow    = "ff6d772406b595e2ae0fd5c640a62a47212f21cbbcaac6b4"
	v11ReceivedPK = "e20639fd5df66ebbf5a480093778a12d3139e37d94fc97cba9992cbcb083a971"

	// V7: ack/nack plaintexts, from tezedge tezos/messages/tests/encoding_ack.rs.
	v7Ack                = "00"
	v7NackV0             = "ff"
	v7NackDeprecatedP2P  = "010003000000120000000e3132372e302e302e313a39383332"
	v7NackUnknownChain   = "010002000000120000000e3132372e302e302e313a39383332"
	v7NackPointText      = "127.0.0.1:9832"
	v8Bootstrap          = "000000020002"
	v8RejectedEmpty      = "00000000"
	v8RejectedBadSize    = "0000000400020001"
	v9AdvertiseBody      = "0000001e5b666538303a3a653832383a323039643a3230653a633061655d3a333735000000133233342e3132332e3132342e39313a39383736000000133132332e3132332e3132342e32313a39383736"
	v10SwapBodyLenValid  = "0000002f" // followed by 47 'x' and 16 'y'
	v10SwapBodyLenTooBig = "00000030" // followed by 48 'x' and 16 'y'

	// Peer ids from the spec (V5, V6, the all-zero and all-FF hashes) and
	// from octez's own src/lib_base/test/points.ok.
	peerIDV5      = "idsg2wkkDDv2cbEMK4zH49fjgyn7XT"
	peerIDV6      = "idrRoknJh9zwEePNswF3MPGFzmKaVp"
	peerIDZero    = "idqRfGME9Bdhde2rksPSz7s6naxMW4"
	peerIDAllFF   = "idtzX1JXvee2nizJjitoN2PZbwNvkD"
	peerIDOctezOK = "idqSpQPFDBN4yMhLEzwtqGgxRLNrj4"
)

// v9Points is the decoded V9 Advertise.
var v9Points = []string{"[fe80::e828:209d:20e:c0ae]:375", "234.123.124.91:9876", "123.123.124.21:9876"}

// unhex decodes a hex vector or fails the test.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// envelope wraps a body into a P2P envelope with the given tag.
func envelope(tag uint16, body []byte) []byte {
	return AppendAppMessage(nil, tag, body)
}

// v10Swap builds the V10 swap body: length prefix, n 'x', 16 'y'.
func v10Swap(t testing.TB, prefix string, n int) []byte {
	b := unhex(t, prefix)
	b = append(b, strings.Repeat("x", n)...)
	return append(b, strings.Repeat("y", 16)...)
}

// checkPrefixesAndTrailing asserts that every strict prefix of a valid
// encoding fails with ErrTruncated, and that one extra byte fails with
// ErrTrailingBytes: the framing must be exact in both directions.
func checkPrefixesAndTrailing(t *testing.T, valid []byte, decode func([]byte) error) {
	t.Helper()
	require.NoError(t, decode(valid))
	for n := 0; n < len(valid); n++ {
		err := decode(append([]byte(nil), valid[:n]...))
		require.ErrorIs(t, err, ErrTruncated, "prefix of %d/%d bytes", n, len(valid))
	}
	for _, extra := range []byte{0x00, 0xFF} {
		err := decode(append(append([]byte(nil), valid...), extra))
		require.ErrorIs(t, err, ErrTrailingBytes, "extra byte %#x", extra)
	}
}
