package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/blake2b"

	"github.com/p2ppool/p2ppool"
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
	hash := tezos.BlockHash(blake2b.Sum256([]byte("p2ppool genesis " + chainName)))
	h := tezos.BlockHeader{
		Shell: tezos.ShellHeader{
			Predecessor:    hash,
			OperationsHash: tezos.OperationsHashOf(nil),
		},
	}
	return chainState{id: tezos.ChainIDOf(hash), headHash: hash, head: &h, about: fmt.Sprintf("local genesis %v", hash)}
}

// The node's Store (tezos.Store, tezos.CheckpointStore): the one block it
// has, its genesis, is its head, its checkpoint and the one header it
// serves. Immutable, so safe for every connection's reader at once.

// Head implements tezos.Store.
func (cs *chainState) Head(chain tezos.ChainID) (tezos.BlockHeader, bool) {
	if chain != cs.id || cs.head == nil {
		return tezos.BlockHeader{}, false
	}
	return *cs.head, true
}

// Header implements tezos.Store.
func (cs *chainState) Header(h tezos.BlockHash) (tezos.BlockHeader, bool) {
	if h != cs.headHash || cs.head == nil {
		return tezos.BlockHeader{}, false
	}
	return *cs.head, true
}

// Checkpoint implements tezos.CheckpointStore: a node that has only its
// genesis has it as checkpoint, as a fresh octez node.
func (cs *chainState) Checkpoint(chain tezos.ChainID) (tezos.BlockHeader, bool) {
	return cs.Head(chain)
}

// newShell is the node's shell behaviour (tezos.Shell, after octez's
// p2p_reader.ml): it serves its chain from cs and prints the heads and
// branches peers announce once they have activated the chain. Its
// throttle is tezos.DefaultThrottle: octez's rates; a peer that keeps
// sending over them is cut and greylisted (Config.Control.Abuse).
func (n *node) newShell() (*tezos.Shell, error) {
	return tezos.NewShell(tezos.ShellConfig{
		Chains: []tezos.ChainID{n.chain.id},
		Store:  &n.chain,
		OnHead: func(peer p2ppool.PeerID, chain tezos.ChainID, _ tezos.BlockHash, h tezos.BlockHeader, _ tezos.Mempool) {
			fmt.Fprintf(n.out, "current head from %v: chain %v %s\n", peer, chain, describeHeader(&h))
		},
		OnBranch: func(peer p2ppool.PeerID, chain tezos.ChainID, l tezos.BlockLocator) {
			fmt.Fprintf(n.out, "current branch from %v: chain %v %s, %d in history\n", peer, chain,
				describeHeader(&l.CurrentHead), len(l.History))
		},
	})
}

// shellConn adapts a node connection, which carries Text too, to
// tezos.Conn.
type shellConn struct{ *nodeConn }

func (c shellConn) Write(ctx context.Context, m tezos.Message) error { return c.nodeConn.Write(ctx, m) }
func (c shellConn) WriteNow(m tezos.Message) error                   { return c.nodeConn.WriteNow(m) }

// onShell hands a distributed-DB message from c to its session; under -v
// it logs what the session did with what it did not answer or take.
func (n *node) onShell(c *nodeConn, s *tezos.Session, m tezos.Message) {
	switch v := s.Handle(m); v {
	case tezos.Answered, tezos.Accepted:
	default:
		n.debugf("node run: %s %T from %v", v, m, c.Peer())
	}
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
