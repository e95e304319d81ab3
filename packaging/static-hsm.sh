# shellcheck shell=bash
# Sourced by packaging/dist.sh and interop/e2e-tsa.sh: sigstore-kms-hsm as
# the Linux glibc archives ship it.
#
# A service calls the plugin once per signature, and through the agent the
# call is mostly the plugin's own start: a statically linked program skips
# the dynamic loader. But a static glibc program cannot load PKCS#11
# modules (its dlopen works only with the very glibc it was built with).
# So the archives hold two builds of the plugin: sigstore-kms-hsm, linked
# statically, which forwards calls to the agent and runs everything else as
# sigstore-kms-hsm-direct beside it, the same plugin linked dynamically.

# static_hsm BIN_DIR CARGO-ARGS...: after the caller's `cargo build` of
# sigstore-kms-hsm with CARGO-ARGS (a profile, a target) has put the
# dynamically linked plugin into BIN_DIR (where cargo puts the binaries for
# those arguments), keeps it as BIN_DIR/sigstore-kms-hsm-direct and links
# BIN_DIR/sigstore-kms-hsm again, statically. A later `cargo build` of the
# package links BIN_DIR/sigstore-kms-hsm dynamically again.
static_hsm() {
    local bin_dir="$1"
    shift
    cp "$bin_dir/sigstore-kms-hsm" "$bin_dir/sigstore-kms-hsm-direct.new"
    mv "$bin_dir/sigstore-kms-hsm-direct.new" "$bin_dir/sigstore-kms-hsm-direct"
    "${CARGO:-cargo}" rustc --locked "$@" -p sigstore-kms-hsm --bin sigstore-kms-hsm -- \
        -C target-feature=+crt-static
}
