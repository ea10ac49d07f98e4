package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/p2ppool/p2ppool"
)

// layoutSeed seeds the force layout of -svg: the same swarm gives the
// same picture.
const layoutSeed = 1

// topoFlags are the -svg and -dot flags: files to write the swarm's
// connection graph to when it ends.
type topoFlags struct{ svg, dot string }

func (f *topoFlags) register(flags *flag.FlagSet) {
	flags.StringVar(&f.svg, "svg", "", "when the swarm ends, write a picture of its connection graph to `FILE` (SVG)")
	flags.StringVar(&f.dot, "dot", "", "when the swarm ends, write its connection graph to `FILE` (Graphviz dot)")
}

func (f topoFlags) wanted() bool { return f.svg != "" || f.dot != "" }

// check reports, before the swarm starts, a file that could not be
// written at the end: its folder is missing or not writable, or it is a
// folder. Errors name the flag and the file as given.
func (f topoFlags) check() error {
	for _, o := range []struct{ flag, file string }{{"-svg", f.svg}, {"-dot", f.dot}} {
		if o.file == "" {
			continue
		}
		if fi, err := os.Stat(o.file); err == nil && fi.IsDir() {
			return fmt.Errorf("%s %s: is a folder", o.flag, o.file)
		}
		dir := filepath.Dir(o.file)
		fi, err := os.Stat(dir)
		if err == nil && !fi.IsDir() {
			err = errors.New("not a folder")
		}
		if err == nil {
			var probe *os.File
			if probe, err = os.CreateTemp(dir, ".swarm-probe-*"); err == nil {
				probe.Close()
				os.Remove(probe.Name())
			}
		}
		if err != nil {
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
				err = pe.Err // the path is the probe's or dir's; name the user's
			}
			return fmt.Errorf("%s %s: cannot write in folder %s: %w", o.flag, o.file, dir, err)
		}
	}
	return nil
}

// write writes the files asked for, if any, and reports them on report.
// A failure makes run exit with exitSetupFailed.
func (f topoFlags) write(t topology, report io.Writer) error {
	if !f.wanted() {
		return nil
	}
	for _, o := range []struct {
		file string
		fn   func(io.Writer, topology) error
	}{{f.svg, writeSVG}, {f.dot, writeDOT}} {
		if o.file == "" {
			continue
		}
		var b bytes.Buffer
		if err := o.fn(&b, t); err != nil {
			return fmt.Errorf("%s: %w", o.file, err)
		}
		if err := os.WriteFile(o.file, b.Bytes(), 0o644); err != nil {
			return err // *fs.PathError: names o.file
		}
	}
	names := slices.DeleteFunc([]string{f.svg, f.dot}, func(s string) bool { return s == "" })
	fmt.Fprintf(report, "  topology:    %s (%s, %s, %d greylisted, %d banned)\n",
		strings.Join(names, ", "), t.drawn(), plural(len(t.edges), "connection"),
		t.count(markGreylisted), t.count(markBanned))
	return nil
}

// topology is the swarm's connection graph at one instant, with what
// each node's ACL holds against the others.
type topology struct {
	chain      string
	addr       netip.Addr // where the nodes listen
	target     int
	components int
	nodes      []topoNode
	edges      [][2]int // connected pairs, i < j, sorted, as indexes of nodes
	marks      []topoMark
	// mem is set with -net mem: each node on a host of its own, named in
	// its label in place of the port.
	mem bool
	// total is the number of nodes of the swarm when nodes is a sample
	// of them (see sample); 0 when nodes has them all.
	total int
}

// topoSample is the most nodes a picture draws: past it, a connected
// sample of that many (see sample), as a force layout of thousands of
// nodes is neither quick nor legible.
const topoSample = 200

// topoNode is one node of the graph.
type topoNode struct {
	num         int // the node's number in the swarm
	host        netip.Addr
	peer        p2ppool.PeerID
	port        uint16
	conns       int
	belowTarget bool
	// addrs are the addresses the node's ACL holds (the nodes share
	// one, so that one refuses every other node): "greylisted
	// 127.0.0.1".
	addrs []string
}

// label is the node's short peer id and port.
func (n topoNode) label(mem bool) string {
	if mem {
		return fmt.Sprintf("%s %v", n.peer.String()[:8], n.host)
	}
	return fmt.Sprintf("%s :%d", n.peer.String()[:8], n.port)
}

// sample returns t with at most limit nodes: if t has more, those reached
// first by a breadth-first walk from node 0 over the connections (then
// from the next node not reached, if the graph is not connected), with
// the connections and marks between them, so that the picture shows a
// neighbourhood of the swarm as it is. total records the swarm's size.
func (t topology) sample(limit int) topology {
	if len(t.nodes) <= limit {
		return t
	}
	adj := make([][]int, len(t.nodes))
	for _, e := range t.edges {
		adj[e[0]] = append(adj[e[0]], e[1])
		adj[e[1]] = append(adj[e[1]], e[0])
	}
	index := make(map[int]int, limit) // old index to new
	var order []int
	for start := 0; start < len(t.nodes) && len(order) < limit; start++ {
		if _, ok := index[start]; ok {
			continue
		}
		index[start] = len(order)
		order = append(order, start)
		for q := len(order) - 1; q < len(order) && len(order) < limit; q++ {
			for _, j := range adj[order[q]] {
				if _, ok := index[j]; !ok && len(order) < limit {
					index[j] = len(order)
					order = append(order, j)
				}
			}
		}
	}
	s := t
	s.total = len(t.nodes)
	s.nodes = make([]topoNode, len(order))
	for k, i := range order {
		s.nodes[k] = t.nodes[i]
	}
	s.edges, s.marks = nil, nil
	for _, e := range t.edges {
		a, okA := index[e[0]]
		b, okB := index[e[1]]
		if okA && okB {
			s.edges = append(s.edges, [2]int{min(a, b), max(a, b)})
		}
	}
	slices.SortFunc(s.edges, func(a, b [2]int) int { return slices.Compare(a[:], b[:]) })
	for _, m := range t.marks {
		by, okBy := index[m.by]
		peer, okPeer := index[m.peer]
		if okBy && okPeer {
			s.marks = append(s.marks, topoMark{by: by, peer: peer, kind: m.kind})
		}
	}
	return s
}

// where is where the nodes listen, for the titles.
func (t topology) where() string {
	if t.mem {
		return fmt.Sprintf("in-memory hosts, port %d", memPort)
	}
	return t.addr.String()
}

// drawn says how many nodes the picture draws: "16 nodes", or "200 of
// 30000 nodes (a connected sample from node 0)".
func (t topology) drawn() string {
	if t.total == 0 {
		return plural(len(t.nodes), "node")
	}
	return fmt.Sprintf("%d of %d nodes (a sample: those nearest node 0)", len(t.nodes), t.total)
}

// markKind is what a node's ACL holds against a peer.
type markKind int

const (
	markGreylisted markKind = iota
	markBanned
)

func (k markKind) String() string {
	if k == markBanned {
		return "banned"
	}
	return "greylisted"
}

// topoMark says that node by greylisted or banned the peer of node peer.
type topoMark struct {
	by, peer int
	kind     markKind
}

func (t topology) count(k markKind) int {
	n := 0
	for _, m := range t.marks {
		if m.kind == k {
			n++
		}
	}
	return n
}

// topology returns the swarm's graph as snap has it and what the
// nodes' ACLs hold now; call it before the pools close.
func (s *swarm) topology(snap swarmState) topology {
	ports := make([]uint16, len(s.nodes))
	acls := make([]p2ppool.ACLList, len(s.nodes))
	for i, n := range s.nodes {
		ports[i] = n.point.Port()
		acls[i] = n.pool.ACL().List()
	}
	t := buildTopology(snap, s.byPeer, ports, acls, s.opts.target)
	for i, n := range s.nodes {
		t.nodes[i].host = n.point.Addr()
	}
	if len(s.nodes) > 0 {
		t.addr = s.nodes[0].point.Addr()
	}
	t.mem = s.mem()
	return t.sample(topoSample)
}

// buildTopology makes the graph of snap: ports and acls are by node, and
// byPeer maps peer ids to nodes. Peers that are not nodes of the swarm
// are left out.
func buildTopology(snap swarmState, byPeer map[p2ppool.PeerID]int, ports []uint16, acls []p2ppool.ACLList, target int) topology {
	t := topology{chain: messages().ChainName, target: target, components: snap.components,
		addr: netip.MustParseAddr("127.0.0.1")}
	seen := make(map[[2]int]bool)
	for i, st := range snap.nodes {
		t.nodes = append(t.nodes, topoNode{num: i, host: t.addr, peer: st.PeerID, port: ports[i], conns: st.Connections,
			belowTarget: st.Connections < target})
		for _, p := range st.peers {
			if j, ok := byPeer[p]; ok && j != i {
				e := [2]int{min(i, j), max(i, j)}
				if !seen[e] {
					seen[e] = true
					t.edges = append(t.edges, e)
				}
			}
		}
		acl := acls[i]
		for _, l := range []struct {
			peers []p2ppool.PeerID
			kind  markKind
		}{{acl.GreylistedPeers, markGreylisted}, {acl.BannedPeers, markBanned}} {
			for _, p := range l.peers {
				if j, ok := byPeer[p]; ok && j != i {
					t.marks = append(t.marks, topoMark{by: i, peer: j, kind: l.kind})
				}
			}
		}
		for _, a := range acl.GreylistedAddrs {
			t.nodes[i].addrs = append(t.nodes[i].addrs, "greylisted "+a.String())
		}
		for _, a := range acl.BannedAddrs {
			t.nodes[i].addrs = append(t.nodes[i].addrs, "banned "+a.String())
		}
	}
	slices.SortFunc(t.edges, func(a, b [2]int) int { return slices.Compare(a[:], b[:]) })
	return t
}

// marked returns, for each node, the strongest mark against it (-1:
// none).
func (t topology) marked() []markKind {
	m := make([]markKind, len(t.nodes))
	for i := range m {
		m[i] = -1
	}
	for _, mk := range t.marks {
		m[mk.peer] = max(m[mk.peer], mk.kind)
	}
	return m
}

// Colours of the picture, in the SVG and the dot file.
const (
	colourNode       = "#2563eb" // at its target
	colourBelow      = "#f59e0b" // below its target
	colourIsolated   = "#ffffff" // no connection
	colourEdge       = "#94a3b8"
	colourGreylisted = "#ea580c"
	colourBanned     = "#dc2626"
	colourText       = "#111827"
)

func (k markKind) colour() string {
	if k == markBanned {
		return colourBanned
	}
	return colourGreylisted
}

func (n topoNode) fill() string {
	switch {
	case n.conns == 0:
		return colourIsolated
	case n.belowTarget:
		return colourBelow
	}
	return colourNode
}

// point is a position in the picture.
type point struct{ x, y float64 }

// forceLayout places n nodes linked by edges, Fruchterman and
// Reingold's way, in units of the ideal distance between linked nodes:
// linked nodes attract, all nodes repel, a weak pull to the centre keeps
// components together, and the steps shrink over a fixed number of
// rounds. The start is a circle jittered from seed, so the result
// depends only on the graph and the seed. The drawing is then turned so
// that its long axis is horizontal, and moved to start at (0, 0).
func forceLayout(n int, edges [][2]int, seed uint64) []point {
	pos := make([]point, n)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	size := math.Sqrt(float64(n)) // about the width of a mesh of n nodes
	for i := range pos {
		a := 2 * math.Pi * float64(i) / float64(n)
		r := size / 2 * (0.8 + 0.4*rng.Float64())
		pos[i] = point{r * math.Cos(a), r * math.Sin(a)}
	}
	rounds := 400
	if n > 300 {
		rounds = max(30, 400*300/n) // a round costs n²
	}
	disp := make([]point, n)
	for round := range rounds {
		temp := size / 4 * (1 - float64(round)/float64(rounds))
		clear(disp)
		for i := range n {
			for j := i + 1; j < n; j++ {
				dx, dy := pos[i].x-pos[j].x, pos[i].y-pos[j].y
				d2 := max(dx*dx+dy*dy, 1e-4)
				// Repulsion 1/d along (dx, dy)/d.
				disp[i].x += dx / d2
				disp[i].y += dy / d2
				disp[j].x -= dx / d2
				disp[j].y -= dy / d2
			}
		}
		for _, e := range edges {
			i, j := e[0], e[1]
			dx, dy := pos[i].x-pos[j].x, pos[i].y-pos[j].y
			d := math.Hypot(dx, dy)
			// Attraction d² along (dx, dy)/d.
			disp[i].x -= dx * d
			disp[i].y -= dy * d
			disp[j].x += dx * d
			disp[j].y += dy * d
		}
		for i := range pos {
			disp[i].x -= pos[i].x * 0.02
			disp[i].y -= pos[i].y * 0.02
			d := max(math.Hypot(disp[i].x, disp[i].y), 1e-9)
			step := min(d, temp)
			pos[i].x += disp[i].x / d * step
			pos[i].y += disp[i].y / d * step
		}
	}
	return levelAndShift(pos)
}

// levelAndShift turns pos about its centroid so that its axis of
// greatest spread is horizontal, then moves it so its bounding box
// starts at (0, 0).
func levelAndShift(pos []point) []point {
	var c point
	for _, p := range pos {
		c.x += p.x / float64(len(pos))
		c.y += p.y / float64(len(pos))
	}
	var sxx, syy, sxy float64
	for _, p := range pos {
		dx, dy := p.x-c.x, p.y-c.y
		sxx += dx * dx
		syy += dy * dy
		sxy += dx * dy
	}
	a := -0.5 * math.Atan2(2*sxy, sxx-syy) // the principal axis to x
	cos, sin := math.Cos(a), math.Sin(a)
	lo := point{math.Inf(1), math.Inf(1)}
	out := make([]point, len(pos))
	for i, p := range pos {
		dx, dy := p.x-c.x, p.y-c.y
		out[i] = point{dx*cos - dy*sin, dx*sin + dy*cos}
		lo = point{min(lo.x, out[i].x), min(lo.y, out[i].y)}
	}
	for i := range out {
		out[i].x -= lo.x
		out[i].y -= lo.y
	}
	return out
}

// Geometry of the SVG picture.
const (
	svgMargin   = 60.0 // around the graph: room for the labels
	svgTitle    = 56.0 // above it
	svgLegend   = 135.0
	svgRadius   = 13.0
	svgMinWidth = 640.0
	svgMaxWidth = 1600.0
	svgUnit     = 110.0 // pixels between linked nodes
)

// writeSVG draws t: a title, the connections, the marks (a dashed arrow
// from the node that greylisted or banned a peer to that peer, which
// gets a ring), the nodes (numbered, labelled with their short peer id
// and port, coloured by their count against the target) and a legend.
func writeSVG(w io.Writer, t topology) error {
	n := len(t.nodes)
	// The layout's unit, the distance of linked nodes, is svgUnit pixels,
	// less if the picture would be wider than svgMaxWidth.
	pos := forceLayout(n, t.edges, layoutSeed)
	var span point
	for _, p := range pos {
		span = point{max(span.x, p.x), max(span.y, p.y)}
	}
	unit := svgUnit
	if span.x*unit+2*svgMargin > svgMaxWidth {
		unit = (svgMaxWidth - 2*svgMargin) / span.x
	}
	width := max(svgMinWidth, span.x*unit+2*svgMargin)
	left := (width - span.x*unit) / 2 // centred
	for i := range pos {
		pos[i] = point{left + pos[i].x*unit, svgTitle + svgMargin + pos[i].y*unit}
	}
	var addrNotes []string
	for _, nd := range t.nodes {
		for _, a := range nd.addrs {
			addrNotes = append(addrNotes, fmt.Sprintf("node %d %s", nd.num, a))
		}
	}
	legendH := svgLegend + 20*float64(len(addrNotes))
	graphBottom := svgTitle + span.y*unit + 2*svgMargin
	height := graphBottom + legendH

	var b strings.Builder
	e := func(s string) string { // XML-escaped text or attribute value
		var x strings.Builder
		xmlEscape(&x, s)
		return x.String()
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	graph := "connected"
	if t.components != 1 {
		graph = fmt.Sprintf("%d components", t.components)
	}
	title := fmt.Sprintf("p2ppool swarm · %s · %s · graph %s", t.drawn(), plural(len(t.edges), "connection"), graph)
	subtitle := fmt.Sprintf("chain %s · on %s · target %s per node · drawn by examples/swarm -svg when the swarm ended",
		t.chain, t.where(), plural(t.target, "connection"))

	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="Helvetica, Arial, sans-serif" font-size="11">
<title>%s</title>
<defs>
`, f(width), f(height), f(width), f(height), e(title+" · "+subtitle))
	for _, k := range []markKind{markGreylisted, markBanned} {
		fmt.Fprintf(&b, `<marker id="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>
`, k, k.colour())
	}
	b.WriteString("</defs>\n")
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>
<text x="%s" y="30" font-size="15" font-weight="bold" fill="%s">%s</text>
`, f(svgMargin/2), colourText, e(title))
	fmt.Fprintf(&b, `<text x="%s" y="48" fill="#4b5563">%s</text>
`, f(svgMargin/2), e(cut(subtitle, int(width/6))))

	b.WriteString(`<g id="edges" stroke="` + colourEdge + `" stroke-width="1.5">` + "\n")
	for _, ed := range t.edges {
		p, q := pos[ed[0]], pos[ed[1]]
		fmt.Fprintf(&b, `<line class="edge" data-a="%d" data-b="%d" x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n",
			t.nodes[ed[0]].num, t.nodes[ed[1]].num, f(p.x), f(p.y), f(q.x), f(q.y))
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g id="marks" stroke-width="2" stroke-dasharray="6 4" fill="none">` + "\n")
	for _, m := range t.marks {
		p, q := pos[m.by], pos[m.peer]
		d := max(math.Hypot(q.x-p.x, q.y-p.y), 1)
		ux, uy := (q.x-p.x)/d, (q.y-p.y)/d
		r := svgRadius + 6 // stop at the ring
		fmt.Fprintf(&b, `<line class="mark %s" data-by="%d" data-peer="%d" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" marker-end="url(#arrow-%s)"/>`+"\n",
			m.kind, t.nodes[m.by].num, t.nodes[m.peer].num, f(p.x+ux*svgRadius), f(p.y+uy*svgRadius), f(q.x-ux*r), f(q.y-uy*r), m.kind.colour(), m.kind)
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g id="nodes">` + "\n")
	marked := t.marked()
	for i, nd := range t.nodes {
		p := pos[i]
		class := "node"
		if marked[i] >= 0 {
			class += " " + marked[i].String()
		}
		fmt.Fprintf(&b, `<g class="%s" id="node-%d" data-peer="%s" data-port="%d" data-conns="%d">`, class, nd.num, e(nd.peer.String()), nd.port, nd.conns)
		fmt.Fprintf(&b, `<title>node %d · %s · %s:%d · %s</title>`, nd.num, e(nd.peer.String()), nd.host, nd.port, e(plural(nd.conns, "connection")))
		if marked[i] >= 0 {
			fmt.Fprintf(&b, `<circle class="ring" cx="%s" cy="%s" r="%s" fill="none" stroke="%s" stroke-width="3"/>`,
				f(p.x), f(p.y), f(svgRadius+5), marked[i].colour())
		}
		textColour := "#ffffff"
		if nd.fill() != colourNode {
			textColour = colourText
		}
		fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%s" fill="%s" stroke="#1f2937" stroke-width="1"/>`,
			f(p.x), f(p.y), f(svgRadius), nd.fill())
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" font-weight="bold" fill="%s">%d</text>`,
			f(p.x), f(p.y+4), textColour, nd.num)
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" font-size="10" fill="%s" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s</text>`,
			f(p.x), f(p.y+svgRadius+14), colourText, e(nd.label(t.mem)))
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n")

	// The legend: one row per kind of thing drawn.
	y := graphBottom
	x := svgMargin / 2
	fmt.Fprintf(&b, `<g id="legend" transform="translate(%s,%s)">`+"\n", f(x), f(y))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%s" height="%s" rx="6" fill="#f9fafb" stroke="#d1d5db"/>`+"\n", f(width-svgMargin), f(legendH-10))
	row := func(i int) float64 { return 22 + 20*float64(i) }
	circle := func(i int, fill string) {
		fmt.Fprintf(&b, `<circle cx="24" cy="%s" r="7" fill="%s" stroke="#1f2937"/>`, f(row(i)-4), fill)
	}
	label := func(i int, s string) {
		fmt.Fprintf(&b, `<text x="58" y="%s" fill="%s">%s</text>`+"\n", f(row(i)), colourText, e(s))
	}
	circle(0, colourNode)
	if t.mem {
		label(0, "node at its target (number: node index; label: short peer id and its in-memory host)")
	} else {
		label(0, fmt.Sprintf("node at its target (number: node index; label: short peer id and port on %s)", t.addr))
	}
	circle(1, colourBelow)
	fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="7" fill="%s" stroke="#1f2937"/>`, f(40), f(row(1)-4), colourIsolated)
	label(1, fmt.Sprintf("below its target of %s; white: no connection", plural(t.target, "connection")))
	fmt.Fprintf(&b, `<line x1="12" y1="%s" x2="38" y2="%s" stroke="%s" stroke-width="1.5"/>`, f(row(2)-4), f(row(2)-4), colourEdge)
	label(2, fmt.Sprintf("connection (%d)", len(t.edges)))
	for i, k := range []markKind{markGreylisted, markBanned} {
		fmt.Fprintf(&b, `<line x1="8" y1="%s" x2="30" y2="%s" stroke="%s" stroke-width="2" stroke-dasharray="6 4" marker-end="url(#arrow-%s)"/>`,
			f(row(3+i)-4), f(row(3+i)-4), k.colour(), k)
		fmt.Fprintf(&b, `<circle cx="40" cy="%s" r="6" fill="none" stroke="%s" stroke-width="3"/>`, f(row(3+i)-4), k.colour())
		label(3+i, fmt.Sprintf("%s (%d): arrow from the node whose ACL holds the peer, ring on the peer", k, t.count(k)))
	}
	for i, note := range addrNotes {
		label(5+i, "address: "+note)
	}
	b.WriteString("</g>\n</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// xmlEscape writes s with the characters XML reserves escaped.
func xmlEscape(w io.Writer, s string) {
	io.WriteString(w, strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s))
}

// dotQuote quotes s as a dot string: in double quotes, with \\ and \"
// escaped and newlines as \n.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "").Replace(s) + `"`
}

// writeDOT writes t as a Graphviz graph: `dot -Tsvg` or, better for a
// mesh, `neato -Tsvg` draws it.
func writeDOT(w io.Writer, t topology) error {
	var b strings.Builder
	q := dotQuote
	graph := "connected"
	if t.components != 1 {
		graph = fmt.Sprintf("%d components", t.components)
	}
	fmt.Fprintf(&b, "// p2ppool swarm: %s, %s, %d greylisted, %d banned.\n// Draw it with: neato -Tsvg FILE > swarm.svg\n",
		t.drawn(), plural(len(t.edges), "connection"), t.count(markGreylisted), t.count(markBanned))
	b.WriteString("graph swarm {\n")
	fmt.Fprintf(&b, "  label=%s;\n  labelloc=t;\n  overlap=false;\n",
		q(fmt.Sprintf("p2ppool swarm · chain %s · %s on %s · %s · graph %s", t.chain, t.drawn(), t.where(), plural(len(t.edges), "connection"), graph)))
	fmt.Fprintf(&b, "  node [shape=box, style=\"rounded,filled\", fillcolor=%s, fontcolor=white, fontname=Helvetica, fontsize=10];\n", q(colourNode))
	fmt.Fprintf(&b, "  edge [color=%s];\n", q(colourEdge))
	marked := t.marked()
	for i, nd := range t.nodes {
		where := fmt.Sprintf(":%d", nd.port)
		if t.mem {
			where = nd.host.String()
		}
		attrs := []string{"label=" + q(fmt.Sprintf("%d\n%s\n%s", nd.num, nd.peer.String()[:8], where)),
			"tooltip=" + q(fmt.Sprintf("%s %s:%d, %s", nd.peer, nd.host, nd.port, plural(nd.conns, "connection")))}
		if fill := nd.fill(); fill != colourNode {
			attrs = append(attrs, "fillcolor="+q(fill), "fontcolor="+q(colourText))
		}
		if marked[i] >= 0 {
			attrs = append(attrs, "color="+q(marked[i].colour()), "penwidth=3", "class="+q(marked[i].String()))
		}
		if len(nd.addrs) > 0 {
			attrs = append(attrs, "comment="+q(strings.Join(nd.addrs, ", ")))
		}
		fmt.Fprintf(&b, "  n%d [%s];\n", nd.num, strings.Join(attrs, ", "))
	}
	for _, ed := range t.edges {
		fmt.Fprintf(&b, "  n%d -- n%d;\n", t.nodes[ed[0]].num, t.nodes[ed[1]].num)
	}
	for _, m := range t.marks {
		fmt.Fprintf(&b, "  n%d -- n%d [dir=forward, style=dashed, color=%s, label=%s, class=%s];\n",
			t.nodes[m.by].num, t.nodes[m.peer].num, q(m.kind.colour()), q(m.kind.String()), q("mark "+m.kind.String()))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
