#!/usr/bin/env bash
# make bench: builds the release binaries, the Go plugin and the Go host
# benchmark, then runs `sigstore-kms-bench report`, which writes
# BENCHMARKS.md. Takes a few minutes; needs about 1.2 GiB free in TMPDIR.
#
#   BENCH_ROUNDS   interleaved rounds (default 5; streaming and scaling use at most 3)
#   BENCH_CALLS    calls per per-call measurement (default 100)
#   BENCH_STREAM_MIB  size of the streaming test file (default 1024)
#   BENCH_OUT      where the report goes (default BENCHMARKS.md)
#   COSIGN_BIN     a cosign v3 binary; else .tools/bin/cosign-v3.1.3 or
#                  $COSIGN_BIN_DIR/cosign-v3.1.3 when present
#
# `bench/run.sh hsm` (make bench-hsm) runs only section 5, sigstore-kms-hsm
# direct and through its agent over SoftHSM2, and replaces that section of
# BENCH_OUT. `bench/run.sh tsa` (make bench-tsa) runs only section 6, a
# Sigstore timestamp authority on plugin keys (interop/e2e-tsa.sh --bench;
# TSA_ROUNDS, TSA_SEQUENTIAL), and replaces that section.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
cargo="${CARGO:-cargo}"

only="${1:-}"

# tsa_section: section 6, through interop/e2e-tsa.sh --bench.
tsa_section() {
  local before lines
  before="$(cut -d' ' -f1-3 /proc/loadavg)"
  lines="$(bash "$root/interop/e2e-tsa.sh" --bench)"
  printf '%s\n' "$lines" | python3 "$root/bench/tsa_section.py" "${BENCH_OUT:-$root/BENCHMARKS.md}" \
    "${TSA_SEQUENTIAL:-200}" "${TSA_ROUNDS:-3}" "$before" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
if [ "$only" = tsa ]; then
  tsa_section
  exit
fi
echo "== build (release): sigstore-kms-bench, sigstore-kms-localkms, sigstore-kms-hsm, sigstore-kms" >&2
"$cargo" build --release --locked -p sigstore-kms-bench --features sigstore-kms-bench/async -p sigstore-kms-localkms -p sigstore-kms-hsm -p sigstore-kms-cli

static_bin=""
if [ "$(uname -s)" = Linux ] && [ "$only" != hsm ]; then
  # The same plugin linked statically (see the README): the per-call
  # tables compare both builds. Cargo then relinks the default build.
  static_bin="$target/bench-static"
  echo "== build (release, static): sigstore-kms-localkms-static into $static_bin" >&2
  "$cargo" rustc --release --locked -p sigstore-kms-localkms --bin sigstore-kms-localkms -- -C target-feature=+crt-static
  mkdir -p "$static_bin"
  cp "$target/release/sigstore-kms-localkms" "$static_bin/sigstore-kms-localkms-static"
  "$cargo" build --release --locked -p sigstore-kms-localkms
fi

go_bin=""
if command -v go >/dev/null 2>&1; then
  go_bin="$target/bench-go"
  echo "== build (go): sigstore-kms-gokms, bench-gohost into $go_bin" >&2
  (cd interop && GOTOOLCHAIN=local go build -mod=readonly -o "$go_bin/sigstore-kms-gokms" ./cmd/sigstore-kms-gokms \
    && GOTOOLCHAIN=local go build -mod=readonly -o "$go_bin/bench-gohost" ./cmd/bench-gohost)
else
  echo "go is not on PATH: the Go host and Go plugin columns are left out" >&2
fi

cosign="${COSIGN_BIN:-}"
if [ -z "$cosign" ]; then
  for candidate in "$root/.tools/bin/cosign-v3.1.3" "${COSIGN_BIN_DIR:-$HOME/.cache/sigstore-kms-rs/cosign}/cosign-v3.1.3"; do
    if [ -x "$candidate" ]; then cosign="$candidate"; break; fi
  done
fi
[ -n "$cosign" ] || echo "no cosign v3 binary found: the cosign row is left out (make e2e-cosign installs one)" >&2

echo "== run (uptime: $(uptime))" >&2
if [ "$only" = hsm ]; then
  exec "$target/release/sigstore-kms-bench" hsm-report \
    --cargo-bin-dir "$target/release" \
    --go-bin-dir "$go_bin" \
    --rounds "${BENCH_ROUNDS:-5}" \
    --calls "${BENCH_CALLS:-100}" \
    --out "${BENCH_OUT:-$root/BENCHMARKS.md}"
fi
"$target/release/sigstore-kms-bench" report \
  --cargo-bin-dir "$target/release" \
  --static-bin-dir "$static_bin" \
  --go-bin-dir "$go_bin" \
  --cosign "$cosign" \
  --rounds "${BENCH_ROUNDS:-5}" \
  --calls "${BENCH_CALLS:-100}" \
  --stream-mib "${BENCH_STREAM_MIB:-1024}" \
  --analysis "$root/bench/analysis.md" \
  --out "${BENCH_OUT:-$root/BENCHMARKS.md}"
if command -v go >/dev/null 2>&1; then
  tsa_section
else
  echo "go is not on PATH: the timestamp authority section is left out" >&2
fi
