package goid

import (
	"sync"
	"testing"
)

// recurse grows the stack by depth frames, then returns Token: a stack
// that grows is copied, and the token must not move with it.
//
//go:noinline
func recurse(depth int) uintptr {
	var pad [128]byte
	if depth == 0 {
		return Token() + uintptr(pad[0])
	}
	return recurse(depth-1) + uintptr(pad[depth%len(pad)])
}

// TestTokenIsAGoroutine checks Token against runtime.Stack's goroutine ids
// on many goroutines alive at once: the two must be in one-to-one
// correspondence (a token shared by two live goroutines, or two tokens for
// one, fails), tokens are never 0, and a goroutine's token survives its
// stack being grown and copied.
func TestTokenIsAGoroutine(t *testing.T) {
	const n = 200
	type seen struct{ token, id uintptr }
	got := make([]seen, n)
	var started, wg sync.WaitGroup
	release := make(chan struct{})
	started.Add(n)
	wg.Add(n)
	for i := range n {
		go func() {
			defer wg.Done()
			tok, id := Token(), stackID()
			if deep := recurse(500); deep != tok {
				t.Errorf("goroutine %d: token %#x after stack growth, %#x before", id, deep, tok)
			}
			if again := Token(); again != tok {
				t.Errorf("goroutine %d: token %#x, then %#x", id, tok, again)
			}
			got[i] = seen{tok, id}
			started.Done()
			<-release // all alive at once: none can reuse another's record
		}()
	}
	started.Wait()
	close(release)
	wg.Wait()
	byToken := make(map[uintptr]uintptr, n)
	byID := make(map[uintptr]uintptr, n)
	for _, s := range got {
		if s.token == 0 {
			t.Fatalf("goroutine %d: token 0", s.id)
		}
		if other, dup := byToken[s.token]; dup {
			t.Fatalf("goroutines %d and %d, alive together, share token %#x", other, s.id, s.token)
		}
		if other, dup := byID[s.id]; dup {
			t.Fatalf("goroutine %d has two tokens, %#x and %#x", s.id, other, s.token)
		}
		byToken[s.token], byID[s.id] = s.id, s.token
	}
	if tok := Token(); byID[stackID()] != 0 || byToken[tok] != 0 {
		t.Fatalf("the test's goroutine shares token %#x with one it started", tok)
	}
}

// TestTokenAllocatesNothing: the point of Token over runtime.Stack.
func TestTokenAllocatesNothing(t *testing.T) {
	if !fromG {
		t.Skip("Token falls back to runtime.Stack on this GOARCH")
	}
	if a := testing.AllocsPerRun(100, func() { Token() }); a != 0 {
		t.Fatalf("Token allocates %v times per call", a)
	}
}

func BenchmarkToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Token()
	}
}

// BenchmarkStackID is what Token replaces.
func BenchmarkStackID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		stackID()
	}
}
