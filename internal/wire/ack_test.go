package wire

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/p2ppool/p2ppool/dataenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAckVectors(t *testing.T) {
	p := netip.MustParseAddrPort(v7NackPointText)
	tests := []struct {
		name string
		hex  string
		ack  Ack
	}{
		{"Ack", v7Ack, Ack{Kind: AckOK}},
		{"Nack_v_0", v7NackV0, Ack{Kind: AckNackV0}},
		{"Nack deprecated p2p", v7NackDeprecatedP2P, Ack{Kind: AckNack, Motive: DeprecatedP2PVersion, Points: []netip.AddrPort{p}}},
		{"Nack unknown chain", v7NackUnknownChain, Ack{Kind: AckNack, Motive: UnknownChainName, Points: []netip.AddrPort{p}}},
		{"Nack empty list", "01000500000000", Ack{Kind: AckNack, Motive: AlreadyConnected}},
		{"Nack unknown motive", "01fffe00000000", Ack{Kind: AckNack, Motive: -2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.hex)
			got, err := DecodeAck(in)
			require.NoError(t, err)
			assert.Equal(t, tt.ack, got)
			assert.Equal(t, in, tt.ack.Append(nil), "encode")
			checkPrefixesAndTrailing(t, in, func(b []byte) error {
				_, err := DecodeAck(b)
				return err
			})
		})
	}
}

func TestAckAppendIgnoresIrrelevantFields(t *testing.T) {
	pts := []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:5")}
	assert.Equal(t, []byte{0x00}, Ack{Kind: AckOK, Motive: 3, Points: pts}.Append(nil))
	assert.Equal(t, []byte{0xFF}, Ack{Kind: AckNackV0, Motive: 3, Points: pts}.Append(nil))
}

func TestAckErrors(t *testing.T) {
	onePoint := AppendPoint(nil, netip.MustParseAddrPort("1.2.3.4:5"))
	list := func(parts ...[]byte) []byte {
		var body []byte
		for _, p := range parts {
			body = append(body, p...)
		}
		return dataenc.AppendBytes([]byte{0x01, 0x00, 0x01}, body)
	}
	var hundredOne [][]byte
	for range MaxNackPoints + 1 {
		hundredOne = append(hundredOne, onePoint)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"unknown tag", []byte{0x02}, ErrInvalid},
		{"unknown tag 0xfe", []byte{0xFE}, ErrInvalid},
		{"list length beyond input", append([]byte{0x01, 0, 1, 0, 0, 0, 200}, onePoint...), ErrTruncated},
		{"list length 4 GiB", []byte{0x01, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF}, ErrTooLarge},
		{"point cut by list length", append([]byte{0x01, 0, 1, 0, 0, 0, 5}, onePoint...), ErrTruncated},
		{"bad point", list(dataenc.AppendString(nil, "1.2.3.4")), ErrInvalid},
		{"point too long", list(dataenc.AppendString(nil, strings.Repeat("1", 48))), ErrTooLarge},
		{"101 points", list(hundredOne...), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAck(tt.in)
			require.ErrorIs(t, err, tt.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
		})
	}
	// Exactly 100 points are fine, and more are cut at encode time.
	ok, err := DecodeAck(list(hundredOne[:MaxNackPoints]...))
	require.NoError(t, err)
	assert.Len(t, ok.Points, MaxNackPoints)
	ok.Points = append(ok.Points, ok.Points[0])
	again, err := DecodeAck(ok.Append(nil))
	require.NoError(t, err)
	assert.Len(t, again.Points, MaxNackPoints)
}

func TestAckStrings(t *testing.T) {
	tests := map[NackMotive]string{
		NoMotive:                       "no motive",
		TooManyConnections:             "too many connections",
		UnknownChainName:               "unknown chain name",
		DeprecatedP2PVersion:           "deprecated p2p version",
		DeprecatedDistributedDBVersion: "deprecated distributed db version",
		AlreadyConnected:               "already connected",
		6:                              "unknown motive 6",
		-1:                             "unknown motive -1",
	}
	for m, want := range tests {
		assert.Equal(t, want, m.String())
	}
}
