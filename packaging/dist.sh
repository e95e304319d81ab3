#!/usr/bin/env bash
# Release archives, signed with a plugin key and verified by our CLI and by
# cosign 3 (make dist). Everything lands in dist/:
#   sigstore-kms-VERSION-TARGET.tar.gz (.zip for Windows): the binaries,
#     LICENSE, README.md and an SBOM (CycloneDX JSON) of each binary;
#   SHA256SUMS over the archives;
#   FILE.sigstore.json beside each archive and SHA256SUMS: a Sigstore bundle
#     made by `sigstore-kms sign-blob --bundle` through the signing key;
#   release.pub: the signing key's public key.
#
#   packaging/dist.sh          build, check reproducibility, sign, verify
#   packaging/dist.sh sign     only sign and verify what dist/ holds (new
#                              SHA256SUMS over its archives), with the tools
#                              in DIST_TOOLS
#
# Settings (environment):
#   DIST_TARGETS      the targets (default: the four Linux and Windows ones
#                     on Linux, both Apple ones on macOS)
#   SIGNING_KEY       NAME://REF of the signing key, served by the plugin
#                     sigstore-kms-NAME (default: a localkms key made for
#                     this run, in a temporary directory)
#   DIST_TARGET_DIR, DIST_CHECK_TARGET_DIR
#                     the two target dirs of the two builds (default
#                     ~/.cache/sigstore-kms-rs/target-dist and -dist-check)
#   DIST_CHECK_TARGETS
#                     the targets built a second time, in the second target
#                     dir, whose archives must be identical to the first
#                     (default: all of DIST_TARGETS; empty: none)
#   DIST_DIR          where the archives go (default dist/ of the checkout)
#   DIST_TOOLS        the directory of sigstore-kms and the plugins that
#                     sign (default: this run's build for the host)
#   COSIGN            a cosign 3 to verify with (default: v3.1.3 built with
#                     go install into COSIGN_BIN_DIR, as make e2e-cosign does)
#   SOURCE_DATE_EPOCH the archives' file times (default: the last commit's)
#
# Installs what it lacks when run as root on Debian (the cross linkers
# gcc-aarch64-linux-gnu and gcc-mingw-w64-x86-64, rustup targets,
# cargo-cyclonedx into ~/.cache/sigstore-kms-rs). Prints each step's time.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# The programs in the archives, as PACKAGE:BINARY. A new plugin crate is one
# more entry here (and, when it loads native code at run time, in
# DYNAMIC_LOADERS too).
BINARIES="sigstore-kms-cli:sigstore-kms sigstore-kms-localkms:sigstore-kms-localkms sigstore-kms-hsm:sigstore-kms-hsm"
# Binaries that load native modules with dlopen: a fully static musl
# program cannot load the glibc-linked PKCS#11 modules that HSM vendors
# ship, so these ship in the glibc (and Windows and macOS) archives only.
DYNAMIC_LOADERS="sigstore-kms-hsm"
# In the glibc archives sigstore-kms-hsm is linked statically, with
# sigstore-kms-hsm-direct beside it, the same plugin linked dynamically
# (packaging/static-hsm.sh says why).
STATIC_HSM_TARGETS="x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu"

# shellcheck source=packaging/static-hsm.sh
source "$repo/packaging/static-hsm.sh"

# cosign 3 checks every signature: the release make e2e-cosign pins.
COSIGN_VERSION=v3.1.3
CYCLONEDX_VERSION=0.5.9

cache="${XDG_CACHE_HOME:-$HOME/.cache}/sigstore-kms-rs"
dist="${DIST_DIR:-$repo/dist}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
*-apple-darwin) default_targets="aarch64-apple-darwin x86_64-apple-darwin" ;;
*) default_targets="x86_64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-gnu x86_64-pc-windows-gnu" ;;
esac
targets="${DIST_TARGETS:-$default_targets}"
target_dir="${DIST_TARGET_DIR:-$cache/target-dist}"
check_target_dir="${DIST_CHECK_TARGET_DIR:-$cache/target-dist-check}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"
# Byte-for-byte comparisons and sorted listings, whatever the locale.
export LC_ALL=C

die() { printf 'dist: %s\n' "$*" >&2; exit 1; }

step_started=$SECONDS
all_started=$SECONDS
step_name=""
step() {
  local now=$SECONDS
  if [ -n "$step_name" ]; then
    # With the CPU time of every command so far (user and system, from
    # `times`): on a busy machine, the measure of what a step costs.
    times >"$work/times"
    printf 'dist: %s: %d s (cpu so far: %s)\n' "$step_name" $((now - step_started)) \
      "$(tail -n 1 "$work/times")" >&2
  fi
  step_name=$1
  step_started=$now
  if [ -n "$step_name" ]; then
    printf '\ndist: ==> %s\n' "$step_name" >&2
  fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

# need COMMAND DEBIAN-PACKAGE: installs the package when COMMAND is missing
# and this is Debian as root; otherwise says what to install.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "$2"
  fi
  command -v "$1" >/dev/null 2>&1 || die "$1 is not on PATH: install $2"
}

archive_name() { # TARGET
  case "$1" in
  *-windows-*) echo "sigstore-kms-$version-$1.zip" ;;
  *) echo "sigstore-kms-$version-$1.tar.gz" ;;
  esac
}

exe_suffix() { # TARGET
  case "$1" in *-windows-*) echo .exe ;; *) echo "" ;; esac
}

# The PACKAGE:BINARY entries that ship for TARGET.
binaries_for() {
  local entry
  for entry in $BINARIES; do
    case "$1" in
    *-linux-musl*) case " $DYNAMIC_LOADERS " in *" ${entry#*:} "*) continue ;; esac ;;
    esac
    echo "$entry"
  done
  if static_hsm_target "$1"; then echo sigstore-kms-hsm:sigstore-kms-hsm-direct; fi
}

static_hsm_target() { # TARGET
  case " $STATIC_HSM_TARGETS " in *" $1 "*) return 0 ;; *) return 1 ;; esac
}

# Linkers and flags, per target, for cargo (exported as CARGO_TARGET_*).
configure_target() { # TARGET
  case "$1" in
  aarch64-unknown-linux-gnu)
    need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    ;;
  x86_64-pc-windows-gnu)
    need x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64
    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    ;;
  esac
  if command -v rustup >/dev/null 2>&1 &&
    ! rustup target list --installed | grep -qx "$1"; then
    rustup target add "$1"
  fi
}

# rustflags TARGET-DIR TARGET: the paths of the cargo home (the registry's
# sources) and of the target dir (build scripts' output) remapped to fixed
# names, so that no build path reaches a binary. The checkout needs none:
# cargo names the workspace's sources by relative paths, and the dist
# profile keeps no debug info; leaving its path out of the flags keeps the
# cached target dirs valid for a clone anywhere. Separated by 0x1f, for
# CARGO_ENCODED_RUSTFLAGS. A caller's RUSTFLAGS are ignored: they would make
# the release differ from the checked build.
rustflags() {
  local sep
  sep=$(printf '\037')
  printf '%s' "--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
  printf '%s' "$sep--remap-path-prefix=$1=/target"
  case "$2" in
  # The mingw linker stamps each PE header with the time of the link.
  *-windows-gnu) printf '%s' "$sep-Clink-arg=-Wl,--no-insert-timestamp" ;;
  esac
}

# build TARGET-DIR TARGET: the release binaries of TARGET.
build() {
  local dir="$1" target="$2" entry packages=""
  for entry in $(binaries_for "$target"); do packages="$packages -p ${entry%%:*}"; done
  (
    export CARGO_TARGET_DIR="$dir" CARGO_ENCODED_RUSTFLAGS="$(rustflags "$dir" "$target")" RUSTFLAGS=""
    # shellcheck disable=SC2086 # $packages is a list of -p NAME
    cargo build --locked --profile dist --target "$target" $packages
    if static_hsm_target "$target"; then
      static_hsm "$dir/$target/dist" --profile dist --target "$target"
    fi
  )
}

# sboms TARGET DIR: DIR/BINARY.cdx.json, the CycloneDX SBOM of each binary's
# dependencies on TARGET, from Cargo.lock. cargo-cyclonedx writes one file
# into the directory of every workspace member: those are moved or removed.
# With SOURCE_DATE_EPOCH set, it writes that time and no random serial
# number; the references of the workspace's own packages hold the
# checkout's path, replaced here by the fixed name the binaries use, so that
# any checkout gives the same SBOM.
cyclonedx=""
sbom_name=dist-sbom-$$
sboms() {
  local target="$1" out="$2" entry member
  "$cyclonedx" cyclonedx --format json --spec-version 1.5 --target "$target" \
    --override-filename "$sbom_name" >&2
  for entry in $(binaries_for "$target"); do
    member=$(member_dir "${entry%%:*}")
    python3 - "$member/$sbom_name.json" "$out/${entry#*:}.cdx.json" "$repo" <<'PY'
import sys
source, out, checkout = sys.argv[1:]
text = open(source).read().replace("file://" + checkout, "file:///sigstore-kms-rs")
if checkout in text:
    sys.exit(f"dist: {source} still names the checkout {checkout}")
open(out, "w").write(text)
PY
  done
  remove_sboms
}

remove_sboms() {
  local member
  for member in $member_dirs; do rm -f "$member/$sbom_name.json"; done
}

# The directory of each workspace member, and of one by package name.
member_table=$(cargo metadata --locked --format-version 1 --no-deps |
  python3 -c 'import json, os, sys
for p in json.load(sys.stdin)["packages"]:
    print(p["name"], os.path.dirname(p["manifest_path"]))')
member_dirs=$(printf '%s\n' "$member_table" | cut -d' ' -f2-)
member_dir() {
  printf '%s\n' "$member_table" | sed -n "s/^$1 //p"
}
trap 'rm -rf "$work"; remove_sboms' EXIT

install_cyclonedx() {
  local root="$cache/cargo-cyclonedx-$CYCLONEDX_VERSION"
  cyclonedx="$root/bin/cargo-cyclonedx"
  if [ ! -x "$cyclonedx" ]; then
    cargo install --locked --root "$root" --target-dir "$cache/target-tools" \
      "cargo-cyclonedx@$CYCLONEDX_VERSION"
  fi
}

# check_binary TARGET FILE: what the archive promises of each binary.
check_binary() {
  local target="$1" file="$2" headers
  case "$target" in
  *-linux-*) headers=$(readelf -lSdW "$file") ;;
  *) return 0 ;;
  esac
  case "$target/$(basename "$file")" in
  *-linux-musl*/* | *-linux-gnu/sigstore-kms-hsm)
    # Fully static: no program interpreter, no shared library.
    if grep -qE 'INTERP|\(NEEDED\)' <<<"$headers"; then
      printf '%s\n' "$headers" >&2
      die "$file is not fully static"
    fi
    ;;
  *-linux-gnu/sigstore-kms-hsm-direct)
    grep -q '(NEEDED)' <<<"$headers" || die "$file is not linked dynamically: it cannot load modules"
    ;;
  esac
  if grep -q '\.debug_' <<<"$headers"; then die "$file holds debug info"; fi
}

# package TARGET-DIR TARGET OUT-DIR: the archive of TARGET, from the binaries
# in TARGET-DIR, written to OUT-DIR.
package() {
  local dir="$1" target="$2" out="$3" entry name bin
  name="sigstore-kms-$version-$target"
  local stage
  stage="$work/stage-$(basename "$dir")/$name"
  rm -rf "$stage"
  mkdir -p "$stage/sbom"
  for entry in $(binaries_for "$target"); do
    bin="${entry#*:}$(exe_suffix "$target")"
    cp "$dir/$target/dist/$bin" "$stage/$bin"
    check_binary "$target" "$stage/$bin"
  done
  sboms "$target" "$stage/sbom"
  cp LICENSE "$stage/LICENSE"
  cp packaging/README.archive.md "$stage/README.md"
  (cd "$(dirname "$stage")" && python3 "$repo/packaging/archive.py" "$out/$(archive_name "$target")" "$name")
  case "$target" in
  *-windows-*) python3 -m zipfile -l "$out/$(archive_name "$target")" >&2 ;;
  *) tar -tvzf "$out/$(archive_name "$target")" >&2 ;;
  esac
}

# sign_and_verify: SHA256SUMS over dist/'s archives; every archive and
# SHA256SUMS signed with the key; each signature verified by sigstore-kms
# (with the public key file and through the plugin) and by cosign 3; a
# changed file refused by both.
sign_and_verify() {
  local tools="$1" key file archives
  [ -x "$tools/sigstore-kms" ] || [ -x "$tools/sigstore-kms.exe" ] || die "no sigstore-kms in $tools"
  export PATH="$tools:$PATH"

  step "SHA256SUMS"
  archives=""
  for file in "$dist"/*.tar.gz "$dist"/*.zip; do
    if [ -f "$file" ]; then archives="$archives $(basename "$file")"; fi
  done
  # shellcheck disable=SC2086 # names without spaces, one per word
  archives=$(printf '%s\n' $archives | sort)
  [ -n "$archives" ] || die "dist/ holds no archive"
  # shellcheck disable=SC2086 # one name per line, none with a space
  (cd "$dist" && sha256 $archives) >"$dist/SHA256SUMS"
  cat "$dist/SHA256SUMS"

  step "signing key"
  if [ -n "${SIGNING_KEY:-}" ]; then
    key="$SIGNING_KEY"
  else
    key="localkms://$work/release-key.pem"
    sigstore-kms generate-key-pair --kms "$key" --output-key-prefix "$work/release" >&2
  fi
  sigstore-kms public-key --key "$key" --outfile "$dist/release.pub"
  printf 'signing with %s; public key:\n' "$key" >&2
  cat "$dist/release.pub" >&2

  step "sign with sigstore-kms sign-blob --bundle"
  for file in $archives SHA256SUMS; do
    sigstore-kms sign-blob --key "$key" --bundle "$dist/$file.sigstore.json" "$dist/$file" >/dev/null
    echo "signed $file" >&2
  done

  step "cosign $COSIGN_VERSION"
  local cosign="${COSIGN:-}"
  if [ -z "$cosign" ]; then
    command -v go >/dev/null 2>&1 || die "go is not on PATH: it builds cosign (or set COSIGN)"
    tools_bin="${COSIGN_BIN_DIR:-$cache/cosign}"
    # shellcheck source=interop/go-tools.sh
    source "$repo/interop/go-tools.sh"
    cosign=$(install_go_tool github.com/sigstore/cosign/v3 github.com/sigstore/cosign/v3/cmd/cosign "$COSIGN_VERSION")
  fi
  "$cosign" version 2>&1 | grep -E '^GitVersion' >&2 || true

  step "verify with sigstore-kms and cosign"
  for file in $archives SHA256SUMS; do
    sigstore-kms verify-blob --key "$dist/release.pub" --bundle "$dist/$file.sigstore.json" "$dist/$file"
    sigstore-kms verify-blob --key "$key" --bundle "$dist/$file.sigstore.json" "$dist/$file"
    "$cosign" verify-blob --key "$dist/release.pub" --bundle "$dist/$file.sigstore.json" \
      --insecure-ignore-tlog=true "$dist/$file"
  done
  (cd "$dist" && sha256 -c SHA256SUMS)

  step "a changed SHA256SUMS is refused"
  cp "$dist/SHA256SUMS" "$work/SHA256SUMS"
  printf '0000000000000000000000000000000000000000000000000000000000000000  evil.tar.gz\n' >>"$work/SHA256SUMS"
  if sigstore-kms verify-blob --key "$dist/release.pub" --bundle "$dist/SHA256SUMS.sigstore.json" "$work/SHA256SUMS"; then
    die "sigstore-kms verify-blob accepted a changed SHA256SUMS"
  fi
  if "$cosign" verify-blob --key "$dist/release.pub" --bundle "$dist/SHA256SUMS.sigstore.json" \
    --insecure-ignore-tlog=true "$work/SHA256SUMS"; then
    die "cosign verify-blob accepted a changed SHA256SUMS"
  fi
  echo "refused by both, as it must be" >&2
}

host_tools() { # TARGET-DIR
  echo "$1/$host/dist"
}

command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH: it writes the archives"

if [ "${1:-}" = sign ]; then
  [ -d "$dist" ] || die "no dist/ to sign"
  rm -f "$dist"/*.sigstore.json "$dist/SHA256SUMS" "$dist/release.pub"
  sign_and_verify "${DIST_TOOLS:-$(host_tools "$target_dir")}"
  step ""
  exit 0
fi
[ $# -eq 0 ] || die "usage: packaging/dist.sh [sign]"

step "setup: $targets"
printf 'version %s, SOURCE_DATE_EPOCH %s, target dirs %s and %s\n' \
  "$version" "$SOURCE_DATE_EPOCH" "$target_dir" "$check_target_dir" >&2
for target in $targets; do configure_target "$target"; done
case "$targets" in *-linux-*) need readelf binutils ;; esac

# The signing tools are this run's binaries for the host, built with the
# release even when the host is not one of DIST_TARGETS.
build_targets="$targets"
case " $targets " in *" $host "*) ;; *) build_targets="$targets $host" ;; esac

# Only what an earlier run wrote is removed: DIST_DIR may hold other files.
mkdir -p "$dist"
rm -f "$dist"/*.tar.gz "$dist"/*.zip "$dist"/*.sigstore.json "$dist/SHA256SUMS" "$dist/release.pub"
for target in $build_targets; do
  step "build $target"
  build "$target_dir" "$target"
done
step "cargo-cyclonedx $CYCLONEDX_VERSION"
install_cyclonedx
for target in $targets; do
  step "archive $target"
  package "$target_dir" "$target" "$dist"
done

check_targets="${DIST_CHECK_TARGETS-$targets}"
for target in $check_targets; do
  case " $targets " in *" $target "*) ;; *) die "DIST_CHECK_TARGETS: $target is not one of DIST_TARGETS" ;; esac
done
if [ -n "$check_targets" ]; then
  mkdir -p "$work/check"
  for target in $check_targets; do
    step "second build of $target, in $check_target_dir"
    build "$check_target_dir" "$target"
    package "$check_target_dir" "$target" "$work/check"
  done
  step "the two builds are identical"
  for target in $check_targets; do
    file=$(archive_name "$target")
    if ! cmp "$dist/$file" "$work/check/$file"; then
      for entry in $(binaries_for "$target"); do
        bin="${entry#*:}$(exe_suffix "$target")"
        cmp "$target_dir/$target/dist/$bin" "$check_target_dir/$target/dist/$bin" >&2 || true
      done
      die "$file differs between the builds in $target_dir and $check_target_dir"
    fi
    echo "identical: $file" >&2
  done
fi

if [ -n "${DIST_TOOLS:-}" ]; then tools="$DIST_TOOLS"; else tools=$(host_tools "$target_dir"); fi
sign_and_verify "$tools"

step ""
ls -l "$dist" >&2
printf 'dist: all: %d s\n' $((SECONDS - all_started)) >&2
