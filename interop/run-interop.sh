#!/usr/bin/env bash
# Interoperability with the Go reference (github.com/sigstore/sigstore, the
# version pinned in interop/go.mod, and the newest release, pinned in
# interop/go.v1.11.mod):
#   1. the Go host drives our plugin: the reference's own conformance tests
#      and our Go tests run against sigstore-kms-localkms;
#   2. our host drives Go plugins: sigstore-kms-gokms, built with the
#      reference's handler package.
# Exits non-zero on the first failure.
set -euo pipefail

interop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$interop_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
bin_dir="$interop_dir/bin"
cargo="${CARGO:-cargo}"

# Never fetch a Go toolchain, and fail rather than edit go.mod/go.sum: the
# pinned versions and their checksums are the point of this directory.
export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -mod=readonly"

step() { printf '\n==> %s\n' "$*"; }
# shellcheck source=interop/softhsm.sh
source "$interop_dir/softhsm.sh"
die() { printf 'run-interop: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
command -v "$cargo" >/dev/null || die "$cargo is not on PATH"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step "build sigstore-kms-localkms"
(cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-localkms)
[[ -x "$target_dir/debug/sigstore-kms-localkms" ]] ||
    die "cargo built no $target_dir/debug/sigstore-kms-localkms"

step "build sigstore-kms-gokms into $bin_dir"
(cd "$interop_dir" && go build -o "$bin_dir/sigstore-kms-gokms" ./cmd/sigstore-kms-gokms)

export PATH="$bin_dir:$target_dir/debug:$PATH"
export SIGSTORE_KMS_PLUGIN_PATH="$bin_dir:$target_dir/debug"

# The reference's conformance tests, unmodified, from the module cache,
# against the key REFERENCE (which they create themselves).
reference_conformance_with() {
    local reference="$1"
    step "Go reference conformance tests against $reference"
    (cd "$interop_dir" && go test -count=1 -tags=signer_program \
        github.com/sigstore/sigstore/pkg/signature/kms/cliplugin \
        -args -key-resource-id "$reference")
}

# The same with a fresh key file of plugin NAME.
reference_conformance() {
    local name="$1" key_dir
    key_dir="$(mktemp -d "$work/$name.XXXXXX")"
    reference_conformance_with "$name://$key_dir/key.pem"
}


# ---------------------------------------------------------------------------
# Go host, our plugins
# ---------------------------------------------------------------------------
reference_conformance localkms

# sigstore-kms-hsm over a SoftHSM2 token, one key per algorithm: the
# algorithm in the reference is the plugin's default, which the tests use.
if softhsm_module >/dev/null && command -v softhsm2-util >/dev/null; then
    step "build sigstore-kms-hsm; a SoftHSM2 token in a temporary directory"
    (cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-hsm)
    (
        softhsm_token "$work/hsm" interop
        for algorithm in ecdsa-p256-sha256 ecdsa-p384-sha384 rsa-pkcs1v15-3072-sha256; do
            reference_conformance_with "hsm://token=interop;object=$algorithm?algorithm=$algorithm"
        done
    )
elif [[ "${SIGSTORE_KMS_REQUIRE_SOFTHSM:-}" == 1 ]]; then
    die "SoftHSM2 is not installed, and SIGSTORE_KMS_REQUIRE_SOFTHSM=1"
else
    printf '\nSKIPPING the Go reference conformance tests against sigstore-kms-hsm: SoftHSM2 is not installed\n' >&2
fi

step "Go host tests (cliplugin.LoadSignerVerifier, kms.Get) against localkms and gokms"
(cd "$interop_dir" && go test -count=1 ./...)

# ---------------------------------------------------------------------------
# Our host, Go plugins
# ---------------------------------------------------------------------------
# gokms must first pass the reference's own tests, so that a failure of our
# host against it points at our host.
reference_conformance gokms

step "build sigstore-kms (the CLI) and the conformance suite"
(cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-cli)

gokms_dir="$(mktemp -d "$work/gokms-suite.XXXXXX")"
step "our conformance suite against sigstore-kms-gokms (gokms://$gokms_dir/key.pem)"
(cd "$repo_root/crates/conformance" && "$cargo" test --locked --features signer_program \
    --test signer_program -- --key-resource-id "gokms://$gokms_dir/key.pem")

cli_dir="$(mktemp -d "$work/gokms-cli.XXXXXX")"
key="gokms://$cli_dir/key.pem"
printf 'a blob signed by a Go plugin through the Rust host\n' >"$cli_dir/blob.txt"
step "sigstore-kms generate-key-pair / public-key / sign-blob / verify-blob with $key"
(
    cd "$cli_dir"
    sigstore-kms generate-key-pair --kms "$key"
    grep -q 'BEGIN PUBLIC KEY' cosign.pub || die "cosign.pub holds no public key"
    sigstore-kms public-key --key "$key" --outfile fetched.pub
    cmp cosign.pub fetched.pub || die "public-key differs from what generate-key-pair wrote"
    sigstore-kms sign-blob --key "$key" --output-signature blob.sig blob.txt
    sigstore-kms verify-blob --key "$key" --signature blob.sig blob.txt
    sigstore-kms verify-blob --key cosign.pub --signature blob.sig blob.txt
    # An independent check: sigstore-kms signs the SHA-256 digest for
    # every key type, P-384 included, as stock cosign verifies it.
    base64 -d blob.sig >blob.der
    openssl dgst -sha256 -verify cosign.pub -signature blob.der blob.txt
    printf 'tampered\n' >>blob.txt
    for verifier in "$key" cosign.pub; do
        if sigstore-kms verify-blob --key "$verifier" --signature blob.sig blob.txt 2>/dev/null; then
            die "verify-blob --key $verifier accepted a tampered blob"
        fi
    done
    echo "a tampered blob is refused through gokms and with the PEM"
)

# ---------------------------------------------------------------------------
# The newest sigstore release, whose go.mod asks for Go 1.27: the same tests
# with go.v1.11.mod (and go.v1.11.sum) in place of go.mod, on the toolchain
# that GOTOOLCHAIN=go1.27.3 fetches from the Go module proxy (the only
# download this script makes).
# ---------------------------------------------------------------------------
newest="$(sed -n 's/^\tgithub.com\/sigstore\/sigstore \(v[^ ]*\)$/\1/p' "$interop_dir/go.v1.11.mod")"
(
    export GOTOOLCHAIN=go1.27.3
    export GOFLAGS="$GOFLAGS -modfile=go.v1.11.mod"
    step "sigstore $newest: gokms rebuilt with it, on $(cd "$interop_dir" && go version)"
    (cd "$interop_dir" && go build -o "$bin_dir/sigstore-kms-gokms" ./cmd/sigstore-kms-gokms)
    reference_conformance localkms
    if softhsm_module >/dev/null && command -v softhsm2-util >/dev/null; then
        softhsm_token "$work/hsm-newest" interop
        for algorithm in ecdsa-p256-sha256 ecdsa-p384-sha384 rsa-pkcs1v15-3072-sha256; do
            reference_conformance_with "hsm://token=interop;object=$algorithm?algorithm=$algorithm"
        done
    fi
    step "sigstore $newest: Go host tests against localkms and gokms"
    (cd "$interop_dir" && go test -count=1 ./...)
    reference_conformance gokms
)

step "interop: all checks passed"
