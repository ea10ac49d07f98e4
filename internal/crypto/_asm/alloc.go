package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// allocator maps the 16 Salsa20 state words onto fewer registers during
// fully unrolled rounds. Before each quarter round it loads the four words
// the round needs, evicting the resident word whose next use is farthest
// (Belady's rule, optimal here because the schedule is known in advance).
// A word lives in memory at in(w) until it is first evicted dirty, and at
// x(w) from then on.
type allocator struct {
	regs    []Register
	mov     func(src, dst Op)
	in, x   func(int) Mem
	slot    [16]int // index in regs holding the word, or -1
	owner   []int   // word held by each register, or -1
	spilled [16]bool
	dirty   [16]bool // register copy differs from home
}

func newAllocator(regs []Register, mov func(src, dst Op), in, x func(int) Mem) *allocator {
	a := &allocator{regs: regs, mov: mov, in: in, x: x, owner: make([]int, len(regs))}
	for i := range a.slot {
		a.slot[i] = -1
	}
	for i := range a.owner {
		a.owner[i] = -1
	}
	return a
}

// home is where word w lives when it is not in a register.
func (a *allocator) home(w int) Mem {
	if a.spilled[w] {
		return a.x(w)
	}
	return a.in(w)
}

func (a *allocator) resident(w int) (Register, bool) {
	if a.slot[w] < 0 {
		return nil, false
	}
	return a.regs[a.slot[w]], true
}

func (a *allocator) reg(w int) Register {
	r, ok := a.resident(w)
	if !ok {
		panic(fmt.Sprintf("word %d not resident", w))
	}
	return r
}

// modified records that the quarter round q changed all its words.
func (a *allocator) modified(q [4]int) {
	for _, w := range q {
		a.dirty[w] = true
	}
}

// ensure makes the words of q resident; rest is the schedule after q.
func (a *allocator) ensure(q [4]int, rest [][4]int) {
	has := func(r [4]int, w int) bool { return w == r[0] || w == r[1] || w == r[2] || w == r[3] }
	nextUse := func(w int) int {
		for i, r := range rest {
			if has(r, w) {
				return i
			}
		}
		return len(rest) + 1
	}
	for _, w := range q {
		if a.slot[w] >= 0 {
			continue
		}
		s := a.free()
		if s < 0 {
			far := -1
			for i, o := range a.owner {
				if has(q, o) {
					continue
				}
				if d := nextUse(o); d > far {
					far, s = d, i
				}
			}
			a.evict(s)
		}
		a.mov(a.home(w), a.regs[s])
		a.owner[s] = w
		a.slot[w] = s
	}
}

func (a *allocator) free() int {
	for i, o := range a.owner {
		if o < 0 {
			return i
		}
	}
	return -1
}

// evict empties register s, storing its word if the register copy is the
// only up-to-date one.
func (a *allocator) evict(s int) {
	w := a.owner[s]
	if w < 0 {
		return
	}
	if a.dirty[w] {
		a.mov(a.regs[s], a.x(w))
		a.spilled[w] = true
		a.dirty[w] = false
	}
	a.slot[w] = -1
	a.owner[s] = -1
}
