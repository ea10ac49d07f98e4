package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSwarm is a swarm of n nodes that listen on 127.0.0.1:40000+i (not
// started: only what the view reads), connected in a ring plus chords so
// that every node has target connections, except the nodes in below,
// which have one (in the view's counts only).
func fakeSwarm(t *testing.T, n, target int, below ...int) (*swarm, swarmState) {
	t.Helper()
	s := &swarm{opts: &options{nodes: n, target: target, duration: 10 * time.Second, rate: 20}, started: time.Now()}
	for i := range n {
		s.nodes = append(s.nodes, &node{idx: i, point: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+i))})
	}
	var edges [][2]int
	for i := range n {
		for d := 1; d <= target/2; d++ {
			edges = append(edges, [2]int{i, (i + d) % n})
		}
	}
	snap := fakeSnapshot(t, s, n, edges)
	for i := range snap.nodes {
		st := &snap.nodes[i]
		st.KnownPoints, st.MsgsIn, st.MsgsOut = n-1, 123456, 123457
		st.BytesIn, st.BytesOut, st.Inflow, st.Outflow = 12_345_678, 12_345_679, 123_456, 654_321
		st.reached = time.Second
	}
	for _, i := range below { // the view reads only the counts
		snap.nodes[i].Connections, snap.nodes[i].reached = 1, 0
	}
	return s, snap
}

// assertFits checks that lines fit a width×height screen.
func assertFits(t *testing.T, lines []string, width, height int) {
	t.Helper()
	assert.LessOrEqual(t, len(lines), height, "lines")
	for _, l := range lines {
		assert.LessOrEqual(t, runeLen(l), width, "%q", l)
		assert.NotContains(t, l, "\n")
	}
}

func TestViewLayoutFits(t *testing.T) {
	for _, tc := range []struct {
		nodes, width, height int
		below                []int
	}{
		{16, 80, 24, nil},
		{16, 200, 50, nil},
		{60, 80, 24, []int{50, 57}},
		{60, 200, 50, []int{55}},
		{200, 120, 40, []int{3, 199}},
		{16, 40, 12, nil},
		{16, 20, 5, nil},
		{16, 8, 2, nil},
	} {
		t.Run(fmt.Sprintf("%d nodes %dx%d", tc.nodes, tc.width, tc.height), func(t *testing.T) {
			s, snap := fakeSwarm(t, tc.nodes, 4, tc.below...)
			v := &view{s: s, tty: true}
			lines := v.layout(snap, tc.width, tc.height)
			assertFits(t, lines, tc.width, tc.height)
			if tc.height < 10 {
				return
			}
			text := strings.Join(lines, "\n")
			for _, i := range tc.below {
				assert.Regexp(t, fmt.Sprintf(`(?m)^\s*%d\s+%d\b`, i, 40000+i), text, "node %d, below its target, is shown", i)
			}
		})
	}
}

// At 80×24, 16 nodes (the default) keep every row; the columns that do
// not fit are named.
func TestViewLayout80x24(t *testing.T) {
	s, snap := fakeSwarm(t, 16, 4)
	v := &view{s: s, tty: true}
	lines := v.layout(snap, 80, 24)
	assertFits(t, lines, 80, 24)
	text := strings.Join(lines, "\n")
	t.Log("\n" + text)
	assert.Equal(t, "p2ppool swarm · chain P2PPOOL_SWARM · 16 nodes on 127.0.0.1 · 20 msgs/s/node", lines[0])
	assert.Regexp(t, `^\d+(\.\d)?m?s of 10s · graph connected · 16/16 nodes at target 4 · 32 connections$`, lines[2])
	assert.Equal(t, "ports 40000-40015", lines[1])
	assert.Regexp(t, `^node\s+port\s+peer id\s+conns\s+points\s+in/s\s+out/s$`, lines[3])
	for i := range 16 {
		assert.Regexp(t, fmt.Sprintf(`(?m)^\s*%d\s+%d\s+id\w{10}\s+4\s+15\s`, i, 40000+i), text)
	}
	assert.Equal(t, "2 columns hidden (msgs, bytes) · a larger terminal shows them", lines[len(lines)-1])
	assert.NotContains(t, text, "more nodes")
}

func TestViewLayout200x50(t *testing.T) {
	s, snap := fakeSwarm(t, 16, 4)
	v := &view{s: s, tty: true}
	lines := v.layout(snap, 200, 50)
	assertFits(t, lines, 200, 50)
	assert.Len(t, lines, 3+1+16, "header, headings, every node, no note")
	assert.Regexp(t, `^node\s+port\s+peer id\s+conns\s+points\s+msgs in\s+msgs out\s+bytes in\s+bytes out\s+in/s\s+out/s$`, lines[3])
	assert.Equal(t, "p2ppool swarm · chain P2PPOOL_SWARM · 16 nodes on 127.0.0.1 · 20 msgs/s/node · max 10 connections/node", lines[0])
	assert.Regexp(t, `^\d+(\.\d)?m?s of 10s · graph connected · 16/16 nodes at target 4 · 32 connections$`, lines[2])
}

// With more nodes than lines, the rows left out are those at target,
// and the last line says how many.
func TestViewLayoutDropsRows(t *testing.T) {
	s, snap := fakeSwarm(t, 60, 4, 50, 57)
	v := &view{s: s, tty: true}
	lines := v.layout(snap, 80, 24)
	require.Len(t, lines, 24)
	rows := lines[4:23]
	assert.Regexp(t, `^\s*0\s`, rows[0], "in node order")
	assert.Regexp(t, `^\s*50\s+40050\s+id\w+\s+1\s`, rows[17])
	assert.Regexp(t, `^\s*57\s+40057\s+id\w+\s+1\s`, rows[18])
	assert.Equal(t, "+41 more nodes · 2 columns hidden (msgs, bytes) · a larger terminal shows them", lines[23])
}

func TestPortRanges(t *testing.T) {
	assert.Equal(t, "ports 40000-40002 40007 40009-40010", portRanges([]uint16{40009, 40000, 40002, 40001, 40007, 40010}, 0))
	assert.Equal(t, "ports 40000-40002 …(+3)", portRanges([]uint16{40009, 40000, 40002, 40001, 40007, 40010}, 26))
	assert.Equal(t, "ports …(+6)", portRanges([]uint16{40009, 40000, 40002, 40001, 40007, 40010}, 12))
	assert.Equal(t, "port…", portRanges([]uint16{40009, 40000}, 5))
}

// A frame on a terminal redraws in place: from the top left, each line
// cleared to its end, the rest of the screen cleared, and no newline
// after the last line, so a frame as high as the screen does not scroll
// (the old frame piled up in the scrollback).
func TestViewFrameInPlace(t *testing.T) {
	for _, nodes := range []int{3, 16, 60} {
		s, snap := fakeSwarm(t, nodes, 2)
		var out bytes.Buffer
		v := &view{s: s, w: &out, tty: true, size: func() (int, int, error) { return 80, 24, nil }}
		v.frame(snap)
		frame := out.String()
		require.True(t, strings.HasPrefix(frame, "\x1b[H"), "starts from the top left")
		require.True(t, strings.HasSuffix(frame, "\x1b[K\x1b[J"), "clears what is left below")
		body := strings.TrimSuffix(strings.TrimPrefix(frame, "\x1b[H"), "\x1b[K\x1b[J")
		lines := strings.Split(body, "\x1b[K\n")
		assertFits(t, lines, 80, 24)
		assert.Contains(t, frame, " · graph connected · ")
		assert.Regexp(t, ` · \d+ connections\x1b\[K\n`, frame)
		if nodes == 60 {
			assert.Len(t, lines, 24, "uses the whole screen")
		}
	}
}

// A screen whose size cannot be read is taken as 80×24.
func TestViewFallbackSize(t *testing.T) {
	s, snap := fakeSwarm(t, 40, 4)
	var out bytes.Buffer
	v := &view{s: s, w: &out, tty: true, size: func() (int, int, error) { return 0, 0, os.ErrInvalid }}
	v.frame(snap)
	assertFits(t, strings.Split(strings.TrimSuffix(out.String(), "\x1b[K\x1b[J"), "\x1b[K\n"), 80, 24)
}

// The final table on a terminal shows every node, still as wide as the
// terminal, and shows the cursor again.
func TestViewFinalOnTerminal(t *testing.T) {
	s, snap := fakeSwarm(t, 60, 4)
	var out bytes.Buffer
	v := &view{s: s, w: &out, tty: true, size: func() (int, int, error) { return 80, 24, nil }}
	v.final(snap)
	text := out.String()
	require.True(t, strings.HasPrefix(text, "\x1b[H"))
	require.True(t, strings.HasSuffix(text, "\x1b[K\x1b[J\x1b[?25h\n"))
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(text, "\x1b[H"), "\x1b[K\x1b[J\x1b[?25h\n"), "\x1b[K\n")
	assertFits(t, lines, 80, 3+1+60+1)
	assert.Len(t, lines, 3+1+60+1)
}

// In a pipe the view prints plain lines: the intro, then one progress
// line per tick, and the full table at the end.
func TestViewPipe(t *testing.T) {
	var buf bytes.Buffer
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer devNull.Close()
	s, snap := fakeSwarm(t, 16, 4)
	for _, w := range []*os.File{devNull} {
		assert.False(t, newView(s, w, &buf).tty, "%s is a character device but no terminal", w.Name())
	}
	v := newView(s, &buf, &buf)
	require.False(t, v.tty)
	fmt.Fprintln(&buf, v.intro())
	v.progress(snap)
	v.final(snap)
	text := buf.String()
	assert.NotContains(t, text, "\x1b")
	lines := strings.Split(text, "\n")
	assert.Equal(t, "swarm: chain P2PPOOL_SWARM, 16 nodes listening on 127.0.0.1, ports by node: "+
		"40000 40001 40002 40003 40004 40005 40006 40007 40008 40009 40010 40011 40012 40013 40014 40015", lines[0])
	assert.Regexp(t, regexp.MustCompile(`^\s+\d+\.\ds  32 connections \(per node 4-4\)  16/16 at target  graph connected  msgs out \d+ in \d+  flow out \S+ in \S+$`), lines[1])
	assert.Empty(t, lines[2])
	assert.Regexp(t, `^node\s+port\s+peer id\s+conns\s+points\s+msgs in\s+msgs out\s+bytes in\s+bytes out\s+in/s\s+out/s$`, lines[3], "all columns")
	assert.Len(t, lines, 1+1+1+1+16+2)
}

// Past finalRows nodes the final table shows finalRows of them, those
// below their target first, and says how many it left out.
func TestViewFinalSample(t *testing.T) {
	s, snap := fakeSwarm(t, finalRows+50, 4, 3, finalRows+40)
	var buf bytes.Buffer
	v := newView(s, &buf, &buf)
	v.final(snap)
	lines := strings.Split(strings.Trim(buf.String(), "\n"), "\n")
	require.Len(t, lines, 1+finalRows+1, "headings, rows, the note")
	assert.Regexp(t, `^\s+3\s`, lines[4], "node 3, below target, in order")
	assert.Regexp(t, `^\s+140\s`, lines[finalRows], "node 140, below target, shown though past the first 100")
	assert.Equal(t, "+50 more nodes · -json prints every node", lines[len(lines)-1])

	// On a terminal too.
	buf.Reset()
	v = &view{s: s, w: &buf, tty: true, size: func() (int, int, error) { return 200, 50, nil }}
	v.final(snap)
	assert.Contains(t, buf.String(), "+50 more nodes")
	assert.Equal(t, 3+1+finalRows+1, strings.Count(buf.String(), "\x1b[K"))
}
