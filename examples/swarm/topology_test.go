package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/p2ppool/p2ppool"
)

// svgPicture is what the tests read back from an SVG: the node groups,
// the connection lines and the mark lines, by their class.
type svgPicture struct {
	width, height float64
	nodes         map[int]map[string]string // by node index: the group's attributes
	rings         map[int]int               // ring circles by node index
	edges         [][2]int
	marks         []topoMark
	texts         []string
}

// parseSVG decodes an SVG with encoding/xml, failing on any XML error.
func parseSVG(t *testing.T, data []byte) svgPicture {
	t.Helper()
	pic := svgPicture{nodes: make(map[int]map[string]string), rings: make(map[int]int)}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	atoi := func(s string) int {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	inNode := -1
	var depth, nodeDepth int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "well-formed XML")
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			attrs := make(map[string]string)
			for _, a := range tok.Attr {
				attrs[a.Name.Local] = a.Value
			}
			for _, k := range []string{"x", "y", "cx", "cy", "x1", "y1", "x2", "y2", "r"} {
				if v, ok := attrs[k]; ok {
					f, err := strconv.ParseFloat(v, 64)
					require.NoError(t, err, "%s=%q", k, v)
					require.False(t, math.IsNaN(f) || math.IsInf(f, 0), "%s=%q", k, v)
				}
			}
			class := strings.Fields(attrs["class"])
			switch {
			case tok.Name.Local == "svg":
				require.Equal(t, "http://www.w3.org/2000/svg", tok.Name.Space)
				pic.width, _ = strconv.ParseFloat(attrs["width"], 64)
				pic.height, _ = strconv.ParseFloat(attrs["height"], 64)
			case tok.Name.Local == "g" && slices.Contains(class, "node"):
				inNode, nodeDepth = atoi(strings.TrimPrefix(attrs["id"], "node-")), depth
				require.NotContains(t, pic.nodes, inNode, "one group per node")
				pic.nodes[inNode] = attrs
			case tok.Name.Local == "circle" && slices.Contains(class, "ring"):
				require.GreaterOrEqual(t, inNode, 0, "a ring is in a node's group")
				pic.rings[inNode]++
			case tok.Name.Local == "line" && slices.Contains(class, "edge"):
				pic.edges = append(pic.edges, [2]int{atoi(attrs["data-a"]), atoi(attrs["data-b"])})
			case tok.Name.Local == "line" && slices.Contains(class, "mark"):
				kind := markGreylisted
				if slices.Contains(class, "banned") {
					kind = markBanned
				}
				pic.marks = append(pic.marks, topoMark{by: atoi(attrs["data-by"]), peer: atoi(attrs["data-peer"]), kind: kind})
			}
		case xml.EndElement:
			if depth == nodeDepth {
				inNode = -1
			}
			depth--
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				pic.texts = append(pic.texts, s)
			}
		}
	}
	return pic
}

// fakeTopology is 6 nodes: a ring 0-1-2-3-4 with chord 0-2, node 5
// alone; node 0 greylisted node 3's peer id and the address, node 4
// banned node 1 and greylisted it too, node 2 holds an id that is no
// node of the swarm.
func fakeTopology(t *testing.T) topology {
	s := &swarm{opts: &options{nodes: 6, target: 2}}
	snap := fakeSnapshot(t, s, 6, [][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 0}, {0, 2}})
	ports := []uint16{40000, 40001, 40002, 40003, 40004, 40005}
	id := func(i int) p2ppool.PeerID { return snap.nodes[i].PeerID }
	acls := make([]p2ppool.ACLList, 6)
	acls[0] = p2ppool.ACLList{GreylistedPeers: []p2ppool.PeerID{id(3)}, GreylistedAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	acls[4] = p2ppool.ACLList{BannedPeers: []p2ppool.PeerID{id(1)}, GreylistedPeers: []p2ppool.PeerID{id(1)}}
	acls[2] = p2ppool.ACLList{BannedPeers: []p2ppool.PeerID{{0xff}}}
	return buildTopology(snap, s.byPeer, ports, acls, 2)
}

func TestTopologySVG(t *testing.T) {
	topo := fakeTopology(t)
	var out bytes.Buffer
	require.NoError(t, writeSVG(&out, topo))
	pic := parseSVG(t, out.Bytes())

	assert.Len(t, pic.nodes, 6)
	assert.ElementsMatch(t, [][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {0, 4}, {0, 2}}, pic.edges)
	assert.ElementsMatch(t, []topoMark{
		{by: 0, peer: 3, kind: markGreylisted},
		{by: 4, peer: 1, kind: markGreylisted},
		{by: 4, peer: 1, kind: markBanned},
	}, pic.marks, "the id held by node 2 is no node's")
	assert.Equal(t, "node greylisted", pic.nodes[3]["class"])
	assert.Equal(t, "node banned", pic.nodes[1]["class"], "banned is the stronger mark")
	assert.Equal(t, "node", pic.nodes[0]["class"])
	assert.Equal(t, map[int]int{1: 1, 3: 1}, pic.rings)
	for i, attrs := range pic.nodes {
		assert.Equal(t, topo.nodes[i].peer.String(), attrs["data-peer"])
		assert.Equal(t, strconv.Itoa(40000+i), attrs["data-port"])
	}
	assert.Equal(t, "0", pic.nodes[5]["data-conns"])
	text := strings.Join(pic.texts, "\n")
	for i := range 6 {
		assert.Contains(t, pic.texts, fmt.Sprintf("%s :%d", topo.nodes[i].peer.String()[:8], 40000+i), "node %d's label", i)
	}
	assert.Contains(t, text, "p2ppool swarm · 6 nodes · 6 connections · graph 2 components")
	assert.Contains(t, text, "chain P2PPOOL_SWARM")
	assert.Contains(t, text, "greylisted (2): arrow from the node")
	assert.Contains(t, text, "banned (1): arrow from the node")
	assert.Contains(t, text, "address: node 0 greylisted 127.0.0.1")

	var again bytes.Buffer
	require.NoError(t, writeSVG(&again, topo))
	assert.Equal(t, out.String(), again.String(), "the same graph gives the same picture")
}

// Every node is drawn inside the picture, apart from the others.
func TestTopologySVGInside(t *testing.T) {
	for _, n := range []int{2, 16, 64} {
		s := &swarm{opts: &options{nodes: n, target: 2}}
		var edges [][2]int
		for i := range n - 1 {
			edges = append(edges, [2]int{i, i + 1})
		}
		snap := fakeSnapshot(t, s, n, edges)
		topo := buildTopology(snap, s.byPeer, make([]uint16, n), make([]p2ppool.ACLList, n), 2)
		var out bytes.Buffer
		require.NoError(t, writeSVG(&out, topo))
		pic := parseSVG(t, out.Bytes())
		require.Len(t, pic.nodes, n)
		re := regexp.MustCompile(`<circle cx="([\d.]+)" cy="([\d.]+)" r="13.0"`)
		var centres []point
		for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
			x, _ := strconv.ParseFloat(m[1], 64)
			y, _ := strconv.ParseFloat(m[2], 64)
			assert.True(t, x > 13 && x < pic.width-13 && y > 13 && y < pic.height-13, "%d nodes: (%v, %v) in %v×%v", n, x, y, pic.width, pic.height)
			centres = append(centres, point{x, y})
		}
		require.Len(t, centres, n)
		for i := range centres {
			for j := range i {
				assert.Greater(t, math.Hypot(centres[i].x-centres[j].x, centres[i].y-centres[j].y), 13.0, "%d nodes: %d and %d overlap", n, i, j)
			}
		}
	}
}

func TestForceLayoutSeed(t *testing.T) {
	edges := [][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 0}, {0, 4}}
	a, b, c := forceLayout(5, edges, 1), forceLayout(5, edges, 1), forceLayout(5, edges, 2)
	assert.Equal(t, a, b, "deterministic given the seed")
	assert.NotEqual(t, a, c)
	// Linked nodes end about one unit apart, closer than unlinked ones
	// on average.
	var linked, unlinked []float64
	isEdge := make(map[[2]int]bool)
	for _, e := range edges {
		isEdge[e] = true
	}
	for i := range 5 {
		for j := i + 1; j < 5; j++ {
			d := math.Hypot(a[i].x-a[j].x, a[i].y-a[j].y)
			if isEdge[[2]int{i, j}] || isEdge[[2]int{j, i}] {
				linked = append(linked, d)
			} else {
				unlinked = append(unlinked, d)
			}
		}
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	assert.Less(t, mean(linked), mean(unlinked))
	assert.InDelta(t, 1, mean(linked), 0.5)
}

var dotEdge = regexp.MustCompile(`(?m)^  n(\d+) -- n(\d+);$`)
var dotMark = regexp.MustCompile(`(?m)^  n(\d+) -- n(\d+) \[dir=forward, style=dashed, color="#[0-9a-f]{6}", label="(greylisted|banned)", class="mark (greylisted|banned)"\];$`)
var dotNode = regexp.MustCompile(`(?m)^  n(\d+) \[label="(\d+)\\n(\w{8})\\n:(\d+)", .*\];$`)

func TestTopologyDOT(t *testing.T) {
	topo := fakeTopology(t)
	var out bytes.Buffer
	require.NoError(t, writeDOT(&out, topo))
	dot := out.String()
	t.Log("\n" + dot)
	assert.True(t, strings.HasPrefix(dot, "// p2ppool swarm: 6 nodes, 6 connections, 2 greylisted, 1 banned.\n"))
	assert.Equal(t, 1, strings.Count(dot, "graph swarm {\n"))
	assert.True(t, strings.HasSuffix(dot, "\n}\n"))
	assert.Equal(t, strings.Count(dot, "["), strings.Count(dot, "]"))

	var edges [][2]int
	for _, m := range dotEdge.FindAllStringSubmatch(dot, -1) {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		edges = append(edges, [2]int{a, b})
	}
	assert.Equal(t, topo.edges, edges)
	var marks []topoMark
	for _, m := range dotMark.FindAllStringSubmatch(dot, -1) {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		kind := markGreylisted
		if m[3] == "banned" {
			kind = markBanned
		}
		require.Equal(t, m[3], m[4])
		marks = append(marks, topoMark{by: a, peer: b, kind: kind})
	}
	assert.Equal(t, topo.marks, marks)
	nodes := dotNode.FindAllStringSubmatch(dot, -1)
	require.Len(t, nodes, 6)
	for i, m := range nodes {
		assert.Equal(t, strconv.Itoa(i), m[1])
		assert.Equal(t, strconv.Itoa(i), m[2])
		assert.Equal(t, topo.nodes[i].peer.String()[:8], m[3])
		assert.Equal(t, strconv.Itoa(40000+i), m[4])
	}
	assert.Regexp(t, `(?m)^  n3 \[.*color="#ea580c", penwidth=3, class="greylisted"\];$`, dot)
	assert.Regexp(t, `(?m)^  n1 \[.*color="#dc2626", penwidth=3, class="banned"\];$`, dot)
	assert.Regexp(t, `(?m)^  n5 \[.*fillcolor="#ffffff"`, dot, "isolated")
	assert.Regexp(t, `(?m)^  n0 \[.*comment="greylisted 127.0.0.1"\];$`, dot)
}

func TestDotQuote(t *testing.T) {
	assert.Equal(t, `"a \"b\" c\\d\ne"`, dotQuote("a \"b\" c\\d\ne\r"))
}

// The swarm's -svg and -dot pictures hold the swarm's state at its end:
// the nodes and connections its -json lines report.
func TestSwarmTopologyFiles(t *testing.T) {
	dir := t.TempDir()
	svgFile, dotFile := filepath.Join(dir, "swarm.svg"), filepath.Join(dir, "swarm.dot")
	code, stdout, stderr := runSwarm(t, context.Background(), "-nodes", "6", "-duration", "3s", "-json", "-svg", svgFile, "-dot", dotFile)
	require.Equal(t, exitOK, code, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 6)
	sum := 0
	var stats []nodeStat
	for _, line := range lines {
		var st nodeStat
		require.NoError(t, json.Unmarshal([]byte(line), &st))
		stats = append(stats, st)
		sum += st.Connections
	}
	assert.Regexp(t, `(?m)^  topology:    \S+swarm.svg, \S+swarm.dot \(6 nodes, \d+ connections, 0 greylisted, 0 banned\)$`, stderr)

	data, err := os.ReadFile(svgFile)
	require.NoError(t, err)
	pic := parseSVG(t, data)
	require.Len(t, pic.nodes, 6)
	assert.Len(t, pic.edges, sum/2, "each connection is one edge, seen from both ends")
	degree := make([]int, 6)
	for _, e := range pic.edges {
		degree[e[0]]++
		degree[e[1]]++
	}
	for i, st := range stats {
		assert.Equal(t, st.PeerID.String(), pic.nodes[i]["data-peer"])
		assert.Equal(t, strconv.Itoa(st.Connections), pic.nodes[i]["data-conns"])
		assert.Equal(t, st.Connections, degree[i], "node %d", i)
	}
	assert.Empty(t, pic.marks)

	data, err = os.ReadFile(dotFile)
	require.NoError(t, err)
	assert.Len(t, dotEdge.FindAllString(string(data), -1), sum/2)
	assert.Len(t, dotNode.FindAllString(string(data), -1), 6)
}

// The marks come from the pools' ACLs: a peer banned and a peer
// greylisted by node 0 (which greylists their shared address with it).
func TestSwarmTopologyACL(t *testing.T) {
	s, err := newSwarm(context.Background(), &options{nodes: 3, target: 2, duration: time.Minute})
	require.NoError(t, err)
	s.start()
	select {
	case <-s.allAtTarget:
	case <-time.After(30 * time.Second):
		t.Fatal("the swarm did not connect")
	}
	pool0 := s.nodes[0].pool
	require.NoError(t, pool0.Peers().Ban(s.nodes[2].pool.Config().Identity.PeerID))
	require.NoError(t, pool0.ACL().GreylistPeer(s.nodes[1].pool.Config().Identity.PeerID))
	topo := s.topology(s.snapshot())
	s.stopLoops()
	require.NoError(t, s.shutdown())

	assert.ElementsMatch(t, []topoMark{{by: 0, peer: 1, kind: markGreylisted}, {by: 0, peer: 2, kind: markBanned}}, topo.marks)
	assert.Equal(t, []string{"greylisted 127.0.0.1"}, topo.nodes[0].addrs)
	var out bytes.Buffer
	require.NoError(t, writeSVG(&out, topo))
	pic := parseSVG(t, out.Bytes())
	assert.Equal(t, "node greylisted", pic.nodes[1]["class"])
	assert.Equal(t, "node banned", pic.nodes[2]["class"])
	assert.Contains(t, pic.texts, "address: node 0 greylisted 127.0.0.1")
}

// A file that cannot be written is refused before the swarm starts,
// naming the flag and the file as given.
func TestSwarmTopologyFileChecked(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"-svg", filepath.Join(dir, "missing", "x.svg")}, "swarm: -svg " + filepath.Join(dir, "missing", "x.svg") + ": cannot write in folder " + filepath.Join(dir, "missing") + ": no such file or directory\n"},
		{[]string{"-dot", dir}, "swarm: -dot " + dir + ": is a folder\n"},
	} {
		start := time.Now()
		code, stdout, stderr := runSwarm(t, context.Background(), append([]string{"-nodes", "2", "-duration", "1m"}, tc.args...)...)
		assert.Equal(t, exitUsage, code)
		assert.Empty(t, stdout)
		assert.Equal(t, tc.says, stderr)
		assert.Less(t, time.Since(start), 5*time.Second, "refused at start")
	}
	ok := topoFlags{svg: filepath.Join(dir, "ok.svg"), dot: filepath.Join(dir, "ok.dot")}
	require.NoError(t, ok.check())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the probe left nothing, and the files are written only at the end")
}

// Past topoSample nodes the picture draws a connected sample: the nodes
// a breadth-first walk from node 0 reaches first, then from the next
// component, with the connections between them, each under its number in
// the swarm.
func TestTopologySample(t *testing.T) {
	// Two rings of 120 nodes: 0..119 and 120..239 (fakeSnapshot's peer
	// ids are one byte).
	const n, ring = 240, 120
	s := &swarm{opts: &options{nodes: n, target: 2}}
	var edges [][2]int
	for i := range n {
		base := i / ring * ring
		edges = append(edges, [2]int{i, base + (i-base+1)%ring})
	}
	snap := fakeSnapshot(t, s, n, edges)
	full := buildTopology(snap, s.byPeer, make([]uint16, n), make([]p2ppool.ACLList, n), 2)
	require.Len(t, full.edges, n)

	topo := full.sample(topoSample)
	require.Len(t, topo.nodes, topoSample)
	assert.Equal(t, n, topo.total)
	nums := make(map[int]bool)
	for _, nd := range topo.nodes {
		nums[nd.num] = true
	}
	require.Len(t, nums, topoSample, "distinct nodes")
	for i := range ring {
		assert.True(t, nums[i], "the whole of node 0's ring, node %d", i)
	}
	// The walk reaches the second ring's 80 nodes nearest node 120:
	// 120-160 and 201-239.
	for d := range 41 {
		assert.True(t, nums[ring+d], "near node 120: %d", ring+d)
	}
	for d := range 39 {
		assert.True(t, nums[n-1-d], "near node 120: %d", n-1-d)
	}
	// The first ring's 120 edges and the 79 of the second ring's path.
	assert.Len(t, topo.edges, ring+79)
	for _, e := range topo.edges {
		a, b := topo.nodes[e[0]].num, topo.nodes[e[1]].num
		d := max(a, b) - min(a, b)
		assert.True(t, d == 1 || d == ring-1, "an edge of the swarm: %d-%d", a, b)
	}
	assert.Equal(t, "200 of 240 nodes (a sample: those nearest node 0)", topo.drawn())
	assert.Same(t, &full.nodes[0], &full.sample(n).nodes[0], "no more nodes than the limit: unchanged")

	var svg, dot bytes.Buffer
	require.NoError(t, writeSVG(&svg, topo))
	require.NoError(t, writeDOT(&dot, topo))
	pic := parseSVG(t, svg.Bytes())
	assert.Len(t, pic.nodes, topoSample)
	assert.Contains(t, svg.String(), "p2ppool swarm · 200 of 240 nodes")
	assert.Contains(t, svg.String(), `id="node-239"`, "nodes carry their swarm number")
	assert.Contains(t, svg.String(), `class="edge" data-a="120" data-b="239"`)
	assert.Contains(t, dot.String(), "n120 -- n239;")
	assert.NotContains(t, dot.String(), "n180 ", "node 180 is not in the sample")
}
