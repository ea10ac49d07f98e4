package tezos

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
)

// fakePeer is a RequestPeer that sends nothing.
type fakePeer struct{ id p2ppool.PeerID }

func (p fakePeer) Peer() p2ppool.PeerID   { return p.id }
func (p fakePeer) WriteNow(Message) error { return nil }
func (p fakePeer) Done() <-chan struct{}  { return nil }
func (g *greylistLog) GreylistPeer(id p2ppool.PeerID) error {
	g.ids = append(g.ids, id)
	return nil
}

type greylistLog struct{ ids []p2ppool.PeerID }

// FuzzRequesterVerify hands the requester an arbitrary Block_header,
// Operations_for_blocks or Predecessor_header while it waits for a
// block's header, the operations of its four passes and the header one
// and three below it, and checks that whatever it hands over is the
// truth: the header whose bytes hash to the hash asked, the operations
// of the pass, a predecessor at the right level (and, one below, the
// right hash). Forging any of these would take a Blake2B collision. An
// answer dropped for failing verification greylists its sender.
func FuzzRequesterVerify(f *testing.F) {
	chain := makeChain(f, 5)
	target := chain.levels[4]
	th := chain.headers[target]
	lists := make([]OperationListHash, 4)
	for i, ops := range chain.ops[target] {
		hs := make([]OperationHash, len(ops))
		for k := range ops {
			hs[k] = ops[k].Hash()
		}
		lists[i] = OperationListHashOf(hs)
	}
	seeds := []Message{
		BlockHeaderMessage{Header: th},
		BlockHeaderMessage{Header: chain.headers[chain.levels[3]]},
		PredecessorHeader{Block: target, Offset: 1, Header: chain.headers[chain.levels[3]]},
		PredecessorHeader{Block: target, Offset: 3, Header: chain.headers[chain.levels[1]]},
		PredecessorHeader{Block: target, Offset: 3, Header: chain.headers[chain.levels[2]]},
	}
	for pass := range 4 {
		seeds = append(seeds, OperationsForBlocks{BlockPass: BlockPass{Block: target, Pass: int8(pass)}, Path: OperationsPathOf(lists, pass), Operations: chain.ops[target][pass]})
	}
	seeds = append(seeds, OperationsForBlocks{BlockPass: BlockPass{Block: target, Pass: 1}, Path: OperationsPathOf(lists, 2), Operations: chain.ops[target][2]})
	for _, m := range seeds {
		body, err := AppendBody(nil, m)
		require.NoError(f, err)
		f.Add(m.Tag(), body)
	}
	truth, err := BlockHeaderCodec.Encode(nil, &th)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, tag uint16, body []byte) {
		if tag != TagBlockHeader && tag != TagOperationsForBlocks && tag != TagPredecessorHeader {
			return
		}
		m, err := DecodeBody(tag, body)
		if err != nil {
			return
		}
		g := &greylistLog{}
		r, err := NewRequester(g, RequesterConfig{})
		require.NoError(t, err)
		peer := fakePeer{id: p2ppool.PeerID{1}}
		r.AddPeer(peer)
		c := &call{answers: make(chan answer, 8)}
		// What a Fetch of each kind registers, and a request to peer
		// for the header in flight.
		r.pending[itemKey{kind: kindHeader, hash: target}] = []*waiter{{call: c, idx: 0}}
		r.peers[peer.id].remember(target)
		r.peers[peer.id].headerReqs, r.peers[peer.id].inFlight = 1, 1
		for pass := range 4 {
			r.pending[itemKey{kind: kindOps, hash: target, n: int32(pass)}] = []*waiter{{call: c, idx: 1 + pass, wantOps: th.Shell.OperationsHash}}
		}
		r.pending[itemKey{kind: kindPred, hash: target, n: 1}] = []*waiter{{call: c, idx: 5, wantLevel: th.Shell.Level - 1, wantHash: &th.Shell.Predecessor}}
		r.pending[itemKey{kind: kindPred, hash: target, n: 3}] = []*waiter{{call: c, idx: 6, wantLevel: th.Shell.Level - 3}}

		require.True(t, r.Handle(peer, m))
		select {
		case a := <-c.answers:
			switch {
			case a.idx == 0:
				require.Equal(t, truth, a.header.Raw)
				require.Equal(t, target, a.header.Hash)
			case a.idx >= 1 && a.idx <= 4:
				require.Equal(t, normalize([][]Operation{chain.ops[target][a.idx-1]}), normalize([][]Operation{a.ops}))
			case a.idx == 5:
				require.Equal(t, th.Shell.Predecessor, a.header.Hash)
			case a.idx == 6:
				require.Equal(t, th.Shell.Level-3, a.header.Header.Shell.Level)
			}
			require.Empty(t, g.ids, "an answer that verifies costs its sender nothing")
		default:
			st := r.Stats()
			require.Equal(t, uint64(1), st.Unsolicited+st.Invalid)
			require.Equal(t, st.Invalid == 1, len(g.ids) == 1, "greylisted when invalid")
		}
	})
}
