package peersfile

import "bytes"

// This file reproduces, byte for byte, the text octez writes for a JSON
// value: Data_encoding.Json.to_string ~minify:false, i.e.
// Format.asprintf "%a" Json_repr.pp (data-encoding,
// json-data-encoding/src/json_repr.ml, pp_box), whose layout comes from
// OCaml's Format module with its defaults (margin 78, max indent 68).
// Json_repr.pp prints
//
//	object: @[<hov 2>{ "k1":@ v1,@ "k2":@ v2 }@]   (each field in @[<hov 2>…@])
//	array:  @[<hov 2>[ v1,@ v2 ]@]
//	{} and [] for empty ones, scalars compactly.
//
// ppFormatter below is a transcription of the part of stdlib/format.ml
// that these directives use: hov boxes, text and break hints (the code
// involved is the same in OCaml 4.13 and 5.x); the names follow format.ml
// so the two can be compared. Widths are counted in bytes, as Format
// does. It was checked against OCaml 4.13's Format on 20,000 random
// documents; testdata/ocaml_format_layouts.txt keeps 180 of them.

const (
	ppMargin       = 78
	ppMinSpaceLeft = 10
	ppMaxIndent    = ppMargin - ppMinSpaceLeft
	// ppInfinity is format.ml's pp_infinity.
	ppInfinity = 1000000010
)

type ppTokenKind uint8

const (
	ppText ppTokenKind = iota
	ppBegin
	ppEnd
	ppBreak
)

type ppBoxType uint8

const (
	boxHov  ppBoxType = iota // Pp_hovbox
	boxFits                  // Pp_fits: a box known to fit on the line
)

// ppToken is format.ml's pp_queue_elem; size < 0 means "not known yet".
type ppToken struct {
	size   int
	kind   ppTokenKind
	text   []byte // ppText
	indent int    // ppBegin: box indentation
	width  int    // ppBreak: spaces when the line is not broken
	offset int    // ppBreak: extra indentation when it is
	length int
	// inQueue and inScan say whether the queue and the scan stack still
	// refer to the token; when neither does, it is recycled.
	inQueue, inScan bool
}

type ppScanElem struct {
	leftTotal int
	tok       *ppToken
}

type ppFormatElem struct {
	boxType ppBoxType
	width   int
}

type ppFormatter struct {
	out           *bytes.Buffer
	queue         []*ppToken // FIFO from queue[head]
	head          int
	slab          []ppToken  // new tokens are allocated from here, in bulk
	free          []*ppToken // recycled tokens
	scanStack     []ppScanElem
	formatStack   []ppFormatElem
	spaceLeft     int
	currentIndent int
	leftTotal     int
	rightTotal    int
	currDepth     int
}

// newPPFormatter returns a formatter in the state pp_make_formatter
// leaves a fresh one: a system hov box already queued.
func newPPFormatter(out *bytes.Buffer) *ppFormatter {
	f := &ppFormatter{
		out:        out,
		spaceLeft:  ppMargin,
		leftTotal:  1,
		rightTotal: 1,
		currDepth:  1,
	}
	sys := f.newToken(ppToken{size: -1, kind: ppBegin, indent: 0, inQueue: true})
	f.queue = append(f.queue, sys)
	f.initializeScanStack()
	f.pushScan(1, sys)
	return f
}

// newToken returns a token holding t. A peers file makes hundreds of
// thousands of them, but only a line's worth is alive at a time: they are
// recycled, and allocated in blocks.
func (f *ppFormatter) newToken(t ppToken) *ppToken {
	var p *ppToken
	if n := len(f.free); n > 0 {
		p = f.free[n-1]
		f.free = f.free[:n-1]
	} else {
		if len(f.slab) == 0 {
			f.slab = make([]ppToken, 256)
		}
		p = &f.slab[0]
		f.slab = f.slab[1:]
	}
	*p = t
	return p
}

// release recycles t if nothing refers to it any more.
func (f *ppFormatter) release(t *ppToken) {
	if !t.inQueue && !t.inScan {
		t.text = nil
		f.free = append(f.free, t)
	}
}

// popScan drops the top of the scan stack.
func (f *ppFormatter) popScan() {
	t := f.scanStack[len(f.scanStack)-1].tok
	f.scanStack = f.scanStack[:len(f.scanStack)-1]
	t.inScan = false
	f.release(t)
}

func (f *ppFormatter) pushScan(leftTotal int, t *ppToken) {
	t.inScan = true
	f.scanStack = append(f.scanStack, ppScanElem{leftTotal: leftTotal, tok: t})
}

func (f *ppFormatter) initializeScanStack() {
	for len(f.scanStack) > 0 {
		f.popScan()
	}
	f.pushScan(-1, f.newToken(ppToken{size: -1, kind: ppText}))
}

func (f *ppFormatter) enqueue(t *ppToken) {
	t.inQueue = true
	f.rightTotal += t.length
	f.queue = append(f.queue, t)
}

func (f *ppFormatter) formatText(size int, text []byte) {
	f.spaceLeft -= size
	f.out.Write(text)
}

func (f *ppFormatter) breakNewLine(offset, width int) {
	f.out.WriteByte('\n')
	indent := min(ppMaxIndent, ppMargin-width+offset)
	f.currentIndent = indent
	f.spaceLeft = ppMargin - indent
	for range indent {
		f.out.WriteByte(' ')
	}
}

func (f *ppFormatter) breakSameLine(width int) {
	f.spaceLeft -= width
	for range width {
		f.out.WriteByte(' ')
	}
}

func (f *ppFormatter) forceBreakLine() {
	if len(f.formatStack) == 0 {
		f.out.WriteByte('\n')
		return
	}
	top := f.formatStack[len(f.formatStack)-1]
	if top.width > f.spaceLeft && top.boxType == boxHov {
		f.breakNewLine(0, top.width)
	}
}

func (f *ppFormatter) formatToken(size int, t *ppToken) {
	switch t.kind {
	case ppText:
		f.formatText(size, t.text)
	case ppBegin:
		if ppMargin-f.spaceLeft > ppMaxIndent {
			// Cannot open a box that far right: break first.
			f.forceBreakLine()
		}
		bt := boxFits
		if size > f.spaceLeft {
			bt = boxHov
		}
		f.formatStack = append(f.formatStack, ppFormatElem{boxType: bt, width: f.spaceLeft - t.indent})
	case ppEnd:
		if len(f.formatStack) > 0 {
			f.formatStack = f.formatStack[:len(f.formatStack)-1]
		}
	case ppBreak:
		if len(f.formatStack) == 0 {
			return
		}
		top := f.formatStack[len(f.formatStack)-1]
		if top.boxType == boxHov && size > f.spaceLeft {
			f.breakNewLine(t.offset, top.width)
		} else {
			f.breakSameLine(t.width)
		}
	}
}

func (f *ppFormatter) advanceLeft() {
	for f.head < len(f.queue) {
		t := f.queue[f.head]
		pending := f.rightTotal - f.leftTotal
		if t.size < 0 && pending < f.spaceLeft {
			return
		}
		f.head++
		if f.head == len(f.queue) {
			// Empty: reuse the array from its start.
			f.queue, f.head = f.queue[:0], 0
		} else if f.head >= 1024 && f.head*2 >= len(f.queue) {
			// Mostly consumed: slide the rest down.
			n := copy(f.queue, f.queue[f.head:])
			f.queue, f.head = f.queue[:n], 0
		}
		size := t.size
		if size < 0 {
			size = ppInfinity
		}
		f.formatToken(size, t)
		f.leftTotal += t.length
		t.inQueue = false
		f.release(t)
	}
}

// setSize is format.ml's set_size: ty true sets the size of a break,
// false that of a box.
func (f *ppFormatter) setSize(ty bool) {
	top := f.scanStack[len(f.scanStack)-1]
	if top.leftTotal < f.leftTotal {
		f.initializeScanStack()
		return
	}
	switch top.tok.kind {
	case ppBreak:
		if ty {
			top.tok.size = f.rightTotal + top.tok.size
			f.popScan()
		}
	case ppBegin:
		if !ty {
			top.tok.size = f.rightTotal + top.tok.size
			f.popScan()
		}
	}
}

func (f *ppFormatter) scanPush(b bool, t *ppToken) {
	f.enqueue(t)
	if b {
		f.setSize(true)
	}
	f.pushScan(f.rightTotal, t)
}

// openBox opens an hov box with the given indentation (@[<hov n>).
func (f *ppFormatter) openBox(indent int) {
	f.currDepth++
	f.scanPush(false, f.newToken(ppToken{size: -f.rightTotal, kind: ppBegin, indent: indent}))
}

// closeBox closes the innermost box (@]).
func (f *ppFormatter) closeBox() {
	if f.currDepth > 1 {
		f.enqueue(f.newToken(ppToken{size: 0, kind: ppEnd}))
		f.setSize(true)
		f.setSize(false)
		f.currDepth--
	}
}

// text prints s, counting its bytes as its width (pp_print_string).
func (f *ppFormatter) text(s []byte) {
	f.enqueue(f.newToken(ppToken{size: len(s), kind: ppText, text: s, length: len(s)}))
	f.advanceLeft()
}

// space is a break hint "@ " (pp_print_break 1 0).
func (f *ppFormatter) space() {
	f.scanPush(true, f.newToken(ppToken{size: -f.rightTotal, kind: ppBreak, width: 1, offset: 0, length: 1}))
}

// flush is pp_flush_queue without a final newline, as asprintf ends.
func (f *ppFormatter) flush() {
	for f.currDepth > 1 {
		f.closeBox()
	}
	f.rightTotal = ppInfinity
	f.advanceLeft()
}

var (
	ppObjOpen  = []byte("{ ")
	ppObjClose = []byte(" }")
	ppArrOpen  = []byte("[ ")
	ppArrClose = []byte(" ]")
	ppComma    = []byte(",")
	ppColon    = []byte(":")
	ppEmptyObj = []byte("{}")
	ppEmptyArr = []byte("[]")
)

// prettyJSON returns n laid out exactly as octez writes it, without a
// final newline (Lwt_utils_unix.Json.write_file adds none).
func prettyJSON(n *node) []byte {
	var out bytes.Buffer
	out.Grow(4096)
	f := newPPFormatter(&out)
	ppBox(f, n)
	f.flush()
	return out.Bytes()
}

// ppBox is Json_repr.pp's pp_box.
func ppBox(f *ppFormatter, n *node) {
	switch n.kind {
	case kindObject:
		if len(n.fields) == 0 {
			f.text(ppEmptyObj)
			return
		}
		f.openBox(2)
		f.text(ppObjOpen)
		for i, m := range n.fields {
			if i > 0 {
				f.text(ppComma)
				f.space()
			}
			f.openBox(2)
			f.text(m.rawKey)
			f.text(ppColon)
			f.space()
			ppBox(f, m.val)
			f.closeBox()
		}
		f.text(ppObjClose)
		f.closeBox()
	case kindArray:
		if len(n.elems) == 0 {
			f.text(ppEmptyArr)
			return
		}
		f.openBox(2)
		f.text(ppArrOpen)
		for i, e := range n.elems {
			if i > 0 {
				f.text(ppComma)
				f.space()
			}
			ppBox(f, e)
		}
		f.text(ppArrClose)
		f.closeBox()
	default:
		// Scalars are printed compactly; a multi-token scalar would be a
		// sequence of texts, which lays out the same as one text.
		f.text(n.raw)
	}
}
