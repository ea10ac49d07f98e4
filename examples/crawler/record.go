package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
)

// record is the JSON line written for each point.
type record struct {
	Point string `json:"point"`
	// Reachable: the handshake succeeded. Error says why not otherwise.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	PeerID    string `json:"peer_id,omitempty"`
	// Version is what the peer announced in its connection message.
	Version *version `json:"version,omitempty"`
	// Advertised are the points the peer sent in answer to Bootstrap.
	Advertised []string `json:"advertised,omitempty"`
	// NackPoints are the alternative points of a peer's nack.
	NackPoints []string `json:"nack_points,omitempty"`
	// HeadLevel and HeadHash are the peer's current head, from its
	// Current_branch or Current_head, when it gave one.
	HeadLevel *int32 `json:"head_level,omitempty"`
	HeadHash  string `json:"head_hash,omitempty"`
	Attempts  int    `json:"attempts"`
}

// version is a peer's announced network version.
type version struct {
	ChainName     string `json:"chain_name"`
	DistributedDB uint16 `json:"distributed_db_version"`
	P2P           uint16 `json:"p2p_version"`
}

func (v version) String() string {
	return fmt.Sprintf("%s ddb %d p2p %d", v.ChainName, v.DistributedDB, v.P2P)
}

// summary is what the crawl found, printed on stderr.
type summary struct {
	Found, Reachable, Unreachable, NotProbed int
	Versions                                 map[string]int
	MaxHead                                  *int32
}

func (s *summary) add(r *record) {
	s.Found++
	switch {
	case r.Reachable:
		s.Reachable++
	case r.Attempts == 0:
		s.NotProbed++
	default:
		s.Unreachable++
	}
	if r.Version != nil {
		s.Versions[r.Version.String()]++
	}
	if r.HeadLevel != nil && (s.MaxHead == nil || *r.HeadLevel > *s.MaxHead) {
		l := *r.HeadLevel
		s.MaxHead = &l
	}
}

func (s *summary) print(w io.Writer) {
	fmt.Fprintf(w, "points found: %d\nreachable:    %d\nunreachable:  %d\nnot probed:   %d\n",
		s.Found, s.Reachable, s.Unreachable, s.NotProbed)
	if s.MaxHead != nil {
		fmt.Fprintf(w, "highest head: %d\n", *s.MaxHead)
	}
	for _, v := range slices.Sorted(maps.Keys(s.Versions)) {
		fmt.Fprintf(w, "version:      %s: %d\n", v, s.Versions[v])
	}
}

// recordWriter writes records as JSON lines; it is used by the crawl's
// coordinator alone.
type recordWriter struct{ enc *json.Encoder }

func (w recordWriter) write(r *record) { _ = w.enc.Encode(r) }
