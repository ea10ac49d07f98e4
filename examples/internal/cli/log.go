package cli

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// LogFlags are -log-level and -log-format, which make the logger a
// command gives p2ppool.Config.Logger (and uses itself). The zero value
// is level info, format text; Register sets the defaults on the flags.
type LogFlags struct {
	Level  slog.Level
	Format string // "text" or "json"
}

// Register declares -log-level and -log-format on fs.
func (l *LogFlags) Register(fs *flag.FlagSet) {
	l.Format = "text"
	fs.TextVar(&l.Level, "log-level", slog.LevelInfo,
		"log `LEVEL`: debug (peers' misbehaviour, refusals, disconnections), info, warn or error")
	fs.Func("log-format", "log `FORMAT`: text (key=value) or json (one object a line) (default text)", func(s string) error {
		switch s {
		case "text", "json":
			l.Format = s
			return nil
		}
		return fmt.Errorf("%q is neither text nor json", s)
	})
}

// Handler is the slog handler the flags describe, writing to w.
func (l *LogFlags) Handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.Level}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// Logger is a logger on Handler(w).
func (l *LogFlags) Logger(w io.Writer) *slog.Logger { return slog.New(l.Handler(w)) }
