#!/usr/bin/env bash
# windows.sh: the measurement windows of issue 20's items 1 and 2, as
# BENCHMARKS.md reports them. Each window runs every side in a process of
# its own, in an order that alternates between windows, and starts each
# connect benchmark on an empty TIME_WAIT table:
#
#   - throughput: libp2p queued, p2ppool (Throughput and ReadBatch), and
#     internal/socket's ceilings (Throughput, DesignThroughput);
#   - connect: Libp2p/Connect, P2ppool/Connect, ConnectCeiling,
#     ConnectDesignCeiling, each after waiting until no socket is left
#     in TIME_WAIT (90 s at most: another program's connections could
#     keep the table from emptying).
#
# Why the wait: every connect leaves its client's socket in TIME_WAIT for
# 60 s, and a connect made while tens of thousands of them are in the
# kernel's tables costs more (P2ppool/Connect: 201-217 µs on an empty
# table, 241-257 µs after 50,000 connects). Run one after the other in
# one process, the benchmarks that come later pay for the earlier ones'
# connects: libp2p's ran first, on an empty table, and p2ppool's last,
# after both ceilings' 35,000.
#
# P2PPOOL_BENCH_APPHEAP_MIB, when set, reaches the bench binary: the
# windows then run beside an application's heap of that size (see
# appheap_test.go and README.md; the socket ceilings do not read it).
#
# Usage: bench/windows.sh [windows] (5 by default). It builds the two test
# binaries into a temporary directory, prints every benchmark line tagged
# with its window, then a table of the ratios per window and their
# medians. Needs Linux (/proc/net/tcp) and a machine with nothing else
# running.
set -euo pipefail
cd "$(dirname "$0")"
windows=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/bench.test" .
(cd ../internal/socket && go test -c -o "$tmp/socket.test" .)

# timeWait counts the sockets in TIME_WAIT (state 06 in /proc/net/tcp*).
timeWait() { awk '$4 == "06"' /proc/net/tcp /proc/net/tcp6 2>/dev/null | wc -l; }
drain() {
	local waited=0
	while [ "$(timeWait)" -gt 0 ] && [ "$waited" -lt 90 ]; do
		sleep 2
		waited=$((waited + 2))
	done
}
run() { # run window binary pattern
	local w=$1 bin=$2 pat=$3
	if ! "$tmp/$bin" -test.run '^$' -test.bench "$pat" -test.benchtime 2s >"$tmp/out" 2>&1; then
		cat "$tmp/out" >&2
		exit 1
	fi
	grep '^Benchmark' "$tmp/out" | sed "s/^/w$w /" | tee -a "$tmp/lines"
}

libp2pTput='Libp2p/^Queued$/' # anchored: not QueuedNoAlloc
p2ppoolTput='P2ppool/(Throughput|ReadBatch)/'
for w in $(seq 1 "$windows"); do
	echo "== window $w, $(date +%T), load $(cut -d' ' -f1 /proc/loadavg)"
	if [ $((w % 2)) -eq 1 ]; then
		order=("$libp2pTput" "$p2ppoolTput")
		conn=('Libp2p/Connect$' 'P2ppool/Connect$')
	else
		order=("$p2ppoolTput" "$libp2pTput")
		conn=('P2ppool/Connect$' 'Libp2p/Connect$')
	fi
	run "$w" socket.test 'Throughput/(100B|1024B|65536B)$|DesignThroughput'
	run "$w" bench.test "${order[0]}"
	run "$w" bench.test "${order[1]}"
	for pat in "${conn[@]}" 'ConnectCeiling$' 'ConnectDesignCeiling$'; do
		drain
		run "$w" bench.test "$pat"
	done
done

# The ratios of each window, libp2p ÷ p2ppool (CPU: p2ppool ÷ libp2p),
# then their medians. The last rows put libp2p's figure over the two
# ceilings of the same window instead of over p2ppool's: what the
# cipher and the socket allow with nothing else (internal/socket's
# Throughput: a writer handing batches to WriteMessages, a reader, no
# queue and no copy; ConnectCeiling: the handshake's bytes, no cipher),
# and what the pool's design allows (DesignThroughput: its four
# goroutines, two queues and the application's copy;
# ConnectDesignCeiling). An aim above the socket's row is out of reach
# on this machine; one above the design's row needs p2ppool to do less
# than the least its design does.
# Each row: its label, then the numerator and the denominator of its
# ratio (benchmark names, without the -N suffix) and which figure of
# theirs it divides (ns per op, or cpu-ns per op). A row with no
# benchmarks is a heading.
rows='100B wall;BenchmarkLibp2p/Queued/100B;BenchmarkP2ppool/Throughput/100B;ns
100B CPU (p2ppool/libp2p);BenchmarkP2ppool/Throughput/100B;BenchmarkLibp2p/Queued/100B;cpu
100B wall, ReadBatch;BenchmarkLibp2p/Queued/100B;BenchmarkP2ppool/ReadBatch/100B;ns
100B CPU, ReadBatch;BenchmarkP2ppool/ReadBatch/100B;BenchmarkLibp2p/Queued/100B;cpu
1KiB wall;BenchmarkLibp2p/Queued/1KiB;BenchmarkP2ppool/Throughput/1KiB;ns
64KiB wall;BenchmarkLibp2p/Queued/64KiB;BenchmarkP2ppool/Throughput/64KiB;ns
connect;BenchmarkLibp2p/Connect;BenchmarkP2ppool/Connect;ns
libp2p ÷ the ceilings of the same window:
1KiB, socket ceiling;BenchmarkLibp2p/Queued/1KiB;BenchmarkThroughput/1024B;ns
64KiB, socket ceiling;BenchmarkLibp2p/Queued/64KiB;BenchmarkThroughput/65536B;ns
connect, socket ceiling;BenchmarkLibp2p/Connect;BenchmarkConnectCeiling;ns
1KiB, design ceiling;BenchmarkLibp2p/Queued/1KiB;BenchmarkDesignThroughput/1024B;ns
64KiB, design ceiling;BenchmarkLibp2p/Queued/64KiB;BenchmarkDesignThroughput/65536B;ns
connect, design ceiling;BenchmarkLibp2p/Connect;BenchmarkConnectDesignCeiling;ns'
awk -v rows="$rows" '
function val(w, name, field,    k) { k = w SUBSEP name SUBSEP field; return (k in v) ? v[k] : 0 }
{
	w = substr($1, 2); name = $2; sub(/-[0-9]+$/, "", name)
	v[w, name, "ns"] = $4
	for (i = 5; i < NF; i++) if ($(i + 1) == "cpu-ns/op") v[w, name, "cpu"] = $i
	if (w > nw) nw = w
}
function ratio(a, b) { return (a > 0 && b > 0) ? a / b : 0 }
function median(arr, n,    i, j, t) {
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
	return (n % 2) ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
END {
	n = split(rows, row, "\n")
	for (i = 1; i <= n; i++) {
		if (split(row[i], f, ";") < 4) { print row[i]; continue }
		line = sprintf("%-28s", f[1])
		for (w = 1; w <= nw; w++) {
			a[w] = ratio(val(w, f[2], f[4]), val(w, f[3], f[4]))
			line = line sprintf(" %5.2f", a[w])
		}
		print line sprintf("   median %5.2f", median(a, nw))
	}
}' "$tmp/lines"
