package socket

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// vectorsDir is the repository's testdata/ (see its README.md), which
// holds the recorded session; tests run in internal/socket.
func vectorsDir(t *testing.T) string {
	t.Helper()
	v := filepath.Join("..", "..", "testdata")
	_, err := os.Stat(filepath.Join(v, "tezedge_communication.csv"))
	require.NoError(t, err, "the recorded session is part of the repository (testdata/)")
	return v
}

// recordedSession is the capture in testdata/: the two connection
// messages and, per direction, the raw TCP bytes that followed them.
type recordedSession struct {
	sentConnMsg, recvConnMsg []byte
	sent                     []byte
	recvRowBytes             [][]byte
	sk                       crypto.SecretKey
	pk                       crypto.PublicKey
}

func loadRecordedSession(t *testing.T) *recordedSession {
	t.Helper()
	dir := vectorsDir(t)
	var id struct {
		PublicKey string `json:"public_key"`
		SecretKey string `json:"secret_key"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "tezedge_communication.identity.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &id))
	s := &recordedSession{}
	mustHex(t, id.PublicKey, s.pk[:])
	mustHex(t, id.SecretKey, s.sk[:])

	f, err := os.Open(filepath.Join(dir, "tezedge_communication.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"direction", "message"}, rows[0])
	for _, row := range rows[1:] {
		b, err := hex.DecodeString(row[1])
		require.NoError(t, err)
		switch row[0] {
		case "Sent":
			if s.sentConnMsg == nil {
				s.sentConnMsg = b
			} else {
				s.sent = append(s.sent, b...)
			}
		case "Received":
			if s.recvConnMsg == nil {
				s.recvConnMsg = b
			} else {
				s.recvRowBytes = append(s.recvRowBytes, b)
			}
		default:
			t.Fatalf("unknown direction %q", row[0])
		}
	}
	return s
}

func mustHex(t *testing.T, s string, dst []byte) {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	require.Len(t, b, len(dst))
	copy(dst, b)
}

// streamConn is a read-only net.Conn over recorded bytes.
type streamConn struct {
	net.Conn
	r io.Reader
}

func (c streamConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestReplayRecordedSession decrypts the real 2019 carthagenet session
// recorded by tezedge with our own reader: key and nonces derived from the
// two connection messages and the initiator's identity, every chunk
// opened, and the initiator's stream split into its messages.
func TestReplayRecordedSession(t *testing.T) {
	s := loadRecordedSession(t)

	local, err := wire.DecodeConnectionMessage(s.sentConnMsg[2:])
	require.NoError(t, err)
	remote, err := wire.DecodeConnectionMessage(s.recvConnMsg[2:])
	require.NoError(t, err)
	assert.Equal(t, s.pk, crypto.PublicKey(local.PublicKey))
	assert.Equal(t, wire.NetworkVersion{ChainName: "TEZOS_ALPHANET_CARTHAGE_2019-11-28T13:02:13Z", DistributedDB: 0, P2P: 1}, remote.Version)
	assert.Equal(t, uint16(9732), remote.Port)

	remotePK := crypto.PublicKey(remote.PublicKey)
	key, err := crypto.Precompute(&remotePK, &s.sk)
	require.NoError(t, err)
	assert.Equal(t, "12f1ae95957d1043ce3334f9789e13dbc5c3159817e773d79ce1d029f1e0dec9", hex.EncodeToString(key[:]))
	// The recorder dialled: it was the initiator.
	localNonce, remoteNonce := crypto.DeriveNonces(s.sentConnMsg, s.recvConnMsg, false)
	assert.Equal(t, "9a50778ccbfc15dd59b7175a7f6c21937a940b7d3ac47be6", hex.EncodeToString(localNonce[:]))
	assert.Equal(t, "2646d1cbb99b2f8aa2bec7ceac84e4b795c1f710dfd8e703", hex.EncodeToString(remoteNonce[:]))
	remoteID := crypto.PeerIDHash(&remotePK)
	assert.Equal(t, "idtdVEDBSoi2auJJ9CmUaNnK4FSNk6", crypto.Base58CheckEncode([]byte{0x99, 0x67}, remoteID[:]))

	t.Run("sent", func(t *testing.T) {
		c := newConn(streamConn{r: bytes.NewReader(s.sent)}, &Config{})
		c.key, c.rnonce = key, localNonce
		t.Cleanup(c.Free)
		meta, err := c.readHandshakeChunk()
		require.NoError(t, err)
		md, err := wire.DecodeMetadata(meta)
		require.NoError(t, err)
		assert.Equal(t, wire.Metadata{}, md)
		ackPT, err := c.readHandshakeChunk()
		require.NoError(t, err)
		ack, err := wire.DecodeAck(ackPT)
		require.NoError(t, err)
		assert.Equal(t, wire.AckOK, ack.Kind)

		messages, tags := 0, map[uint16]int{}
		for {
			raw, err := c.ReadMessage()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "message %d", messages)
			m, err := wire.DecodeMessage(raw)
			require.NoError(t, err, "message %d", messages)
			require.NotEqual(t, wire.TagDisconnect, m.Tag)
			tags[m.Tag]++
			if messages == 0 {
				// Get_current_branch(chain_id 9caecab9), spec V11.1.
				assert.Equal(t, "0000000600109caecab9", hex.EncodeToString(raw))
			}
			messages++
		}
		assert.Equal(t, 5472, messages)
		assert.Equal(t, 5474, chunksBetween(localNonce, c.rnonce), "every sent chunk opened: metadata, ack, then one per message")
		t.Logf("sent stream: %d messages, tags %v", messages, tags)
	})

	// The received rows are not a contiguous stream: the recorder kept the
	// first read of some of the peer's chunks only (row 4, a 1,046-byte
	// read of an 11,161-byte chunk, is followed by a whole chunk sealed with
	// the next nonce, and thousands of chunks are missing later). So each
	// row is a chunk start: the handshake rows must open with the remote
	// nonce exactly, and every complete row with a later nonce than the row
	// before it.
	t.Run("received", func(t *testing.T) {
		require.Greater(t, len(s.recvRowBytes), 4)
		for i := range 4 {
			row := s.recvRowBytes[i]
			n := remoteNonce
			for range i {
				n.Increment()
			}
			pt, ok := crypto.Open(nil, row[headerLen:], &n, &key)
			require.True(t, ok, "handshake-phase row %d opens with remote nonce + %d", i, i)
			switch i {
			case 0:
				_, err := wire.DecodeMetadata(pt)
				require.NoError(t, err)
			case 1:
				ack, err := wire.DecodeAck(pt)
				require.NoError(t, err)
				assert.Equal(t, wire.AckOK, ack.Kind)
			default:
				// Each message of the first two rows is one whole chunk.
				_, err := wire.DecodeMessage(pt)
				require.NoError(t, err)
			}
		}
		next, complete, opened := remoteNonce, 0, 0
		for i, row := range s.recvRowBytes {
			if len(row) < headerLen || len(row) != headerLen+int(binary.BigEndian.Uint16(row)) {
				continue // a partial read
			}
			complete++
			for tries := 0; tries < 1<<16; tries++ {
				_, ok := crypto.Open(nil, row[headerLen:], &next, &key)
				next.Increment()
				if ok {
					opened++
					break
				}
			}
			require.Equal(t, complete, opened, "complete row %d opens with a later nonce", i)
		}
		assert.Equal(t, 113, complete)
		t.Logf("received: %d rows, %d whole chunks opened, last at remote nonce + %d",
			len(s.recvRowBytes), opened, chunksBetween(remoteNonce, next)-1)
	})
}

// chunksBetween counts the increments from a to b (small distances only).
func chunksBetween(a, b crypto.Nonce) int {
	for n := 0; n < 1<<20; n++ {
		if a == b {
			return n
		}
		a.Increment()
	}
	return -1
}
