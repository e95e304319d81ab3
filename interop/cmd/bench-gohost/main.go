// Command bench-gohost times plugin calls made by the Go reference host
// (cliplugin.LoadSignerVerifier), for the project's benchmarks (make bench).
//
//	bench-gohost -op public-key|sign-digest|true -key NAME://REF -hash sha256|sha384 -n N
//
// It makes one untimed call first, then N timed calls in a loop, and prints
// the mean time per call in microseconds. With -op true it runs /bin/true N
// times through os/exec, the way cliplugin runs a plugin (Output()).
package main

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

func main() {
	op := flag.String("op", "public-key", "public-key, sign-digest or true")
	key := flag.String("key", "", "key reference NAME://REF")
	hashName := flag.String("hash", "sha256", "sha256 or sha384: the key's hash")
	n := flag.Int("n", 100, "timed calls")
	flag.Parse()
	if err := run(*op, *key, *hashName, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench-gohost:", err)
		os.Exit(1)
	}
}

func run(op, key, hashName string, n int) error {
	var call func() error
	switch op {
	case "true":
		call = func() error { _, err := exec.Command("/bin/true").Output(); return err }
	case "public-key", "sign-digest":
		hash, digest, err := hashAndDigest(hashName)
		if err != nil {
			return err
		}
		sv, err := cliplugin.LoadSignerVerifier(context.Background(), key, hash)
		if err != nil {
			return err
		}
		if op == "public-key" {
			call = func() error { _, err := sv.PublicKey(); return err }
		} else {
			call = func() error {
				_, err := sv.SignMessage(nil, options.WithDigest(digest), options.WithCryptoSignerOpts(hash))
				return err
			}
		}
	default:
		return fmt.Errorf("unknown -op %q", op)
	}
	if err := call(); err != nil {
		return err
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := call(); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("%.1f\n", float64(elapsed.Microseconds())/float64(n))
	return nil
}

func hashAndDigest(name string) (crypto.Hash, []byte, error) {
	message := []byte("benchmark message")
	switch name {
	case "sha256":
		sum := sha256.Sum256(message)
		return crypto.SHA256, sum[:], nil
	case "sha384":
		sum := sha512.Sum384(message)
		return crypto.SHA384, sum[:], nil
	}
	return 0, nil, fmt.Errorf("unknown -hash %q", name)
}
