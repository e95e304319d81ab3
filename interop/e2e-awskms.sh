#!/usr/bin/env bash
# sigstore-kms-awskms against a real AWS KMS API on 127.0.0.1 (local-kms),
# and interchangeable with cosign 3's built-in AWS provider on the same
# server:
#   the crate's formatting, lints and licenses (cargo deny), and its own
#   tests (crates/awskms, local-kms started by the test);
#   the conformance suite, and `sigstore-kms plugin check`, against
#   awskms:///alias/...;
#   for P-256, P-384 and RSA-3072 keys, made by cosign (P-256: cosign's
#   generate-key-pair makes no other) and by the plugin: cosign and
#   sigstore-kms each sign, each verifies the other's signature and its own
#   through the key reference, OpenSSL checks every signature (PSS for RSA),
#   and a tampered blob is refused;
#   the endpoint-in-reference form (awskms://127.0.0.1:PORT/...), https
#   through socat with a throwaway certificate trusted by AWS_CA_BUNDLE,
#   for cosign and the plugin alike.
# Every step prints how long it took. Exits non-zero on the first failure.
#
# cosign and local-kms are installed with `go install` into COSIGN_BIN_DIR
# (default .tools/bin) as NAME-VERSION, and reused when already there.
set -euo pipefail

COSIGN_V3_VERSION=v3.1.3
# local-kms publishes no tagged release to the Go module proxy.
LOCAL_KMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6
REGION=eu-west-2

interop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$interop_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
tools_bin="${COSIGN_BIN_DIR:-$repo_root/.tools/bin}"
cargo="${CARGO:-cargo}"
awskms_manifest="$repo_root/crates/awskms/Cargo.toml"
# The AWS SDK takes minutes to build cold: the crate's own target directory
# is kept outside the clone, so that later runs on this machine reuse it.
awskms_target="${AWSKMS_TARGET_DIR:-$HOME/.cache/sigstore-kms-rs/target-awskms}"
awskms_cargo() { (cd "$repo_root" && CARGO_TARGET_DIR="$awskms_target" "$cargo" "$@"); }

export GOTOOLCHAIN=local

# shellcheck source=interop/steps.sh
source "$interop_dir/steps.sh"
die() { printf 'e2e-awskms: %s\n' "$*" >&2; exit 1; }

for tool in go "$cargo" openssl socat python3; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

work="$(mktemp -d)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=interop/go-tools.sh
source "$interop_dir/go-tools.sh"

# free_port: a TCP port nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port PORT PID: until something accepts connections on PORT.
wait_for_port() {
    local _
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || die "process $2 exited before listening on port $1"
        sleep 0.1
    done
    die "nothing listens on port $1"
}

# expect_refusal DESCRIPTION PATTERN COMMAND...: the command must fail, with
# an error matching PATTERN (extended regular expression).
expect_refusal() {
    local what="$1" pattern="$2"
    shift 2
    if "$@" >"$work/refused.log" 2>&1; then
        cat "$work/refused.log" >&2
        die "$what: succeeded, but must fail"
    fi
    if ! grep -qiE "$pattern" "$work/refused.log"; then
        cat "$work/refused.log" >&2
        die "$what: failed, but not with an error matching /$pattern/"
    fi
    printf 'refused as it must be: %s\n' "$what"
}

bad_signature='invalid signature|signature does not verify|failed to verify signature|signature verification failed|verification error'

step "install local-kms $LOCAL_KMS_VERSION and cosign $COSIGN_V3_VERSION into $tools_bin"
local_kms="$(install_go_tool github.com/nsmithuk/local-kms github.com/nsmithuk/local-kms "$LOCAL_KMS_VERSION")"
cosign="$(install_go_tool github.com/sigstore/cosign/v3 \
    github.com/sigstore/cosign/v3/cmd/cosign "$COSIGN_V3_VERSION")"

step "sigstore-kms-awskms: build, formatting, clippy"
awskms_cargo build --locked --manifest-path "$awskms_manifest" --all-targets
awskms_cargo fmt --manifest-path "$awskms_manifest" -- --check
awskms_cargo clippy --locked --manifest-path "$awskms_manifest" --all-targets -- -D warnings

step "sigstore-kms-awskms: cargo deny check licenses bans sources (the project's deny.toml)"
if "$cargo" deny --version >/dev/null 2>&1; then
    (cd "$repo_root" && "$cargo" deny --manifest-path "$awskms_manifest" \
        --config "$repo_root/deny.toml" check licenses bans sources)
elif [[ "${CI:-}" == true ]]; then
    die "cargo deny is not installed (.ci/run installs it)"
else
    printf 'SKIPPING cargo deny: not installed (cargo install --locked cargo-deny)\n' >&2
fi

step "sigstore-kms-awskms: unit tests, and its tests against local-kms"
LOCAL_KMS="$local_kms" SIGSTORE_KMS_REQUIRE_LOCAL_KMS=1 \
    awskms_cargo test --locked --manifest-path "$awskms_manifest"

step "build sigstore-kms and the conformance suite"
(cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-cli)
(cd "$repo_root/crates/conformance" && "$cargo" test --locked --no-run --features signer_program --test signer_program)
export PATH="$awskms_target/debug:$target_dir/debug:$PATH"
command -v sigstore-kms-awskms >/dev/null || die "no sigstore-kms-awskms in $awskms_target/debug"

step "start local-kms on 127.0.0.1, and TLS in front of it (socat)"
port="$(free_port)"
mkdir -p "$work/kms-data"
PORT="$port" KMS_DATA_PATH="$work/kms-data" KMS_REGION="$REGION" \
    "$local_kms" >"$work/local-kms.log" 2>&1 &
pids+=($!)
wait_for_port "$port" "${pids[-1]}"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
    -keyout "$work/tls-key.pem" -out "$work/tls-cert.pem" 2>/dev/null
tls_port="$(free_port)"
socat "OPENSSL-LISTEN:$tls_port,bind=127.0.0.1,reuseaddr,fork,verify=0,cert=$work/tls-cert.pem,key=$work/tls-key.pem" \
    "TCP:127.0.0.1:$port" 2>"$work/socat.log" &
pids+=($!)
wait_for_port "$tls_port" "${pids[-1]}"
printf 'local-kms at http://127.0.0.1:%s, https://127.0.0.1:%s\n' "$port" "$tls_port"

# The standard AWS chain, for cosign and the plugin alike: nothing of the
# machine's own AWS configuration.
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION="$REGION"
export AWS_ACCESS_KEY_ID=e2e AWS_SECRET_ACCESS_KEY=e2e AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$work/no-aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/no-aws-credentials"
unset AWS_PROFILE AWS_DEFAULT_REGION AWS_TLS_INSECURE_SKIP_VERIFY AWS_CA_BUNDLE

step "conformance suite against awskms:///alias/conformance"
(cd "$repo_root/crates/conformance" && "$cargo" test --locked --features signer_program \
    --test signer_program -- --key-resource-id awskms:///alias/conformance)
step "sigstore-kms plugin check awskms:///alias/plugin-check"
sigstore-kms plugin check awskms:///alias/plugin-check

# openssl_verify PEM SIGNATURE_BASE64_FILE BLOB DGST-FLAGS...: an
# independent check of a raw signature.
openssl_verify() {
    local pem="$1" sig="$2" blob="$3"
    shift 3
    openssl base64 -d -A -in "$sig" -out "$sig.der"
    [[ -s "$sig.der" ]] || die "$sig holds no base64 signature"
    openssl dgst "$@" -verify "$pem" -signature "$sig.der" "$blob"
}

# round_trip LABEL REFERENCE MADE-BY: cosign and sigstore-kms sign with the
# key; each verifies both signatures through the reference; OpenSSL checks
# both; tampered.txt is refused by everyone.
round_trip() {
    local label="$1" key="$2" made_by="$3" dir ours_flags=() openssl_flags=()
    dir="$(mktemp -d "$work/${label// /-}.XXXXXX")"
    cd "$dir"
    printf 'a blob signed with %s (made by %s)\n' "$label" "$made_by" >blob.txt
    printf 'not the blob that was signed\n' >tampered.txt
    case "$label" in
    P-256) openssl_flags=(-sha256) ;;
    P-384) openssl_flags=(-sha384); ours_flags=(--signature-digest-algorithm sha384) ;;
    RSA-3072) openssl_flags=(-sha256 -sigopt rsa_padding_mode:pss) ;;
    esac

    step "$label made by $made_by: public keys agree ($key)"
    "$cosign" public-key --key "$key" --outfile cosign-public.pem
    sigstore-kms public-key --key "$key" --outfile ours-public.pem
    cmp cosign-public.pem ours-public.pem || die "cosign and sigstore-kms answer different public keys for $key"

    step "$label made by $made_by: cosign sign-blob; OpenSSL, sigstore-kms and cosign verify"
    "$cosign" sign-blob --yes --key "$key" --use-signing-config=false --tlog-upload=false \
        --new-bundle-format=false --output-signature cosign.sig blob.txt
    openssl_verify cosign-public.pem cosign.sig blob.txt "${openssl_flags[@]}"

    step "$label made by $made_by: sigstore-kms sign-blob; OpenSSL, cosign and sigstore-kms verify"
    if [[ "$label" == P-384 ]]; then
        expect_refusal "sigstore-kms sign-blob of a P-384 key with SHA-256" \
            'signs with ECDSA_SHA_384.*--signature-digest-algorithm sha384' \
            sigstore-kms sign-blob --key "$key" --output-signature refused.sig blob.txt
    fi
    sigstore-kms sign-blob --key "$key" "${ours_flags[@]}" --output-signature ours.sig blob.txt
    openssl_verify cosign-public.pem ours.sig blob.txt "${openssl_flags[@]}"

    local sig
    for sig in cosign.sig ours.sig; do
        "$cosign" verify-blob --key "$key" --insecure-ignore-tlog=true --signature "$sig" blob.txt
        expect_refusal "cosign verify-blob of $sig over a tampered blob" "$bad_signature" \
            "$cosign" verify-blob --key "$key" --insecure-ignore-tlog=true --signature "$sig" tampered.txt
        sigstore-kms verify-blob --key "$key" "${ours_flags[@]}" --signature "$sig" blob.txt
        expect_refusal "sigstore-kms verify-blob of $sig over a tampered blob" "$bad_signature" \
            sigstore-kms verify-blob --key "$key" "${ours_flags[@]}" --signature "$sig" tampered.txt
        if ! openssl_verify cosign-public.pem "$sig" tampered.txt "${openssl_flags[@]}" >/dev/null 2>&1; then
            printf 'refused as it must be: OpenSSL over a tampered blob (%s)\n' "$sig"
        else
            die "OpenSSL verified $sig over tampered.txt"
        fi
    done
    cd "$repo_root"
}

step "keys made by cosign 3 (generate-key-pair --kms; P-256, its default)"
mkdir -p "$work/cosign-made" && cd "$work/cosign-made"
"$cosign" generate-key-pair --kms awskms:///alias/cosign-p256
cd "$repo_root"
round_trip P-256 awskms:///alias/cosign-p256 cosign

step "keys made by sigstore-kms-awskms (generate-key-pair --kms --algorithm)"
for spec in ECC_NIST_P256 ECC_NIST_P384 RSA_3072; do
    mkdir -p "$work/ours-made-$spec" && (cd "$work/ours-made-$spec" &&
        sigstore-kms generate-key-pair --kms "awskms:///alias/ours-$spec" --algorithm "$spec")
done
round_trip P-256 awskms:///alias/ours-ECC_NIST_P256 sigstore-kms-awskms
round_trip P-384 awskms:///alias/ours-ECC_NIST_P384 sigstore-kms-awskms
round_trip RSA-3072 awskms:///alias/ours-RSA_3072 sigstore-kms-awskms

step "endpoint in the reference: https://127.0.0.1:$tls_port, trusted through AWS_CA_BUNDLE"
export AWS_CA_BUNDLE="$work/tls-cert.pem"
# Nothing listens here: only the reference's endpoint can work.
export AWS_ENDPOINT_URL="http://127.0.0.1:9"
mkdir -p "$work/tls" && (cd "$work/tls" &&
    "$cosign" generate-key-pair --kms "awskms://127.0.0.1:$tls_port/alias/over-tls")
round_trip P-256 "awskms://127.0.0.1:$tls_port/alias/over-tls" "cosign over TLS"
unset AWS_CA_BUNDLE
expect_refusal "sigstore-kms with an untrusted endpoint certificate" 'certificate|tls|handshake|dispatch' \
    sigstore-kms public-key --key "awskms://127.0.0.1:$tls_port/alias/over-tls"

end_step
printf '\n==> e2e-awskms: all checks passed in %ds\n' "$SECONDS"
