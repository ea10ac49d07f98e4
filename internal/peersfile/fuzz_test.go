package peersfile

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecode: Decode never panics, and whatever it accepts, Encode writes
// back in a form that decodes to the same records and encodes to the same
// bytes (the output of Encode is a fixed point). Run it with a bound on
// minimisation, which otherwise stalls the fuzzer for a minute per new
// input:
//
//	go test ./internal/peersfile -run '^$' -fuzz FuzzDecode -fuzztime 30s -fuzzminimizetime 200x
func FuzzDecode(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input it finds, which
	// takes ages with a 10 kB file.
	sample, err := os.ReadFile("testdata/octez_peers.json")
	require.NoError(f, err)
	recs, err := Decode(sample, 0)
	require.NoError(f, err)
	recs[2].Metadata = json.RawMessage(`{"a":["0"]}`)
	small, err := Encode(recs[2:])
	require.NoError(f, err)
	f.Add(small)
	f.Add(small[:len(small)/2])
	f.Add([]byte(`[]`))
	f.Add([]byte(`{}`))
	f.Add([]byte(record(`,"trusted":true,"events":[{"kind":"x","timestamp":"0x10","addr":"1.2.3.4","port":9.732e3,"more":[1]}],"z":{}`)))
	f.Add([]byte(record(`,"last_disconnection":[{"addr":"[::ffff:1.2.3.4]","port":1,"y":"\u00e9"},"2024-01-02 03:04:05.123456789+01"]`)))
	f.Add([]byte(`[{"peer_id":"idrRoknJh9zwEePNswF3MPGFzmKaVp","created":"-62167219200","peer_metadata":"\ud83d\ude00\n"}]`))

	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Decode(data, 7)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		enc, err := Encode(recs)
		require.NoError(t, err, "a decoded record must be encodable")
		again, err := Decode(enc, 7)
		require.NoError(t, err, "%s", enc)
		if len(recs) == 0 {
			require.Empty(t, again)
		} else {
			require.Equal(t, recs, again)
		}
		enc2, err := Encode(again)
		require.NoError(t, err)
		require.True(t, bytes.Equal(enc, enc2))
	})
}
