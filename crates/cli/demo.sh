#!/usr/bin/env bash
# `make demo`: the whole story with the reference plugin, in a throwaway
# directory. Exits non-zero as soon as a step does not behave.
set -euo pipefail

bin_dir=${1:?usage: demo.sh BIN_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
cp "$bin_dir/sigstore-kms" "$bin_dir/sigstore-kms-localkms" "$work/bin/"
export PATH="$work/bin:$PATH"
cd "$work"

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
show() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; }
step() { show "$@"; "$@"; }

echo "Working in $work, with the plugin $(command -v sigstore-kms-localkms)"
step sigstore-kms plugin list
step sigstore-kms generate-key-pair --kms "localkms://$work/release.pem" --output-key-prefix release
step cat release.pub
printf 'hello from the sigstore-kms demo\n' > artifact.txt
step sigstore-kms sign-blob --key "localkms://$work/release.pem" --output-signature artifact.sig artifact.txt
step cat artifact.sig; echo
step sigstore-kms verify-blob --key "localkms://$work/release.pem" --signature artifact.sig artifact.txt
step sigstore-kms verify-blob --key release.pub --signature artifact.sig artifact.txt

printf 'tampered\n' >> artifact.txt
for key in "localkms://$work/release.pem" release.pub; do
  show sigstore-kms verify-blob --key "$key" --signature artifact.sig artifact.txt "  # tampered"
  if sigstore-kms verify-blob --key "$key" --signature artifact.sig artifact.txt; then
    echo "demo failed: a tampered file verified" >&2
    exit 1
  fi
  echo "(rejected, as it must be)"
done
printf '\nDemo complete: key generated, blob signed, verified through the plugin and with the PEM, tampering detected.\n'
