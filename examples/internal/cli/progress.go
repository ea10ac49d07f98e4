package cli

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// PipeProgressInterval is how often Progress prints a line when its
// output is not a terminal.
const PipeProgressInterval = 5 * time.Second

// Progress shows the proof-of-work search of a new identity
// (p2ppool.GenerateIdentity's progress callback): stamps tried, the odds
// that a search at this difficulty has ended by now, the rate and the
// time elapsed. On a terminal it redraws one line in place with \r; on
// anything else (a pipe, a log file) it prints a plain line every
// PipeProgressInterval and one at the end, and never writes \r.
//
// The odds, 1 - exp(-tried/2^pow), replace a share of the expected
// attempts: the search is memoryless, so a share passes 100% in one run
// of three ("198% of expected") without anything being wrong, while the
// odds stay under 100% and say how unusual the wait is.
//
// Update and Finish may be called from different goroutines.
type Progress struct {
	w        io.Writer
	tty      bool
	expected float64
	start    time.Time

	mu       sync.Mutex
	attempts uint64
	width    int       // length of the last line drawn, to blank leftovers (tty)
	printed  time.Time // when the last line was printed (pipe)
	drawn    bool
}

// NewProgress returns a Progress for a search at difficulty pow, writing
// to w (\r redraws only if IsTerminal(w)).
func NewProgress(w io.Writer, pow float64) *Progress {
	return &Progress{w: w, tty: IsTerminal(w), expected: math.Exp2(pow), start: time.Now()}
}

// Update records the number of stamps tried so far and shows it.
func (p *Progress) Update(attempts uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.attempts = attempts
	if p.tty {
		p.redraw()
		return
	}
	now := time.Now()
	if now.Sub(p.start) >= PipeProgressInterval && now.Sub(p.printed) >= PipeProgressInterval {
		fmt.Fprintln(p.w, p.line())
		p.printed = now
		p.drawn = true
	}
}

// Finish leaves the last state shown and ends the line.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.tty && p.drawn:
		fmt.Fprintln(p.w)
	case !p.tty && p.drawn:
		fmt.Fprintln(p.w, p.line()) // the final count, after the periodic ones
	}
}

func (p *Progress) redraw() {
	line := p.line()
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.width = len(line)
	p.drawn = true
}

// line is the state on one line of at most about 75 columns.
func (p *Progress) line() string {
	elapsed := time.Since(p.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(p.attempts) / s
	}
	odds := math.Floor(100 * -math.Expm1(-float64(p.attempts)/p.expected)) // < 100: never "done"
	return fmt.Sprintf("%s stamps tried (%.0f%% of searches end by now), %s/s, %s",
		SI(float64(p.attempts)), odds, SI(rate), elapsed.Truncate(time.Second))
}

// SI formats x with a k/M/G/T suffix, for counts that span many orders
// of magnitude.
func SI(x float64) string {
	for _, u := range []struct {
		scale  float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if x >= u.scale {
			return fmt.Sprintf("%.2f%s", x/u.scale, u.suffix)
		}
	}
	return fmt.Sprintf("%.0f", x)
}
