#!/usr/bin/env bash
# The published crates as a user gets them: each .crate holds its LICENSE,
# and the doctests of the library crates pass from the unpacked .crate
# files (nothing reaches outside the package, e.g. a README two levels up).
# Run after `cargo package --workspace`.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
published=(sigstore-kms-protocol sigstore-kms-handler sigstore-kms-client
  sigstore-kms-conformance sigstore-kms-cli sigstore-kms-hsm)
libraries=(sigstore-kms-protocol sigstore-kms-handler sigstore-kms-client
  sigstore-kms-conformance)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for name in "${published[@]}"; do
  crate="$target/package/$name-$version.crate"
  # The whole listing first: `grep -q` stopping early would fail tar.
  listing=$(tar -tzf "$crate")
  if ! grep -qx "$name-$version/LICENSE" <<<"$listing"; then
    echo ".ci/packaged-doctests.sh: $crate has no LICENSE" >&2
    exit 1
  fi
done

# The unpacked libraries depend on each other by version, as on crates.io;
# a workspace around them patches those versions to the unpacked copies.
members=() patches=()
for name in "${libraries[@]}"; do
  tar -xzf "$target/package/$name-$version.crate" -C "$work"
  members+=("\"$name-$version\"")
  patches+=("$name = { path = \"$name-$version\" }")
done
{
  echo '[workspace]'
  echo 'resolver = "2"'
  echo "members = [$(IFS=,; echo "${members[*]}")]"
  echo '[patch.crates-io]'
  printf '%s\n' "${patches[@]}"
} >"$work/Cargo.toml"
# The versions CI tested, not whatever is newest today.
cp Cargo.lock "$work/Cargo.lock"

(cd "$work" && CARGO_TARGET_DIR="$target/packaged" cargo test --doc --workspace)
