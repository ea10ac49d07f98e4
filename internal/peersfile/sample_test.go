package peersfile

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/stretchr/testify/require"
)

// Helpers shared by the tests, and the records of testdata/octez_peers.json.

// mustPeerID decodes an octez peer id text.
func mustPeerID(t testing.TB, s string) [16]byte {
	t.Helper()
	b, err := crypto.Base58CheckDecode(s, peerIDPrefix, 16)
	require.NoError(t, err)
	return [16]byte(b)
}

// ms builds a UTC time with millisecond precision, the precision octez
// writes.
func ms(year int, month time.Month, day, hour, min, sec, milli int) time.Time {
	return time.Date(year, month, day, hour, min, sec, milli*int(time.Millisecond), time.UTC)
}

// v4 is the IPv4-mapped address octez stores for an IPv4 one.
func v4(s string) netip.Addr { return canonicalAddr(netip.MustParseAddr(s)) }

// metadataWith returns octez's empty Peer_metadata with some counters
// changed, the way a node that ran for a while writes it.
func metadataWith(t testing.TB, replacements ...string) json.RawMessage {
	t.Helper()
	s := string(EmptyPeerMetadata())
	for i := 0; i < len(replacements); i += 2 {
		require.Contains(t, s, replacements[i])
		s = strings.Replace(s, replacements[i], replacements[i+1], 1)
	}
	return json.RawMessage(s)
}

// legacyMetadata is a Peer_metadata whose message counters use the
// legacy_v0 layout (8 keys), which octez still reads: opaque to us, it must
// survive untouched.
const legacyMetadata = `{"responses":{"sent":{"branch":"0","head":"0","block_header":"0","operations":"0","protocols":"0","operation_hashes_for_block":"0","operations_for_block":"0","other":"0"},"failed":{"branch":"0","head":"0","block_header":"0","operations":"0","protocols":"0","operation_hashes_for_block":"0","operations_for_block":"0","other":"0"},"received":{"branch":"0","head":"0","block_header":"0","operations":"0","protocols":"0","operation_hashes_for_block":"0","operations_for_block":"0","other":"0"},"unexpected":"0","outdated":"0"},"requests":{"sent":{"branch":"0","head":"0","block_header":"0","operations":"0","protocols":"0","operation_hashes_for_block":"0","operations_for_block":"0","other":"0"},"received":{"branch":"0","head":"0","block_header":"0","operations":"0","protocols":"0","operation_hashes_for_block":"0","operations_for_block":"0","other":"0"},"failed":{"branch":"0","head":"0","block_header":"0","operations":"0","protocols":"0","operation_hashes_for_block":"0","operations_for_block":"0","other":"0"},"scheduled":{"branch":"0","head":"0","block_header":"0","operations":"0","protocols":"0","operation_hashes_for_block":"0","operations_for_block":"0","other":"0"}},"valid_blocks":"0","old_heads":"0","prevalidator_results":{"cannot_download":"0","cannot_parse":"0","refused_by_prefilter":"0","refused_by_postfilter":"0","applied":"0","branch_delayed":"0","branch_refused":"0","refused":"0","duplicate":"0","outdated":"0"},"unactivated_chains":"0","inactive_chains":"0","future_blocks_advertised":"0","unadvertised":{"block":"0","operations":"0","protocol":"0"},"advertisements":{"sent":{"head":"0","branch":"0"},"received":{"head":"0","branch":"0"}}}`

// sampleRecords are the content of testdata/octez_peers.json: what an octez
// node writes after seeing a trusted peer connect and disconnect, a peer it
// only failed to reach, and a peer whose metadata predates DDB v1.
func sampleRecords(t testing.TB) []Record {
	return []Record{
		{
			PeerID:  mustPeerID(t, "idrRoknJh9zwEePNswF3MPGFzmKaVp"),
			Created: ms(2024, time.March, 1, 10, 0, 0, 0),
			Trusted: true,
			Metadata: metadataWith(t,
				`"requests":{"sent":{"branch":"0","head":"0"`, `"requests":{"sent":{"branch":"4","head":"12"`,
				`"valid_blocks":"0"`, `"valid_blocks":"1234567890123456789012"`,
				`"advertisements":{"sent":{"head":"0"`, `"advertisements":{"sent":{"head":"7"`),
			Events: []Event{
				{Kind: EventIncomingRequest, Timestamp: ms(2024, time.March, 1, 10, 0, 1, 5), Addr: v4("192.168.1.10"), Port: 54012, HasPort: true},
				{Kind: EventConnectionEstablished, Timestamp: ms(2024, time.March, 1, 10, 0, 1, 250), Addr: v4("192.168.1.10"), Port: 54012, HasPort: true},
				{Kind: EventExternalDisconnection, Timestamp: ms(2024, time.March, 1, 12, 30, 0, 999), Addr: v4("192.168.1.10"), Port: 54012, HasPort: true},
				{Kind: EventRequestRejected, Timestamp: ms(2024, time.March, 2, 8, 15, 42, 100), Addr: netip.MustParseAddr("2001:db8::1")},
			},
			LastRejectedConnection:    &ConnPoint{Addr: netip.MustParseAddr("2001:db8::1"), Time: ms(2024, time.March, 2, 8, 15, 42, 100)},
			LastEstablishedConnection: &ConnPoint{Addr: v4("192.168.1.10"), Port: 54012, HasPort: true, Time: ms(2024, time.March, 1, 10, 0, 1, 250)},
			LastDisconnection:         &ConnPoint{Addr: v4("192.168.1.10"), Port: 54012, HasPort: true, Time: ms(2024, time.March, 1, 12, 30, 0, 999)},
		},
		{
			PeerID:               mustPeerID(t, "idtASWbRp9oS6mM7ZojFuuBQreyqUj"),
			Created:              ms(2023, time.December, 31, 23, 59, 59, 0),
			Metadata:             EmptyPeerMetadata(),
			LastFailedConnection: &ConnPoint{Addr: netip.MustParseAddr("2001:db8:0:1::42"), Port: 9732, HasPort: true, Time: ms(2024, time.January, 1, 0, 0, 0, 1)},
		},
		{
			PeerID:   mustPeerID(t, "idrT4uwhJ2mJ64gXTsoT9YmjgoCiMB"),
			Created:  ms(2022, time.June, 15, 6, 7, 8, 90),
			Metadata: json.RawMessage(legacyMetadata),
			Events: []Event{
				{Kind: EventConnectionEstablished, Timestamp: ms(2022, time.June, 15, 6, 7, 9, 0), Addr: netip.MustParseAddr("fe80::1"), Port: 9732, HasPort: true},
			},
			LastEstablishedConnection: &ConnPoint{Addr: netip.MustParseAddr("fe80::1"), Port: 9732, HasPort: true, Time: ms(2022, time.June, 15, 6, 7, 9, 0)},
		},
	}
}
