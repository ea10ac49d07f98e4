package bench

import (
	"bytes"
	"os"
	"strconv"
	"testing"
)

// sysIO is the process's read and write system calls so far and the bytes
// they moved (Linux /proc/self/io: syscr, syscw, rchar, wchar), zero where
// there is no such file. Both ends of a throughput benchmark run in this
// process, so over a run it counts the sender's writes and the receiver's
// reads (and nothing else of note: the benchmarks touch no file).
type sysIO struct{ reads, writes, readBytes, writeBytes int64 }

func readSysIO() sysIO {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return sysIO{}
	}
	var s sysIO
	for line := range bytes.Lines(data) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(": "))
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(string(v), 10, 64)
		switch string(k) {
		case "syscr":
			s.reads = n
		case "syscw":
			s.writes = n
		case "rchar":
			s.readBytes = n
		case "wchar":
			s.writeBytes = n
		}
	}
	return s
}

// reportSysIO reports the read and write system calls per iteration since
// start and the bytes each moved on average: what the socket's buffer and
// the writer's batches make of a message size.
func reportSysIO(b *testing.B, start sysIO) {
	if start == (sysIO{}) {
		return
	}
	d := readSysIO()
	reads, writes := d.reads-start.reads, d.writes-start.writes
	b.ReportMetric(float64(reads)/float64(b.N), "reads/op")
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	if reads > 0 {
		b.ReportMetric(float64(d.readBytes-start.readBytes)/float64(reads), "B/read")
	}
	if writes > 0 {
		b.ReportMetric(float64(d.writeBytes-start.writeBytes)/float64(writes), "B/write")
	}
}
