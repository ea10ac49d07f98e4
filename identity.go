package p2ppool

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/p2ppool/p2ppool/internal/atomicfile"
	"github.com/p2ppool/p2ppool/internal/crypto"
)

// peerIDPrefix is the binary prefix octez puts before a peer id in its
// base58check text (Base58.Prefix.cryptobox_public_key_hash); it makes
// every peer id 30 characters long and start with "id".
var peerIDPrefix = []byte{0x99, 0x67}

// PeerID identifies a peer: the 16-byte Blake2b hash (digest length 16) of
// its public key. It is a comparable value, usable as a map key; its text
// form is octez's base58check ("idt…", "ids…", 30 characters), which is
// also its JSON form.
type PeerID [16]byte

// PeerIDFromPublicKey returns the peer id of a public key.
func PeerIDFromPublicKey(pk [32]byte) PeerID {
	k := crypto.PublicKey(pk)
	return PeerID(crypto.PeerIDHash(&k))
}

// String returns the octez text form of id, for example
// "idrRoknJh9zwEePNswF3MPGFzmKaVp".
func (id PeerID) String() string {
	return crypto.Base58CheckEncode(peerIDPrefix, id[:])
}

// ParsePeerID parses the octez text form of a peer id.
func ParsePeerID(s string) (PeerID, error) {
	b, err := crypto.Base58CheckDecode(s, peerIDPrefix, crypto.PeerIDSize)
	if err != nil {
		return PeerID{}, fmt.Errorf("p2ppool: invalid peer id: %w", err)
	}
	return PeerID(b), nil
}

// MarshalText returns the octez text form of id.
func (id PeerID) MarshalText() ([]byte, error) {
	return []byte(id.String()), nil
}

// UnmarshalText parses the octez text form of a peer id into id.
func (id *PeerID) UnmarshalText(text []byte) error {
	p, err := ParsePeerID(string(text))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// IsZero reports whether id is the zero value (no peer id), which is not
// the id of any known public key.
func (id PeerID) IsZero() bool {
	return id == PeerID{}
}

// Proof-of-work difficulties, in bits: a stamp at difficulty f makes the
// top f bits of Blake2b-256(public key ‖ stamp), read as a little-endian
// integer, zero. Each extra bit doubles the expected generation work
// (2^f attempts on average).
const (
	// DefaultProofOfWork is the octez library default
	// (Crypto_box.default_pow_target = make_pow_target 24).
	DefaultProofOfWork = 24.0
	// DefaultNodeProofOfWork is the octez node configuration default
	// (expected_pow): the level a node generates its own identity at and
	// requires from the peers it talks to. Use it to interoperate with
	// nodes running a default configuration.
	DefaultNodeProofOfWork = 26.0
)

// Errors reported about identities. They come wrapped, usually in an
// *IdentityError naming the offending field: test them with errors.Is.
var (
	// ErrInsufficientProofOfWork reports a proof-of-work stamp below the
	// required difficulty (octez Insufficient_proof_of_work).
	ErrInsufficientProofOfWork = errors.New("p2ppool: insufficient proof of work")
	// ErrIdentityMismatch reports a peer id that is not the hash of the
	// public key (octez Identity_mismatch).
	ErrIdentityMismatch = errors.New("p2ppool: peer id does not match the public key")
	// ErrIdentityKeysMismatch reports a secret key whose public key is not
	// the identity's public key (octez Identity_keys_mismatch).
	ErrIdentityKeysMismatch = errors.New("p2ppool: secret key does not match the public key")
	// ErrIdentityExists reports an attempt to save an identity over an
	// existing file, which octez refuses too (Existent_identity_file).
	ErrIdentityExists = errors.New("p2ppool: identity file already exists")
	// ErrIdentityFileExposed reports an identity file that users other
	// than its owner may read or write (see CheckIdentityFilePerm); the
	// identity still loads, as octez's does.
	ErrIdentityFileExposed = errors.New("p2ppool: identity file is readable by others")
)

// IdentityError is an invalid identity or identity file.
type IdentityError struct {
	// Path is the identity file, when the identity came from a file.
	Path string
	// Field is the identity.json field at fault ("peer_id",
	// "public_key", "secret_key", "proof_of_work_stamp", or an unknown
	// field's name); empty when the document as a whole is bad.
	Field string
	// Err is the reason.
	Err error
}

// Error returns, for example,
// "p2ppool: identity: field proof_of_work_stamp: insufficient proof of work (expected level: 26.00)".
func (e *IdentityError) Error() string {
	var b strings.Builder
	b.WriteString("p2ppool: identity")
	if e.Path != "" {
		fmt.Fprintf(&b, " file %s", e.Path)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %s", e.Field)
	}
	// The sentinels carry the package prefix already; say it once.
	fmt.Fprintf(&b, ": %s", strings.TrimPrefix(e.Err.Error(), "p2ppool: "))
	return b.String()
}

// Unwrap returns the reason.
func (e *IdentityError) Unwrap() error { return e.Err }

// Identity is a node's P2P identity (octez P2p_identity.t): an X25519 key
// pair, the peer id derived from the public key, and a proof-of-work stamp
// that makes the key costly to produce. Remote peers refuse a connection
// whose stamp does not reach their required difficulty.
//
// Its JSON form is octez's identity.json. Printing an Identity with the
// fmt package shows only its peer id, so logs never reveal the secret key.
type Identity struct {
	PeerID           PeerID
	PublicKey        [32]byte
	SecretKey        [32]byte
	ProofOfWorkStamp [24]byte
}

// GenerateIdentity creates a new identity whose proof-of-work stamp reaches
// difficulty: 0 means DefaultNodeProofOfWork (26 bits, what default octez
// nodes and pools require, minutes of work), NoProofOfWork none at all
// (instant; for tests and sandboxes whose pools set NoProofOfWork too). The search runs on all cores and takes on average
// 2^difficulty hash evaluations; progress, if not nil, receives the number
// of stamps tried about every 100ms, never concurrently. It stops with an
// error wrapping ctx.Err() when ctx ends first.
func GenerateIdentity(ctx context.Context, difficulty float64, progress func(attempts uint64)) (*Identity, error) {
	target, err := powTarget(difficulty)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: invalid proof-of-work difficulty: %w", err)
	}
	pk, sk, err := crypto.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: generating identity: %w", err)
	}
	stamp, err := crypto.SearchPow(ctx, &pk, &target, 0, progress)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: generating identity: %w", err)
	}
	return &Identity{
		PeerID:           PeerIDFromPublicKey(pk),
		PublicKey:        pk,
		SecretKey:        sk,
		ProofOfWorkStamp: stamp,
	}, nil
}

// powTarget is the target of a difficulty as every call of this package
// reads it: zero is DefaultNodeProofOfWork, as in Config, and
// NoProofOfWork accepts any stamp.
func powTarget(difficulty float64) (crypto.PowTarget, error) {
	switch difficulty {
	case 0:
		difficulty = DefaultNodeProofOfWork
	case NoProofOfWork:
		difficulty = 0
	}
	return crypto.MakePowTarget(difficulty)
}

// CheckProofOfWork reports whether the identity's stamp reaches
// difficulty, as octez checks it. The error is an *IdentityError for field
// "proof_of_work_stamp" wrapping ErrInsufficientProofOfWork, or a plain
// error if difficulty is not in [0, 256] or NoProofOfWork. Difficulty 0 is
// DefaultNodeProofOfWork; NoProofOfWork accepts any stamp.
func (id *Identity) CheckProofOfWork(difficulty float64) error {
	target, err := powTarget(difficulty)
	if err != nil {
		return fmt.Errorf("p2ppool: invalid proof-of-work difficulty: %w", err)
	}
	pk := crypto.PublicKey(id.PublicKey)
	stamp := crypto.Nonce(id.ProofOfWorkStamp)
	if !crypto.CheckPow(&pk, &stamp, &target) {
		return &IdentityError{
			Field: jsonProofOfWorkStamp,
			Err:   fmt.Errorf("%w (expected level: %.2f)", ErrInsufficientProofOfWork, difficulty),
		}
	}
	return nil
}

// Validate checks, in octez's order, that the peer id is the hash of the
// public key (else field "peer_id", ErrIdentityMismatch) and that the
// secret key belongs to the public key (else field "secret_key",
// ErrIdentityKeysMismatch). It does not check the proof of work; see
// CheckProofOfWork.
func (id *Identity) Validate() error {
	if want := PeerIDFromPublicKey(id.PublicKey); want != id.PeerID {
		return &IdentityError{
			Field: jsonPeerID,
			Err:   fmt.Errorf("%w (the public key's peer id is %s)", ErrIdentityMismatch, want),
		}
	}
	sk := crypto.SecretKey(id.SecretKey)
	if sk.Public() != crypto.PublicKey(id.PublicKey) {
		return &IdentityError{Field: jsonSecretKey, Err: ErrIdentityKeysMismatch}
	}
	return nil
}

// String returns "identity " and the peer id; the keys are left out on
// purpose so that an identity can be logged safely.
func (id Identity) String() string {
	return "identity " + id.PeerID.String()
}

// GoString is String for %#v, which would otherwise print the secret key.
func (id Identity) GoString() string {
	return fmt.Sprintf("p2ppool.Identity{PeerID: %q}", id.PeerID.String())
}

// identity.json field names (octez P2p_identity.encoding), in file order.
const (
	jsonPeerID           = "peer_id"
	jsonPublicKey        = "public_key"
	jsonSecretKey        = "secret_key"
	jsonProofOfWorkStamp = "proof_of_work_stamp"
)

// MarshalJSON returns the identity in octez's identity.json form, byte for
// byte what octez writes (Data_encoding.Json.to_string ~minify:false, i.e.
// OCaml Format boxes at margin 78; every field has a fixed length, so the
// line breaks never move):
//
//	{ "peer_id": "idrRoknJh9zwEePNswF3MPGFzmKaVp",
//	  "public_key":
//	    "5fd7…c94a",
//	  "secret_key":
//	    "213d…502e",
//	  "proof_of_work_stamp": "4b1354dcfc087e52c8fb510317b9464c297b8a55b79bfc95" }
//
// with no final newline. Keys and stamp are lowercase hex, the peer id is
// its base58check text. (encoding/json re-compacts this when it embeds an
// Identity in a larger document; Save writes it as is.) It has a value
// receiver so that an Identity held by value marshals the same way.
func (id Identity) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(280)
	b.WriteString(`{ "peer_id": "`)
	b.WriteString(id.PeerID.String())
	b.WriteString("\",\n  \"public_key\":\n    \"")
	b.WriteString(hex.EncodeToString(id.PublicKey[:]))
	b.WriteString("\",\n  \"secret_key\":\n    \"")
	b.WriteString(hex.EncodeToString(id.SecretKey[:]))
	b.WriteString("\",\n  \"proof_of_work_stamp\": \"")
	b.WriteString(hex.EncodeToString(id.ProofOfWorkStamp[:]))
	b.WriteString(`" }`)
	return b.Bytes(), nil
}

// UnmarshalJSON reads an octez identity.json document and validates it
// like octez's Identity_file.read does (see Validate), without the proof
// of work check. "peer_id" may be absent, and is then computed from the
// public key; the other three fields are required hex strings of exact
// length (either case); any other field is refused, as octez's
// data-encoding refuses it. Errors are *IdentityError values naming the
// field at fault. On error id is left unchanged.
func (id *Identity) UnmarshalJSON(data []byte) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return &IdentityError{Err: fmt.Errorf("want a JSON object, got %s", typeErr.Value)}
		}
		return &IdentityError{Err: fmt.Errorf("invalid JSON: %w", err)}
	}
	if doc == nil {
		return &IdentityError{Err: errors.New("want a JSON object, got null")}
	}
	known := []string{jsonPeerID, jsonPublicKey, jsonSecretKey, jsonProofOfWorkStamp}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same unknown field every time
	for _, k := range keys {
		if !slices.Contains(known, k) {
			return &IdentityError{Field: k, Err: errors.New("unknown field")}
		}
	}

	var out Identity
	if err := decodeHexField(doc, jsonPublicKey, out.PublicKey[:]); err != nil {
		return err
	}
	if err := decodeHexField(doc, jsonSecretKey, out.SecretKey[:]); err != nil {
		return err
	}
	if err := decodeHexField(doc, jsonProofOfWorkStamp, out.ProofOfWorkStamp[:]); err != nil {
		return err
	}
	if _, present := doc[jsonPeerID]; present {
		s, err := stringField(doc, jsonPeerID)
		if err != nil {
			return err
		}
		p, err := ParsePeerID(s)
		if err != nil {
			return &IdentityError{Field: jsonPeerID, Err: err}
		}
		out.PeerID = p
	} else {
		out.PeerID = PeerIDFromPublicKey(out.PublicKey)
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*id = out
	return nil
}

// stringField returns the required JSON string doc[name].
func stringField(doc map[string]json.RawMessage, name string) (string, error) {
	raw, present := doc[name]
	if !present {
		return "", &IdentityError{Field: name, Err: errors.New("missing")}
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil || s == nil {
		return "", &IdentityError{Field: name, Err: fmt.Errorf("want a JSON string, got %s", jsonKind(raw))}
	}
	return *s, nil
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// decodeHexField decodes the required hex string doc[name] into dst, which
// it must fill exactly.
func decodeHexField(doc map[string]json.RawMessage, name string, dst []byte) error {
	s, err := stringField(doc, name)
	if err != nil {
		return err
	}
	if len(s) != 2*len(dst) {
		return &IdentityError{Field: name, Err: fmt.Errorf("want %d hex digits (%d bytes), got %d characters", 2*len(dst), len(dst), len(s))}
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return &IdentityError{Field: name, Err: fmt.Errorf("invalid hex: %w", err)}
	}
	return nil
}

// identityFilePerm is the mode Save creates identity files with: the
// file holds the secret key, so only its owner may read it. octez
// creates identity.json with 0o666 less the umask (its
// Lwt_utils_unix.Json.write_file opens the file through Lwt_io.with_file,
// whose default permission is 0o666; usually 0o644) and relies on its
// data directory's mode; we do not.
const identityFilePerm = 0o600

// CheckIdentityFilePerm reports whether the identity file at path keeps
// its secret key to its owner: nil when no one else may read or write it,
// an *IdentityError wrapping ErrIdentityFileExposed (with the mode and
// the chmod that fixes it) when the group or others may, or the error of
// the stat. LoadIdentity does not call it: an exposed file still loads
// (octez's own files are usually 0o644); a program calls it after loading
// to warn its user. On Windows, whose ACLs the mode bits do not show, it
// always returns nil.
func CheckIdentityFilePerm(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("p2ppool: identity file: %w", err)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return &IdentityError{Path: path, Err: fmt.Errorf("%w (mode %#o; chmod 600 %s)", ErrIdentityFileExposed, mode, path)}
	}
	return nil
}

// LoadIdentity reads an octez identity.json file, validates it (see
// UnmarshalJSON) and checks that its proof-of-work stamp reaches
// difficulty (0: DefaultNodeProofOfWork). Pass NoProofOfWork to accept any stamp, as octez does when a node reads
// its own identity at start-up; pass DefaultNodeProofOfWork to check what
// default octez peers will require. Errors about the content are
// *IdentityError values carrying the path and the field at fault.
func LoadIdentity(path string, difficulty float64) (*Identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("p2ppool: reading identity: %w", err)
	}
	var id Identity
	err = id.UnmarshalJSON(data)
	if err == nil {
		err = id.CheckProofOfWork(difficulty)
	}
	if err != nil {
		if ie, ok := err.(*IdentityError); ok {
			ie.Path = path
		}
		return nil, err
	}
	return &id, nil
}

// Save writes the identity to path in octez's identity.json format (see
// MarshalJSON), atomically: a crash leaves either no file or the whole
// file. Like octez it never overwrites an existing file: it then fails
// with an error wrapping ErrIdentityExists, and the check and creation
// are a single atomic step. It refuses an identity that fails Validate,
// which octez could not load. The file is created with mode 0o600, as it
// holds the secret key (octez uses 0o666 less the umask). Errors name
// path.
func (id *Identity) Save(path string) error {
	if err := id.Validate(); err != nil {
		return err
	}
	data, err := id.MarshalJSON()
	if err != nil {
		return err
	}
	err = atomicfile.CreateFile(path, data, identityFilePerm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrIdentityExists, path)
	}
	if err != nil {
		return fmt.Errorf("p2ppool: saving identity: %w", err)
	}
	return nil
}
