package octeztest

import (
	"time"

	"github.com/p2ppool/p2ppool/tezos"
)

// throttleParams is one kind's limit in octez's throttle: at most n
// messages per window, the reader sleeping cooldown past it
// (p2p_reader.ml 59-70).
type throttleParams struct {
	n                int
	window, cooldown time.Duration
}

// throttleTable is octez's make_throttle_state (p2p_reader.ml 202-251),
// by tag; a kind not in it is not throttled (no_throttle, 196).
var throttleTable = map[uint16]throttleParams{
	tezos.TagGetCurrentBranch: {1, 4 * time.Second, 4 * time.Second},   // 210
	tezos.TagCurrentBranch:    {1, 4 * time.Second, 4 * time.Second},   // 213
	tezos.TagGetCurrentHead:   {1, 4 * time.Second, 4 * time.Second},   // 216
	tezos.TagDeactivate:       {1, 4 * time.Second, 4 * time.Second},   // 221
	tezos.TagGetProtocols:     {1, 10 * time.Second, 10 * time.Second}, // 233
	tezos.TagProtocol:         {1, time.Second, time.Second},           // 237
	// The kinds octez no longer uses: unused_entry, 1 per 10 s (200,
	// 240-250).
	tezos.TagGetCheckpoint:        {1, 10 * time.Second, 10 * time.Second},
	tezos.TagCheckpoint:           {1, 10 * time.Second, 10 * time.Second},
	tezos.TagGetPredecessorHeader: {1, 10 * time.Second, 10 * time.Second},
	tezos.TagPredecessorHeader:    {1, 10 * time.Second, 10 * time.Second},
	tezos.TagGetProtocolBranch:    {1, 10 * time.Second, 10 * time.Second},
	tezos.TagProtocolBranch:       {1, 10 * time.Second, 10 * time.Second},
}

// throttleEntry is octez's throttle_entry (59-70): a count in the window
// that started at start (zero: no message yet).
type throttleEntry struct {
	count int
	start time.Time
}

// throttle is a connection's throttle state (octez throttle_state, one
// entry per kind). Owned by the connection's reader.
type throttle map[uint16]*throttleEntry

// check is octez's throttle (152-193) up to its sleep: it reports the
// cooldown to sleep, zero if the message is within its kind's limit.
func (t throttle) check(tag uint16, now time.Time) time.Duration {
	params, ok := throttleTable[tag]
	if !ok {
		return 0 // 156
	}
	e := t[tag]
	if e == nil {
		e = &throttleEntry{}
		t[tag] = e
	}
	// 159-166: in the window if one started less than window_s ago.
	if e.start.IsZero() || now.Sub(e.start) >= params.window {
		e.start, e.count = now, 1 // 168-171
		return 0
	}
	e.count++ // 173
	if e.count > params.n {
		return params.cooldown // 174-192
	}
	return 0
}
