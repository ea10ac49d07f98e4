package tezos

import "github.com/p2ppool/p2ppool/dataenc"

// The body codecs, one pair per message, in the order of octez's
// Distributed_db_message.encoding. Each read function reads the whole body
// (its caller checks the end), each append function is its inverse.

func (m GetCurrentBranch) appendBody(dst []byte) ([]byte, error) {
	return append(dst, m.ChainID[:]...), nil
}
func (m Deactivate) appendBody(dst []byte) ([]byte, error) { return append(dst, m.ChainID[:]...), nil }
func (m GetCurrentHead) appendBody(dst []byte) ([]byte, error) {
	return append(dst, m.ChainID[:]...), nil
}
func (m GetCheckpoint) appendBody(dst []byte) ([]byte, error) {
	return append(dst, m.ChainID[:]...), nil
}

func readCurrentBranch(r *dataenc.Reader) Message {
	var m CurrentBranch
	r.Field("chain_id")
	r.FixedInto(m.ChainID[:])
	readBlockLocator(r, &m.Locator)
	return m
}

func (m CurrentBranch) appendBody(dst []byte) ([]byte, error) {
	return appendBlockLocator(append(dst, m.ChainID[:]...), &m.Locator)
}

func readCurrentHead(r *dataenc.Reader) Message {
	var m CurrentHead
	r.Field("chain_id")
	r.FixedInto(m.ChainID[:])
	r.Field("current_block_header")
	readDynamicBlockHeader(r, &m.Header)
	readMempool(r, &m.Mempool)
	return m
}

func (m CurrentHead) appendBody(dst []byte) ([]byte, error) {
	out, err := appendDynamicBlockHeader(append(dst, m.ChainID[:]...), &m.Header)
	if err != nil {
		return dst, err
	}
	return appendMempool(out, &m.Mempool)
}

func readGetBlockHeaders(r *dataenc.Reader) Message {
	r.Field("get_block_headers")
	return GetBlockHeaders{Hashes: dataenc.ListMin(r, MaxRequestLength, MaxRequestLength*HashSize, HashSize, readBlockHash)}
}

func (m GetBlockHeaders) appendBody(dst []byte) ([]byte, error) {
	return dataenc.AppendList(dst, m.Hashes, MaxRequestLength, appendBlockHash)
}

func readBlockHeaderMessage(r *dataenc.Reader) Message {
	var m BlockHeaderMessage
	readBlockHeader(r, &m.Header)
	return m
}

func (m BlockHeaderMessage) appendBody(dst []byte) ([]byte, error) {
	return appendBoundedHeader(dst, &m.Header)
}

func readGetOperations(r *dataenc.Reader) Message {
	r.Field("get_operations")
	return GetOperations{Hashes: dataenc.ListMin(r, MaxRequestLength, MaxRequestLength*HashSize, HashSize, readOperationHash)}
}

func (m GetOperations) appendBody(dst []byte) ([]byte, error) {
	return dataenc.AppendList(dst, m.Hashes, MaxRequestLength, appendOperationHash)
}

func readOperationMessage(r *dataenc.Reader) Message {
	var m OperationMessage
	readOperation(r, &m.Operation)
	return m
}

func (m OperationMessage) appendBody(dst []byte) ([]byte, error) {
	return appendBoundedOperation(dst, &m.Operation)
}

func readGetProtocols(r *dataenc.Reader) Message {
	r.Field("get_protocols")
	return GetProtocols{Hashes: dataenc.ListMin(r, MaxRequestLength, MaxRequestLength*HashSize, HashSize, readProtocolHash)}
}

func (m GetProtocols) appendBody(dst []byte) ([]byte, error) {
	return dataenc.AppendList(dst, m.Hashes, MaxRequestLength, appendProtocolHash)
}

func readProtocolMessage(r *dataenc.Reader) Message {
	var m ProtocolMessage
	readProtocol(r, &m.Protocol)
	return m
}

func (m ProtocolMessage) appendBody(dst []byte) ([]byte, error) {
	return appendProtocol(dst, &m.Protocol)
}

func readBlockPass(r *dataenc.Reader) BlockPass {
	var p BlockPass
	r.FixedInto(p.Block[:])
	p.Pass = r.Int8()
	return p
}

func appendBlockPass(dst []byte, p BlockPass) []byte {
	return append(append(dst, p.Block[:]...), byte(p.Pass))
}

func readGetOperationsForBlocks(r *dataenc.Reader) Message {
	r.Field("get_operations_for_blocks")
	return GetOperationsForBlocks{Requests: dataenc.ListMin(r, MaxRequestLength, MaxRequestLength*(HashSize+1), HashSize+1, readBlockPass)}
}

func (m GetOperationsForBlocks) appendBody(dst []byte) ([]byte, error) {
	return dataenc.AppendList(dst, m.Requests, MaxRequestLength, appendBlockPass)
}

// readOperationsForBlocks reads merge_objs (obj1 (req
// "operations_for_block" (obj2 hash int8))) (Operation.bounded_list_encoding):
// the path, then check_size 1 MiB (Variable.list (dynamic_size operation)).
func readOperationsForBlocks(r *dataenc.Reader) Message {
	var m OperationsForBlocks
	r.Field("operations_for_block")
	m.BlockPass = readBlockPass(r)
	r.Field("operation_hashes_path")
	m.Path = readPath(r)
	r.Field("operations")
	c := r.BeginCheckSize(maxOperationListSize)
	// No max_length in octez: the 1 MiB over an operation's 36 bytes.
	m.Operations = dataenc.VariableListMin(r, dataenc.NoLimit, operationElemMin, readDynamicOperation)
	r.End(c)
	return m
}

// operationElemMin is the fewest bytes an operation of an
// Operations_for_blocks takes: its dynamic_size prefix and its branch.
const operationElemMin = 4 + HashSize

func readDynamicOperation(r *dataenc.Reader) Operation {
	var o Operation
	s := r.BeginDynamic(dataenc.NoLimit)
	readOperation(r, &o)
	r.End(s)
	return o
}

func (m OperationsForBlocks) appendBody(dst []byte) ([]byte, error) {
	out, err := appendPath(appendBlockPass(dst, m.BlockPass), m.Path)
	if err != nil {
		return dst, err
	}
	start := len(out)
	for i := range m.Operations {
		var s int
		out, s = dataenc.BeginDynamic(out)
		if out, err = appendBoundedOperation(out, &m.Operations[i]); err != nil {
			return dst, err
		}
		if out, err = dataenc.EndDynamic(out, s); err != nil {
			return dst, err
		}
	}
	if n := len(out) - start; n > maxOperationListSize {
		return dst, tooLarge("operation list", n, maxOperationListSize)
	}
	return out, nil
}

func readCheckpoint(r *dataenc.Reader) Message {
	var m Checkpoint
	r.Field("chain_id")
	r.FixedInto(m.ChainID[:])
	r.Field("header")
	readBlockHeader(r, &m.Header)
	return m
}

func (m Checkpoint) appendBody(dst []byte) ([]byte, error) {
	return appendBoundedHeader(append(dst, m.ChainID[:]...), &m.Header)
}

func readGetProtocolBranch(r *dataenc.Reader) Message {
	var m GetProtocolBranch
	r.Field("chain")
	r.FixedInto(m.ChainID[:])
	r.Field("proto_level")
	m.ProtoLevel = r.Uint8()
	return m
}

func (m GetProtocolBranch) appendBody(dst []byte) ([]byte, error) {
	return append(append(dst, m.ChainID[:]...), m.ProtoLevel), nil
}

func readProtocolBranch(r *dataenc.Reader) Message {
	var m ProtocolBranch
	r.Field("chain")
	r.FixedInto(m.ChainID[:])
	r.Field("proto_level")
	m.ProtoLevel = r.Uint8()
	readBlockLocator(r, &m.Locator)
	return m
}

func (m ProtocolBranch) appendBody(dst []byte) ([]byte, error) {
	return appendBlockLocator(append(append(dst, m.ChainID[:]...), m.ProtoLevel), &m.Locator)
}

func readGetPredecessorHeader(r *dataenc.Reader) Message {
	var m GetPredecessorHeader
	r.Field("block")
	r.FixedInto(m.Block[:])
	r.Field("offset")
	m.Offset = r.Int32()
	return m
}

func (m GetPredecessorHeader) appendBody(dst []byte) ([]byte, error) {
	return dataenc.AppendInt32(append(dst, m.Block[:]...), m.Offset), nil
}

func readPredecessorHeader(r *dataenc.Reader) Message {
	var m PredecessorHeader
	r.Field("block")
	r.FixedInto(m.Block[:])
	r.Field("offset")
	m.Offset = r.Int32()
	r.Field("header")
	readBlockHeader(r, &m.Header)
	return m
}

func (m PredecessorHeader) appendBody(dst []byte) ([]byte, error) {
	return appendBoundedHeader(dataenc.AppendInt32(append(dst, m.Block[:]...), m.Offset), &m.Header)
}
