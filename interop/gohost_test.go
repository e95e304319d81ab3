// Package interop drives this project's plugins from the Go reference host
// (github.com/sigstore/sigstore/pkg/signature/kms/cliplugin), the code cosign
// runs, and checks every signature with Go's standard library alone.
//
// The plugins are looked up on PATH; SIGSTORE_KMS_PLUGIN_PATH (directories
// separated like PATH) is put in front of it. run-interop.sh builds the
// plugins and sets it.
package interop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// pluginPathEnv names the directories searched for plugins before PATH.
const pluginPathEnv = "SIGSTORE_KMS_PLUGIN_PATH"

// plugin is one plugin program under test and what it must answer.
type plugin struct {
	name      string   // the NAME of NAME://KEYREF
	algorithm string   // its default algorithm, of the key made here
	supported []string // its supported algorithms, in its order
	curve     elliptic.Curve
}

var plugins = []plugin{
	{name: "localkms", algorithm: "ecdsa-p256-sha256", supported: []string{"ecdsa-p256-sha256"}, curve: elliptic.P256()},
	// gokms offers P-256 too, for the benchmarks' like-with-like rows.
	{name: "gokms", algorithm: "ecdsa-p384-sha384", supported: []string{"ecdsa-p256-sha256", "ecdsa-p384-sha384"}, curve: elliptic.P384()},
}

func TestMain(m *testing.M) {
	if dirs := os.Getenv(pluginPathEnv); dirs != "" {
		os.Setenv("PATH", dirs+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	os.Exit(m.Run())
}

func TestGoHost(t *testing.T) {
	for _, p := range plugins {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			testPlugin(t, p)
		})
	}
}

func testPlugin(t *testing.T, p plugin) {
	executable := cliplugin.PluginBinaryPrefix + p.name
	if _, err := exec.LookPath(executable); err != nil {
		t.Fatalf("%v: build the plugins and put their directories in %s (run-interop.sh does both)", err, pluginPathEnv)
	}
	keyRef := filepath.Join(t.TempDir(), "key.pem")
	ref := p.name + "://" + keyRef
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	viaLoad, err := cliplugin.LoadSignerVerifier(ctx, ref, crypto.SHA256)
	if err != nil {
		t.Fatalf("cliplugin.LoadSignerVerifier(%q): %v", ref, err)
	}
	viaKMS, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		t.Fatalf("kms.Get(%q): %v", ref, err)
	}
	if _, ok := viaKMS.(*cliplugin.PluginClient); !ok {
		t.Fatalf("kms.Get(%q) returned a %T, not the plugin client", ref, viaKMS)
	}

	// Algorithms.
	if got := viaLoad.DefaultAlgorithm(); got != p.algorithm {
		t.Errorf("DefaultAlgorithm() = %q, want %q", got, p.algorithm)
	}
	if diff := cmp.Diff(p.supported, viaKMS.SupportedAlgorithms()); diff != "" {
		t.Errorf("SupportedAlgorithms() (-want +got):\n%s", diff)
	}

	// Errors before a key exists, and for an unknown algorithm, come back as
	// the plugin's own error message.
	if _, err := viaLoad.PublicKey(); !errors.Is(err, cliplugin.ErrorPluginReturnError) {
		t.Errorf("PublicKey() before createKey: got %v, want a plugin error", err)
	}
	if _, err := viaLoad.CreateKey(ctx, "no-such-algorithm"); !errors.Is(err, cliplugin.ErrorPluginReturnError) {
		t.Errorf("CreateKey(no-such-algorithm): got %v, want a plugin error", err)
	}
	if _, err := os.Stat(keyRef); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed createKey left something at %s (stat: %v)", keyRef, err)
	}

	// createKey, twice through two hosts: one key.
	created, err := viaLoad.CreateKey(ctx, p.algorithm)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	again, err := viaKMS.CreateKey(ctx, p.algorithm)
	if err != nil {
		t.Fatalf("second CreateKey: %v", err)
	}
	fetched, err := viaKMS.PublicKey()
	if err != nil {
		t.Fatalf("PublicKey: %v", err)
	}
	pub := publicKeyFromWire(t, ctx, executable, keyRef, p.curve)
	for what, key := range map[string]crypto.PublicKey{"CreateKey": created, "second CreateKey": again, "PublicKey": fetched} {
		if !pub.Equal(key) {
			t.Errorf("%s returned a different key than the plugin's publicKey PEM", what)
		}
	}

	message := []byte("interop: a message signed through the Go reference host\n")
	other := []byte("not the message that was signed")
	sha256Digest := sha256.Sum256(message)
	sha512Digest := sha512.Sum512(message)

	signCases := []struct {
		name    string
		signer  signature.SignerVerifier
		stdin   []byte
		opts    []signature.SignOption
		digest  []byte // what an independent verifier checks the signature against
		verify  []signature.VerifyOption
		message []byte // what the plugin's verifySignature gets on stdin
	}{
		{
			name:    "message only",
			signer:  viaLoad,
			stdin:   message,
			digest:  sha256Digest[:],
			message: message,
		},
		{
			name:    "digest only",
			signer:  viaKMS,
			stdin:   nil,
			opts:    []signature.SignOption{options.WithDigest(sha256Digest[:])},
			digest:  sha256Digest[:],
			verify:  []signature.VerifyOption{options.WithDigest(sha256Digest[:])},
			message: nil,
		},
		{
			name:    "message and digest",
			signer:  viaLoad,
			stdin:   message,
			opts:    []signature.SignOption{options.WithDigest(sha256Digest[:])},
			digest:  sha256Digest[:],
			message: message,
		},
		{
			// When a digest is given it is what gets signed, whatever is on stdin.
			name:    "digest wins over stdin",
			signer:  viaKMS,
			stdin:   other,
			opts:    []signature.SignOption{options.WithDigest(sha256Digest[:])},
			digest:  sha256Digest[:],
			message: message,
		},
		{
			// The hash function of the message options overrides the one the
			// host was loaded with.
			name:    "hash function from message options",
			signer:  viaLoad,
			stdin:   message,
			opts:    []signature.SignOption{options.WithCryptoSignerOpts(crypto.SHA512)},
			digest:  sha512Digest[:],
			verify:  []signature.VerifyOption{options.WithCryptoSignerOpts(crypto.SHA512)},
			message: message,
		},
	}
	for _, tc := range signCases {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := tc.signer.SignMessage(bytes.NewReader(tc.stdin), tc.opts...)
			if err != nil {
				t.Fatalf("SignMessage: %v", err)
			}
			if !ecdsa.VerifyASN1(pub, tc.digest, sig) {
				t.Fatalf("crypto/ecdsa rejects the plugin's signature %x", sig)
			}
			for _, verifier := range []signature.SignerVerifier{viaLoad, viaKMS} {
				if err := verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(tc.message), tc.verify...); err != nil {
					t.Errorf("VerifySignature of a good signature: %v", err)
				}
			}
			// With a digest in the verify options the message is not looked at.
			if !hasDigest(tc.verify) {
				if err := viaLoad.VerifySignature(bytes.NewReader(sig), bytes.NewReader(other), tc.verify...); !errors.Is(err, cliplugin.ErrorPluginReturnError) {
					t.Errorf("VerifySignature over another message: got %v, want a plugin error", err)
				}
			}
			if err := viaLoad.VerifySignature(bytes.NewReader([]byte("bad signature")), bytes.NewReader(tc.message), tc.verify...); !errors.Is(err, cliplugin.ErrorPluginReturnError) {
				t.Errorf("VerifySignature of garbage: got %v, want a plugin error", err)
			}
		})
	}

	t.Run("signature by another key is refused", func(t *testing.T) {
		otherKey, err := ecdsa.GenerateKey(p.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ecdsa.SignASN1(rand.Reader, otherKey, sha256Digest[:])
		if err != nil {
			t.Fatal(err)
		}
		if err := viaKMS.VerifySignature(bytes.NewReader(sig), bytes.NewReader(message)); !errors.Is(err, cliplugin.ErrorPluginReturnError) {
			t.Errorf("VerifySignature: got %v, want a plugin error", err)
		}
	})

	t.Run("digest of the wrong length is refused", func(t *testing.T) {
		_, err := viaLoad.SignMessage(bytes.NewReader(nil), options.WithDigest(sha512Digest[:]))
		if !errors.Is(err, cliplugin.ErrorPluginReturnError) {
			t.Errorf("SignMessage with a 64-byte digest for SHA-256: got %v, want a plugin error", err)
		}
	})

	t.Run("hash function from init options", func(t *testing.T) {
		sv, err := cliplugin.LoadSignerVerifier(ctx, ref, crypto.SHA512)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := sv.SignMessage(bytes.NewReader(message))
		if err != nil {
			t.Fatalf("SignMessage: %v", err)
		}
		if !ecdsa.VerifyASN1(pub, sha512Digest[:], sig) {
			t.Error("crypto/ecdsa rejects a signature made with hashFunc SHA-512 in initOptions")
		}
	})

	t.Run("crypto.Signer", func(t *testing.T) {
		var callbackErr error
		signer, signerOpts, err := viaKMS.CryptoSigner(ctx, func(err error) { callbackErr = err })
		if err != nil {
			t.Fatal(err)
		}
		if signerOpts.HashFunc() != crypto.SHA256 {
			t.Errorf("CryptoSigner hash = %v, want SHA-256", signerOpts.HashFunc())
		}
		if !pub.Equal(signer.Public()) {
			t.Error("crypto.Signer.Public() differs from the plugin's key")
		}
		sig, err := signer.Sign(rand.Reader, sha256Digest[:], crypto.SHA256)
		if err != nil {
			t.Fatalf("crypto.Signer.Sign: %v", err)
		}
		if callbackErr != nil {
			t.Errorf("error callback: %v", callbackErr)
		}
		if !ecdsa.VerifyASN1(pub, sha256Digest[:], sig) {
			t.Error("crypto/ecdsa rejects the crypto.Signer's signature")
		}
	})
}

func hasDigest(opts []signature.VerifyOption) bool {
	var digest []byte
	for _, opt := range opts {
		opt.ApplyDigest(&digest)
	}
	return len(digest) > 0
}

// publicKeyFromWire runs the plugin by hand for publicKey, checks that stdout
// holds exactly one JSON object, and parses the PEM with crypto/x509 alone.
func publicKeyFromWire(t *testing.T, ctx context.Context, executable, keyRef string, curve elliptic.Curve) *ecdsa.PublicKey {
	t.Helper()
	args, err := json.Marshal(map[string]any{
		"initOptions": map[string]any{
			"protocolVersion": "v1",
			"keyResourceID":   keyRef,
			"hashFunc":        int(crypto.SHA256),
			"rpcOptions":      map[string]any{},
		},
		"methodName": "publicKey",
		"publicKey":  map[string]any{"publicKeyOptions": map[string]any{"rpcOptions": map[string]any{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, executable, "v1", string(args))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s publicKey: %v", executable, err)
	}
	var resp struct {
		ErrorMessage string `json:"errorMessage"`
		PublicKey    *struct {
			PublicKeyPEM []byte `json:"publicKeyPEM"`
		} `json:"publicKey"`
	}
	dec := json.NewDecoder(bytes.NewReader(stdout))
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("%s publicKey: stdout %q is not a JSON object: %v", executable, stdout, err)
	}
	if rest, _ := io.ReadAll(dec.Buffered()); len(bytes.TrimSpace(rest)) > 0 {
		t.Fatalf("%s publicKey: stdout holds more than one JSON value: %q", executable, stdout)
	}
	if resp.ErrorMessage != "" || resp.PublicKey == nil {
		t.Fatalf("%s publicKey: %s", executable, stdout)
	}
	block, rest := pem.Decode(resp.PublicKey.PublicKeyPEM)
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) > 0 {
		t.Fatalf("publicKeyPEM is not exactly one PUBLIC KEY PEM block: %q", resp.PublicKey.PublicKeyPEM)
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("publicKeyPEM: %v", err)
	}
	key, ok := parsed.(*ecdsa.PublicKey)
	if !ok || key.Curve != curve {
		t.Fatalf("publicKeyPEM holds a %T, want an ECDSA key on %s", parsed, curve.Params().Name)
	}
	return key
}
