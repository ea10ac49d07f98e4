package socket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkDesignThroughput is the ceiling of the pool's design for the
// throughput of one connection (bench's P2ppool/Throughput), built from
// this package's Conn and nothing of the pool: the least that design
// does per message, on the same sockets, behind the same scheduler
// wrapper, with the same cipher.
//
//   - The sender's goroutine copies each message (a 100-byte, 1 KiB or
//     64 KiB body under its 6-byte envelope) into a queue, under a mutex,
//     and wakes the writer if it waits. The queue holds 8 MiB (octez's
//     outgoing bound).
//   - A writer goroutine takes everything queued, under the mutex, and
//     writes it with one WriteMessages call, in pieces of up to a chunk.
//   - A reader goroutine reads each message, copies its body into a new
//     slice (the application's decode), and queues the messages that
//     came off the network together in one critical section.
//   - The receiver's goroutine takes everything queued at once.
//
// It has none of the pool's bookkeeping: no tags or codec, no counters,
// no per-message budget checks, no bound in messages, no Read per
// message. Compared with P2ppool/Throughput it says how much of the
// pool's time per message its design costs, and how much its
// implementation adds.
func BenchmarkDesignThroughput(b *testing.B) {
	// One connection for all sizes, as bench's P2ppool/Throughput.
	w, r := connectedPair(b, scheduledTCP(b), testConfig(b), testConfig(b))
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) { benchDesign(b, w, r, size) })
	}
}

// designOut is the sender's queue: copies of the messages in one buffer,
// ends[i] the end of message i.
type designOut struct {
	mu      sync.Mutex
	cond    sync.Cond // the writer waits for messages, the sender for room
	buf     []byte
	ends    []int
	waiting bool // the writer waits
	full    bool // the sender waits
	done    bool
	failed  bool // the writer returned an error: nothing more goes
}

// designIn is the receiver's queue.
type designIn struct {
	mu      sync.Mutex
	cond    sync.Cond
	msgs    [][]byte
	bytes   int
	waiting bool // the receiver waits
	full    bool // the reader waits
	ended   bool // the reader returned: nothing more comes
}

const designBound = 8 << 20 // octez's byte bound, each way

func benchDesign(b *testing.B, w, r *Conn, size int) {
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i)
	}
	var out designOut
	out.cond.L = &out.mu
	var in designIn
	in.cond.L = &in.mu
	var wg sync.WaitGroup
	defer wg.Wait()
	n := b.N
	errs := make(chan error, 2)
	wg.Go(func() { errs <- designWriter(w, &out) })
	wg.Go(func() { errs <- designReader(r, &in, n) })
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	received := make(chan int, 1)
	wg.Go(func() { received <- designReceive(&in, n, size) })
	for range n {
		designSend(&out, body)
	}
	got := <-received
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.StopTimer()
	out.mu.Lock()
	out.done = true
	out.cond.Broadcast()
	out.mu.Unlock()
	for range 2 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	if got != n {
		b.Fatalf("received %d messages of %d", got, n)
	}
}

// designSend queues a copy of body under its envelope (a 4-byte size and
// a 2-byte tag), waiting while the queue is full.
func designSend(q *designOut, body []byte) {
	q.mu.Lock()
	for len(q.buf) > 0 && len(q.buf)+6+len(body) > designBound && !q.failed {
		q.full = true
		q.cond.Wait()
	}
	q.buf = binary.BigEndian.AppendUint32(q.buf, uint32(2+len(body)))
	q.buf = binary.BigEndian.AppendUint16(q.buf, 0x10)
	q.buf = append(q.buf, body...)
	q.ends = append(q.ends, len(q.buf))
	if q.waiting {
		q.waiting = false
		q.cond.Broadcast()
	}
	q.mu.Unlock()
}

// designWriter writes what is queued, all of it per WriteMessages call.
func designWriter(c *Conn, q *designOut) error {
	var buf []byte
	var ends []int
	var msgs [][]byte
	for {
		q.mu.Lock()
		for len(q.ends) == 0 && !q.done {
			q.waiting = true
			q.cond.Wait()
		}
		if len(q.ends) == 0 {
			q.mu.Unlock()
			return nil
		}
		buf, q.buf = q.buf, buf[:0]
		ends, q.ends = q.ends, ends[:0]
		if q.full {
			q.full = false
			q.cond.Broadcast()
		}
		q.mu.Unlock()
		// The messages in pieces of whole messages of up to one chunk's
		// plaintext, as the pool's arenas are: each piece of 8 KiB or
		// more is sealed where it lies (ownChunkMin).
		msgs = msgs[:0]
		start, prev := 0, 0
		for _, end := range ends {
			if end-start > MaxChunkPayload && prev > start {
				msgs = append(msgs, buf[start:prev])
				start = prev
			}
			prev = end
		}
		msgs = append(msgs, buf[start:prev])
		if err := c.WriteMessages(msgs...); err != nil {
			q.mu.Lock()
			q.failed = true // a sender waiting for room must not wait for ever
			q.cond.Broadcast()
			q.mu.Unlock()
			return err
		}
	}
}

// designReader reads n messages, copies each body, and queues the
// messages of one network read together.
func designReader(c *Conn, q *designIn, n int) error {
	defer func() {
		q.mu.Lock()
		q.ended = true // the receiver must not wait for ever after an error
		q.cond.Broadcast()
		q.mu.Unlock()
	}()
	var staged [][]byte
	stagedBytes := 0
	for i := 0; i < n; i++ {
		m, err := c.ReadMessage()
		if err != nil {
			return err
		}
		staged = append(staged, bytes.Clone(m[6:]))
		stagedBytes += len(m) - 6
		if c.NextWhole() && len(staged) < 256 && i+1 < n {
			continue
		}
		q.mu.Lock()
		for q.bytes > 0 && q.bytes+stagedBytes > designBound {
			q.full = true
			q.cond.Wait()
		}
		q.msgs = append(q.msgs, staged...)
		q.bytes += stagedBytes
		if q.waiting {
			q.waiting = false
			q.cond.Broadcast()
		}
		q.mu.Unlock()
		clear(staged)
		staged, stagedBytes = staged[:0], 0
	}
	return nil
}

// designReceive takes n messages, everything queued per critical
// section, and returns how many had the right length.
func designReceive(q *designIn, n, size int) int {
	var batch [][]byte
	got := 0
	for seen := 0; seen < n; {
		q.mu.Lock()
		for len(q.msgs) == 0 && !q.ended {
			q.waiting = true
			q.cond.Wait()
		}
		if len(q.msgs) == 0 {
			q.mu.Unlock()
			return got // the reader failed: benchDesign reports its error
		}
		batch, q.msgs = q.msgs, batch[:0]
		q.bytes = 0
		if q.full {
			q.full = false
			q.cond.Broadcast()
		}
		q.mu.Unlock()
		for i, m := range batch {
			if len(m) == size {
				got++
			}
			batch[i] = nil
		}
		seen += len(batch)
	}
	return got
}
