// Package vectors opens the recorded real session in the repository's
// testdata/ (see testdata/README.md) for tests outside internal/socket: it derives the
// channel key and nonces from the two connection messages and the
// initiator's identity, and returns the decrypted P2P messages the
// initiator sent and the plaintext of every whole chunk it received. It is
// test support only; nothing in the library imports it.
package vectors

import (
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// ErrNotFound reports that the recorded session is not in testdata/ (the
// tests fail: the files are part of the repository).
var ErrNotFound = errors.New("vectors: recorded session not found")

// Session is the decrypted recorded session.
type Session struct {
	// ChainName is the remote's announced chain name.
	ChainName string
	// Sent holds every P2P message the initiator sent after the handshake,
	// each whole: 4-byte size, 2-byte tag, body.
	Sent [][]byte
	// Received holds, in order, the plaintext of every received row that is
	// exactly one whole encrypted chunk, after the two handshake chunks
	// (metadata, ack). The recording kept only some of the remote's chunks,
	// so these are not a contiguous stream: a plaintext may be a whole P2P
	// message, or the first part of one longer than a chunk.
	Received [][]byte
	// ReceivedRows counts every received row after the connection message,
	// partial reads included.
	ReceivedRows int
}

// Dir returns the testdata folder of the repository root above the
// working directory (the folder of the first go.mod found going up, which
// for the tests of this module is the root), or an error wrapping
// ErrNotFound.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above the working directory", ErrNotFound)
		}
		dir = parent
	}
	v := filepath.Join(dir, "testdata")
	if _, err := os.Stat(filepath.Join(v, "tezedge_communication.csv")); err != nil {
		return "", fmt.Errorf("%w in %s: %w", ErrNotFound, v, err)
	}
	return v, nil
}

const chunkHeader = 2 // u16 big-endian length of the sealed chunk

// Load decrypts the session in dir (see Dir).
func Load(dir string) (*Session, error) {
	var id struct {
		PublicKey string `json:"public_key"`
		SecretKey string `json:"secret_key"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "tezedge_communication.identity.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &id); err != nil {
		return nil, fmt.Errorf("vectors: identity: %w", err)
	}
	var sk crypto.SecretKey
	if err := unhex(id.SecretKey, sk[:]); err != nil {
		return nil, fmt.Errorf("vectors: secret key: %w", err)
	}

	f, err := os.Open(filepath.Join(dir, "tezedge_communication.csv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("vectors: csv: %w", err)
	}
	var sentConn, recvConn, sent []byte
	var recvRows [][]byte
	for _, row := range rows[1:] {
		b, err := hex.DecodeString(row[1])
		if err != nil {
			return nil, fmt.Errorf("vectors: csv hex: %w", err)
		}
		switch row[0] {
		case "Sent":
			if sentConn == nil {
				sentConn = b
			} else {
				sent = append(sent, b...)
			}
		case "Received":
			if recvConn == nil {
				recvConn = b
			} else {
				recvRows = append(recvRows, b)
			}
		default:
			return nil, fmt.Errorf("vectors: unknown direction %q", row[0])
		}
	}

	remote, err := wire.DecodeConnectionMessage(recvConn[2:])
	if err != nil {
		return nil, fmt.Errorf("vectors: remote connection message: %w", err)
	}
	remotePK := crypto.PublicKey(remote.PublicKey)
	key, err := crypto.Precompute(&remotePK, &sk)
	if err != nil {
		return nil, err
	}
	// The recorder dialled: it was the initiator.
	localNonce, remoteNonce := crypto.DeriveNonces(sentConn, recvConn, false)
	s := &Session{ChainName: remote.Version.ChainName, ReceivedRows: len(recvRows)}

	// The sent half is a contiguous stream of chunks: open them in nonce
	// order, drop metadata and ack, and split the rest into messages.
	var stream []byte
	for i := 0; len(sent) > 0; i++ {
		if len(sent) < chunkHeader {
			return nil, fmt.Errorf("vectors: sent chunk %d: truncated header", i)
		}
		n := int(binary.BigEndian.Uint16(sent))
		if len(sent) < chunkHeader+n {
			return nil, fmt.Errorf("vectors: sent chunk %d: truncated", i)
		}
		pt, ok := crypto.Open(nil, sent[chunkHeader:chunkHeader+n], &localNonce, &key)
		if !ok {
			return nil, fmt.Errorf("vectors: sent chunk %d does not open", i)
		}
		localNonce.Increment()
		sent = sent[chunkHeader+n:]
		if i >= 2 {
			stream = append(stream, pt...)
		}
	}
	for len(stream) > 0 {
		if len(stream) < 4 {
			return nil, errors.New("vectors: sent stream ends inside a size prefix")
		}
		n := 4 + int(binary.BigEndian.Uint32(stream))
		if n > len(stream) {
			return nil, errors.New("vectors: sent stream ends inside a message")
		}
		s.Sent = append(s.Sent, stream[:n:n])
		stream = stream[n:]
	}

	// Received rows: only whole chunks can be opened, each at a nonce at or
	// after the previous one's.
	next := remoteNonce
	opened := 0
	for i, row := range recvRows {
		if len(row) < chunkHeader || len(row) != chunkHeader+int(binary.BigEndian.Uint16(row)) {
			continue
		}
		var pt []byte
		for tries := 0; tries < 1<<16; tries++ {
			p, ok := crypto.Open(nil, row[chunkHeader:], &next, &key)
			next.Increment()
			if ok {
				pt = p
				break
			}
		}
		if pt == nil {
			return nil, fmt.Errorf("vectors: received row %d opens at no later nonce", i)
		}
		if opened >= 2 {
			s.Received = append(s.Received, pt)
		}
		opened++
	}
	return s, nil
}

func unhex(s string, dst []byte) error {
	b, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	if len(b) != len(dst) {
		return fmt.Errorf("%d bytes, want %d", len(b), len(dst))
	}
	copy(dst, b)
	return nil
}
