package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/p2ppool/p2ppool"
	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/tezos"
)

// The node speaks two message sets on one connection: its own Text, and
// the octez shell's distributed-DB messages (package tezos). A message is
// a Text or a tezos.Message.
type message = any

// messageConfig is the node's message set for chainName: Text, then every
// distributed-DB message, announcing tezos's chain name and distributed-DB
// versions.
func messageConfig(chainName string) p2ppool.MessageConfig[message] {
	shell := tezos.MessageConfig(chainName)
	encs := []p2ppool.Encoding[message]{textEncoding()}
	for _, e := range shell.Encodings {
		encs = append(encs, p2ppool.Encoding[message]{
			Tag:       e.Tag,
			Name:      e.Name,
			MaxLength: e.MaxLength,
			Encode: func(dst []byte, m message) ([]byte, bool, error) {
				tm, ok := m.(tezos.Message)
				if !ok {
					return dst, false, nil
				}
				return e.Encode(dst, tm)
			},
			Decode:      func(body []byte) (message, error) { return e.Decode(body) },
			DecodedSize: e.DecodedSize, // budget a message at what it decodes to
		})
	}
	return p2ppool.MessageConfig[message]{
		Encodings:             encs,
		ChainName:             shell.ChainName,
		DistributedDBVersions: shell.DistributedDBVersions,
	}
}

// chainState is what the node knows of its chain: its identifier and the
// one block it serves as head (the genesis). head is nil when the node
// has no block to announce; it then only listens.
type chainState struct {
	id       tezos.ChainID
	headHash tezos.BlockHash
	head     *tezos.BlockHeader
	// about says where the chain's values come from, for the log.
	about string
}

// chainFor returns the chain state of chainName: a built-in network's
// genesis, or for any other name a local genesis derived from the name.
func chainFor(chainName string) chainState {
	if n, ok := tezos.LookupNetwork(chainName); ok {
		cs := chainState{id: n.ChainID(), headHash: n.Genesis}
		if h, ok := n.GenesisHeader(); ok {
			cs.head = &h
			cs.about = fmt.Sprintf("%s genesis %v", n.Alias, n.Genesis)
		} else {
			cs.about = fmt.Sprintf("%s genesis %v (its header's context is unknown: no head announced)", n.Alias, n.Genesis)
		}
		return cs
	}
	// A chain of our own: its genesis hash is the Blake2B-256 of the
	// name, and its header follows octez's genesis shape (level 0, its
	// own hash as predecessor, no operations, empty fitness). Nodes
	// started with the same name agree on it.
	hash := tezos.BlockHash(crypto.Blake2b256([]byte("p2ppool genesis " + chainName)))
	h := tezos.BlockHeader{
		Shell: tezos.ShellHeader{
			Predecessor:    hash,
			OperationsHash: tezos.OperationsHashOf(nil),
		},
	}
	return chainState{id: tezos.ChainIDOf(hash), headHash: hash, head: &h, about: fmt.Sprintf("local genesis %v", hash)}
}

// Budgets of the requests the node answers, per connection
// (p2ppool.Connection.Allow): an answer costs more bytes than the request
// (a Current_branch is ~17 times its Get_current_branch), so a peer may ask
// a few at once and then only at the pace an octez node asks, which sends
// Get_current_branch and Get_current_head when it activates the chain
// with a peer and then when it has heard of no new head for a while. A
// request over budget is ignored; a peer that keeps sending them is cut
// and greylisted (Config.Control.Abuse).
var (
	branchRequests = p2ppool.NewBudget("get_current_branch", p2ppool.RateLimit{Rate: 0.2, Burst: 5})
	headRequests   = p2ppool.NewBudget("get_current_head", p2ppool.RateLimit{Rate: 0.2, Burst: 5})
	// A Get_block_headers is charged once per header answered: a node
	// fetching a branch asks for many.
	headerRequests = p2ppool.NewBudget("get_block_headers", p2ppool.RateLimit{Rate: 10, Burst: 50})
)

// onShell handles a distributed-DB message from c. It answers requests
// for the chain's head and the blocks the node has, logs the heads and
// branches peers announce, and ignores the rest: a well-formed message
// never costs the connection.
func (n *node) onShell(c *nodeConn, m tezos.Message) {
	cs := &n.chain
	reply := func(r tezos.Message) {
		// Write waits for room in the outgoing queue and fails once the
		// connection has ended, which the next Read reports.
		_ = c.Write(context.Background(), r)
	}
	switch m := m.(type) {
	case tezos.GetCurrentBranch:
		if !c.Allow(branchRequests) {
			n.debugf("node run: %v asks for the branch too often; ignored", c.Peer())
			return
		}
		if m.ChainID == cs.id && cs.head != nil {
			reply(tezos.CurrentBranch{ChainID: cs.id, Locator: tezos.BlockLocator{CurrentHead: *cs.head, History: []tezos.BlockHash{}}})
			return
		}
	case tezos.GetCurrentHead:
		if !c.Allow(headRequests) {
			n.debugf("node run: %v asks for the head too often; ignored", c.Peer())
			return
		}
		if m.ChainID == cs.id && cs.head != nil {
			reply(tezos.CurrentHead{ChainID: cs.id, Header: *cs.head,
				Mempool: tezos.Mempool{KnownValid: []tezos.OperationHash{}, Pending: []tezos.OperationHash{}}})
			return
		}
	case tezos.GetBlockHeaders:
		for _, h := range m.Hashes {
			if !c.Allow(headerRequests) {
				n.debugf("node run: %v asks for headers too often; ignored", c.Peer())
				return
			}
			if h == cs.headHash && cs.head != nil {
				reply(tezos.BlockHeaderMessage{Header: *cs.head})
			} else {
				n.debugf("node run: %v asked for block %v, which the node does not have", c.Peer(), h)
			}
		}
		return
	case tezos.CurrentHead:
		fmt.Fprintf(n.out, "current head from %v: chain %v %s\n", c.Peer(), m.ChainID, describeHeader(&m.Header))
		return
	case tezos.CurrentBranch:
		fmt.Fprintf(n.out, "current branch from %v: chain %v %s, %d in history\n", c.Peer(), m.ChainID,
			describeHeader(&m.Locator.CurrentHead), len(m.Locator.History))
		return
	}
	n.debugf("node run: ignored %T from %v", m, c.Peer())
}

// describeHeader gives a header's level, hash and fitness, the fitness as
// octez prints it (hex elements joined by "::").
func describeHeader(h *tezos.BlockHeader) string {
	hash, err := h.Hash()
	hs := hash.String()
	if err != nil {
		hs = "(unencodable)"
	}
	parts := make([]string, len(h.Shell.Fitness))
	for i, f := range h.Shell.Fitness {
		parts[i] = hex.EncodeToString(f)
	}
	return fmt.Sprintf("level %d hash %s fitness [%s]", h.Shell.Level, hs, strings.Join(parts, "::"))
}

// debugf logs to stderr under -v only.
func (n *node) debugf(format string, args ...any) {
	if n.verbose {
		fmt.Fprintf(n.errw, format+"\n", args...)
	}
}
