package p2ppool

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWatcherDropsAndMarksWhenFull(t *testing.T) {
	var h eventHub
	ctx := context.Background()
	slow := h.watch(ctx, 4)
	fast := h.watch(ctx, 100)
	defer slow.Close()
	defer fast.Close()
	for i := range 10 {
		h.publish(Event{Kind: EventNewPeer, Dropped: uint64(i)}) // Dropped used as a sequence number here
	}
	// The fast watcher saw everything, in order.
	for i := range 10 {
		e, err := fast.Next(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint64(i), e.Dropped)
	}
	// The slow one kept the first 4, lost 6, and is told so.
	for i := range 4 {
		e, err := slow.Next(ctx)
		require.NoError(t, err)
		assert.Equal(t, EventNewPeer, e.Kind)
		assert.Equal(t, uint64(i), e.Dropped)
	}
	e, err := slow.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, EventsDropped, e.Kind)
	assert.Equal(t, uint64(6), e.Dropped)
	assert.Equal(t, uint64(6), slow.Missed())

	// After a gap, the marker comes before the next event, in place.
	for i := range 6 {
		h.publish(Event{Kind: EventNewPoint, Dropped: uint64(100 + i)})
	}
	h.publish(Event{Kind: EventGCPoints})
	var kinds []EventKind
	for range 4 {
		e, err := slow.Next(ctx)
		require.NoError(t, err)
		kinds = append(kinds, e.Kind)
	}
	assert.Equal(t, []EventKind{EventNewPoint, EventNewPoint, EventNewPoint, EventNewPoint}, kinds)
	h.publish(Event{Kind: EventGCPeers}) // room now: marker for the 3 lost, then this one
	e, _ = slow.Next(ctx)
	assert.Equal(t, EventsDropped, e.Kind)
	assert.Equal(t, uint64(3), e.Dropped)
	e, _ = slow.Next(ctx)
	assert.Equal(t, EventGCPeers, e.Kind)
	assert.Equal(t, uint64(9), slow.Missed())
}

func TestWatcherClose(t *testing.T) {
	var h eventHub
	ctx, cancel := context.WithCancel(context.Background())
	w := h.watch(ctx, 8)
	h.publish(Event{Kind: EventNewPeer})
	cancel() // ending the context closes the watcher
	<-w.done
	e, err := w.Next(context.Background())
	require.NoError(t, err, "buffered events survive the close")
	assert.Equal(t, EventNewPeer, e.Kind)
	_, err = w.Next(context.Background())
	require.ErrorIs(t, err, ErrWatcherClosed)
	h.publish(Event{Kind: EventNewPoint}) // not delivered, no panic
	assert.Empty(t, h.watchers)

	h.close()
	late := h.watch(context.Background(), 1)
	_, err = late.Next(context.Background())
	require.ErrorIs(t, err, ErrWatcherClosed, "a watcher of a closed hub starts closed")
}

func TestWatcherNextHonoursContext(t *testing.T) {
	var h eventHub
	w := h.watch(context.Background(), 1)
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := w.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

// TestStringersNeverPanic: every enum's String copes with values out of
// its range, as a value read from a file or a newer peer may be.
func TestStringersNeverPanic(t *testing.T) {
	for _, v := range []fmt.Stringer{
		EventKind(255), PeerState(255), PointState(255), PeerEventKind(255), PointEventKind(255),
		DisconnectReason(255), RefusalReason(255), DropReason(255), HandshakeStage(255),
		NackMotive(-7), UnknownMessagePolicy(255),
	} {
		assert.NotPanics(t, func() { _ = v.String() }, "%T", v)
		assert.NotEmpty(t, v.String(), "%T", v)
	}
}

// TestWatcherBufferGrows: a watcher's ring takes memory for the events it
// is behind by, growing across a wrap-around without reordering them, and
// never holds more than its bound.
func TestWatcherBufferGrows(t *testing.T) {
	var h eventHub
	ctx := context.Background()
	w := h.watch(ctx, 20)
	defer w.Close()
	assert.Empty(t, w.buf.buf, "no buffer before the first event")
	seq, next := uint64(0), uint64(0)
	publish := func(k int) {
		for range k {
			h.publish(Event{Kind: EventNewPeer, Dropped: seq})
			seq++
		}
	}
	read := func(k int) {
		t.Helper()
		for range k {
			e, err := w.Next(ctx)
			require.NoError(t, err)
			require.Equal(t, next, e.Dropped)
			next++
		}
	}
	publish(5)
	assert.Len(t, w.buf.buf, 8)
	read(3)
	publish(5) // wraps around the 8 slots: 7 queued
	assert.Len(t, w.buf.buf, 8)
	publish(3) // 10 queued: grows to 16, unwrapping the ring
	assert.Len(t, w.buf.buf, 16)
	read(4)
	publish(14) // 20 queued: grows to the bound, 20
	assert.Len(t, w.buf.buf, 20)
	read(20)
	assert.Equal(t, seq, next)
	publish(25) // 20 kept, 5 dropped
	assert.Len(t, w.buf.buf, 20)
	read(20)
	e, err := w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, EventsDropped, e.Kind)
	assert.Equal(t, uint64(5), e.Dropped)
}
