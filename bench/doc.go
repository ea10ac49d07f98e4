// Package bench compares p2ppool with go-libp2p on loopback TCP.
//
// It is a separate Go module (see go.mod) so that the library's own
// go.mod never depends on libp2p. Everything lives in the _test.go files;
// run it with
//
//	cd bench && go test -run '^$' -bench . -benchtime 2s -count 3
package bench
