package tezos

import "github.com/p2ppool/p2ppool/dataenc"

// MaxProtocolSize bounds an encoded protocol, as octez's
// Distributed_db_message.Bounded_encoding.protocol_max_size (2 MiB).
const MaxProtocolSize = 2 * 1024 * 1024

// Protocol is a protocol's source (octez Protocol.t).
type Protocol struct {
	// ExpectedEnvVersion is the environment version the protocol needs
	// (an int16 on the wire; octez refuses versions it does not know,
	// which this package leaves to the application).
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
	p.ExpectedEnvVersion = r.Int16()
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
