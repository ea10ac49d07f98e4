package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// Size of the terminal when it cannot be asked, and the live view's
// bounds.
const (
	fallbackWidth, fallbackHeight = 80, 24
	columnGap                     = "  "
	// finalRows is the most nodes the final table shows: past it, those
	// below their target first, then the others in order, and a line
	// says how many more -json would print.
	finalRows = 100
)

// view shows the swarm while it runs: a table redrawn in place on a
// terminal, fitted to the terminal's size; a progress line a second
// otherwise; nothing on stdout with -json.
type view struct {
	s   *swarm
	w   io.Writer // stdout
	log io.Writer // where the intro goes with -json: stderr
	tty bool
	// size returns the terminal's width and height; only called when
	// tty. Tests feed a fixed size.
	size func() (width, height int, err error)
}

func newView(s *swarm, stdout, stderr io.Writer) *view {
	v := &view{s: s, w: stdout, log: stderr}
	// term.IsTerminal, not a character-device check: /dev/null is a
	// character device but takes no escapes and has no size.
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		v.tty = true
		v.size = func() (int, int, error) { return term.GetSize(fd) }
	}
	return v
}

// screen returns the terminal's size, 80×24 if it cannot be read.
func (v *view) screen() (width, height int) {
	w, h, err := v.size()
	if err != nil || w <= 0 || h <= 0 {
		return fallbackWidth, fallbackHeight
	}
	return w, h
}

// live refreshes the view until d has passed, ctx ends, or, with
// -until-target, every node has reached its target; it reports whether
// ctx ended first.
func (v *view) live(ctx context.Context, d time.Duration) (interrupted bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	var tick <-chan time.Time
	switch {
	case v.s.opts.json:
		fmt.Fprintln(v.log, v.intro())
	case v.tty:
		// The chain and ports are in every frame's header.
		io.WriteString(v.w, "\x1b[?25l\x1b[H\x1b[2J") // hide the cursor, clear
		t := time.NewTicker(ttyRefresh)
		defer t.Stop()
		tick = t.C
	default:
		fmt.Fprintln(v.w, v.intro())
		t := time.NewTicker(pipeRefresh)
		defer t.Stop()
		tick = t.C
	}
	var allAtTarget <-chan struct{}
	if v.s.opts.untilTarget {
		allAtTarget = v.s.allAtTarget
	}
	// Once every node has reached its target, -until-target checks every
	// convergeCheck whether the swarm has converged: every node at its
	// target now (a node may lose a connection after reaching it) and
	// the graph connected (islands that each meet their targets are not
	// a converged swarm).
	var converge <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return true
		case <-deadline.C:
			return false
		case <-allAtTarget:
			allAtTarget = nil
			t := time.NewTicker(convergeCheck)
			defer t.Stop()
			converge = t.C
			if v.s.converged() {
				v.lastLine()
				return false
			}
		case <-converge:
			if v.s.converged() {
				v.lastLine()
				return false
			}
		case <-tick:
			snap := v.s.snapshot()
			if v.tty {
				v.frame(snap)
			} else {
				v.progress(snap)
			}
		}
	}
}

// lastLine prints, in a pipe, a last progress line when the swarm
// converged, however soon.
func (v *view) lastLine() {
	if !v.s.opts.json && !v.tty {
		v.progress(v.s.snapshot())
	}
}

// intro is the line printed at start in a pipe: the chain the nodes
// announce and where each listens.
func (v *view) intro() string {
	if v.s.mem() {
		return fmt.Sprintf("swarm: chain %s, %d nodes on %s, each listening on port %d",
			messages().ChainName, len(v.s.nodes), v.s.addr(), memPort)
	}
	ports := make([]string, len(v.s.nodes))
	for i, n := range v.s.nodes {
		ports[i] = strconv.Itoa(int(n.point.Port()))
	}
	return fmt.Sprintf("swarm: chain %s, %d nodes listening on %s, ports by node: %s",
		messages().ChainName, len(v.s.nodes), v.s.addr(), strings.Join(ports, " "))
}

// final shows the final table: on a terminal in place of the live one,
// every node up to finalRows (the screen scrolls if need be), as wide as
// the terminal.
func (v *view) final(snap swarmState) {
	if v.tty {
		width, _ := v.screen()
		v.draw(v.layout(snap, width, 0))
		io.WriteString(v.w, "\x1b[?25h\n") // show the cursor again
		return
	}
	fmt.Fprintln(v.w)
	var rows []int // nil: all
	if len(snap.nodes) > finalRows {
		rows = pickRows(snap.nodes, finalRows, v.s.opts.target)
	}
	lines := v.table(snap, allColumns(v.s.mem()), rows)
	if rows != nil {
		lines = append(lines, v.moreNodes(snap, rows)+" · -json prints every node")
	}
	io.WriteString(v.w, strings.Join(lines, "\n")+"\n")
	fmt.Fprintln(v.w)
}

// moreNodes says how many nodes the table leaves out of those shown,
// and how many of them are below their target: "+41 more nodes (2 below
// target)".
func (v *view) moreNodes(snap swarmState, shown []int) string {
	below, shownBelow := 0, 0
	for _, st := range snap.nodes {
		if st.Connections < v.s.opts.target {
			below++
		}
	}
	for _, i := range shown {
		if snap.nodes[i].Connections < v.s.opts.target {
			shownBelow++
		}
	}
	seg := fmt.Sprintf("+%d more nodes", len(snap.nodes)-len(shown))
	if b := below - shownBelow; b > 0 {
		seg += fmt.Sprintf(" (%d below target)", b)
	}
	return seg
}

// frame redraws the screen from the top left, fitted to the terminal:
// each line is cleared to its end and the rest of the screen below,
// which does not flicker as a full clear would. The last line has no
// newline, so that a frame as high as the screen does not scroll it.
func (v *view) frame(snap swarmState) {
	width, height := v.screen()
	v.draw(v.layout(snap, width, height))
}

// draw writes lines from the top left of the screen, over what was there.
func (v *view) draw(lines []string) {
	var b strings.Builder
	b.WriteString("\x1b[H")
	for i, line := range lines {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(line)
		b.WriteString("\x1b[K")
	}
	b.WriteString("\x1b[J")
	io.WriteString(v.w, b.String())
}

// layout lays out the live view in width columns and height lines (no
// bound on lines if height is 0): the header, then the table. When the
// table is too wide it drops columns, the least useful first (see
// columns); when too high, it drops nodes, those at their target first;
// a last line says what was dropped.
func (v *view) layout(snap swarmState, width, height int) []string {
	head := v.header(snap, width)
	if height > 0 && len(head)+2 > height {
		head = []string{head[len(head)-1]} // the progress line
	}
	cols, hidden := fitColumns(width, v.s.mem())
	nodes := snap.nodes
	rows := len(nodes)
	if height == 0 {
		rows = min(rows, finalRows)
	} else {
		room := height - len(head) - 1 // the column headings
		if rows > room || len(hidden) > 0 {
			room-- // the line that says what is not shown
		}
		rows = max(0, min(rows, room))
	}
	shown := pickRows(nodes, rows, v.s.opts.target)
	lines := slices.Concat(head, v.table(snap, cols, shown))
	var note []string
	if len(shown) < len(nodes) {
		note = append(note, v.moreNodes(snap, shown))
	}
	if len(hidden) > 0 {
		note = append(note, fmt.Sprintf("%d columns hidden (%s)", len(hidden), strings.Join(hidden, ", ")))
	}
	if len(note) > 0 {
		note = append(note, "a larger terminal shows them")
		lines = append(lines, fitSegments(note, width))
	}
	for i := range lines {
		lines[i] = cut(lines[i], width)
	}
	if height > 0 && len(lines) > height {
		lines = lines[:height]
	}
	return lines
}

// pickRows returns the indexes of the n nodes to show, in order: those
// below target first, as they are what one waits for, then the others.
func pickRows(nodes []nodeStat, n, target int) []int {
	if n >= len(nodes) {
		n = len(nodes)
	}
	var pick []int
	for i, st := range nodes {
		if len(pick) < n && st.Connections < target {
			pick = append(pick, i)
		}
	}
	for i, st := range nodes {
		if len(pick) < n && st.Connections >= target {
			pick = append(pick, i)
		}
	}
	slices.Sort(pick)
	return pick
}

// header is the live view's header, each line fitted to width.
func (v *view) header(snap swarmState, width int) []string {
	o := v.s.opts
	at := 0
	for _, st := range snap.nodes {
		if st.reached > 0 {
			at++
		}
	}
	graph := "connected"
	if snap.components != 1 {
		graph = fmt.Sprintf("%d components", snap.components)
	}
	elapsed := min(time.Since(v.s.started), o.duration)
	// Each line's segments go from the most to the least useful: those
	// that do not fit are dropped from the end.
	first := []string{"p2ppool swarm", "chain " + messages().ChainName,
		fmt.Sprintf("%d nodes on %s", o.nodes, v.s.addr()),
		fmt.Sprintf("%g msgs/s/node", o.rate)}
	if o.cap > 0 {
		first = append(first, "upload cap "+humanRate(int(o.cap))+"/node")
	}
	first = append(first, fmt.Sprintf("max %d connections/node", 2*o.target+2))
	where := fmt.Sprintf("port %d on each host", memPort)
	if !v.s.mem() {
		ports := make([]uint16, len(v.s.nodes))
		for i, n := range v.s.nodes {
			ports[i] = n.point.Port()
		}
		where = portRanges(ports, width)
	}
	return []string{
		fitSegments(first, width),
		where,
		fitSegments([]string{
			fmt.Sprintf("%v of %v", elapsed.Truncate(100*time.Millisecond), o.duration),
			"graph " + graph,
			fmt.Sprintf("%d/%d nodes at target %d", at, o.nodes, o.target),
			plural(snap.edges, "connection")}, width),
	}
}

// addr is where the nodes listen: 127.0.0.1, or with -net mem the range
// of their in-memory hosts.
func (s *swarm) addr() string {
	switch {
	case len(s.nodes) == 0:
		return "127.0.0.1"
	case s.mem():
		return fmt.Sprintf("in-memory hosts %v-%v", s.nodes[0].point.Addr(), s.nodes[len(s.nodes)-1].point.Addr())
	}
	return s.nodes[0].point.Addr().String()
}

// mem reports whether the swarm runs on the in-memory network (-net mem).
func (s *swarm) mem() bool { return s.opts.net == "mem" }

// portRanges formats the listening ports, sorted, runs as ranges, within
// width: "ports 40001-40003 40117 …(+9)".
func portRanges(ports []uint16, width int) string {
	ps := slices.Sorted(slices.Values(ports))
	var runs []string
	var counts []int // ports in runs[:i+1]
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		r := strconv.Itoa(int(ps[i]))
		if j > i {
			r += "-" + strconv.Itoa(int(ps[j]))
		}
		runs = append(runs, r)
		counts = append(counts, j+1)
		i = j + 1
	}
	line := "ports"
	for i, r := range runs {
		next := line + " " + r
		suffix := ""
		if rest := len(ps) - counts[i]; rest > 0 {
			suffix = fmt.Sprintf(" …(+%d)", rest)
		}
		if width > 0 && runeLen(next+suffix) > width {
			done := 0
			if i > 0 {
				done = counts[i-1]
			}
			return cut(line+fmt.Sprintf(" …(+%d)", len(ps)-done), width)
		}
		line = next
	}
	return line
}

// column is one column of the node table.
type column struct {
	head  string
	width int
	left  bool // aligned left
	// group names the columns dropped together; groups are dropped in
	// the order of dropOrder.
	group string
	value func(st *nodeStat, point netip.AddrPort) string
}

// dropOrder is the order in which a narrow terminal loses columns, least
// useful first: message counts say what byte counts say; byte totals
// what the current rates show live; the known points matter less than
// connections; the peer id is in -json and the topology; the rates go
// before the port, which says which process is which.
var dropOrder = []string{"msgs", "bytes", "points", "peer id", "rates", "port"}

// allColumns returns the table's columns; with mem (-net mem, where every
// node listens on the same port of a host of its own) the host's address
// takes the place of the port.
func allColumns(mem bool) []column {
	where := column{"port", 5, false, "port", func(_ *nodeStat, p netip.AddrPort) string { return strconv.Itoa(int(p.Port())) }}
	if mem {
		where = column{"host", 12, true, "port", func(_ *nodeStat, p netip.AddrPort) string { return p.Addr().String() }}
	}
	return []column{
		{"node", 4, false, "", func(st *nodeStat, _ netip.AddrPort) string { return strconv.Itoa(st.Node) }},
		where,
		{"peer id", 12, true, "peer id", func(st *nodeStat, _ netip.AddrPort) string { return st.PeerID.String()[:12] }},
		{"conns", 5, false, "", func(st *nodeStat, _ netip.AddrPort) string { return strconv.Itoa(st.Connections) }},
		{"points", 6, false, "points", func(st *nodeStat, _ netip.AddrPort) string { return strconv.Itoa(st.KnownPoints) }},
		{"msgs in", 9, false, "msgs", func(st *nodeStat, _ netip.AddrPort) string { return strconv.FormatUint(st.MsgsIn, 10) }},
		{"msgs out", 9, false, "msgs", func(st *nodeStat, _ netip.AddrPort) string { return strconv.FormatUint(st.MsgsOut, 10) }},
		{"bytes in", 9, false, "bytes", func(st *nodeStat, _ netip.AddrPort) string { return humanBytes(st.BytesIn) }},
		{"bytes out", 9, false, "bytes", func(st *nodeStat, _ netip.AddrPort) string { return humanBytes(st.BytesOut) }},
		{"in/s", 10, false, "rates", func(st *nodeStat, _ netip.AddrPort) string { return humanRate(st.Inflow) }},
		{"out/s", 10, false, "rates", func(st *nodeStat, _ netip.AddrPort) string { return humanRate(st.Outflow) }},
	}
}

// fitColumns returns the columns that fit in width, dropping groups in
// dropOrder, and the groups it dropped.
func fitColumns(width int, mem bool) (cols []column, dropped []string) {
	cols = allColumns(mem)
	tableWidth := func() int {
		w := 0
		for _, c := range cols {
			w += c.width
		}
		return w + len(columnGap)*(len(cols)-1)
	}
	for _, g := range dropOrder {
		if tableWidth() <= width {
			break
		}
		cols = slices.DeleteFunc(cols, func(c column) bool { return c.group == g })
		dropped = append(dropped, g)
	}
	return cols, dropped
}

// table formats the column headings and the rows of the nodes at
// indexes rows (all nodes if rows is nil), without newlines.
func (v *view) table(snap swarmState, cols []column, rows []int) []string {
	if rows == nil {
		rows = make([]int, len(snap.nodes))
		for i := range rows {
			rows[i] = i
		}
	}
	format := func(cell func(c column) string) string {
		var b strings.Builder
		for i, c := range cols {
			if i > 0 {
				b.WriteString(columnGap)
			}
			s := cell(c)
			if c.left {
				fmt.Fprintf(&b, "%-*s", c.width, s)
			} else {
				fmt.Fprintf(&b, "%*s", c.width, s)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	lines := []string{format(func(c column) string { return c.head })}
	for _, i := range rows {
		st := &snap.nodes[i]
		var point netip.AddrPort
		if i < len(v.s.nodes) {
			point = v.s.nodes[i].point
		}
		lines = append(lines, format(func(c column) string { return c.value(st, point) }))
	}
	return lines
}

// fitSegments joins segs with " · ", leaving out the last segments if
// the line would be wider than width (0: no bound); the first segment is
// kept, cut if need be.
func fitSegments(segs []string, width int) string {
	line := segs[0]
	for _, s := range segs[1:] {
		next := line + " · " + s
		if width > 0 && runeLen(next) > width {
			break
		}
		line = next
	}
	return cut(line, width)
}

// cut shortens s to width runes (0: no bound), ending it with "…" if it
// was longer.
func cut(s string, width int) string {
	if width <= 0 || runeLen(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// runeLen is the width of s on a terminal: every character the view
// prints takes one column.
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// progress prints one compact line, for logs and pipes.
func (v *view) progress(snap swarmState) {
	minC, maxC, at := -1, 0, 0
	var in, out uint64
	var inflow, outflow int
	for _, st := range snap.nodes {
		inflow += st.Inflow
		outflow += st.Outflow
		if minC < 0 || st.Connections < minC {
			minC = st.Connections
		}
		maxC = max(maxC, st.Connections)
		if st.reached > 0 {
			at++
		}
		in += st.MsgsIn
		out += st.MsgsOut
	}
	graph := "connected"
	if snap.components != 1 {
		graph = fmt.Sprintf("%d components", snap.components)
	}
	fmt.Fprintf(v.w, "%5.1fs  %d connections (per node %d-%d)  %d/%d at target  graph %s  msgs out %d in %d  flow out %s in %s\n",
		time.Since(v.s.started).Seconds(), snap.edges, minC, maxC, at, len(snap.nodes), graph, out, in,
		humanRate(outflow), humanRate(inflow))
}
