#!/usr/bin/env bash
# cosign end to end through our plugins, offline: no transparency log, no
# TUF, no network but an OCI registry on 127.0.0.1. For each key type
# (localkms P-256; sigstore-kms-hsm over SoftHSM2 with P-256, P-384 and
# RSA-3072) and each pinned cosign release:
#   generate-key-pair --kms, public-key --key;
#   cosign sign-blob (bare, and a bundle with cosign 3) and sigstore-kms
#   sign-blob (bare and --bundle), each signature checked by OpenSSL,
#   verified by cosign and by sigstore-kms with the plugin key and with the
#   cosign.pub PEM, a tampered blob refused;
#   cosign sign and cosign verify of an image pushed to the registry.
# Every step prints how long it took. Exits non-zero on the first failure.
#
# cosign, and go-containerregistry's registry and crane, are installed with
# `go install` into .tools/bin (COSIGN_BIN_DIR) as NAME-VERSION, and reused
# when already there.
set -euo pipefail

# Pinned releases: the newest of each major line whose go.mod the local Go
# toolchain accepts.
COSIGN_V3_VERSION=v3.1.3
COSIGN_V2_VERSION=v2.6.5
# go-containerregistry: the version cosign v3.1.3 itself builds with.
GGCR_VERSION=v0.21.7

interop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$interop_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
tools_bin="${COSIGN_BIN_DIR:-$repo_root/.tools/bin}"
cargo="${CARGO:-cargo}"

export GOTOOLCHAIN=local

# shellcheck source=interop/steps.sh
source "$interop_dir/steps.sh"
# shellcheck source=interop/softhsm.sh
source "$interop_dir/softhsm.sh"
# shellcheck source=interop/go-tools.sh
source "$interop_dir/go-tools.sh"

die() { printf 'e2e-cosign: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
command -v "$cargo" >/dev/null || die "$cargo is not on PATH"
command -v openssl >/dev/null || die "openssl is not on PATH"

work="$(mktemp -d)"
registry_pid=""
cleanup() {
    if [[ -n "$registry_pid" ]]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# expect_bad_signature DESCRIPTION COMMAND...: the command must fail, and
# because of the signature (not, say, for want of the network).
expect_bad_signature() {
    local what="$1"
    shift
    if "$@" >"$work/refused.log" 2>&1; then
        cat "$work/refused.log" >&2
        die "$what: succeeded, but must fail"
    fi
    if ! grep -qiE '^Error: .*(invalid signature|signature does not verify|failed to verify signature|signature verification failed|crypto/rsa: verification error)' "$work/refused.log"; then
        cat "$work/refused.log" >&2
        die "$what: failed, but not with a signature error"
    fi
    printf 'refused as it must be: %s\n' "$what"
}

# openssl_verify PEM SIGNATURE_BASE64_FILE BLOB: an independent check of a
# raw signature (ECDSA or RSA PKCS#1 v1.5) over the SHA-256 digest of BLOB.
openssl_verify() {
    local der="$2.der"
    openssl base64 -d -A -in "$2" -out "$der"
    [[ -s "$der" ]] || die "$2 holds no base64 signature"
    openssl dgst -sha256 -verify "$1" -signature "$der" "$3"
}

# bundle_field BUNDLE FIELD: the string value of "FIELD" in a one-line JSON
# bundle (the signature, the digest algorithm).
bundle_field() {
    sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p" "$1"
}

# openssl_verify_bundle PEM BUNDLE BLOB: OpenSSL checks the signature a
# bundle holds over SHA-256 of BLOB.
openssl_verify_bundle() {
    bundle_field "$2" signature >"$2.sig"
    openssl_verify "$1" "$2.sig" "$3"
}

# Flags each cosign needs to work offline (see interop/README.md).
cosign_offline_sign_flags() {
    case "$1" in
    v3) printf '%s\n' --use-signing-config=false --tlog-upload=false ;;
    v2) printf '%s\n' --tlog-upload=false ;;
    esac
}

# verify_both_ways WHO VERIFY-COMMAND... -- KEY EVIDENCE-FLAG EVIDENCE:
# the verifier accepts blob.txt and refuses tampered.txt, with the plugin
# key and with cosign.pub.
verify_both_ways() {
    local who="$1" verifier
    shift
    local command=()
    while [[ "$1" != "--" ]]; do command+=("$1"); shift; done
    local key="$2" flag="$3" evidence="$4"
    shift 4
    for verifier in "$key" cosign.pub; do
        "${command[@]}" --key "$verifier" "$flag" "$evidence" "$@" blob.txt
        expect_bad_signature "$who --key $verifier $flag $evidence of a tampered blob" \
            "${command[@]}" --key "$verifier" "$flag" "$evidence" "$@" tampered.txt
    done
}

# key_type_round_trip LABEL KEY: both cosign releases and sigstore-kms with
# one key: each signs, every tool verifies, OpenSSL checks; images too.
key_type_round_trip() {
    local label="$1" key="$2" dir release cosign
    dir="$(mktemp -d "$work/$label.XXXXXX")"
    for release in v3 v2; do
        [[ $release == v3 ]] && cosign="$cosign_v3" || cosign="$cosign_v2"
        mkdir -p "$dir/$release"
        cd "$dir/$release"
        printf 'a blob signed with %s under cosign %s\n' "$label" "$release" >blob.txt
        printf 'not the blob that was signed\n' >tampered.txt
        local sign_flags=()
        mapfile -t sign_flags < <(cosign_offline_sign_flags "$release")
        local cosign_verify=("$cosign" verify-blob --insecure-ignore-tlog=true)
        local ours_verify=(sigstore-kms verify-blob)

        step "$label, cosign $release: generate-key-pair --kms $key, public-key"
        "$cosign" generate-key-pair --kms "$key"
        grep -q -- '-----BEGIN PUBLIC KEY-----' cosign.pub || die "cosign.pub holds no public key"
        "$cosign" public-key --key "$key" --outfile public-key.pem
        cmp cosign.pub public-key.pem || die "public-key differs from the cosign.pub of generate-key-pair"

        step "$label, cosign $release: sign-blob (bare); OpenSSL, cosign and sigstore-kms verify"
        local bare_flags=()
        [[ $release == v3 ]] && bare_flags=(--new-bundle-format=false)
        "$cosign" sign-blob --yes --key "$key" "${sign_flags[@]}" "${bare_flags[@]}" \
            --output-signature cosign.sig blob.txt
        openssl_verify cosign.pub cosign.sig blob.txt
        verify_both_ways "cosign $release" "${cosign_verify[@]}" -- "$key" --signature cosign.sig
        verify_both_ways sigstore-kms "${ours_verify[@]}" -- "$key" --signature cosign.sig

        if [[ $release == v3 ]]; then
            step "$label, cosign v3: sign-blob --bundle; OpenSSL, cosign and sigstore-kms verify"
            "$cosign" sign-blob --yes --key "$key" "${sign_flags[@]}" --bundle cosign.bundle blob.txt
            openssl_verify_bundle cosign.pub cosign.bundle blob.txt
            verify_both_ways "cosign v3" "${cosign_verify[@]}" -- "$key" --bundle cosign.bundle
            local recorded
            recorded="$(bundle_field cosign.bundle algorithm)"
            if [[ "$recorded" == SHA2_256 ]]; then
                verify_both_ways sigstore-kms "${ours_verify[@]}" -- "$key" --bundle cosign.bundle
            else
                # cosign 3 records the SHA-384 digest of the blob for a
                # P-384 key while the signature is over its SHA-256 digest
                # (what cosign verifies): sigstore-kms says so, and accepts
                # it when told the hash.
                [[ "$label" == *P-384* && "$recorded" == SHA2_384 ]] ||
                    die "cosign v3 recorded $recorded for $label"
                if sigstore-kms verify-blob --key cosign.pub --bundle cosign.bundle blob.txt 2>refused.log ||
                    ! grep -q 'pass --signature-digest-algorithm sha256' refused.log; then
                    cat refused.log >&2
                    die "sigstore-kms verify-blob of cosign 3's P-384 bundle did not name SHA-256"
                fi
                verify_both_ways sigstore-kms "${ours_verify[@]}" -- "$key" --bundle cosign.bundle \
                    --signature-digest-algorithm sha256
            fi
        fi

        step "$label, cosign $release: sigstore-kms sign-blob (bare); OpenSSL, cosign and sigstore-kms verify"
        sigstore-kms sign-blob --key "$key" --output-signature ours.sig blob.txt
        openssl_verify cosign.pub ours.sig blob.txt
        verify_both_ways "cosign $release" "${cosign_verify[@]}" -- "$key" --signature ours.sig
        verify_both_ways sigstore-kms "${ours_verify[@]}" -- "$key" --signature ours.sig

        step "$label, cosign $release: sigstore-kms sign-blob --bundle; OpenSSL, sigstore-kms (and cosign 3) verify"
        sigstore-kms sign-blob --key "$key" --bundle ours.bundle --output-signature ours-bundle.sig blob.txt
        openssl_verify_bundle cosign.pub ours.bundle blob.txt
        verify_both_ways sigstore-kms "${ours_verify[@]}" -- "$key" --bundle ours.bundle
        if [[ $release == v3 ]]; then
            verify_both_ways "cosign v3" "${cosign_verify[@]}" -- "$key" --bundle ours.bundle
        fi

        step "$label, cosign $release: sign and verify an image in the registry"
        local image="$registry/e2e/${label// /-}-$release"
        image="${image,,}"
        printf 'layer of %s %s\n' "$label" "$release" >layer.txt
        tar -cf layer.tar layer.txt
        "$crane" append -f layer.tar -t "$image:latest" 2>crane.log || { cat crane.log >&2; die "crane append to $image failed"; }
        local digest
        digest="$("$crane" digest "$image:latest")"
        "$cosign" sign --yes --key "$key" "${sign_flags[@]}" "$image@$digest"
        local verifier
        for verifier in "$key" cosign.pub; do
            "$cosign" verify --key "$verifier" --insecure-ignore-tlog=true "$image@$digest" >verified.json
            grep -q "$digest" verified.json || die "cosign verify printed no claim for $image@$digest"
        done
        # Another image, unsigned: no signature is found for it.
        printf 'unsigned\n' >layer.txt
        tar -cf layer.tar layer.txt
        "$crane" append -f layer.tar -t "$image-unsigned:latest" 2>crane.log
        if "$cosign" verify --key cosign.pub --insecure-ignore-tlog=true "$image-unsigned:latest" >/dev/null 2>&1; then
            die "cosign $release verify accepted an unsigned image"
        fi
    done

    step "$label: each cosign release verifies the other's bare signature"
    "$cosign_v3" verify-blob --insecure-ignore-tlog=true --key "$dir/v3/cosign.pub" \
        --signature "$dir/v2/cosign.sig" "$dir/v2/blob.txt"
    "$cosign_v2" verify-blob --insecure-ignore-tlog=true --key "$key" \
        --signature "$dir/v3/cosign.sig" "$dir/v3/blob.txt"
    cd "$repo_root"
}

step "build sigstore-kms-localkms, sigstore-kms-hsm and sigstore-kms"
(cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-localkms -p sigstore-kms-hsm -p sigstore-kms-cli)
[[ -x "$target_dir/debug/sigstore-kms-localkms" ]] ||
    die "cargo built no $target_dir/debug/sigstore-kms-localkms"
export PATH="$target_dir/debug:$PATH"

step "install cosign $COSIGN_V3_VERSION and $COSIGN_V2_VERSION, registry and crane $GGCR_VERSION into $tools_bin"
cosign_v3="$(install_go_tool github.com/sigstore/cosign/v3 \
    github.com/sigstore/cosign/v3/cmd/cosign "$COSIGN_V3_VERSION")"
cosign_v2="$(install_go_tool github.com/sigstore/cosign/v2 \
    github.com/sigstore/cosign/v2/cmd/cosign "$COSIGN_V2_VERSION")"
ggcr=github.com/google/go-containerregistry
registry_exe="$(install_go_tool "$ggcr" "$ggcr/cmd/registry" "$GGCR_VERSION")"
crane="$(install_go_tool "$ggcr" "$ggcr/cmd/crane" "$GGCR_VERSION")"

step "start an OCI registry on 127.0.0.1, on a free port"
"$registry_exe" -port 0 >"$work/registry.log" 2>&1 &
registry_pid=$!
port=""
for _ in $(seq 50); do
    port="$(sed -n 's/.*serving on port \([0-9][0-9]*\).*/\1/p' "$work/registry.log")"
    [[ -n "$port" ]] && break
    kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; die "the registry exited"; }
    sleep 0.1
done
[[ -n "$port" ]] || die "the registry did not say which port it serves"
registry="127.0.0.1:$port"
printf 'registry at %s (pid %s)\n' "$registry" "$registry_pid"

key_type_round_trip "localkms P-256" "localkms://$work/localkms-key.pem"


if softhsm_module >/dev/null && command -v softhsm2-util >/dev/null; then
    step "a SoftHSM2 token in a temporary directory"
    softhsm_token "$work/hsm" e2e
    key_type_round_trip "hsm P-256" "hsm://token=e2e;object=p256"
    # cosign 3 asks for a P-384 signature with SHA-256 declared and the
    # blob's SHA-384 digest; the plugin signs SHA-256 of the blob it also
    # sends, which is what both cosigns verify (see the README).
    key_type_round_trip "hsm P-384" "hsm://token=e2e;object=p384?algorithm=ecdsa-p384-sha384"
    key_type_round_trip "hsm RSA-3072" "hsm://token=e2e;object=rsa3072?algorithm=rsa-pkcs1v15-3072-sha256"
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

# cosign_hsm_agent COSIGN VERSION-LABEL OBJECT[?QUERY] SIGN-FLAGS...:
# generate-key-pair, sign-blob and verify-blob (plugin key and PEM, tampered
# blob refused), OpenSSL's verdict, all with SIGSTORE_KMS_HSM_AGENT set.
cosign_hsm_agent() {
    local cosign="$1" label="$2" dir key verifier
    key="hsm://token=e2e-agent;object=$3"
    shift 3
    dir="$(mktemp -d "$work/hsm-agent-$label.XXXXXX")"
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
    local module agent_dir log socket lines pin
    # Not a number, so that no pid or timing in the log can look like it.
    pin=pin-e2e-Vr4q
    module="$(softhsm_module)"
    step "sigstore-kms-hsm agent: build; a SoftHSM2 token of its own; the agent in the background"
    (cd "$repo_root" && "$cargo" build --locked -p sigstore-kms-hsm)
    agent_dir="$work/hsm-agent"
    mkdir -p "$agent_dir/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$agent_dir/tokens" >"$agent_dir/softhsm2.conf"
    export SOFTHSM2_CONF="$agent_dir/softhsm2.conf"
    softhsm2-util --init-token --free --label e2e-agent --pin "$pin" --so-pin 12345678 >/dev/null
    log="$agent_dir/agent.log"
    eval "$(SIGSTORE_KMS_HSM_MODULE="$module" SIGSTORE_KMS_HSM_PIN="$pin" \
        sigstore-kms-hsm agent --token e2e-agent --log "$log")"
    socket="${SIGSTORE_KMS_HSM_AGENT:-}"
    # Whatever fails below, the agent in the background stops with the
    # subshell; after the --stop checked below, this finds none and is quiet.
    # shellcheck disable=SC2064 # the socket is known now
    trap "sigstore-kms-hsm agent --stop --socket '$socket' >/dev/null 2>&1 || true" EXIT
    [[ -S "$socket" ]] || die "sigstore-kms-hsm agent printed no socket"
    # Without these the plugin cannot log in by itself: every call below
    # must go through the agent.
    unset SIGSTORE_KMS_HSM_MODULE SIGSTORE_KMS_HSM_PIN
    cosign_hsm_agent "$cosign_v3" "$COSIGN_V3_VERSION" "cosign-$COSIGN_V3_VERSION" \
        --use-signing-config=false --tlog-upload=false --new-bundle-format=false
    # cosign 3's P-384 request (SHA-256 declared, a SHA-384 digest, the blob
    # on stdin) gets the answer it gets directly.
    cosign_hsm_agent "$cosign_v3" "$COSIGN_V3_VERSION-p384" \
        "cosign-$COSIGN_V3_VERSION-p384?algorithm=ecdsa-p384-sha384" \
        --use-signing-config=false --tlog-upload=false --new-bundle-format=false
    cosign_hsm_agent "$cosign_v2" "$COSIGN_V2_VERSION" "cosign-$COSIGN_V2_VERSION" --tlog-upload=false
    lines="$(grep -c 'signMessage token=e2e-agent object="cosign-.*": ok' "$log" || true)"
    [[ "$lines" -ge 3 ]] || die "the agent's log shows $lines signatures, not 3: $(cat "$log")"
    ! grep -qF -- "$pin" "$log" || die "the agent's log shows the PIN"
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

end_step
printf '\n==> e2e-cosign: all checks passed in %ds\n' "$SECONDS"
