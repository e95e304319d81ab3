// Command sigstore-kms-gokms is a Sigstore KMS plugin written with the Go
// reference's handler package. It keeps ECDSA P-384 (the default) and P-256
// keys in PEM files: the key reference is the file's path, as in
// `gokms:///abs/path/key.pem`.
//
// It exists so that this project's host and conformance suite meet a plugin
// that the Go reference itself drives, with a key type other than the P-256
// of localkms, and so that the benchmarks can set a Go plugin against
// localkms with the same key type.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	// Registered so that crypto.Hash.New works for every hash that signMessage accepts.
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"
)

// defaultAlgorithm is the algorithm of a key made without one.
const defaultAlgorithm = "ecdsa-p384-sha384"

// curves are the algorithms this plugin offers, and their curves.
var curves = map[string]elliptic.Curve{
	"ecdsa-p384-sha384": elliptic.P384(),
	"ecdsa-p256-sha256": elliptic.P256(),
}

// acceptedHashes are the hash functions a caller may ask for. Others (MD5,
// SHA-1, ...) are refused rather than silently used.
var acceptedHashes = map[crypto.Hash]bool{
	crypto.SHA224: true,
	crypto.SHA256: true,
	crypto.SHA384: true,
	crypto.SHA512: true,
}

func main() {
	os.Exit(run(os.Args, os.Stdin, os.Stdout))
}

func run(args []string, stdin io.Reader, stdout io.Writer) int {
	pluginArgs, err := handler.GetPluginArgs(args)
	if err == nil && args[1] != common.ProtocolVersion {
		err = fmt.Errorf("unsupported protocol version %q, this plugin speaks %q", args[1], common.ProtocolVersion)
	}
	if err == nil && pluginArgs.InitOptions == nil {
		err = errors.New("initOptions missing from plugin arguments")
	}
	if err != nil {
		if werr := handler.WriteErrorResponse(stdout, err); werr != nil {
			fmt.Fprintln(os.Stderr, werr)
		}
		return 1
	}
	kms := &fileKMS{
		keyPath:  pluginArgs.InitOptions.KeyResourceID,
		hashFunc: pluginArgs.InitOptions.HashFunc,
	}
	resp, err := handler.Dispatch(stdout, stdin, pluginArgs, kms)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if resp.ErrorMessage != "" {
		return 1
	}
	return 0
}

// fileKMS implements the reference's SignerVerifier over one PEM file.
type fileKMS struct {
	keyPath  string
	hashFunc crypto.Hash
}

func (k *fileKMS) DefaultAlgorithm() string { return defaultAlgorithm }

func (k *fileKMS) SupportedAlgorithms() []string {
	return []string{"ecdsa-p256-sha256", "ecdsa-p384-sha384"}
}

// CreateKey generates a key unless the file already holds one, in which case
// that key is kept: calling it twice, even concurrently, yields one key.
func (k *fileKMS) CreateKey(ctx context.Context, alg string) (crypto.PublicKey, error) {
	curve, ok := curves[alg]
	if !ok {
		return nil, fmt.Errorf("unsupported algorithm %q, supported: %q", alg, k.SupportedAlgorithms())
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := k.checkKeyPath(); err != nil {
		return nil, err
	}
	if key, err := k.loadKey(); err == nil {
		return key.Public(), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	// Written to a temporary file and then hard-linked into place: the link
	// fails if another process won the race, and the key file is never seen
	// half-written.
	tmp, err := os.CreateTemp(filepath.Dir(k.keyPath), ".gokms-*.pem")
	if err != nil {
		return nil, fmt.Errorf("creating key file next to %s: %w", k.keyPath, err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), k.keyPath); err != nil {
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("storing key at %s: %w", k.keyPath, err)
		}
		existing, err := k.loadKey()
		if err != nil {
			return nil, err
		}
		return existing.Public(), nil
	}
	return key.Public(), nil
}

func (k *fileKMS) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	if err := contextError(opts); err != nil {
		return nil, err
	}
	key, err := k.loadKey()
	if err != nil {
		return nil, err
	}
	return key.Public(), nil
}

func (k *fileKMS) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	if err := contextError(opts); err != nil {
		return nil, err
	}
	key, err := k.loadKey()
	if err != nil {
		return nil, err
	}
	digest, err := digestOf(message, k.hashFunc, opts)
	if err != nil {
		return nil, err
	}
	return ecdsa.SignASN1(rand.Reader, key, digest)
}

func (k *fileKMS) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	if err := contextError(opts); err != nil {
		return err
	}
	key, err := k.loadKey()
	if err != nil {
		return err
	}
	sigBytes, err := io.ReadAll(sig)
	if err != nil {
		return err
	}
	digest, err := digestOf(message, k.hashFunc, opts)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(&key.PublicKey, digest, sigBytes) {
		return errors.New("invalid signature")
	}
	return nil
}

// CryptoSigner hands out the key itself: inside the plugin process the key
// is local, so no remote wrapper is needed.
func (k *fileKMS) CryptoSigner(ctx context.Context, _ func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	key, err := k.loadKey()
	if err != nil {
		return nil, nil, err
	}
	return key, k.hashFunc, nil
}

// digestOf returns the bytes to sign: the caller's digest when one is given,
// else the hash of the message. The hash function comes from the message
// options when present, else from the plugin's init options.
func digestOf[O signature.MessageOption](message io.Reader, initHash crypto.Hash, opts []O) ([]byte, error) {
	var given []byte
	var signerOpts crypto.SignerOpts
	for _, opt := range opts {
		opt.ApplyDigest(&given)
		opt.ApplyCryptoSignerOpts(&signerOpts)
	}
	hashFunc := initHash
	if signerOpts != nil {
		hashFunc = signerOpts.HashFunc()
	}
	if !acceptedHashes[hashFunc] {
		return nil, fmt.Errorf("unsupported hash function %v (crypto.Hash %d)", hashFunc, uint(hashFunc))
	}
	if len(given) > 0 {
		if len(given) != hashFunc.Size() {
			return nil, fmt.Errorf("digest is %d bytes, %v digests are %d bytes", len(given), hashFunc, hashFunc.Size())
		}
		return given, nil
	}
	hasher := hashFunc.New()
	if _, err := io.Copy(hasher, message); err != nil {
		return nil, fmt.Errorf("reading the message: %w", err)
	}
	return hasher.Sum(nil), nil
}

func (k *fileKMS) checkKeyPath() error {
	if k.keyPath == "" {
		return errors.New("empty key reference, expected gokms://PATH-TO-KEY.pem")
	}
	return nil
}

func (k *fileKMS) loadKey() (*ecdsa.PrivateKey, error) {
	if err := k.checkKeyPath(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(k.keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading key (create it first with createKey): %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s holds no PEM \"PRIVATE KEY\" block", k.keyPath)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", k.keyPath, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || (key.Curve != elliptic.P384() && key.Curve != elliptic.P256()) {
		return nil, fmt.Errorf("%s does not hold an ECDSA P-256 or P-384 key", k.keyPath)
	}
	return key, nil
}

// contextError reports a deadline the host passed that has already expired.
func contextError[O signature.RPCOption](opts []O) error {
	ctx := context.Background()
	for _, opt := range opts {
		opt.ApplyContext(&ctx)
	}
	return ctx.Err()
}
