#!/usr/bin/env bash
# Builds the sigstore-rs example and runs it against real plugins: a P-256
# key in sigstore-kms-localkms and a P-384 key in sigstore-kms-hsm over a
# SoftHSM2 token, both created in a fresh temporary directory.
#
# The plugins build in the workspace (in CARGO_TARGET_DIR, else ./target, as
# `make test` builds them). The example has a lock file of its own, and its
# target directory is kept outside the clone, so later runs reuse it.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

plugins="${CARGO_TARGET_DIR:-$root/target}/debug"
cargo build --locked -p sigstore-kms-localkms -p sigstore-kms-hsm

target="${XDG_CACHE_HOME:-$HOME/.cache}/sigstore-kms-rs/target-sigstore-example"
started=$(date +%s)
CARGO_TARGET_DIR="$target" cargo build --locked --manifest-path examples/sigstore-rs/Cargo.toml
echo "run.sh: building the sigstore-rs example took $(($(date +%s) - started)) s"
example="$target/debug/sigstore-kms-sigstore-rs-example"

dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
export PATH="$plugins:$PATH"

"$example" --create ecdsa-p256-sha256 "localkms://$dir/p256.pem"

# shellcheck source=../../interop/softhsm.sh
source interop/softhsm.sh
if softhsm_token "$dir/hsm" example; then
  "$example" --create ecdsa-p384-sha384 "hsm://token=example;object=p384"
elif [[ "${SIGSTORE_KMS_REQUIRE_SOFTHSM:-}" == 1 ]]; then
  echo "run.sh: SoftHSM2 is not installed, and SIGSTORE_KMS_REQUIRE_SOFTHSM=1" >&2
  exit 1
else
  echo "run.sh: SoftHSM2 is not installed: SKIPPING the P-384 key in sigstore-kms-hsm" >&2
fi
