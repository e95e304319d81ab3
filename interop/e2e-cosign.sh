#!/usr/bin/env bash
# cosign end to end through sigstore-kms-localkms, offline: no transparency
# log, no TUF, no network. For each pinned cosign release:
#   generate-key-pair --kms, public-key --key, sign-blob --key, and
#   verify-blob with the plugin key and with the cosign.pub PEM,
# plus a tampered blob that every verifier must refuse and an OpenSSL check
# of the raw signature. Exits non-zero on the first failure.
#
# cosign is installed with `go install` into .tools/bin (COSIGN_BIN_DIR) as
# cosign-VERSION, and reused when already there.
set -euo pipefail

# Pinned releases: the newest of each major line whose go.mod the local Go
# toolchain accepts.
COSIGN_V3_VERSION=v3.1.3
COSIGN_V2_VERSION=v2.6.5

interop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$interop_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
tools_bin="${COSIGN_BIN_DIR:-$repo_root/.tools/bin}"
cargo="${CARGO:-cargo}"

export GOTOOLCHAIN=local

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'e2e-cosign: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
command -v "$cargo" >/dev/null || die "$cargo is not on PATH"
command -v openssl >/dev/null || die "openssl is not on PATH"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# reports_version EXE VERSION: EXE runs and says it is VERSION.
reports_version() {
    local out
    out="$("$1" version 2>&1)" || return 1
    [[ "$out" =~ GitVersion:\ +"$2"($'\n'|$) ]]
}

# install_cosign MODULE VERSION: prints the path of cosign-VERSION.
install_cosign() {
    local module="$1" version="$2" exe="$tools_bin/cosign-$2" gobin start
    if [[ -x "$exe" ]] && reports_version "$exe" "$version"; then
        printf '%s already installed\n' "$exe" >&2
    else
        gobin="$(mktemp -d "$work/gobin.XXXXXX")"
        start=$SECONDS
        # Outside any module, so that cosign's own go.mod decides every version.
        (cd "$work" && GOBIN="$gobin" go install "$module/cmd/cosign@$version") >&2
        mkdir -p "$tools_bin"
        mv "$gobin/cosign" "$exe"
        printf 'installed %s in %ds\n' "$exe" $((SECONDS - start)) >&2
    fi
    reports_version "$exe" "$version" || die "$exe does not report version $version"
    printf '%s\n' "$exe"
}

# expect_bad_signature DESCRIPTION COMMAND...: the command must fail, and
# because of the signature (not, say, for want of the network).
expect_bad_signature() {
    local what="$1"
    shift
    if "$@" >"$work/refused.log" 2>&1; then
        cat "$work/refused.log" >&2
        die "$what: succeeded, but must fail"
    fi
    if ! grep -qiE '^Error: .*(invalid signature|signature does not verify|failed to verify signature)' "$work/refused.log"; then
        cat "$work/refused.log" >&2
        die "$what: failed, but not with a signature error"
    fi
    printf 'refused as it must be: %s\n' "$what"
}

# openssl_verify PEM SIGNATURE_BASE64_FILE BLOB: an independent check of a
# raw ECDSA signature over SHA-256.
openssl_verify() {
    local der="$2.der"
    openssl base64 -d -A -in "$2" -out "$der"
    [[ -s "$der" ]] || die "$2 holds no base64 signature"
    openssl dgst -sha256 -verify "$1" -signature "$der" "$3"
}

# cosign_round_trip COSIGN VERSION-LABEL SIGN-FLAGS... -- VERIFY-FLAGS...
# Works in a fresh directory with a fresh localkms key, and leaves that
# directory (blob.txt, blob.sig, cosign.pub, key.pem) in round_trip_dir.
cosign_round_trip() {
    local cosign="$1" label="$2"
    shift 2
    local sign_flags=() verify_flags=()
    while [[ $# -gt 0 && "$1" != "--" ]]; do sign_flags+=("$1"); shift; done
    [[ $# -gt 0 ]] || die "cosign_round_trip: missing --"
    shift
    verify_flags=("$@")

    local dir key
    dir="$(mktemp -d "$work/$label.XXXXXX")"
    key="localkms://$dir/key.pem"
    cd "$dir"
    printf 'a blob signed by cosign %s through localkms\n' "$label" >blob.txt
    printf 'not the blob that was signed\n' >tampered.txt

    step "cosign $label: generate-key-pair --kms $key"
    "$cosign" generate-key-pair --kms "$key"
    grep -q -- '-----BEGIN PUBLIC KEY-----' cosign.pub || die "cosign.pub holds no public key"
    [[ -s "$dir/key.pem" ]] || die "localkms created no key file at $dir/key.pem"

    step "cosign $label: public-key --key $key"
    "$cosign" public-key --key "$key" --outfile public-key.pem
    cmp cosign.pub public-key.pem || die "public-key differs from the cosign.pub of generate-key-pair"

    step "cosign $label: sign-blob --key $key ${sign_flags[*]}"
    "$cosign" sign-blob --yes --key "$key" "${sign_flags[@]}" --output-signature blob.sig blob.txt
    [[ -s blob.sig ]] || die "sign-blob wrote no signature"
    openssl_verify cosign.pub blob.sig blob.txt

    local verifier
    for verifier in "$key" cosign.pub; do
        step "cosign $label: verify-blob --key $verifier ${verify_flags[*]}"
        "$cosign" verify-blob --key "$verifier" "${verify_flags[@]}" --signature blob.sig blob.txt
        expect_bad_signature "cosign $label verify-blob --key $verifier of a tampered blob" \
            "$cosign" verify-blob --key "$verifier" "${verify_flags[@]}" --signature blob.sig tampered.txt
    done
    round_trip_dir="$dir"
    cd "$repo_root"
}

# cosign 3 writes a bundle by default; the new-format bundle must round-trip
# through the plugin as well.
cosign_bundle_round_trip() {
    local cosign="$1" label="$2" dir key
    dir="$(mktemp -d "$work/$label-bundle.XXXXXX")"
    key="localkms://$dir/key.pem"
    cd "$dir"
    printf 'a blob in a bundle signed by cosign %s\n' "$label" >blob.txt
    printf 'not the blob that was signed\n' >tampered.txt

    step "cosign $label: sign-blob --bundle (new bundle format), verify-blob --bundle"
    "$cosign" generate-key-pair --kms "$key"
    "$cosign" sign-blob --yes --key "$key" --use-signing-config=false --tlog-upload=false \
        --bundle blob.bundle blob.txt
    grep -q '"messageSignature"' blob.bundle || die "blob.bundle holds no message signature"
    local verifier
    for verifier in "$key" cosign.pub; do
        "$cosign" verify-blob --key "$verifier" --insecure-ignore-tlog=true --bundle blob.bundle blob.txt
        expect_bad_signature "cosign $label verify-blob --bundle --key $verifier of a tampered blob" \
            "$cosign" verify-blob --key "$verifier" --insecure-ignore-tlog=true --bundle blob.bundle tampered.txt
    done
    cd "$repo_root"
}

step "build sigstore-kms-localkms and sigstore-kms"
(cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-localkms -p sigstore-kms-cli)
[[ -x "$target_dir/debug/sigstore-kms-localkms" ]] ||
    die "cargo built no $target_dir/debug/sigstore-kms-localkms"
export PATH="$target_dir/debug:$PATH"

step "install cosign $COSIGN_V3_VERSION and $COSIGN_V2_VERSION into $tools_bin"
cosign_v3="$(install_cosign github.com/sigstore/cosign/v3 "$COSIGN_V3_VERSION")"
cosign_v2="$(install_cosign github.com/sigstore/cosign/v2 "$COSIGN_V2_VERSION")"

# ---------------------------------------------------------------------------
# cosign 3.x
# ---------------------------------------------------------------------------
# sign-blob: --use-signing-config=false (else TUF is fetched for a signing
# config), --tlog-upload=false (else the entry goes to Rekor),
# --new-bundle-format=false for a bare signature file.
# verify-blob: --insecure-ignore-tlog=true (else TUF is fetched for the
# trusted root).
cosign_round_trip "$cosign_v3" "$COSIGN_V3_VERSION" \
    --use-signing-config=false --tlog-upload=false --new-bundle-format=false \
    -- --insecure-ignore-tlog=true
v3_dir="$round_trip_dir"
cosign_bundle_round_trip "$cosign_v3" "$COSIGN_V3_VERSION"

# ---------------------------------------------------------------------------
# cosign 2.x
# ---------------------------------------------------------------------------
# sign-blob: --tlog-upload=false. verify-blob: --insecure-ignore-tlog=true.
cosign_round_trip "$cosign_v2" "$COSIGN_V2_VERSION" \
    --tlog-upload=false \
    -- --insecure-ignore-tlog=true
v2_dir="$round_trip_dir"

# ---------------------------------------------------------------------------
# Across tools
# ---------------------------------------------------------------------------
# cosign 3 hands localkms a digest and cosign 2 the whole blob: each release
# verifies, through the plugin and with the PEM, what the other signed.
cross_verify() {
    local cosign="$1" label="$2" dir="$3" verifier
    for verifier in "localkms://$dir/key.pem" "$dir/cosign.pub"; do
        step "cosign $label: verify-blob --key $verifier of a signature made by the other release"
        "$cosign" verify-blob --key "$verifier" --insecure-ignore-tlog=true \
            --signature "$dir/blob.sig" "$dir/blob.txt"
    done
}
cross_verify "$cosign_v3" "$COSIGN_V3_VERSION" "$v2_dir"
cross_verify "$cosign_v2" "$COSIGN_V2_VERSION" "$v3_dir"

# sigstore-kms and cosign, both ways, on the same localkms key: what one
# signs, the other verifies, through the plugin and with the PEM.
tools_across() {
    local cosign="$1" label="$2" dir="$3" key verifier
    key="localkms://$dir/key.pem"
    cd "$dir"
    printf 'a blob signed by sigstore-kms for cosign %s\n' "$label" >ours.txt
    step "sigstore-kms sign-blob, then cosign $label verify-blob"
    sigstore-kms sign-blob --key "$key" --output-signature ours.sig ours.txt
    for verifier in "$key" cosign.pub; do
        "$cosign" verify-blob --key "$verifier" --insecure-ignore-tlog=true \
            --signature ours.sig ours.txt
    done
    step "cosign $label sign-blob (blob.sig), then sigstore-kms verify-blob"
    for verifier in "$key" cosign.pub; do
        sigstore-kms verify-blob --key "$verifier" --signature blob.sig blob.txt
        if sigstore-kms verify-blob --key "$verifier" --signature blob.sig tampered.txt 2>/dev/null; then
            die "sigstore-kms verify-blob --key $verifier accepted a tampered blob"
        fi
    done
    cd "$repo_root"
}
tools_across "$cosign_v3" "$COSIGN_V3_VERSION" "$v3_dir"
tools_across "$cosign_v2" "$COSIGN_V2_VERSION" "$v2_dir"

# ---------------------------------------------------------------------------
# cosign with an HSM: sigstore-kms-hsm over a SoftHSM2 token
# ---------------------------------------------------------------------------
softhsm_module() {
    local candidate
    for candidate in /usr/lib/softhsm/libsofthsm2.so \
        /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/local/lib/softhsm/libsofthsm2.so; do
        [[ -f "$candidate" ]] && { printf '%s\n' "$candidate"; return 0; }
    done
    return 1
}

cosign_hsm() {
    local cosign="$1" label="$2" dir key verifier
    shift 2
    dir="$(mktemp -d "$work/hsm-$label.XXXXXX")"
    key="hsm://token=e2e;object=cosign-$label"
    cd "$dir"
    printf 'a blob signed by cosign %s inside a PKCS#11 token\n' "$label" >blob.txt
    printf 'not the blob that was signed\n' >tampered.txt
    step "cosign $label with an HSM: generate-key-pair, sign-blob, verify-blob ($key)"
    "$cosign" generate-key-pair --kms "$key"
    "$cosign" sign-blob --yes --key "$key" "$@" --output-signature blob.sig blob.txt
    openssl_verify cosign.pub blob.sig blob.txt
    for verifier in "$key" cosign.pub; do
        "$cosign" verify-blob --key "$verifier" --insecure-ignore-tlog=true \
            --signature blob.sig blob.txt
        expect_bad_signature "cosign $label verify-blob --key $verifier (HSM) of a tampered blob" \
            "$cosign" verify-blob --key "$verifier" --insecure-ignore-tlog=true \
            --signature blob.sig tampered.txt
    done
    step "sigstore-kms verify-blob of the HSM signature, and cosign $label verify-blob of a sigstore-kms one"
    sigstore-kms verify-blob --key "$key" --signature blob.sig blob.txt
    sigstore-kms sign-blob --key "$key" --output-signature ours.sig blob.txt
    "$cosign" verify-blob --key cosign.pub --insecure-ignore-tlog=true --signature ours.sig blob.txt
    cd "$repo_root"
}

if module="$(softhsm_module)" && command -v softhsm2-util >/dev/null; then
    step "build sigstore-kms-hsm; a SoftHSM2 token in a temporary directory"
    (cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-hsm)
    mkdir -p "$work/hsm/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$work/hsm/tokens" >"$work/hsm/softhsm2.conf"
    export SOFTHSM2_CONF="$work/hsm/softhsm2.conf"
    softhsm2-util --init-token --free --label e2e --pin 123456 --so-pin 12345678 >/dev/null
    export SIGSTORE_KMS_HSM_MODULE="$module" SIGSTORE_KMS_HSM_PIN=123456
    cosign_hsm "$cosign_v3" "$COSIGN_V3_VERSION" \
        --use-signing-config=false --tlog-upload=false --new-bundle-format=false
    cosign_hsm "$cosign_v2" "$COSIGN_V2_VERSION" --tlog-upload=false
elif [[ "${SIGSTORE_KMS_REQUIRE_SOFTHSM:-}" == 1 ]]; then
    die "SoftHSM2 is not installed, and SIGSTORE_KMS_REQUIRE_SOFTHSM=1"
else
    printf '\nSKIPPING cosign with an HSM: SoftHSM2 (softhsm2-util and its module) is not installed\n' >&2
fi

# ---------------------------------------------------------------------------
# cosign through `sigstore-kms-hsm agent`: the token logged in once by the
# agent; the plugin, without module or PIN of its own, forwards each call
# over the agent's socket. Self-contained: its own token directory and token.
# ---------------------------------------------------------------------------

# cosign_hsm_agent COSIGN VERSION-LABEL SIGN-FLAGS...: generate-key-pair,
# sign-blob and verify-blob (plugin key and PEM, tampered blob refused),
# OpenSSL's verdict, all with SIGSTORE_KMS_HSM_AGENT set.
cosign_hsm_agent() {
    local cosign="$1" label="$2" dir key verifier
    shift 2
    dir="$(mktemp -d "$work/hsm-agent-$label.XXXXXX")"
    key="hsm://token=e2e-agent;object=cosign-$label"
    cd "$dir"
    printf 'a blob signed by cosign %s through sigstore-kms-hsm agent\n' "$label" >blob.txt
    printf 'not the blob that was signed\n' >tampered.txt
    step "cosign $label through the agent: generate-key-pair, sign-blob, verify-blob ($key)"
    "$cosign" generate-key-pair --kms "$key"
    "$cosign" sign-blob --yes --key "$key" "$@" --output-signature blob.sig blob.txt
    openssl_verify cosign.pub blob.sig blob.txt
    for verifier in "$key" cosign.pub; do
        "$cosign" verify-blob --key "$verifier" --insecure-ignore-tlog=true \
            --signature blob.sig blob.txt
        expect_bad_signature "cosign $label verify-blob --key $verifier (agent) of a tampered blob" \
            "$cosign" verify-blob --key "$verifier" --insecure-ignore-tlog=true \
            --signature blob.sig tampered.txt
    done
    cd "$repo_root"
}

# hsm_agent_section: a token, an agent in the background, cosign 3 and 2
# through it, the agent's log checked, and --stop removing the socket. Runs
# in a subshell: its variables stay there.
hsm_agent_section() (
    local module agent_dir log socket lines
    module="$(softhsm_module)"
    step "sigstore-kms-hsm agent: build; a SoftHSM2 token of its own; the agent in the background"
    (cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-hsm)
    agent_dir="$work/hsm-agent"
    mkdir -p "$agent_dir/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$agent_dir/tokens" >"$agent_dir/softhsm2.conf"
    export SOFTHSM2_CONF="$agent_dir/softhsm2.conf"
    softhsm2-util --init-token --free --label e2e-agent --pin 123456 --so-pin 12345678 >/dev/null
    log="$agent_dir/agent.log"
    eval "$(SIGSTORE_KMS_HSM_MODULE="$module" SIGSTORE_KMS_HSM_PIN=123456 \
        sigstore-kms-hsm agent --token e2e-agent --log "$log")"
    socket="${SIGSTORE_KMS_HSM_AGENT:-}"
    [[ -S "$socket" ]] || die "sigstore-kms-hsm agent printed no socket"
    # Without these the plugin cannot log in by itself: every call below
    # must go through the agent.
    unset SIGSTORE_KMS_HSM_MODULE SIGSTORE_KMS_HSM_PIN
    cosign_hsm_agent "$cosign_v3" "$COSIGN_V3_VERSION" \
        --use-signing-config=false --tlog-upload=false --new-bundle-format=false
    cosign_hsm_agent "$cosign_v2" "$COSIGN_V2_VERSION" --tlog-upload=false
    lines="$(grep -c 'signMessage token=e2e-agent object="cosign-.*": ok' "$log" || true)"
    [[ "$lines" -ge 2 ]] || die "the agent's log shows $lines signatures, not 2: $(cat "$log")"
    ! grep -q 123456 "$log" || die "the agent's log shows the PIN"
    step "sigstore-kms-hsm agent --stop"
    eval "$(sigstore-kms-hsm agent --stop)"
    [[ ! -e "$socket" ]] || die "the stopped agent left its socket $socket"
    [[ -z "${SIGSTORE_KMS_HSM_AGENT:-}" ]] || die "agent --stop did not unset SIGSTORE_KMS_HSM_AGENT"
)

if softhsm_module >/dev/null && command -v softhsm2-util >/dev/null; then
    hsm_agent_section
elif [[ "${SIGSTORE_KMS_REQUIRE_SOFTHSM:-}" == 1 ]]; then
    die "SoftHSM2 is not installed, and SIGSTORE_KMS_REQUIRE_SOFTHSM=1"
else
    printf '\nSKIPPING cosign through sigstore-kms-hsm agent: SoftHSM2 is not installed\n' >&2
fi

step "e2e-cosign: all checks passed"
