package crypto

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/nacl/box"
)

// V3 box vector (tezedge crypto/src/crypto_box.rs).
const (
	v3PK     = "96678b88756dd6cfd6c129980247b70a6e44da77823c3672a2ec0eae870d8646"
	v3SK     = "a18dc11cb480ebd31081e1541df8bd70c57da0fa419b5036242f8619d605e75a"
	v3Key    = "5228751a6f5a6494e38e1042f578e3a64ae3462b7899356f49e50be846c9609c"
	v3Nonce  = "8dde158c55cff52f4be9352787d333e616a67853640d72c5"
	v3Sealed = "45d82d5c4067f5c32748596c1bbc93a9f87b5b1f2058ddd82b6f081ca484b672395c7473ab897c64c01c33878ac1ccb6919a75c9938d8bcf0e7917ddac13a787cfb5c9a5aea50d24502cf86b5c9b000358c039334ec077afe98936feec0dabfff35f14cafd2cd3173bbd56a7c6e5bf6f5f57c92b59b129918a5895e883e7d999b191aad078c4a5b164144c1beaed58b49ba9be094abf3a3bd9"
)

// V11 captured session (tezedge tezos/messages/benches): the local side is
// the initiator with the V6 bench identity.
const (
	v11LocalSK   = "66adf08839c350109d8955a92c6561f966d6a048968763d12b7026c7e368fbe1"
	v11SentConn  = "0086260440a2c1e551c1e48b89e2a13bb58114f613801439ec6c4fc3396799768a748b6eff6d772406b595e2ae0fd5c640a62a47212f21cbbcaac6b430f1069e8db55d9506a7bdb07be08805a6287d6848f5dfef0000002c54455a4f535f414c5048414e45545f43415254484147455f323031392d31312d32385431333a30323a31335a00000001"
	v11RecvConn  = "00862604e20639fd5df66ebbf5a480093778a12d3139e37d94fc97cba9992cbcb083a971815f987cc7eaf3b774cd500ed5c6c55e06e584fedd59767986605f5d933f3104f9b0164c826a21eaad5e9430e76d1cb60000002c54455a4f535f414c5048414e45545f43415254484147455f323031392d31312d32385431333a30323a31335a00000001"
	v11Key       = "12f1ae95957d1043ce3334f9789e13dbc5c3159817e773d79ce1d029f1e0dec9"
	v11LocalN    = "9a50778ccbfc15dd59b7175a7f6c21937a940b7d3ac47be6"
	v11RemoteN   = "2646d1cbb99b2f8aa2bec7ceac84e4b795c1f710dfd8e703"
	v11RemotePID = "idtdVEDBSoi2auJJ9CmUaNnK4FSNk6"
)

func TestPrecomputeV3(t *testing.T) {
	pk, sk := hexPK(t, v3PK), hexSK(t, v3SK)
	ck, err := Precompute(&pk, &sk)
	require.NoError(t, err)
	assert.Equal(t, hexKey(t, v3Key), ck)

	// Our HSalsa20 shortcut must equal nacl's own precomputation.
	var want [32]byte
	box.Precompute(&want, (*[32]byte)(&pk), (*[32]byte)(&sk))
	assert.Equal(t, ChannelKey(want), ck)
}

func TestSealOpenV3(t *testing.T) {
	key, nonce := hexKey(t, v3Key), hexNonce(t, v3Nonce)
	plain := unhex(t, v2Sent)
	sealed := Seal(nil, plain, &nonce, &key)
	assert.Equal(t, v3Sealed, hexString(sealed))
	assert.Len(t, sealed, len(plain)+TagSize)

	got, ok := Open(nil, sealed, &nonce, &key)
	require.True(t, ok)
	assert.Equal(t, plain, got)

	// Any flipped bit, a wrong nonce or a short input must be refused.
	for _, i := range []int{0, TagSize - 1, TagSize, len(sealed) - 1} {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		_, ok := Open(nil, bad, &nonce, &key)
		assert.False(t, ok, "flipped byte %d", i)
	}
	next := nonce
	next.Increment()
	_, ok = Open(nil, sealed, &next, &key)
	assert.False(t, ok, "wrong nonce")
	_, ok = Open(nil, sealed[:TagSize-1], &nonce, &key)
	assert.False(t, ok, "shorter than a tag")
}

// Seal appends to dst like every Go append-style API.
func TestSealAppends(t *testing.T) {
	key, nonce := hexKey(t, v3Key), hexNonce(t, v3Nonce)
	dst := []byte{0x00, 0x12}
	out := Seal(dst, []byte{0, 0}, &nonce, &key)
	assert.Equal(t, "0012c346bcddb722a1fa6a12dc464638c614f8fc", hexString(out))
}

// §11.1: chunks (2-byte length ‖ tag ‖ ciphertext) made with the V3 key.
func TestDerivedChunksV3(t *testing.T) {
	key, nonce := hexKey(t, v3Key), hexNonce(t, v3Nonce)
	tests := []struct {
		name, plain, chunk string
		increments         int
	}{
		{"metadata (false,false)", "0000", "0012c346bcddb722a1fa6a12dc464638c614f8fc", 0},
		{"ack with nonce+1", "00", "0011503b2f44b50501b6c3b1d5df66cc8b0b5d", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := nonce
			for range tt.increments {
				n.Increment()
			}
			assert.Equal(t, tt.chunk, hexString(chunk(unhex(t, tt.plain), &n, &key)))
		})
	}
}

// TestSessionV11 replays the start of a real octez-compatible session:
// channel key from the local identity and the received public key, nonces
// from both connection messages, then the first encrypted chunks of each
// direction decrypt to metadata, ack and Get_current_branch.
func TestSessionV11(t *testing.T) {
	sent, recv := unhex(t, v11SentConn), unhex(t, v11RecvConn)
	remotePK := PublicKey(recv[4:36])
	sk := hexSK(t, v11LocalSK)
	assert.Equal(t, PublicKey(sent[4:36]), sk.Public(), "sent message carries our public key")

	key, err := Precompute(&remotePK, &sk)
	require.NoError(t, err)
	assert.Equal(t, hexKey(t, v11Key), key)
	assert.Equal(t, v11RemotePID, Base58CheckEncode([]byte{0x99, 0x67}, sliceOf(PeerIDHash(&remotePK))))

	local, remote := DeriveNonces(sent, recv, false)
	assert.Equal(t, hexNonce(t, v11LocalN), local)
	assert.Equal(t, hexNonce(t, v11RemoteN), remote)

	// The wrong role gives nonces that do not open the first chunk.
	wrongLocal, _ := DeriveNonces(sent, recv, true)
	_, ok := Open(nil, unhex(t, "501315db7509996b061e1b2823e70a6072bd"), &wrongLocal, &key)
	assert.False(t, ok, "incoming=true must not decrypt the initiator's chunks")

	rows := []struct {
		sent        bool
		chunk, want string
	}{
		{true, "0012501315db7509996b061e1b2823e70a6072bd", "0000"},
		{false, "0012ee039c3446e496eb29bc1c65859c77aa30d9", "0000"},
		{true, "001130e8b60f4cadb54fafdad7f40eef3e2385", "00"},
		{false, "00112d52b63dedb4e6eae4a1f4fa62f08da66e", "00"},
		{true, "001addfb5a68d7e4d67adce85dc7db8d2a4e57354dbd611efe5d61a9", "0000000600109caecab9"},
		{false, "001a603f34e0ace75b55bb275b814e791d61c49c318d0bc2ea2625dc", "0000000600109caecab9"},
	}
	for i, r := range rows {
		raw := unhex(t, r.chunk)
		require.Equal(t, int(binary.BigEndian.Uint16(raw)), len(raw)-2, "row %d length prefix", i)
		n := &remote
		if r.sent {
			n = &local
		}
		plain, ok := Open(nil, raw[2:], n, &key)
		require.True(t, ok, "row %d must decrypt", i)
		assert.Equal(t, r.want, hexString(plain), "row %d", i)
		if r.sent {
			// What we would send must be the very bytes captured.
			assert.Equal(t, r.chunk, hexString(chunk(plain, n, &key)), "row %d re-encrypted", i)
		}
		n.Increment()
	}
}

// Small-order points: the X25519 shared secret is zero whatever our secret
// key, so octez (HACL) refuses them and so must we.
func TestPrecomputeRejectsLowOrderKeys(t *testing.T) {
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // 0
		"0100000000000000000000000000000000000000000000000000000000000000", // 1
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1
	}
	_, sk, err := GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, s := range lowOrder {
		t.Run(s[:8], func(t *testing.T) {
			pk := hexPK(t, s)
			ck, err := Precompute(&pk, &sk)
			assert.ErrorIs(t, err, ErrLowOrderKey)
			assert.Equal(t, ChannelKey{}, ck)
		})
	}
}

func TestGenerateKey(t *testing.T) {
	pk, sk, err := GenerateKey(rand.Reader)
	require.NoError(t, err)
	assert.Equal(t, pk, sk.Public())
	assert.NotEqual(t, PublicKey{}, pk)

	// Deterministic with a fixed source: pk = X25519(sk, 9).
	pk2, sk2, err := GenerateKey(bytes.NewReader(unhex(t, v3SK)))
	require.NoError(t, err)
	assert.Equal(t, hexSK(t, v3SK), sk2)
	assert.Equal(t, sk2.Public(), pk2)

	_, _, err = GenerateKey(bytes.NewReader(nil))
	assert.Error(t, err)

	// Both sides of a key agreement derive the same channel key.
	pkA, skA, _ := GenerateKey(rand.Reader)
	pkB, skB, _ := GenerateKey(rand.Reader)
	kAB, err := Precompute(&pkB, &skA)
	require.NoError(t, err)
	kBA, err := Precompute(&pkA, &skB)
	require.NoError(t, err)
	assert.Equal(t, kAB, kBA)
}

// chunk frames one encrypted chunk the way octez writes it.
func chunk(plain []byte, n *Nonce, key *ChannelKey) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(plain)+TagSize))
	return Seal(out, plain, n, key)
}

func hexString(b []byte) string { return hexEncode(b) }

func sliceOf(a [PeerIDSize]byte) []byte { return a[:] }
