#!/usr/bin/env bash
# Windows and macOS from this Debian machine: cross-builds the workspace for
# x86_64-pc-windows-gnu with mingw and runs its test suites and the
# conformance suite (localkms) under Wine, then the CLI itself (key,
# sign, verify, tampered blob) with OpenSSL on Linux checking its
# signature; checks x86_64-pc-windows-msvc and
# both Apple targets with -D warnings. Prints the time of each step.
#
# Installs what it lacks (apt: gcc-mingw-w64-x86-64, wine and wine64; rustup
# targets).
# The Wine prefix and the Windows target dir are caches outside the clone:
#   SIGSTORE_KMS_WINEPREFIX       (default ~/.cache/sigstore-kms-rs/wine)
#   SIGSTORE_KMS_WINDOWS_TARGET   (default ~/.cache/sigstore-kms-rs/target-cross)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

cache="${XDG_CACHE_HOME:-$HOME/.cache}/sigstore-kms-rs"
export WINEPREFIX="${SIGSTORE_KMS_WINEPREFIX:-$cache/wine}"
export CARGO_TARGET_DIR="${SIGSTORE_KMS_WINDOWS_TARGET:-$cache/target-cross}"
export WINEARCH=win64
# Wine's own diagnostics (no display, no 32-bit loader) are noise here.
export WINEDEBUG=-all
# No Mono or Gecko download prompts when the prefix is made.
export WINEDLLOVERRIDES="mscoree,mshtml="
export RUSTFLAGS="-D warnings"
windows=x86_64-pc-windows-gnu
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine

step_started=$SECONDS
step() {
  local now=$SECONDS
  if [ -n "${step_name:-}" ]; then
    echo ".ci/windows.sh: ${step_name}: $((now - step_started)) s" >&2
  fi
  step_name=$1
  step_started=$now
}
all_started=$SECONDS

step "setup"
missing=()
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || missing+=(gcc-mingw-w64-x86-64)
command -v wine >/dev/null 2>&1 || missing+=(wine wine64)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi
rustup target add "$windows" x86_64-pc-windows-msvc aarch64-apple-darwin x86_64-apple-darwin

# The Wine prefix, made once. Debian's Wine 8 has no bcryptprimitives.dll,
# whose ProcessPrng every Rust >= 1.78 program imports: the shim in
# .ci/wine provides it (a Wine that has the DLL keeps its own).
system32="$WINEPREFIX/drive_c/windows/system32"
if [ ! -d "$system32" ]; then
  mkdir -p "$WINEPREFIX"
  wineboot --init
  wineserver --wait
fi
shim_stamp="$WINEPREFIX/bcryptprimitives.sha256"
shim_sum=$(cat .ci/wine/bcryptprimitives.c .ci/wine/bcryptprimitives.def | sha256sum | cut -d' ' -f1)
if [ ! -f "$system32/bcryptprimitives.dll" ] ||
  { [ -f "$shim_stamp" ] && [ "$(cat "$shim_stamp")" != "$shim_sum" ]; }; then
  x86_64-w64-mingw32-gcc -O2 -shared -s -o "$system32/bcryptprimitives.dll" \
    .ci/wine/bcryptprimitives.c .ci/wine/bcryptprimitives.def -ladvapi32
  echo "$shim_sum" >"$shim_stamp"
fi

step "cargo check, Apple and Windows MSVC targets"
for target in aarch64-apple-darwin x86_64-apple-darwin x86_64-pc-windows-msvc; do
  cargo check --workspace --all-targets --all-features --locked --target "$target"
done

step "cross-build for $windows"
# Every binary first: the black-box tests find the plugins beside them.
cargo build --workspace --all-targets --locked --target "$windows"

# wine_start_failed LOG: whether the failure in LOG, the output of a
# `cargo test` run, is Wine failing to start a process rather than a test
# failing: CreateProcess answered ERROR_INTERNAL_ERROR (1359), a process
# died in its DLL initialisation (0xc0000142), or the test program that
# failed (the last one cargo ran) died before its harness said a word (no
# "running N tests" after cargo's "Running" line).
wine_start_failed() {
  grep -qE 'code: 1359,|0xc0000142' "$1" && return 0
  awk '/^ +Running /{seen=1; started=0} /^running [0-9]+ tests?$/{started=1}
       END{exit !(seen && !started)}' "$1"
}

# wine_tests ARGS...: `cargo test ARGS` for the Windows target, run under
# Wine. Wine 8 now and then fails to start a process, whatever the program
# (see wine_start_failed). A run that failed so is run once more, saying
# so; any other failure fails at once.
wine_tests() {
  local log
  log=$(mktemp)
  if cargo test "$@" 2>&1 | tee "$log"; then
    rm -f "$log"
    return 0
  fi
  if wine_start_failed "$log"; then
    rm -f "$log"
    echo ".ci/windows.sh: Wine failed to start a process (above); these tests run once more" >&2
    cargo test "$@"
  else
    rm -f "$log"
    return 1
  fi
}

step "tests under Wine"
# sigstore-kms-hsm's unit tests run; its SoftHSM2 tests are compiled for
# Unix only (cfg(unix)): SoftHSM2 is a PKCS#11 module that Debian builds for
# Linux alone, so there is no token to drive under Wine.
wine_tests --workspace --locked --target "$windows"
# The supervision cases run against both clients, AsyncClient needing tokio.
wine_tests -p sigstore-kms-client --features tokio --locked --target "$windows" --test supervision

step "conformance suite against localkms under Wine"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
key="localkms://$(winepath -w "$dir")\\key.pem"
plugins=$(winepath -w "$CARGO_TARGET_DIR/$windows/debug")
(cd crates/conformance && WINEPATH="$plugins" \
  wine_tests --locked --target "$windows" --features signer_program --test signer_program -- \
  --key-resource-id "$key")

step "CLI under Wine with localkms, its signature checked by OpenSSL on Linux"
# What a Windows user does (generate a key, sign, verify, see a tampered
# blob refused), run as Windows programs; OpenSSL on this Linux host then
# verifies the signature made under Wine with the public key written there.
work=$(mktemp -d)
trap 'rm -rf "$dir" "$work"' EXIT
cli() {
  (cd "$work" && WINEPATH="$plugins" wine "$CARGO_TARGET_DIR/$windows/debug/sigstore-kms.exe" "$@")
}
key="localkms://$(winepath -w "$work")\\key.pem"
printf 'release artifact contents\n' >"$work/blob.txt"
cli generate-key-pair --kms "$key"
cli sign-blob --key "$key" --output-signature blob.sig blob.txt
cli verify-blob --key "$key" --signature blob.sig blob.txt
cli verify-blob --key cosign.pub --signature blob.sig blob.txt
tr -d '\r\n' <"$work/blob.sig" | base64 -d >"$work/blob.der"
openssl dgst -sha256 -verify "$work/cosign.pub" -signature "$work/blob.der" "$work/blob.txt"
printf 'tampered\n' >>"$work/blob.txt"
for key_or_pem in "$key" cosign.pub; do
  if cli verify-blob --key "$key_or_pem" --signature blob.sig blob.txt; then
    echo ".ci/windows.sh: verify-blob under Wine accepted a tampered blob ($key_or_pem)" >&2
    exit 1
  fi
done
if openssl dgst -sha256 -verify "$work/cosign.pub" -signature "$work/blob.der" "$work/blob.txt"; then
  echo ".ci/windows.sh: OpenSSL accepted a tampered blob" >&2
  exit 1
fi

step ""
echo ".ci/windows.sh: all: $((SECONDS - all_started)) s (target dir $CARGO_TARGET_DIR, repository $repo)" >&2
