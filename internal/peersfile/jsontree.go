package peersfile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds JSON nesting. Octez has no explicit bound (only the OCaml
// stack), but peers.json never nests deeper than 6 levels, and an attacker
// able to write the file must not be able to exhaust our memory with
// "[[[[…": such a file is reported as corrupt.
const maxDepth = 512

// node is one JSON value, kept in source order and with the source text of
// its scalar tokens. encoding/json cannot be used directly because octez's
// data-encoding is sensitive to what it throws away: key order (written
// back as found, for unknown fields), duplicate keys (an error for octez),
// and the exact text of numbers and strings (round-tripped byte for byte
// in opaque metadata).
type node struct {
	kind byte // one of the kind* constants
	// raw is the source token of a scalar: a string with its quotes and
	// escapes as written, a number, or true/false/null.
	raw []byte
	// str is the decoded value of a kindString.
	str string
	// fields of a kindObject, in source order.
	fields []member
	// elems of a kindArray.
	elems []*node
}

// member is one key/value pair of an object; key is the decoded key and
// rawKey its source token (quotes included).
type member struct {
	key    string
	rawKey []byte
	val    *node
}

const (
	kindObject byte = 'o'
	kindArray  byte = 'a'
	kindString byte = 's'
	kindNumber byte = 'n'
	kindTrue   byte = 't'
	kindFalse  byte = 'f'
	kindNull   byte = 'z'
)

// kindName names a node kind in error messages.
func kindName(k byte) string {
	switch k {
	case kindObject:
		return "object"
	case kindArray:
		return "array"
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindTrue, kindFalse:
		return "boolean"
	case kindNull:
		return "null"
	}
	return "value"
}

// errSyntax marks JSON syntax errors (as opposed to schema errors).
var errSyntax = errors.New("invalid JSON")

// parseJSON parses exactly one JSON value (RFC 8259, as octez's Jsonm
// parser accepts it) surrounded by optional whitespace. Like Jsonm it
// rejects invalid UTF-8 anywhere, raw control characters in strings and
// unpaired UTF-16 surrogate escapes, which encoding/json would silently
// replace by U+FFFD.
func parseJSON(data []byte) (*node, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", errSyntax)
	}
	p := parser{data: data}
	p.skipSpace()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf("unexpected %q after the top-level value", p.data[p.pos])
	}
	return n, nil
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", errSyntax, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*node, error) {
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		raw, s, err := p.string()
		if err != nil {
			return nil, err
		}
		return &node{kind: kindString, raw: raw, str: s}, nil
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", kindTrue)
	case c == 'f':
		return p.literal("false", kindFalse)
	case c == 'n':
		return p.literal("null", kindNull)
	default:
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *parser) literal(word string, kind byte) (*node, error) {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return nil, p.errorf("invalid literal")
	}
	start := p.pos
	p.pos += len(word)
	return &node{kind: kind, raw: p.data[start:p.pos]}, nil
}

func (p *parser) object(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d levels", maxDepth)
	}
	p.pos++ // '{'
	n := &node{kind: kindObject}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected an object key")
		}
		rawKey, key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':'")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.fields = append(n.fields, member{key: key, rawKey: rawKey, val: v})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return n, nil
		default:
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d levels", maxDepth)
	}
	p.pos++ // '['
	n := &node{kind: kindArray}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return n, nil
		default:
			return nil, p.errorf("expected ',' or ']'")
		}
	}
}

// number scans a JSON number; its value is interpreted by the caller.
func (p *parser) number() (*node, error) {
	start := p.pos
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return nil, p.errorf("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			p.pos = i
			return nil, p.errorf("invalid number")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			p.pos = i
			return nil, p.errorf("invalid number")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	p.pos = i
	return &node{kind: kindNumber, raw: d[start:i]}, nil
}

// string scans a JSON string starting at its opening quote and returns its
// source token and decoded value.
func (p *parser) string() (raw []byte, s string, err error) {
	start := p.pos
	p.pos++ // '"'
	var buf []byte
	plain := true // no escape seen: the value is the raw text
	for {
		if p.pos >= len(p.data) {
			return nil, "", p.errorf("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			raw = p.data[start:p.pos]
			if plain {
				return raw, string(raw[1 : len(raw)-1]), nil
			}
			return raw, string(buf), nil
		case c < 0x20:
			return nil, "", p.errorf("control character in string")
		case c == '\\':
			if plain {
				plain = false
				buf = append(buf, p.data[start+1:p.pos]...)
			}
			if p.pos+1 >= len(p.data) {
				return nil, "", p.errorf("unterminated escape")
			}
			e := p.data[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return nil, "", p.errorf("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// Jsonm refuses unpaired surrogates; so do we.
					if r >= 0xdc00 || p.pos+1 >= len(p.data) || p.data[p.pos] != '\\' || p.data[p.pos+1] != 'u' {
						return nil, "", p.errorf("unpaired UTF-16 surrogate")
					}
					p.pos += 2
					r2, ok := p.hex4()
					if !ok {
						return nil, "", p.errorf("invalid \\u escape")
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						return nil, "", p.errorf("unpaired UTF-16 surrogate")
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return nil, "", p.errorf("invalid escape")
			}
		default:
			if !plain {
				buf = append(buf, c)
			}
			p.pos++
		}
	}
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.pos += 4
	return rune(v), true
}

// appendCompact appends n without any whitespace, every token exactly as
// it was read.
func appendCompact(b []byte, n *node) []byte {
	switch n.kind {
	case kindObject:
		b = append(b, '{')
		for i, f := range n.fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, f.rawKey...)
			b = append(b, ':')
			b = appendCompact(b, f.val)
		}
		return append(b, '}')
	case kindArray:
		b = append(b, '[')
		for i, e := range n.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCompact(b, e)
		}
		return append(b, ']')
	default:
		return append(b, n.raw...)
	}
}

// quote returns the JSON text of s escaped as octez's Json_repr.pp_string
// does: only '"', '\\' and control characters are escaped (\b \t \n \r by
// name, others as \u00XX); everything else, including non-ASCII UTF-8,
// '/' and DEL, is written as is.
func quote(s string) []byte {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = fmt.Appendf(b, "\\u%04x", c)
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// strNode returns a string node for s, escaped as octez would.
func strNode(s string) *node {
	return &node{kind: kindString, raw: quote(s), str: s}
}

// rawNode returns a scalar node with the given source text (a number or a
// literal).
func rawNode(kind byte, raw string) *node {
	return &node{kind: kind, raw: []byte(raw)}
}
