// Package sched is the pool's IO scheduler: bandwidth limits, fair sharing
// and traffic statistics for the connections of a pool, the Go counterpart
// of octez's P2p_io_scheduler (src/lib_p2p/p2p_io_scheduler.ml), its
// Moving_average worker (src/lib_stdlib_unix/moving_average.ml) and
// P2p_stat (src/lib_base/p2p_stat.ml).
//
// # Shape
//
// A Scheduler is shared by all the connections of a pool. Scheduler.Wrap
// turns a net.Conn into a *Conn, itself a net.Conn, whose Read and Write
// count bytes and, when a limit is set, wait for budget. The wrapper is
// driven by the goroutines that already call Read and Write (the pool's
// reader and writer): there is no goroutine per connection and no polling.
// The Scheduler owns one goroutine, the statistics ticker.
//
// # Octez's scheduler
//
// Octez runs one worker per direction. A connection that has done an IO
// waits in a high-priority FIFO if its quota is positive, else in a
// low-priority one; the worker serves high before low, and blocks while the
// global quota is negative. Every period (1 s) each connection's quota
// becomes min(quota, 0) + avg_total_flow/n_conn and the global quota
// min(quota, 0) + max_speed. The result: the global rate averages
// max_speed, bursts of up to one period's worth are allowed, overdraft is
// carried over, and connections that used less than an equal share of what
// was recently used go first, so backlogged connections converge to equal
// shares while spare bandwidth is not wasted (work conservation).
//
// # This package's scheduler
//
// Each direction (inflow = reads, outflow = writes) has a limiter made of:
//
//   - a global token bucket of rate MaxInflow/MaxOutflow, refilled
//     continuously from the clock rather than once per period, holding at
//     most BurstWindow worth of tokens. It maps to octez's global quota
//     (rate = max_speed; debt carries over like min(quota, 0); the burst is
//     smaller than octez's whole second so traffic is smoother);
//   - a per-connection token bucket of rate ConnMaxInflow/ConnMaxOutflow,
//     which octez does not have; a connection waits on its own bucket with
//     its own timer, outside the global queue, so it never holds up others;
//   - a queue of the connections waiting for the global bucket, served in
//     start-time fair queueing (SFQ) order. A request for n bytes gets the
//     tags start = max(V, previous finish of its connection) and finish =
//     start+n, V being the start tag of the last request served. Serving the
//     lowest start tag first gives every backlogged connection the same
//     number of bytes whatever its IO sizes, and a connection that was idle
//     gets no credit for it (its tag restarts at V). This is octez's "quota
//     = fair share minus overdraft, positive quotas first" made exact and
//     event-driven: the fair share is avg_total_flow/n_backlogged instead of
//     /n_conn, which is the same once the idle connections' unused share has
//     been handed out by octez's low-priority queue.
//
// Large IOs are cut into chunks of at most Quantum bytes (16 KiB, octez's
// read_buffer_size), each paid separately, so that connections interleave
// on the wire as octez's per-IO scheduling does; under a slow limit the
// chunk shrinks to the bucket's capacity (but not below 1 KiB), so that
// the pacing stays smooth. A request larger than the bucket overdraws it
// (it waits until the bucket is full, then takes it into debt) so that any
// rate, however small, makes progress with the long-run rate still exact.
//
// Writes are paid before the bytes are written. Reads are paid afterwards,
// at the start of the next Read, as octez pays the read it has done before
// the next one starts: paying beforehand would need a guess of the size and
// would hold tokens for as long as the peer sends nothing.
//
// The first waiter of the global queue is woken by a single time.AfterFunc
// timer per direction, rearmed for the instant the bucket will cover it;
// waiters otherwise sleep on a channel, with Close and deadlines (SetDeadline
// and friends, which the handshake uses to abort) waking them. Limits can be
// changed at any time with Scheduler.SetLimits, which takes effect at once:
// buckets are settled at the old rate up to now and every waiter
// re-examines its wait, so raising a limit wakes the waiters.
//
// With no limit set in a direction, Read and Write cost two atomic loads
// of read-mostly words (the direction's "limited" flag and the connection's
// "closed" flag) and one atomic add (the connection's byte counter, on a
// cache line that only that connection's reader or writer writes): the
// scheduler's global counters are not touched on the hot path but summed by
// whoever reads them, a closed connection's bytes being folded into them.
//
// # Statistics
//
// Stat mirrors P2p_stat: totals as int64 bytes and current flows in
// bytes/s. Current flows are octez's moving average: every Period (1 s) the
// ticker computes, for each connection and direction and for the scheduler
// as a whole, avg = 200·bytes/elapsed_ms + 800·avg/1000 in integer
// arithmetic (α = 0.2, 200 per mille, as Moving_average.create
// ~alpha:0.2), with bytes the traffic since the previous tick. The
// scheduler's totals include the connections already closed.
package sched
