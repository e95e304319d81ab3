# Sourced by run-interop.sh and e2e-cosign.sh: a SoftHSM2 token for
# sigstore-kms-hsm in a directory of its own.

# softhsm_module: prints the path of the SoftHSM2 PKCS#11 module, or fails.
softhsm_module() {
    local candidate
    for candidate in /usr/lib/softhsm/libsofthsm2.so \
        /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/local/lib/softhsm/libsofthsm2.so; do
        [[ -f "$candidate" ]] && { printf '%s\n' "$candidate"; return 0; }
    done
    return 1
}

# softhsm_token DIR LABEL: initialises token LABEL in DIR/tokens (user PIN
# 123456) and exports what sigstore-kms-hsm needs to use it. Fails when
# SoftHSM2 is not installed.
softhsm_token() {
    local dir="$1" label="$2" module
    module="$(softhsm_module)" && command -v softhsm2-util >/dev/null || return 1
    mkdir -p "$dir/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$dir/tokens" >"$dir/softhsm2.conf"
    export SOFTHSM2_CONF="$dir/softhsm2.conf"
    softhsm2-util --init-token --free --label "$label" --pin 123456 --so-pin 12345678 >/dev/null
    export SIGSTORE_KMS_HSM_MODULE="$module" SIGSTORE_KMS_HSM_PIN=123456
}
