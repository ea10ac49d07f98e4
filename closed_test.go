package p2ppool

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readOnlyAfterClose are the exported calls that return no error: they
// only read, and keep answering after Close from the state at closing.
// A call that changes anything must return an error, ErrPoolClosed after
// Close: adding one that does not makes TestEveryCallFailsAfterClose
// fail.
var readOnlyAfterClose = map[string]bool{
	"Pool.Stats": true, "Pool.Config": true, "Pool.Watch": true,
	// Next returns a channel, closed once the pool has closed.
	"Pool.Next":  true,
	"Pool.Peers": true, "Pool.Points": true, "Pool.ACL": true, "Pool.Conns": true,
	"Peers.Info": true, "Peers.All": true, "Peers.Connected": true, "Peers.Events": true,
	"Peers.Meta": true, "Peers.Score": true, "Peers.Banned": true,
	"Points.Info": true, "Points.All": true, "Points.Connected": true, "Points.Events": true,
	"ACL.AddrBanned": true, "ACL.List": true,
	"Conns.All": true, "Conns.Len": true, "Conns.ByPeer": true, "Conns.ByPoint": true,
	"Connection.Info": true, "Connection.Peer": true, "Connection.Stat": true,
	"Connection.Context": true, "Connection.Done": true,
	// Allow reports false once the connection has ended, spending and
	// counting nothing.
	"Connection.Allow": true,
}

// TestEveryCallFailsAfterClose calls every exported method of the pool,
// its views and a connection after Close, found by reflection so that
// none is forgotten: each one returning an error must return one that
// matches ErrPoolClosed (Close and Shutdown excepted: idempotent), and the others must
// be listed read-only above.
func TestEveryCallFailsAfterClose(t *testing.T) {
	n := newNetwork("tcp")
	a, b := newNode(t, n, nil), newNode(t, n, nil)
	ca, _ := connect(t, a, b)
	require.NoError(t, a.Close())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	pipe, other := net.Pipe()
	defer pipe.Close()
	defer other.Close()
	args := map[reflect.Type]reflect.Value{
		reflect.TypeFor[context.Context](): reflect.ValueOf(context.Background()),
		reflect.TypeFor[net.Listener]():    reflect.ValueOf(ln),
		reflect.TypeFor[net.Conn]():        reflect.ValueOf(pipe),
		reflect.TypeFor[netip.AddrPort]():  reflect.ValueOf(b.point),
		reflect.TypeFor[netip.Addr]():      reflect.ValueOf(b.point.Addr()),
		reflect.TypeFor[PeerID]():          reflect.ValueOf(b.Config().Identity.PeerID),
		reflect.TypeFor[string]():          reflect.ValueOf(b.point.String()),
		reflect.TypeFor[time.Duration]():   reflect.ValueOf(time.Minute),
	}
	errType := reflect.TypeFor[error]()
	checked := 0
	check := func(kind string, v reflect.Value) {
		for i := range v.NumMethod() {
			m, name := v.Method(i), kind+"."+v.Type().Method(i).Name
			if name == "Pool.Close" || name == "Pool.Shutdown" {
				continue // idempotent by design
			}
			ft := m.Type()
			in := make([]reflect.Value, 0, ft.NumIn())
			for j := range ft.NumIn() {
				at := ft.In(j)
				if ft.IsVariadic() && j == ft.NumIn()-1 {
					break
				}
				if a, ok := args[at]; ok {
					in = append(in, a)
				} else {
					in = append(in, reflect.Zero(at)) // messages, metadata, limits, flags, hooks
				}
			}
			t.Run(name, func(t *testing.T) {
				checked++
				out := m.Call(in)
				if ft.NumOut() == 0 || ft.Out(ft.NumOut()-1) != errType {
					require.Truef(t, readOnlyAfterClose[name], "%s returns no error: it must be read-only (listed in readOnlyAfterClose) or return ErrPoolClosed after Close", name)
					return
				}
				err, _ := out[len(out)-1].Interface().(error)
				require.Truef(t, errors.Is(err, ErrPoolClosed), "%s after Close: got %v, want ErrPoolClosed", name, err)
			})
		}
	}
	check("Pool", reflect.ValueOf(a.testPool))
	check("Peers", reflect.ValueOf(a.Peers()))
	check("Points", reflect.ValueOf(a.Points()))
	check("ACL", reflect.ValueOf(a.ACL()))
	check("Conns", reflect.ValueOf(a.Conns()))
	check("Connection", reflect.ValueOf(ca))
	require.Greater(t, checked, 50, "the method sets were walked")

	// The watcher a closed pool returns is closed.
	_, err = a.Watch(context.Background(), 0).Next(context.Background())
	require.ErrorIs(t, err, ErrWatcherClosed)
}
