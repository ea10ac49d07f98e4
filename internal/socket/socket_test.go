package socket

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testChain = "TEZOS_TEST"

var testVersions = Versions{ChainName: testChain, DistributedDB: []uint16{0, 1, 2}, P2P: []uint16{0, 1}}

type testIdentity struct {
	pk    crypto.PublicKey
	sk    crypto.SecretKey
	stamp crypto.Nonce
}

func newIdentity(t testing.TB, difficulty float64) testIdentity {
	t.Helper()
	pk, sk, err := crypto.GenerateKey(rand.Reader)
	require.NoError(t, err)
	target, err := crypto.MakePowTarget(difficulty)
	require.NoError(t, err)
	stamp, err := crypto.SearchPow(context.Background(), &pk, &target, 1, nil)
	require.NoError(t, err)
	return testIdentity{pk, sk, stamp}
}

// testConfig is a handshake config for a fresh identity meeting difficulty
// 0 and accepting any peer.
func testConfig(t testing.TB) *Config {
	t.Helper()
	return configFor(t, newIdentity(t, 0))
}

func configFor(t testing.TB, id testIdentity) *Config {
	t.Helper()
	target, err := crypto.MakePowTarget(0)
	require.NoError(t, err)
	return &Config{
		PublicKey:        id.pk,
		SecretKey:        id.sk,
		ProofOfWorkStamp: id.stamp,
		Port:             9732,
		Version:          testVersions.Announced(),
		PowTarget:        target,
		Metadata:         wire.Metadata{}.Append(nil),
		Timeout:          10 * time.Second,
	}
}

type transport struct {
	name string
	pair func(t testing.TB) (initiator, responder net.Conn)
}

var transports = []transport{
	{"pipe", func(t testing.TB) (net.Conn, net.Conn) { a, b := net.Pipe(); return a, b }},
	{"tcp", tcpPair},
}

func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	d, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	r := <-ch
	require.NoError(t, r.err)
	return d, r.c
}

type handshakeResult struct {
	auth *AuthConn
	conn *Conn
	err  error
}

// handshake runs both halves concurrently and returns each side's outcome.
// decide, when set, runs on the responder after Authenticate and may Nack
// instead of accepting (it returns true when it took over).
func handshake(t testing.TB, ini, resp net.Conn, iniCfg, respCfg *Config, decide func(*AuthConn) bool) (handshakeResult, handshakeResult) {
	t.Helper()
	run := func(nc net.Conn, incoming bool, cfg *Config, decide func(*AuthConn) bool) handshakeResult {
		a, err := Authenticate(context.Background(), nc, incoming, cfg)
		if err != nil {
			return handshakeResult{err: err}
		}
		if decide != nil && decide(a) {
			return handshakeResult{auth: a}
		}
		c, err := a.Accept()
		return handshakeResult{auth: a, conn: c, err: err}
	}
	ch := make(chan handshakeResult, 1)
	go func() { ch <- run(resp, true, respCfg, decide) }()
	ir := run(ini, false, iniCfg, nil)
	rr := <-ch
	for _, r := range []handshakeResult{ir, rr} {
		if r.conn != nil {
			c := r.conn
			t.Cleanup(func() { c.Close(); c.Free() })
		}
	}
	return ir, rr
}

func connectedPair(t testing.TB, tr transport, iniCfg, respCfg *Config) (*Conn, *Conn) {
	t.Helper()
	a, b := tr.pair(t)
	ir, rr := handshake(t, a, b, iniCfg, respCfg, nil)
	require.NoError(t, ir.err)
	require.NoError(t, rr.err)
	return ir.conn, rr.conn
}

func TestHandshakeBothWays(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			iniCfg, respCfg := testConfig(t), testConfig(t)
			iniCfg.Port = 0
			respCfg.Metadata = wire.Metadata{DisableMempool: true, PrivateNode: true}.Append(nil)
			a, b := tr.pair(t)
			ir, rr := handshake(t, a, b, iniCfg, respCfg, nil)
			require.NoError(t, ir.err)
			require.NoError(t, rr.err)

			assert.Equal(t, crypto.PeerIDHash(&respCfg.PublicKey), ir.auth.Remote().PeerID)
			assert.Equal(t, crypto.PeerIDHash(&iniCfg.PublicKey), rr.auth.Remote().PeerID)
			assert.Equal(t, uint16(9732), ir.auth.Remote().Port)
			assert.Equal(t, uint16(0), rr.auth.Remote().Port)
			assert.Equal(t, testVersions.Announced(), ir.auth.Remote().Version)
			assert.Equal(t, []byte{0xff, 0xff}, ir.auth.Remote().Metadata)
			assert.Equal(t, []byte{0, 0}, rr.auth.Remote().Metadata)
			assert.False(t, ir.auth.incoming)
			assert.True(t, rr.auth.incoming)

			// Messages flow both ways after the handshake.
			exchangeMessages(t, ir.conn, rr.conn, appMessage(0x10, []byte("ping")))
			exchangeMessages(t, rr.conn, ir.conn, appMessage(0x11, []byte("pong")))
		})
	}
}

func appMessage(tag uint16, body []byte) []byte {
	m := wire.Message{Tag: tag, Body: body}
	return m.Append(nil)
}

// exchangeMessages writes msgs on w (in one call) and checks r reads them
// back one by one, byte for byte.
func exchangeMessages(t testing.TB, w, r *Conn, msgs ...[]byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- w.WriteMessages(msgs...) }()
	for i, want := range msgs {
		got, err := r.ReadMessage()
		require.NoError(t, err, "message %d", i)
		require.Equal(t, want, got, "message %d", i)
	}
	require.NoError(t, <-errc)
}

func TestMessagesSpanningAndSharingChunks(t *testing.T) {
	for _, chunk := range []int{MinChunkSize, 20, 100, 1000, MaxChunkSize} {
		iniCfg, respCfg := testConfig(t), testConfig(t)
		iniCfg.BinaryChunksSize = chunk
		w, r := connectedPair(t, transports[1], iniCfg, respCfg)
		msgs := [][]byte{
			appMessage(0x10, nil),
			appMessage(0x10, make([]byte, 1)),
			appMessage(0x20, make([]byte, 64<<10)),
			appMessage(0x30, []byte("after a big one")),
			appMessage(0x40, make([]byte, 3*MaxChunkPayload+5)),
		}
		exchangeMessages(t, w, r, msgs...)
	}

	// octez's reader is a stream decoder: several messages may share one
	// chunk and a message may start mid-chunk. Seal such chunks by hand
	// with cuts our writer would not choose.
	w, r := connectedPair(t, transports[0], testConfig(t), testConfig(t))
	m1, m2, m3 := appMessage(0x10, []byte("one")), appMessage(0x11, []byte("two")), appMessage(0x12, make([]byte, 300))
	stream := append(append(append([]byte(nil), m1...), m2...), m3...)
	// chunk 1: m1 and the start of m2; chunk 2: rest of m2 and m3.
	raw := w.appendSealed(nil, stream[:len(m1)+3])
	raw = w.appendSealed(raw, stream[len(m1)+3:])
	go w.nc.Write(raw)
	for _, want := range [][]byte{m1, m2, m3} {
		got, err := r.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

func TestWriterStartsEachMessageInANewChunk(t *testing.T) {
	cfg := testConfig(t)
	cfg.BinaryChunksSize = 18 + 10
	w, _ := connectedPair(t, transports[1], cfg, testConfig(t))
	var buf []byte
	for _, m := range [][]byte{appMessage(0x10, []byte("abc")), appMessage(0x10, make([]byte, 15))} {
		buf = w.appendSealed(buf, m)
	}
	// 9 bytes -> one chunk of 9; 21 bytes -> chunks of 10, 10, 1.
	var sizes []int
	for len(buf) > 0 {
		n := int(buf[0])<<8 | int(buf[1])
		sizes = append(sizes, n-tagLen)
		buf = buf[2+n:]
	}
	assert.Equal(t, []int{9, 10, 10, 1}, sizes)
}

func TestProofOfWorkIsChecked(t *testing.T) {
	strong, weak := newIdentity(t, 10), newIdentity(t, 0)
	target10, err := crypto.MakePowTarget(10)
	require.NoError(t, err)
	if crypto.CheckPow(&weak.pk, &weak.stamp, &target10) {
		t.Skip("the random stamp met 10 bits by chance")
	}
	iniCfg, respCfg := configFor(t, weak), configFor(t, strong)
	respCfg.PowTarget = target10
	a, b := net.Pipe()
	ir, rr := handshake(t, a, b, iniCfg, respCfg, nil)

	require.ErrorIs(t, rr.err, ErrNotEnoughProofOfWork)
	var he *HandshakeError
	require.ErrorAs(t, rr.err, &he)
	assert.Equal(t, StageConnectionMessage, he.Stage)
	assert.Equal(t, crypto.PeerIDHash(&weak.pk), he.Peer)
	assert.True(t, ShouldGreylist(rr.err), "octez greylists the address of a peer with too little proof of work")
	// The initiator only sees the connection close.
	require.ErrorIs(t, ir.err, ErrClosedDuringHandshake)
	assert.False(t, ShouldGreylist(ir.err))

	// The strong identity passes the same target.
	iniCfg, respCfg = configFor(t, strong), configFor(t, weak)
	respCfg.PowTarget = target10
	connectedPair(t, transports[0], iniCfg, respCfg)
}

func TestConnectionToMyself(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cfg := testConfig(t)
			a, b := tr.pair(t)
			ir, rr := handshake(t, a, b, cfg, cfg, nil)
			for _, err := range []error{ir.err, rr.err} {
				require.ErrorIs(t, err, ErrMyself)
				var he *HandshakeError
				require.ErrorAs(t, err, &he)
				assert.Equal(t, StageMetadata, he.Stage)
				assert.False(t, ShouldGreylist(err))
			}
		})
	}
}

func TestNack(t *testing.T) {
	points := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9832"), netip.MustParseAddrPort("[::1]:1")}
	for _, tc := range []struct {
		name       string
		iniP2P     uint16
		wantMotive wire.NackMotive
		wantPoints []netip.AddrPort
	}{
		{"with list", 1, wire.TooManyConnections, points},
		{"v0 peer gets Nack_v_0", 0, wire.NoMotive, nil},
	} {
		for _, tr := range transports {
			t.Run(tc.name+"/"+tr.name, func(t *testing.T) {
				iniCfg, respCfg := testConfig(t), testConfig(t)
				iniCfg.Version.P2P = tc.iniP2P
				a, b := tr.pair(t)
				var nackErr error
				ir, _ := handshake(t, a, b, iniCfg, respCfg, func(a *AuthConn) bool {
					nackErr = a.Nack(wire.TooManyConnections, points)
					return true
				})
				require.NoError(t, nackErr)
				require.ErrorIs(t, ir.err, ErrRejected)
				var rej *RejectedError
				require.ErrorAs(t, ir.err, &rej)
				assert.Equal(t, tc.wantMotive, rej.Motive)
				assert.Equal(t, tc.wantPoints, rej.Points)
				assert.False(t, ShouldGreylist(ir.err), "ack-stage failures are never greylisted")
			})
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Timeout = 5 * time.Second
		a, b := net.Pipe()
		defer b.Close()
		// The peer accepts the connection and never says anything.
		go io.Copy(io.Discard, b)
		start := time.Now()
		_, err := Authenticate(context.Background(), a, true, cfg)
		require.ErrorIs(t, err, ErrTimeout)
		assert.Equal(t, 5*time.Second, time.Since(start))
		assert.False(t, ShouldGreylist(err))
	})
}

// TestHandshakeTimeoutAndContextDeadline: Timeout is the socket's
// deadline, not a context of its own; whichever of it and ctx's deadline
// comes first ends the handshake, and the error says which.
func TestHandshakeTimeoutAndContextDeadline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ctxAfter time.Duration
		want     error
		notWant  error
		took     time.Duration
	}{
		{"TimeoutFirst", 10 * time.Second, ErrTimeout, context.DeadlineExceeded, 5 * time.Second},
		{"ContextFirst", 3 * time.Second, context.DeadlineExceeded, ErrTimeout, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig(t)
				cfg.Timeout = 5 * time.Second
				a, b := net.Pipe()
				defer b.Close()
				go io.Copy(io.Discard, b) // a peer that never answers
				ctx, cancel := context.WithTimeout(context.Background(), tc.ctxAfter)
				defer cancel()
				start := time.Now()
				_, err := Authenticate(ctx, a, true, cfg)
				require.ErrorIs(t, err, tc.want)
				assert.NotErrorIs(t, err, tc.notWant)
				assert.Equal(t, tc.took, time.Since(start))
			})
		})
	}
}

func TestHandshakeTimeoutCoversTheAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		iniCfg, respCfg := testConfig(t), testConfig(t)
		iniCfg.Timeout = 5 * time.Second
		a, b := net.Pipe()
		defer b.Close()
		respDone := make(chan struct{})
		go func() {
			defer close(respDone)
			// The responder authenticates, then stalls before acking.
			ra, err := Authenticate(context.Background(), b, true, respCfg)
			if err == nil {
				time.Sleep(time.Minute)
				ra.Close()
			}
		}()
		ia, err := Authenticate(context.Background(), a, false, iniCfg)
		require.NoError(t, err)
		_, err = ia.Accept()
		require.ErrorIs(t, err, ErrTimeout)
		var he *HandshakeError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, StageAck, he.Stage)
		<-respDone
	})
}

func TestHandshakeCancelledByContext(t *testing.T) {
	cfg := testConfig(t)
	a, b := net.Pipe()
	defer b.Close()
	go io.Copy(io.Discard, b)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := Authenticate(ctx, a, false, cfg)
		errc <- err
	}()
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrTimeout)
}

func TestVersionSelection(t *testing.T) {
	// tezedge's table for choose_compatible_version, plus chain and
	// both-fail cases.
	local := Versions{ChainName: "C", DistributedDB: []uint16{3, 4}, P2P: []uint16{1, 2}}
	for _, tc := range []struct {
		remote     wire.NetworkVersion
		want       wire.NetworkVersion
		wantMotive wire.NackMotive
	}{
		{remote: wire.NetworkVersion{ChainName: "C", DistributedDB: 3, P2P: 3}, want: wire.NetworkVersion{ChainName: "C", DistributedDB: 3, P2P: 2}},
		{remote: wire.NetworkVersion{ChainName: "C", DistributedDB: 5, P2P: 1}, want: wire.NetworkVersion{ChainName: "C", DistributedDB: 4, P2P: 1}},
		{remote: wire.NetworkVersion{ChainName: "C", DistributedDB: 2, P2P: 1}, wantMotive: wire.DeprecatedDistributedDBVersion},
		{remote: wire.NetworkVersion{ChainName: "C", DistributedDB: 4, P2P: 0}, wantMotive: wire.DeprecatedP2PVersion},
		{remote: wire.NetworkVersion{ChainName: "C", DistributedDB: 2, P2P: 0}, wantMotive: wire.DeprecatedDistributedDBVersion},
		{remote: wire.NetworkVersion{ChainName: "D", DistributedDB: 4, P2P: 2}, wantMotive: wire.UnknownChainName},
	} {
		got, err := local.Select(tc.remote)
		if tc.wantMotive == 0 {
			require.NoError(t, err, "%+v", tc.remote)
			assert.Equal(t, tc.want, got)
			continue
		}
		require.ErrorIs(t, err, ErrNoCommonVersion)
		var ve *VersionError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, tc.wantMotive, ve.Motive, "%+v", tc.remote)
	}
	assert.Equal(t, wire.NetworkVersion{ChainName: "C", DistributedDB: 4, P2P: 2}, local.Announced())
}

func TestConfigValidate(t *testing.T) {
	for _, bad := range []Config{
		{BinaryChunksSize: MinChunkSize - 1},
		{BinaryChunksSize: MaxChunkSize + 1},
		{MaxMessageSize: -1},
		{MaxMessageSize: wire.MaxMessageSize + 1},
		{Metadata: make([]byte, MaxChunkPayload+1)},
	} {
		assert.Error(t, bad.Validate(), "%+v", bad)
	}
	// Metadata is one chunk whatever the message chunk size.
	ok := Config{BinaryChunksSize: MinChunkSize, Metadata: []byte{0, 0}}
	assert.NoError(t, ok.Validate())
}

func TestLowOrderKeyAbortsHandshake(t *testing.T) {
	evil := testConfig(t)
	evil.PublicKey = crypto.PublicKey{} // the all-zero point has order 1
	a, b := net.Pipe()
	ir, rr := handshake(t, a, b, evil, testConfig(t), nil)
	require.ErrorIs(t, rr.err, crypto.ErrLowOrderKey)
	require.Error(t, ir.err)
	assert.False(t, ShouldGreylist(rr.err), "octez raises an exception here, which is not greylisted")
}

func TestHandshakeRejectsGarbage(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want error
	}{
		{"short connection message", []byte{0, 3, 1, 2, 3}, wire.ErrTruncated},
		{"closed mid-message", []byte{0, 90, 1, 2}, ErrClosedDuringHandshake},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			go func() {
				var hdr [2]byte // skip our connection message
				io.ReadFull(b, hdr[:])
				io.CopyN(io.Discard, b, int64(hdr[0])<<8|int64(hdr[1]))
				b.Write(tc.raw)
				b.Close()
			}()
			_, err := Authenticate(context.Background(), a, true, testConfig(t))
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestAckDecipherFailureIsNotGreylisted(t *testing.T) {
	a, b := net.Pipe()
	iniCfg, respCfg := testConfig(t), testConfig(t)
	errc := make(chan error, 1)
	go func() {
		ra, err := Authenticate(context.Background(), b, true, respCfg)
		if err != nil {
			errc <- err
			return
		}
		// Send an ack sealed with the wrong nonce.
		ra.c.wnonce.Increment()
		errc <- ra.c.writeHandshakeChunk(wire.Ack{Kind: wire.AckOK}.Append(nil))
		io.Copy(io.Discard, b)
		ra.Close()
	}()
	ia, err := Authenticate(context.Background(), a, false, iniCfg)
	require.NoError(t, err)
	_, err = ia.Accept()
	require.ErrorIs(t, err, ErrDecipher)
	assert.False(t, ShouldGreylist(err))
	require.NoError(t, <-errc)
}

// rawPair returns two Conns joined by net.Pipe that share a key and nonces
// without a handshake, so tamper tests can run by the thousand.
func rawPair(t testing.TB) (w, r *Conn) {
	t.Helper()
	a, b := net.Pipe()
	cfg := &Config{}
	w, r = newConn(a, cfg), newConn(b, cfg)
	key := crypto.ChannelKey{1, 2, 3}
	var nonce crypto.Nonce
	_, err := rand.Read(nonce[:])
	require.NoError(t, err)
	w.key, r.key = key, key
	w.wnonce, r.rnonce = nonce, nonce
	t.Cleanup(func() { w.Close(); r.Close(); w.Free(); r.Free() })
	return w, r
}

func TestEveryFlippedBitEndsTheConnection(t *testing.T) {
	msg := appMessage(0x10, []byte("flip me"))
	clean := func() []byte {
		w, _ := rawPair(t)
		return w.appendSealed(nil, msg)
	}()
	for bit := 0; bit < 8*len(clean); bit++ {
		w, r := rawPair(t)
		raw := w.appendSealed(nil, msg)
		raw[bit/8] ^= 1 << (bit % 8)
		go func() {
			w.nc.Write(raw)
			w.Close()
		}()
		_, err := r.ReadMessage()
		require.Error(t, err, "bit %d", bit)
		if bit >= 16 {
			// Tag or ciphertext: the MAC catches it.
			require.ErrorIs(t, err, ErrDecipher, "bit %d", bit)
		}
		// The error is sticky: the connection is over.
		_, err2 := r.ReadMessage()
		require.Equal(t, err, err2)
	}
}

func TestTamperingEndsOnlyThatConnection(t *testing.T) {
	w1, r1 := rawPair(t)
	w2, r2 := rawPair(t)
	raw := w1.appendSealed(nil, appMessage(0x10, []byte("x")))
	raw[len(raw)-1] ^= 0x80
	go w1.nc.Write(raw)
	_, err := r1.ReadMessage()
	require.ErrorIs(t, err, ErrDecipher)
	exchangeMessages(t, w2, r2, appMessage(0x10, []byte("still fine")))
}

func TestReaderRejectsBadSizes(t *testing.T) {
	t.Run("chunk shorter than its MAC", func(t *testing.T) {
		w, r := rawPair(t)
		go w.nc.Write([]byte{0, 15})
		_, err := r.ReadMessage()
		require.ErrorIs(t, err, ErrInvalidChunkSize)
	})
	t.Run("message size over the limit", func(t *testing.T) {
		w, r := rawPair(t)
		r.maxMsg = 1000
		// A size prefix claiming 4 GiB is refused at once, before any
		// buffer grows.
		go w.nc.Write(w.appendSealed(nil, []byte{0xff, 0xff, 0xff, 0xff, 0, 0x10}))
		_, err := r.ReadMessage()
		require.ErrorIs(t, err, ErrInvalidMessageSize)
		reader, _ := r.retained()
		assert.Zero(t, reader)
	})
	t.Run("empty message", func(t *testing.T) {
		w, r := rawPair(t)
		go w.nc.Write(w.appendSealed(nil, []byte{0, 0, 0, 0}))
		_, err := r.ReadMessage()
		require.ErrorIs(t, err, ErrInvalidMessageSize)
	})
	t.Run("writer refuses oversized messages", func(t *testing.T) {
		w, _ := rawPair(t)
		w.maxMsg = 100
		err := w.WriteMessages(appMessage(0x10, make([]byte, 100)))
		require.ErrorIs(t, err, ErrInvalidMessageSize)
		err = w.WriteMessages(append(appMessage(0x10, []byte("ok")), 0, 0, 0))
		require.ErrorIs(t, err, ErrInvalidMessageSize, "not whole messages")
	})
	t.Run("truncated chunk", func(t *testing.T) {
		w, r := rawPair(t)
		raw := w.appendSealed(nil, appMessage(0x10, []byte("cut short")))
		go func() { w.nc.Write(raw[:len(raw)-3]); w.Close() }()
		_, err := r.ReadMessage()
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})
	t.Run("clean close between messages", func(t *testing.T) {
		w, r := rawPair(t)
		go w.Close()
		_, err := r.ReadMessage()
		require.True(t, errors.Is(err, io.EOF), "got %v", err)
	})
}

func TestNonceAdvancesPerChunk(t *testing.T) {
	w, r := rawPair(t)
	start := w.wnonce
	w.chunkPayload, r.chunkPayload = 4, 4
	exchangeMessages(t, w, r, appMessage(0x10, []byte("12345678"))) // 14 bytes = 4 chunks
	want := start
	for range 4 {
		want.Increment()
	}
	assert.Equal(t, want, w.wnonce)
	assert.Equal(t, want, r.rnonce)
}

// TestMutualNack: both sides refuse each other at once (same version
// mismatch, same existing connection). On net.Pipe, which has no buffer,
// the two nacks must not wait for each other until the timeout.
func TestMutualNack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		iniCfg, respCfg := testConfig(t), testConfig(t)
		iniCfg.Timeout, respCfg.Timeout = time.Minute, time.Minute
		start := time.Now()
		errc := make(chan error, 2)
		for _, side := range []struct {
			nc       net.Conn
			incoming bool
			cfg      *Config
		}{{a, false, iniCfg}, {b, true, respCfg}} {
			go func() {
				auth, err := Authenticate(context.Background(), side.nc, side.incoming, side.cfg)
				if err == nil {
					err = auth.Nack(wire.AlreadyConnected, nil)
				}
				errc <- err
			}()
		}
		for range 2 {
			// Whoever finishes first closes; the other's nack may then find
			// the pipe closed, which is not a timeout.
			if err := <-errc; err != nil {
				require.ErrorIs(t, err, ErrClosedDuringHandshake)
			}
		}
		assert.Less(t, time.Since(start), time.Second, "the nacks did not wait for the timeout")
	})
}

func TestFirstMessageTimeout(t *testing.T) {
	t.Run("silent peer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Timeout = 5 * time.Second
			cfg.FirstMessageTimeout = time.Second
			a, b := net.Pipe()
			defer b.Close()
			go io.Copy(io.Discard, b)
			start := time.Now()
			_, err := Authenticate(context.Background(), a, true, cfg)
			require.ErrorIs(t, err, ErrFirstMessageTimeout)
			require.ErrorIs(t, err, ErrTimeout, "a kind of timeout")
			assert.Equal(t, time.Second, time.Since(start), "the slot is freed after the first bound, not the whole handshake's")
		})
	})
	t.Run("lifted once the message arrived", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// The initiator sends its connection message at once, then
			// takes longer than the first bound over its metadata: the
			// handshake still completes within Timeout.
			respCfg := testConfig(t)
			respCfg.Timeout = 5 * time.Second
			respCfg.FirstMessageTimeout = time.Second
			iniCfg := testConfig(t)
			a, b := net.Pipe()
			slow := &delayedWriter{Conn: a, after: 1, delay: 1500 * time.Millisecond}
			ir, rr := handshake(t, slow, b, iniCfg, respCfg, nil)
			require.NoError(t, ir.err)
			require.NoError(t, rr.err)
		})
	})
}

// delayedWriter waits delay before every write after the first `after`.
type delayedWriter struct {
	net.Conn
	after  int
	delay  time.Duration
	writes int
}

func (w *delayedWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.writes > w.after {
		time.Sleep(w.delay)
	}
	return w.Conn.Write(p)
}

// TestBuffered: after a message read from a chunk that holds another,
// Buffered says more is waiting; after the last one, it does not.
func TestBuffered(t *testing.T) {
	w, r := rawPair(t)
	errc := make(chan error, 1)
	go func() { errc <- w.WriteMessages(appMessage(0x10, []byte("one")), appMessage(0x10, []byte("two"))) }()
	assert.False(t, r.Buffered())
	m, err := r.ReadMessage()
	require.NoError(t, err)
	require.NoError(t, <-errc)
	assert.Equal(t, appMessage(0x10, []byte("one")), m)
	assert.True(t, r.Buffered(), "packed in one chunk: the second is here already")
	_, err = r.ReadMessage()
	require.NoError(t, err)
	assert.False(t, r.Buffered())
}

// writeHandshakeChunk seals pt as one handshake chunk and writes it.
func (c *Conn) writeHandshakeChunk(pt []byte) error {
	_, err := c.nc.Write(c.sealHandshakeChunk(nil, pt))
	return err
}
