package tezos

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool/internal/vectors"
	"github.com/p2ppool/p2ppool/internal/wire"
)

func loadSession(t *testing.T) *vectors.Session {
	t.Helper()
	dir, err := vectors.Dir()
	require.NoError(t, err, "the recorded session is part of the repository (testdata/)")
	s, err := vectors.Load(dir)
	require.NoError(t, err)
	return s
}

// roundTrip decodes one whole P2P message (size, tag, body) and encodes it
// back: distributed-DB messages with this package, the P2P ones (Advertise,
// Bootstrap, …) with internal/wire. It returns the tag and the decoded
// distributed-DB message (nil for P2P ones).
func roundTrip(t *testing.T, raw []byte) (uint16, Message) {
	t.Helper()
	require.GreaterOrEqual(t, len(raw), 6)
	require.Equal(t, len(raw)-4, int(binary.BigEndian.Uint32(raw)), "one whole message")
	tag := binary.BigEndian.Uint16(raw[4:])
	if wire.IsReservedTag(tag) {
		m, err := wire.DecodeMessage(raw)
		require.NoError(t, err)
		require.Equal(t, raw, m.Append(nil))
		return tag, nil
	}
	m, err := DecodeBody(tag, raw[6:])
	require.NoError(t, err, "tag %#04x", tag)
	require.Equal(t, tag, m.Tag())
	out, err := AppendBody(raw[:6:6], m)
	require.NoError(t, err)
	require.True(t, bytes.Equal(raw, out), "tag %#04x: re-encoding differs", tag)
	return tag, m
}

func tagCounts(c map[uint16]int) string {
	tags := make([]int, 0, len(c))
	for t := range c {
		tags = append(tags, int(t))
	}
	sort.Ints(tags)
	s := ""
	for _, t := range tags {
		name := fmt.Sprintf("%#04x", t)
		if k := kindOf(uint16(t)); k != nil {
			name = k.Name
		}
		s += fmt.Sprintf(" %s=%d", name, c[uint16(t)])
	}
	return s
}

// TestReplayRecordedSession decodes every message of the recorded real
// session (the 5,472 the initiator sent and every whole chunk it
// received) and encodes each back to the identical bytes. It also checks
// that the session makes sense: every block header received hashes to a
// hash the initiator asked for with Get_block_headers, and every operation
// to one it asked for with Get_operations.
func TestReplayRecordedSession(t *testing.T) {
	s := loadSession(t)

	requested := map[BlockHash]bool{}
	requestedOps := map[OperationHash]bool{}
	sent := map[uint16]int{}
	for _, raw := range s.Sent {
		tag, m := roundTrip(t, raw)
		sent[tag]++
		switch g := m.(type) {
		case GetBlockHeaders:
			for _, h := range g.Hashes {
				requested[h] = true
			}
		case GetOperations:
			for _, h := range g.Hashes {
				requestedOps[h] = true
			}
		}
	}
	require.Len(t, s.Sent, 5472)
	assert.Equal(t, map[uint16]int{0x03: 3, 0x10: 6, 0x11: 2, 0x20: 2071, 0x30: 8, 0x60: 3382}, sent)
	t.Logf("sent: %d messages:%s", len(s.Sent), tagCounts(sent))

	received := map[uint16]int{}
	headers, known, ops, knownOps := 0, 0, 0, 0
	for _, raw := range s.Received {
		tag, m := roundTrip(t, raw)
		received[tag]++
		switch m := m.(type) {
		case BlockHeaderMessage:
			headers++
			h, err := m.Header.Hash()
			require.NoError(t, err)
			if requested[h] {
				known++
			}
		case OperationMessage:
			ops++
			if requestedOps[m.Operation.Hash()] {
				knownOps++
			}
		}
	}
	require.Len(t, s.Received, 111)
	assert.Equal(t, map[uint16]int{0x02: 1, 0x10: 2, 0x14: 6, 0x21: 60, 0x31: 1, 0x61: 41}, received)
	require.Positive(t, headers)
	assert.Equal(t, headers, known, "every Block_header received answers a Get_block_headers sent")
	require.Positive(t, ops)
	assert.Equal(t, ops, knownOps, "every Operation received hashes to one asked for with Get_operations")
	t.Logf("received: %d whole chunks, each one message:%s", len(s.Received), tagCounts(received))
}
