package peersfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOctezSample decodes testdata/octez_peers.json, a file laid out by
// OCaml's own Format module from the records of sampleRecords, and checks
// that Encode gives back the very same bytes.
func TestOctezSample(t *testing.T) {
	data, err := os.ReadFile("testdata/octez_peers.json")
	require.NoError(t, err)

	recs, err := Decode(data, 0)
	require.NoError(t, err)
	want := sampleRecords(t)
	require.Equal(t, want, recs)

	enc, err := Encode(want)
	require.NoError(t, err)
	assert.Equal(t, string(data), string(enc))

	// Spot checks of the formats, as octez writes them.
	s := string(data)
	for _, frag := range []string{
		`"created": "2024-03-01T10:00:00.000-00:00", "trusted": true,`,
		`"addr": "::ffff:192.168.1.10", "port": 54012`,
		`{ "kind": "request_rejected",`,
		`"addr": "2001:db8::1" }`,
		`"last_failed_connection":` + "\n" + `      [ { "addr": "2001:db8:0:1::42", "port": 9732 },`,
		`"valid_blocks": "1234567890123456789012"`,
	} {
		assert.Contains(t, s, frag)
	}
	// The second peer: not trusted, no events, so both are omitted.
	second := s[strings.Index(s, "idtASWbRp9oS6mM7ZojFuuBQreyqUj"):strings.Index(s, "idrT4uwhJ2mJ64gXTsoT9YmjgoCiMB")]
	assert.NotContains(t, second, `"trusted"`)
	assert.NotContains(t, second, `"events"`)
	assert.False(t, strings.HasSuffix(s, "\n"), "octez writes no final newline")
}

// TestOCamlFormatLayouts checks the pretty-printer against layouts computed
// by OCaml's Format on random documents (deep nesting, long strings, long
// arrays, multi-byte characters).
func TestOCamlFormatLayouts(t *testing.T) {
	f, err := os.Open("testdata/ocaml_format_layouts.txt")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var lines []string
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "#") {
			lines = append(lines, sc.Text())
		}
	}
	require.NoError(t, sc.Err())
	require.Greater(t, len(lines), 300)
	multiline := 0
	for i := 0; i+1 < len(lines); i += 2 {
		n, err := parseJSON([]byte(lines[i]))
		require.NoError(t, err, "document %d", i/2)
		var want string
		require.NoError(t, json.Unmarshal([]byte(lines[i+1]), &want))
		require.Equal(t, want, string(prettyJSON(n)), "document %d: %s", i/2, lines[i])
		if strings.Contains(want, "\n") {
			multiline++
		}
	}
	assert.Greater(t, multiline, 60, "the corpus must exercise line breaking")
}

// TestIdentityLayout checks the printer on the identity.json layout that
// the root package hard-codes (and that octez writes).
func TestIdentityLayout(t *testing.T) {
	hex64 := strings.Repeat("5fd7", 16)
	doc := fmt.Sprintf(`{"peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVp","public_key":"%s","secret_key":"%s","proof_of_work_stamp":"%s"}`,
		hex64, hex64, hex64[:48])
	n, err := parseJSON([]byte(doc))
	require.NoError(t, err)
	want := `{ "peer_id": "idrRoknJh9zwEePNswF3MPGFzmKaVp",` + "\n" +
		`  "public_key":` + "\n" + `    "` + hex64 + `",` + "\n" +
		`  "secret_key":` + "\n" + `    "` + hex64 + `",` + "\n" +
		`  "proof_of_work_stamp": "` + hex64[:48] + `" }`
	assert.Equal(t, want, string(prettyJSON(n)))
}

func TestRoundTrip(t *testing.T) {
	tests := map[string][]Record{
		"none":   nil,
		"sample": sampleRecords(t),
		"minimal": {{
			PeerID:   [16]byte{1, 2, 3},
			Created:  time.Unix(0, 0).UTC(),
			Metadata: json.RawMessage(`null`),
		}},
		"everything": {{
			PeerID:   [16]byte{0xff},
			Created:  ms(9999, time.December, 31, 23, 59, 59, 999),
			Trusted:  true,
			Metadata: json.RawMessage(`{"app":[1,2.5e3,"x\u00e9",{"nested":true}]}`),
			Events: []Event{{
				Kind: "some_future_kind", Timestamp: ms(0, time.January, 1, 0, 0, 0, 0),
				Addr: netip.MustParseAddr("::"), Port: 0, HasPort: true,
				Unknown: []Field{{Name: "peer", Value: json.RawMessage(`"idrRoknJh9zwEePNswF3MPGFzmKaVp"`)}},
			}},
			LastFailedConnection:      &ConnPoint{Addr: v4("0.0.0.0"), Port: 65535, HasPort: true, Time: ms(1969, time.July, 20, 20, 17, 40, 1)},
			LastRejectedConnection:    &ConnPoint{Addr: netip.MustParseAddr("::1"), Time: ms(2000, time.February, 29, 0, 0, 0, 0)},
			LastEstablishedConnection: &ConnPoint{Addr: netip.MustParseAddr("1:2:3:4:5:6:7:8"), Time: ms(2038, time.January, 19, 3, 14, 8, 0), Unknown: []Field{{Name: "x", Value: json.RawMessage(`{}`)}}},
			LastDisconnection:         &ConnPoint{Addr: netip.MustParseAddr("64:ff9b::1.2.3.4"), Port: 1, HasPort: true, Time: ms(2024, time.May, 6, 7, 8, 9, 123)},
			Unknown:                   []Field{{Name: "zeta", Value: json.RawMessage(`[]`)}, {Name: "alpha", Value: json.RawMessage(`{"k":"v"}`)}},
		}},
	}
	for name, recs := range tests {
		t.Run(name, func(t *testing.T) {
			enc, err := Encode(recs)
			require.NoError(t, err)
			got, err := Decode(enc, 0)
			require.NoError(t, err)
			if len(recs) == 0 {
				assert.Empty(t, got)
				assert.Equal(t, "[]", string(enc))
				return
			}
			assert.Equal(t, recs, got)
			again, err := Encode(got)
			require.NoError(t, err)
			assert.Equal(t, string(enc), string(again))
		})
	}
}

// TestEncodeNormalises: what Encode writes differs from the input only in
// ways octez would not notice (sub-millisecond precision, time zone,
// 4-byte addresses, whitespace in metadata).
func TestEncodeNormalises(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	rec := Record{
		PeerID:   [16]byte{9},
		Created:  time.Date(2024, 1, 2, 4, 4, 5, 123999999, paris),
		Metadata: json.RawMessage(" {\n \"a\" : [ 1 , 2 ] } "),
		Events:   []Event{{Kind: EventConnectionEstablished, Timestamp: time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), Addr: netip.MustParseAddr("10.0.0.1"), Port: 9732, HasPort: true}},
	}
	enc, err := Encode([]Record{rec})
	require.NoError(t, err)
	s := string(enc)
	assert.Contains(t, s, `"created": "2024-01-02T03:04:05.123-00:00"`, "UTC, truncated to the millisecond")
	assert.Contains(t, s, `"timestamp": "1969-12-31T23:59:59.999-00:00"`)
	assert.Contains(t, s, `"addr": "::ffff:10.0.0.1"`)
	assert.Contains(t, s, `"peer_metadata": { "a": [ 1, 2 ] }`)

	got, err := Decode(enc, 0)
	require.NoError(t, err)
	assert.Equal(t, json.RawMessage(`{"a":[1,2]}`), got[0].Metadata)
	assert.Equal(t, netip.MustParseAddr("::ffff:10.0.0.1"), got[0].Events[0].Addr)
	assert.True(t, got[0].Created.Equal(time.Date(2024, 1, 2, 3, 4, 5, 123000000, time.UTC)))
}

func TestEncodeErrors(t *testing.T) {
	ok := func() Record {
		return Record{Created: time.Unix(0, 0), Metadata: json.RawMessage(`{}`)}
	}
	tests := map[string]func(*Record){
		"no metadata":        func(r *Record) { r.Metadata = nil },
		"bad metadata":       func(r *Record) { r.Metadata = json.RawMessage(`{"a":`) },
		"two metadata":       func(r *Record) { r.Metadata = json.RawMessage(`{} {}`) },
		"year 10000":         func(r *Record) { r.Created = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"negative year":      func(r *Record) { r.Created = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		"event without addr": func(r *Record) { r.Events = []Event{{Kind: EventDisconnection, Timestamp: time.Unix(0, 0)}} },
		"zone": func(r *Record) {
			r.LastDisconnection = &ConnPoint{Addr: netip.MustParseAddr("fe80::1%eth0"), Time: time.Unix(0, 0)}
		},
		"shadowing unknown": func(r *Record) { r.Unknown = []Field{{Name: "trusted", Value: json.RawMessage(`true`)}} },
		"repeated unknown": func(r *Record) {
			r.Unknown = []Field{{Name: "x", Value: json.RawMessage(`1`)}, {Name: "x", Value: json.RawMessage(`2`)}}
		},
		"bad unknown value": func(r *Record) { r.Unknown = []Field{{Name: "x", Value: json.RawMessage(`nope`)}} },
		"event unknown shadows port": func(r *Record) {
			r.Events = []Event{{Kind: EventDisconnection, Timestamp: time.Unix(0, 0), Addr: netip.IPv6Loopback(), Unknown: []Field{{Name: "port", Value: json.RawMessage(`1`)}}}}
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			r := ok()
			_, err := Encode([]Record{r})
			require.NoError(t, err)
			mutate(&r)
			_, err = Encode([]Record{r})
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
}

// record wraps fields (a JSON fragment) into a one-record file with the
// required fields in front.
func record(extra string) string {
	return `[{"peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVp","created":"2024-01-01T00:00:00Z","peer_metadata":{}` + extra + `}]`
}

func TestDecodeTimestamps(t *testing.T) {
	// Expected values are Ptime's own results for the same strings (see
	// timestamp.go); picoseconds are truncated to nanoseconds.
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC, or "" for an error
	}{
		{"2024-01-02T03:04:05.123-00:00", "2024-01-02T03:04:05.123Z"},
		{"2024-01-02t03:04:05Z", "2024-01-02T03:04:05Z"},
		{"2024-01-02 03:04:05z", "2024-01-02T03:04:05Z"},
		{"2024-01-02T03:04:05.123456789123456+01:30", "2024-01-02T01:34:05.123Z"},
		{"2024-01-02T03:04:05-0130", "2024-01-02T04:34:05Z"},
		{"2024-01-02T03:04:05+01", "2024-01-02T02:04:05Z"},
		{"2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z"},
		{"0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"},
		{"9999-12-31T23:59:59.999999999999Z", "9999-12-31T23:59:59.999Z"},
		{"1969-12-31T23:59:59.9999Z", "1969-12-31T23:59:59.999Z"},
		{"0000-01-01T00:00:00.0009Z", "0000-01-01T00:00:00Z"},
		{"2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"},
		// Seconds since the epoch, as an OCaml Int64.of_string string.
		{"1700000000", "2023-11-14T22:13:20Z"},
		{"-1", "1969-12-31T23:59:59Z"},
		{"0x10", "1970-01-01T00:00:16Z"},
		{"1_000", "1970-01-01T00:16:40Z"},
		{"+5", "1970-01-01T00:00:05Z"},
		{"0u42", "1970-01-01T00:00:42Z"},
		{"-62167219200", "0000-01-01T00:00:00Z"},
		{"253402300799", "9999-12-31T23:59:59Z"},
		// Refused by octez too.
		{"2024-02-30T00:00:00Z", ""},
		{"2023-02-29T00:00:00Z", ""},
		{"2024-01-02T24:00:00Z", ""},
		{"2024-01-02T03:04:05", ""},
		{"2024-01-02T03:04:05.Z", ""},
		{"2024-01-02T03:04:05.123", ""},
		{"2024-01-02T03:04:05+24:00", ""},
		{"2024-01-02T03:04:05Z ", ""},
		{"2024-1-02T03:04:05Z", ""},
		{"0000-01-01T00:00:00+00:01", ""},
		{"9999-12-31T23:59:59-00:01", ""},
		{"253402300800", ""},
		{"-62167219201", ""},
		{"9223372036854775808", ""},
		{"_1", ""},
		{"1.5", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			recs, err := Decode([]byte(record(`,"events":[{"kind":"disconnection","timestamp":`+string(quote(tc.in))+`,"addr":"::1"}]`)), 0)
			if tc.want == "" {
				require.ErrorIs(t, err, ErrCorrupt)
				assert.Contains(t, err.Error(), "$[0].events[0].timestamp")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, recs[0].Events[0].Timestamp.Format(time.RFC3339Nano))
			assert.Equal(t, time.UTC, recs[0].Events[0].Timestamp.Location())
		})
	}
}

// TestParseTimestampPrecision: the parser itself keeps nanoseconds (Ptime
// keeps picoseconds); Decode truncates.
func TestParseTimestampPrecision(t *testing.T) {
	tm, err := parseTimestamp("2024-01-02T03:04:05.123456789123456+01:30")
	require.NoError(t, err)
	assert.Equal(t, "2024-01-02T01:34:05.123456789Z", tm.Format(time.RFC3339Nano))
	tm, err = parseTimestamp("1969-12-31T23:59:59.9999Z")
	require.NoError(t, err)
	assert.Equal(t, "1969-12-31T23:59:59.9999Z", tm.Format(time.RFC3339Nano))
	s, err := formatTimestamp(tm)
	require.NoError(t, err)
	assert.Equal(t, "1969-12-31T23:59:59.999-00:00", s)
}

func TestDecodeRejectsBareNumberTimestamp(t *testing.T) {
	for _, v := range []string{`1700000000`, `0`, `-1`, `1.7e9`} {
		_, err := Decode([]byte(`[{"peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVp","created":`+v+`,"peer_metadata":{}}]`), 0)
		require.ErrorIs(t, err, ErrCorrupt, v)
		assert.Contains(t, err.Error(), "$[0].created: expected a timestamp string, found number")
	}
}

func TestDecodeAddresses(t *testing.T) {
	tests := []struct {
		in   string
		want string // netip text of the 16-byte result, or "" for an error
	}{
		{"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
		{"::FFFF:1.2.3.4", "::ffff:1.2.3.4"},
		{"0000:0000:0000:0000:0000:ffff:0102:0304", "::ffff:1.2.3.4"},
		{"1.2.3.4", "::ffff:1.2.3.4"}, // our leniency: octez refuses it
		{"::1.2.3.4", "::102:304"},
		{"2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
		{"[::1]", "::1"},    // ipaddr accepts brackets
		{"00000::1", "::1"}, // and groups of more than 4 digits
		{"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
		{"a:b:c:d:e:f:1.2.3.4", "a:b:c:d:e:f:102:304"},
		{"::", "::"},
		{"fe80::1%eth0", ""},
		{"::ffff:1.2.3.04", ""},
		{"1.2.3.04", ""},
		{"::ffff:256.1.1.1", ""},
		{"10000::1", ""},
		{"1::2::3", ""},
		{":1::", ""},
		{"1:2:3:4:5:6:7:8:9", ""},
		{" ::1", ""},
		{"::1/64", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			recs, err := Decode([]byte(record(`,"last_disconnection":[{"addr":`+string(quote(tc.in))+`},"2024-01-01T00:00:00Z"]`)), 0)
			if tc.want == "" {
				require.ErrorIs(t, err, ErrCorrupt)
				assert.Contains(t, err.Error(), "$[0].last_disconnection[0].addr")
				return
			}
			require.NoError(t, err)
			a := recs[0].LastDisconnection.Addr
			assert.True(t, a.Is6())
			assert.Equal(t, tc.want, a.String())
		})
	}
}

func TestDecodePorts(t *testing.T) {
	tests := []struct {
		in   string
		want int // -1: error
	}{
		{"9732", 9732}, {"0", 0}, {"65535", 65535},
		{"9732.0", 9732}, {"9.732e3", 9732}, {"-0", 0}, // data-encoding reads a float
		{"65536", -1}, {"-1", -1}, {"1.5", -1}, {"1e400", -1},
		{`"9732"`, -1}, {"null", -1},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			recs, err := Decode([]byte(record(`,"last_failed_connection":[{"addr":"::1","port":`+tc.in+`},"2024-01-01T00:00:00Z"]`)), 0)
			if tc.want < 0 {
				require.ErrorIs(t, err, ErrCorrupt)
				return
			}
			require.NoError(t, err)
			c := recs[0].LastFailedConnection
			assert.True(t, c.HasPort)
			assert.Equal(t, uint16(tc.want), c.Port)
		})
	}
}

func TestDecodeUnknownFieldsPreserved(t *testing.T) {
	in := `[ { "peer_id": "idrRoknJh9zwEePNswF3MPGFzmKaVp", "future": { "b": 1,  "a": [ "x" ] },
    "created": "2024-01-01T00:00:00.000-00:00", "peer_metadata": {},
    "events": [ { "kind": "teleported", "when_exactly": 1.50, "timestamp": "2024-01-01T00:00:00.000-00:00", "addr": "::1" } ],
    "last_disconnection": [ { "addr": "::1", "via": "tor" }, "2024-01-01T00:00:00.000-00:00" ],
    "another": null } ]`
	recs, err := Decode([]byte(in), 0)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	r := recs[0]
	assert.Equal(t, []Field{
		{Name: "future", Value: json.RawMessage(`{"b":1,"a":["x"]}`)},
		{Name: "another", Value: json.RawMessage(`null`)},
	}, r.Unknown)
	require.Len(t, r.Events, 1)
	assert.Equal(t, EventKind("teleported"), r.Events[0].Kind)
	assert.False(t, r.Events[0].Kind.Known())
	assert.Equal(t, []Field{{Name: "when_exactly", Value: json.RawMessage(`1.50`)}}, r.Events[0].Unknown)
	assert.Equal(t, []Field{{Name: "via", Value: json.RawMessage(`"tor"`)}}, r.LastDisconnection.Unknown)

	enc, err := Encode(recs)
	require.NoError(t, err)
	// Known fields first, in octez's order, then the unknown ones in file
	// order; values verbatim.
	s := string(enc)
	assert.Less(t, strings.Index(s, `"last_disconnection"`), strings.Index(s, `"future"`))
	assert.Less(t, strings.Index(s, `"future"`), strings.Index(s, `"another"`))
	assert.Contains(t, s, `"when_exactly": 1.50`)
	assert.Contains(t, s, `{ "addr": "::1", "via": "tor" }`)
	again, err := Decode(enc, 0)
	require.NoError(t, err)
	assert.Equal(t, recs, again)
}

func TestDecodeHistoryTrimming(t *testing.T) {
	var evs []string
	for i := range 250 {
		evs = append(evs, fmt.Sprintf(`{"kind":"connection_established","timestamp":"%d","addr":"::1","port":%d}`, i, i))
	}
	in := []byte(record(`,"events":[` + strings.Join(evs, ",") + `]`))
	for _, tc := range []struct{ size, want int }{{0, 100}, {-3, 100}, {100, 100}, {1, 1}, {10, 10}, {249, 249}, {250, 250}, {1000, 250}} {
		recs, err := Decode(in, tc.size)
		require.NoError(t, err)
		got := recs[0].Events
		require.Len(t, got, tc.want, "history %d", tc.size)
		// The newest events survive, oldest first, as octez's ring keeps them.
		assert.Equal(t, uint16(249), got[len(got)-1].Port)
		assert.Equal(t, uint16(250-tc.want), got[0].Port)
	}
	// Like octez, every event is checked, even those that are dropped.
	bad := []byte(record(`,"events":[{"kind":1},` + strings.Join(evs, ",") + `]`))
	_, err := Decode(bad, 10)
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestDecodeSchemaErrors(t *testing.T) {
	const id = `"peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVp"`
	const created = `"created":"2024-01-01T00:00:00Z"`
	tests := map[string]struct {
		in, where string
	}{
		"not json":             {`[`, "invalid JSON"},
		"empty file":           {``, "invalid JSON"},
		"two documents":        {`[] []`, "invalid JSON"},
		"bad utf8":             {"[\"\xff\"]", "UTF-8"},
		"lone surrogate":       {`[{"x":"\ud800"}]`, "surrogate"},
		"control char":         {"[\"a\x01\"]", "control character"},
		"too deep":             {strings.Repeat("[", 600) + strings.Repeat("]", 600), "nested deeper"},
		"top object":           {`{"a":1}`, "$: expected an array, found object"},
		"top string":           {`"[]"`, "$: expected an array"},
		"record not object":    {`[1]`, "$[0]: expected an object, found number"},
		"missing peer_id":      {`[{` + created + `,"peer_metadata":{}}]`, `$[0]: missing field "peer_id"`},
		"missing created":      {`[{` + id + `,"peer_metadata":{}}]`, `$[0]: missing field "created"`},
		"missing metadata":     {`[{` + id + `,` + created + `}]`, `$[0]: missing field "peer_metadata"`},
		"bad peer id":          {`[{"peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVq",` + created + `,"peer_metadata":{}}]`, "$[0].peer_id: invalid peer id"},
		"peer id not string":   {`[{"peer_id":7,` + created + `,"peer_metadata":{}}]`, "$[0].peer_id: expected a string"},
		"trusted not bool":     {record(`,"trusted":"true"`), "$[0].trusted: expected a boolean"},
		"trusted null":         {record(`,"trusted":null`), "$[0].trusted"},
		"duplicate key":        {record(`,"peer_metadata":{}`), `duplicate field "peer_metadata"`},
		"events not array":     {record(`,"events":{"a":1}`), "$[0].events: expected an array"},
		"event missing kind":   {record(`,"events":[{"timestamp":"1","addr":"::1"}]`), `$[0].events[0]: missing field "kind"`},
		"event kind not str":   {record(`,"events":[{"kind":1,"timestamp":"1","addr":"::1"}]`), "$[0].events[0].kind"},
		"event missing addr":   {record(`,"events":[{"kind":"x","timestamp":"1"}]`), `$[0].events[0]: missing field "addr"`},
		"event missing time":   {record(`,"events":[{"kind":"x","addr":"::1"}]`), `$[0].events[0]: missing field "timestamp"`},
		"event addr number":    {record(`,"events":[{"kind":"x","timestamp":"1","addr":1}]`), "$[0].events[0].addr: expected a string"},
		"point null":           {record(`,"last_disconnection":null`), "$[0].last_disconnection: expected an array"},
		"point one element":    {record(`,"last_disconnection":[{"addr":"::1"}]`), "expected 2 elements, found 1"},
		"point three elements": {record(`,"last_disconnection":[{"addr":"::1"},"1","2"]`), "expected 2 elements, found 3"},
		"point swapped":        {record(`,"last_disconnection":["1",{"addr":"::1"}]`), "$[0].last_disconnection[0]: expected an object"},
		"point bad time":       {record(`,"last_established_connection":[{"addr":"::1"},"yesterday"]`), "$[0].last_established_connection[1]"},
		"point missing addr":   {record(`,"last_rejected_connection":[{"port":1},"1"]`), `$[0].last_rejected_connection[0]: missing field "addr"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in), 0)
			require.ErrorIs(t, err, ErrCorrupt)
			assert.Contains(t, err.Error(), tc.where)
		})
	}
}

func TestDecodeAcceptsWhatOctezAccepts(t *testing.T) {
	tests := map[string]string{
		"empty list":                 `[]`,
		"empty object as list":       ` {} `,
		"events as empty object":     record(`,"events":{}`),
		"trusted false":              record(`,"trusted":false`),
		"explicit empty events":      record(`,"events":[]`),
		"fields in any order":        `[{"peer_metadata":null,"created":"0","peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVp"}]`,
		"whitespace everywhere":      "\r\n\t[ {\"peer_id\" : \"idrRoknJh9zwEePNswF3MPGFzmKaVp\" ,\"created\":\"1\",\"peer_metadata\":[ ]} ]\n",
		"escaped known strings":      `[{"peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVp","created":"2024-01-01T00:00:00\u005a","peer_metadata":{}}]`,
		"escaped key":                `[{"peer\u005fid":"idrRoknJh9zwEePNswF3MPGFzmKaVp","created":"1","peer_metadata":{}}]`,
		"surrogate pair in metadata": `[{"peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVp","created":"1","peer_metadata":"\ud83d\ude00"}]`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			recs, err := Decode([]byte(in), 0)
			require.NoError(t, err)
			for _, r := range recs {
				assert.Empty(t, r.Events)
				assert.False(t, r.Trusted)
				assert.Empty(t, r.Unknown)
			}
			enc, err := Encode(recs)
			require.NoError(t, err)
			again, err := Decode(enc, 0)
			require.NoError(t, err)
			assert.Equal(t, len(recs), len(again))
		})
	}
}

func TestEmptyPeerMetadata(t *testing.T) {
	m := EmptyPeerMetadata()
	require.True(t, json.Valid(m))
	m[0] = 'x'
	assert.Equal(t, byte('{'), EmptyPeerMetadata()[0], "each call returns a copy")

	n, err := parseJSON(EmptyPeerMetadata())
	require.NoError(t, err)
	// Every leaf is the Z counter "0"; count them: 7 message tables of
	// 11, 2 + 10 + 3 + 4 single counters.
	var leaves, keys []string
	var walk func(prefix string, n *node)
	walk = func(prefix string, n *node) {
		if n.kind != kindObject {
			require.Equal(t, `"0"`, string(n.raw), prefix)
			leaves = append(leaves, prefix)
			return
		}
		for _, f := range n.fields {
			if prefix == "" {
				keys = append(keys, f.key)
			}
			walk(prefix+"."+f.key, f.val)
		}
	}
	walk("", n)
	assert.Len(t, leaves, 7*11+2+2+10+3+3+4)
	assert.Equal(t, []string{"responses", "requests", "valid_blocks", "old_heads", "prevalidator_results",
		"unactivated_chains", "inactive_chains", "future_blocks_advertised", "unadvertised", "advertisements"}, keys)
	assert.Equal(t, ".responses.sent.branch", leaves[0])
	assert.Equal(t, ".responses.failed.branch", leaves[11])
	assert.Equal(t, ".responses.unexpected", leaves[33])
	assert.Equal(t, ".requests.received.branch", leaves[46])
	assert.Equal(t, ".advertisements.received.branch", leaves[len(leaves)-1])
	assert.True(t, bytes.Contains(EmptyPeerMetadata(), []byte(`"predecessor_header":"0","other":"0"}`)))
}
