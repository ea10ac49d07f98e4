package p2ppooltest

import (
	"io"
	"strconv"
	"testing"
)

// BenchmarkConn measures a healthy connection's throughput: what the
// network costs a test that moves many bytes.
func BenchmarkConn(b *testing.B) {
	for _, size := range []int{128, 16 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			c, s := pair(b, NewNetwork(Config{}))
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, s)
				done <- err
			}()
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
