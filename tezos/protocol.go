package tezos

import "github.com/p2ppool/p2ppool/dataenc"

// MaxProtocolSize bounds an encoded protocol, as octez's
// Distributed_db_message.Bounded_encoding.protocol_max_size (2 MiB).
const MaxProtocolSize = 2 * 1024 * 1024

// MaxEnvVersion is the highest protocol environment version octez knows
// (src/lib_base/protocol.ml 34-52: V0 … V17). octez's
// env_version_encoding maps a uint16 to a version and fails on any other
// value (protocol.ml 92-135, line 134's failwith), so a Protocol message
// naming an unknown version is a decoding error, for which octez
// greylists its sender; this package refuses it the same way.
const MaxEnvVersion = 17

// Protocol is a protocol's source (octez Protocol.t).
type Protocol struct {
	// ExpectedEnvVersion is the environment version the protocol needs,
	// in [0, MaxEnvVersion] (a uint16 on the wire; octez refuses other
	// values, and so do the decoder and encoder here).
	ExpectedEnvVersion int16
	Components         []ProtocolComponent
}

// ProtocolComponent is one OCaml module of a protocol.
type ProtocolComponent struct {
	Name string
	// Interface is the .mli source, if any.
	Interface      *string
	Implementation string
}

// readProtocol reads octez Protocol.bounded_encoding: obj2 (req
// "expected_env_version" int16) (req "components" (list (obj3 (req "name"
// string) (opt "interface" string) (req "implementation" string)))).
func readProtocol(r *dataenc.Reader, p *Protocol) {
	c := r.BeginCheckSize(MaxProtocolSize)
	r.Field("expected_env_version")
	v := r.Uint16()
	if r.Err() == nil && v > MaxEnvVersion {
		r.Failf(dataenc.ErrInvalid, "unexpected environment version "+itoa(int(v)))
	}
	p.ExpectedEnvVersion = int16(v)
	r.Field("components")
	// No max_length in octez: the 2 MiB over a component's 9 bytes.
	p.Components = dataenc.ListMin(r, dataenc.NoLimit, dataenc.NoLimit, componentMin, readComponent)
	r.End(c)
}

// componentMin is the fewest bytes a protocol component takes: an empty
// name (4), no interface (1), an empty implementation (4).
const componentMin = 4 + 1 + 4

func readComponent(r *dataenc.Reader) ProtocolComponent {
	var c ProtocolComponent
	c.Name = r.String(dataenc.NoLimit)
	if r.Opt() {
		s := r.String(dataenc.NoLimit)
		c.Interface = &s
	}
	c.Implementation = r.String(dataenc.NoLimit)
	return c
}

func appendComponent(dst []byte, c ProtocolComponent) []byte {
	dst = dataenc.AppendString(dst, c.Name)
	dst = dataenc.AppendOpt(dst, c.Interface != nil)
	if c.Interface != nil {
		dst = dataenc.AppendString(dst, *c.Interface)
	}
	return dataenc.AppendString(dst, c.Implementation)
}

func appendProtocol(dst []byte, p *Protocol) ([]byte, error) {
	if p.ExpectedEnvVersion < 0 || p.ExpectedEnvVersion > MaxEnvVersion {
		// octez cannot even build such a value (protocol.ml 97-115).
		return dst, &dataenc.EncodeError{What: "protocol: environment version " + itoa(int(p.ExpectedEnvVersion)) + " outside [0, " + itoa(MaxEnvVersion) + "]", Err: dataenc.ErrInvalid}
	}
	start := len(dst)
	out, err := dataenc.AppendList(dataenc.AppendInt16(dst, p.ExpectedEnvVersion), p.Components, dataenc.NoLimit, appendComponent)
	if err != nil {
		return dst, err
	}
	if n := len(out) - start; n > MaxProtocolSize {
		return dst, tooLarge("protocol", n, MaxProtocolSize)
	}
	return out, nil
}
