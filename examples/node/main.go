// Command node is an example octez-compatible P2P node built on p2ppool.
// Each task is a subcommand:
//
//	node identity -o FILE [-pow BITS]      generate an identity.json
//	node identity -check FILE [-pow BITS]  verify an identity.json
//	node run -identity FILE -listen HOST:PORT [-peer HOST:PORT]... [-chain NAME] [-echo]
//	         [-limit-loopback] [-max-connections N] [-max-incoming-per-addr N]...
//	                                       run a node that chats in text and
//	                                       speaks the octez shell's messages
//	node sync -identity FILE -peer HOST:PORT[#PEER_ID]... -out FILE [-chain NAME] [-genesis HASH] [-timeout D]
//	                                       fetch and verify the header chain
//	                                       from the head back to genesis
//
// Run "node help" for the list.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run gets the arguments after the
// subcommand's name and returns the process exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands, in the order "help" shows them. Add new
// subcommands here.
var commands = []command{
	{name: "identity", summary: "generate (-o FILE) or check (-check FILE) an octez identity.json", run: runIdentity},
	{name: "run", summary: "run a node: listen, connect to peers, exchange text and shell messages", run: runNode},
	{name: "sync", summary: "fetch and verify the header chain from the network's head back to genesis", run: runSync},
}

// Exit codes shared by the subcommands.
const (
	exitOK          = 0
	exitFailure     = 1   // the operation failed; the reason is on stderr
	exitUsage       = 2   // bad command line, as the flag package uses
	exitInterrupted = 130 // cancelled by SIGINT/SIGTERM, as shells report ^C
)

func main() {
	// Ctrl-C cancels the context, so long operations (identity
	// generation, a running node) stop cleanly instead of dying mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args[0] to its subcommand. It is main without the process
// globals, so tests can drive every subcommand in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "node: unknown subcommand %q\n", args[0])
	fmt.Fprintln(stderr, `run "node help" for the subcommands`)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: node <subcommand> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subcommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "node <subcommand> -h" for its flags.`)
}
