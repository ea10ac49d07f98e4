package socket

import (
	"fmt"
	"io"
	"time"

	"github.com/p2ppool/p2ppool/internal/crypto"
	"github.com/p2ppool/p2ppool/internal/wire"
)

// Chunk geometry of octez P2p_socket.Crypto.
const (
	headerLen     = 2                  // u16 BE length of what follows
	tagLen        = crypto.TagSize     // Poly1305 MAC
	chunkOverhead = headerLen + tagLen // octez extrabytes = 18
	// MaxChunkSize is the largest chunk on the wire, header included
	// (octez bufsize).
	MaxChunkSize = 1<<16 - 1
	// MinChunkSize is the smallest binary_chunks_size octez accepts: one
	// plaintext byte per chunk.
	MinChunkSize = chunkOverhead + 1
	// MaxChunkPayload is the largest plaintext in one chunk (octez
	// max_content_length = 65517).
	MaxChunkPayload = MaxChunkSize - chunkOverhead
)

// Config is what the local side brings to a handshake. It is read, never
// written, by this package, and may be shared by concurrent handshakes.
type Config struct {
	PublicKey        crypto.PublicKey
	SecretKey        crypto.SecretKey
	ProofOfWorkStamp crypto.Nonce
	// Port is the listening port announced in the connection message; 0
	// means none.
	Port uint16
	// Version is the announced network version: the chain name and the
	// highest supported distributed-db and p2p versions.
	Version wire.NetworkVersion
	// PowTarget is the proof of work the remote's stamp must meet.
	PowTarget crypto.PowTarget
	// Metadata is our encoded connection metadata, sent as the first
	// encrypted chunk. It must fit in one chunk of the largest size: like
	// the ack, it is written whole (octez Crypto.write_chunk), whatever
	// BinaryChunksSize says.
	Metadata []byte
	// LocalMetadata, if set, gives our encoded connection metadata for
	// the peer with this id instead of Metadata: it is called once the
	// peer's connection message has been read and before our metadata is
	// written, as octez computes it there (p2p_socket.ml:441). The same
	// one-chunk bound applies; a larger result fails the handshake with
	// ErrLocalMetadataTooLarge.
	LocalMetadata func(peer [16]byte) []byte
	// BinaryChunksSize is octez binary_chunks_size: the on-wire size of the
	// chunks we write, header and MAC included, in [MinChunkSize,
	// MaxChunkSize]. Zero means MaxChunkSize. Received chunks may have any
	// valid size.
	BinaryChunksSize int
	// MaxMessageSize bounds one P2P message (its 4-byte size prefix
	// included), read or written. Zero means wire.MaxMessageSize.
	MaxMessageSize int
	// Timeout bounds the whole handshake (Authenticate then Accept or
	// Nack), on top of the context. Zero means only the context.
	Timeout time.Duration
	// FirstMessageTimeout bounds the wait for the peer's whole connection
	// message, which an honest peer sends as soon as it has connected; it
	// fails the handshake with ErrFirstMessageTimeout. Zero means only
	// Timeout and the context.
	FirstMessageTimeout time.Duration
	// FirstMessageReceived, if set, is called once the peer's connection
	// message has arrived and its proof of work checked: the peer is
	// making progress.
	FirstMessageReceived func()
	// ChunkPerMessage makes every message written start a new chunk, as
	// octez's writer does. By default messages written together are
	// sealed as one stream, several to a chunk, which octez's reader
	// accepts; some other implementations' readers (tezedge) need each
	// message to start a chunk.
	ChunkPerMessage bool
	// Rand is the source of the connection nonce; nil means crypto/rand.
	Rand io.Reader
	// KeyCache, if set, supplies the channel keys, so that a peer seen
	// recently costs no X25519 multiplication; it must have been made
	// for SecretKey. Nil means computing the key on every handshake.
	KeyCache *crypto.ChannelKeyCache
}

// Validate reports a configuration the wire cannot carry.
func (c *Config) Validate() error {
	if c.BinaryChunksSize != 0 && (c.BinaryChunksSize < MinChunkSize || c.BinaryChunksSize > MaxChunkSize) {
		return fmt.Errorf("socket: binary chunks size %d outside [%d, %d]", c.BinaryChunksSize, MinChunkSize, MaxChunkSize)
	}
	if c.MaxMessageSize < 0 || c.MaxMessageSize > wire.MaxMessageSize {
		return fmt.Errorf("socket: max message size %d outside [0, %d]", c.MaxMessageSize, wire.MaxMessageSize)
	}
	if len(c.Metadata) > MaxChunkPayload {
		return fmt.Errorf("socket: metadata of %d bytes does not fit in one chunk of %d", len(c.Metadata), MaxChunkPayload)
	}
	return nil
}

func (c *Config) chunkPayload() int {
	if c.BinaryChunksSize == 0 {
		return MaxChunkPayload
	}
	return c.BinaryChunksSize - chunkOverhead
}

func (c *Config) maxMessageSize() int {
	if c.MaxMessageSize == 0 {
		return wire.MaxMessageSize
	}
	return c.MaxMessageSize
}
