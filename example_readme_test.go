package p2ppool_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeGo is a Go block of the README, and readmeNames the sentence
// after it that names the example it shows: "This is `Example_chat` in
// `example_chat_test.go`".
var (
	readmeGo    = regexp.MustCompile("(?ms)^```go\n(.*?)^```\n")
	readmeNames = regexp.MustCompile("^\nThis is `(\\w+)` in `(\\w+\\.go)`")
)

// readmeCounted is a heading that counts the lines of the Go block under
// it.
var readmeCounted = regexp.MustCompile("(?ms)^## [^\n]* in (\\d+) lines$.*?^```go\n(.*?)^```$")

// TestReadmeSnippetsAreExamples keeps every Go block of the README
// identical to the body of the example it names, which go test compiles
// and runs, and the line counts of the headings true.
func TestReadmeSnippetsAreExamples(t *testing.T) {
	b, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(b)
	blocks := readmeGo.FindAllStringSubmatchIndex(readme, -1)
	require.GreaterOrEqual(t, len(blocks), 2, "the README shows Example and Example_chat")
	for _, m := range blocks {
		snippet := readme[m[2]:m[3]]
		names := readmeNames.FindStringSubmatch(readme[m[1]:])
		if !assert.NotNil(t, names, "a Go block of the README names no example:\n%s", snippet) {
			continue
		}
		assert.Equal(t, exampleBody(t, names[2], names[1]), snippet, "the README's %s differs from %s's", names[1], names[2])
	}
	counted := readmeCounted.FindAllStringSubmatch(readme, -1)
	require.GreaterOrEqual(t, len(counted), 2, "the README's headings count their snippets' lines")
	for _, c := range counted {
		n, _ := strconv.Atoi(c[1])
		assert.Equal(t, strings.Count(c[2], "\n"), n, "a heading says %d lines", n)
	}
}

// exampleBody returns the body of function name in file, without its
// braces and one tab less indented, as the README shows it.
func exampleBody(t *testing.T, file, name string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	require.NoError(t, err)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	require.NoError(t, err)
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == name {
			body := string(src[fset.Position(fn.Body.Lbrace).Offset+2 : fset.Position(fn.Body.Rbrace).Offset])
			lines := strings.SplitAfter(body, "\n")
			for i, l := range lines {
				lines[i] = strings.TrimPrefix(l, "\t")
			}
			return strings.Join(lines, "")
		}
	}
	t.Fatalf("%s has no function %s", file, name)
	return ""
}
