package p2ppool

import (
	"context"
	"log/slog"
	"sync"
)

// connLogHandler is the handler of a connection's logger: the pool's
// handler with the connection's attributes (peer, point, remote, conn,
// dir), added the first time the connection logs. Logger.With would
// format them at every connect, 10 allocations and about 400 bytes held
// per connection end (22 MB at 10,000 swarm nodes), for connections that
// mostly never log.
type connLogHandler struct {
	base slog.Handler
	info *ConnInfo[any] // read once, on the first record
	once sync.Once
	h    slog.Handler // base with the attributes, once made
}

func (l *connLogHandler) handler() slog.Handler {
	l.once.Do(func() {
		i := l.info
		l.h = l.base.WithAttrs([]slog.Attr{
			slog.Any("peer", i.Peer), slog.Any("point", i.Point), slog.Any("remote", i.RemoteAddr),
			slog.Uint64("conn", i.ID), slog.String("dir", direction(i.Incoming)),
		})
		l.info = nil
	})
	return l.h
}

// Enabled asks the pool's handler: the attributes change no level.
func (l *connLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.base.Enabled(ctx, level)
}

// Handle handles r with the connection's attributes.
func (l *connLogHandler) Handle(ctx context.Context, r slog.Record) error {
	return l.handler().Handle(ctx, r)
}

// WithAttrs returns the handler with the connection's attributes and
// attrs.
func (l *connLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return l.handler().WithAttrs(attrs)
}

// WithGroup returns the handler with the connection's attributes, then
// the group.
func (l *connLogHandler) WithGroup(name string) slog.Handler {
	return l.handler().WithGroup(name)
}
