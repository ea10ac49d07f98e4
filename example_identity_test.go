package p2ppool_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/p2ppool/p2ppool"
)

// Peer ids print and parse in octez's base58check form.
func ExampleParsePeerID() {
	id, err := p2ppool.ParsePeerID("idrRoknJh9zwEePNswF3MPGFzmKaVp")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id)
	fmt.Printf("%x\n", id[:])
	// Output:
	// idrRoknJh9zwEePNswF3MPGFzmKaVp
	// 47f5c302e9ed3c9a73279fe9f4ad99b6
}

// An identity.json written by octez loads as is; the difficulty argument
// checks its proof of work like `octez-node identity check`.
func ExampleLoadIdentity() {
	dir, err := os.MkdirTemp("", "p2ppool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "identity.json")
	octez := `{ "peer_id": "idsfYM6UbG2nhNS1dqhsJEchaDhmd9",
  "public_key":
    "17f7d11892274a7230d969aa1335d25e637f43087b76d0e24a1a8b7d03168f5c",
  "secret_key":
    "0271fac86d020aebe6a1c9768381e7245e48e77524cca2a1652d0a621fac289f",
  "proof_of_work_stamp": "b6a4a80d765047918b037c85958c41096326a4b52ff0377e" }`
	if err := os.WriteFile(path, []byte(octez), 0o600); err != nil {
		log.Fatal(err)
	}

	id, err := p2ppool.LoadIdentity(path, p2ppool.DefaultNodeProofOfWork)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.PeerID)
	// Output: idsfYM6UbG2nhNS1dqhsJEchaDhmd9
}

// Generate an identity (here at a low difficulty, to be quick), check it,
// and save it where octez would find it.
func ExampleGenerateIdentity() {
	id, err := p2ppool.GenerateIdentity(context.Background(), 10, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("valid:", id.Validate() == nil)
	fmt.Println("proof of work reaches 10:", id.CheckProofOfWork(10) == nil)

	dir, err := os.MkdirTemp("", "p2ppool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "identity.json")
	if err := id.Save(path); err != nil {
		log.Fatal(err)
	}
	loaded, err := p2ppool.LoadIdentity(path, 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same peer id after reload:", loaded.PeerID == id.PeerID)
	// Output:
	// valid: true
	// proof of work reaches 10: true
	// same peer id after reload: true
}
