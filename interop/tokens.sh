#!/usr/bin/env bash
# make test-tokens: sigstore-kms-hsm against four PKCS#11 implementations
# from Debian's packages, each started here and removed afterwards:
#
#   tpm       a software TPM (swtpm on 127.0.0.1, tpm2-abrmd on a private
#             D-Bus session bus) through tpm2-pkcs11, its store in a
#             temporary directory
#   ock       openCryptoki's soft token (pkcsslotd; state in
#             /var/lib/opencryptoki/swtok: only what this script creates
#             there is removed)
#   p11kit    p11-kit's proxy module in front of two SoftHSM2 tokens
#   softhsm   SoftHSM2 itself, and 32 parallel signers in direct mode
#
# For each key type a token makes: generate-key-pair, sign-blob,
# verify-blob through the plugin and with the written .pub, OpenSSL's
# verdict, signing through the agent, and `sigstore-kms plugin check` on a
# fresh key. A key type the token does not make must be refused by name.
#
# TOKENS="tpm ock" picks tokens; TOKENS_BIN=DIR runs the binaries of DIR
# (default: a build of this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
source interop/softhsm.sh

target="${CARGO_TARGET_DIR:-$PWD/target}"
if [[ -z "${TOKENS_BIN:-}" ]]; then
    cargo build --locked -q -p sigstore-kms-cli -p sigstore-kms-hsm
    TOKENS_BIN="$target/debug"
fi
export PATH="$TOKENS_BIN:$PATH"
tokens="${TOKENS:-tpm ock p11kit softhsm}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
started=$SECONDS
say() { printf 'tokens: %s\n' "$*" >&2; }

# Each token runs in a subshell of its own, which undoes what it started
# (cleanups, in reverse order) when it ends, however it ends.
cleanups=()
undo() {
    local i
    for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" || true; done
}

# check NAME COMMAND...: runs COMMAND, its output in $out (one file per
# token), and records the verdict in $work/results.
check() {
    local name="$1"
    shift
    if "$@" >"$out" 2>&1; then
        printf 'PASS %s\n' "$name" | tee -a "$work/results"
    else
        printf 'FAIL %s\n' "$name" | tee -a "$work/results"
        head -n 12 "$out" | cut -c1-400 | sed 's/^/    /'
    fi
}

module_of() {
    local candidate
    for candidate in "$@"; do
        [[ -e "$candidate" ]] && { printf '%s\n' "$candidate"; return 0; }
    done
    say "none of $* exists; install the token's package"
    return 1
}

# openssl_verify PUB SIG BLOB: OpenSSL's verdict on a base64 signature
# over the SHA-256 digest of BLOB.
openssl_verify() {
    base64 -d "$2" >"$2.der"
    openssl dgst -sha256 -verify "$1" -signature "$2.der" "$3"
}

# agent_sign TOKEN REF SIG BLOB: signs through an agent started for TOKEN.
agent_sign() {
    local token="$1" ref="$2" sig="$3" blob="$4" rc=0
    eval "$(sigstore-kms-hsm agent --token "$token")"
    sigstore-kms sign-blob --key "$ref" --output-signature "$sig" "$blob" || rc=$?
    eval "$(sigstore-kms-hsm agent --stop)"
    return "$rc"
}

# key_type NAME TOKEN ALGORITHM: every check for one key type of a token
# (module and PIN in SIGSTORE_KMS_HSM_MODULE and SIGSTORE_KMS_HSM_PIN).
key_type() {
    local name="$1" token="$2" algorithm="$3"
    local dir="$work/$name-$token/$algorithm" ref="hsm://token=$token;object=key-$algorithm?algorithm=$algorithm"
    mkdir -p "$dir"
    printf 'signed by %s on %s\n' "$algorithm" "$name" >"$dir/blob"
    check "$name $algorithm generate-key-pair" \
        sigstore-kms generate-key-pair --kms "$ref" --output-key-prefix "$dir/key"
    sed 's/^/    /' "$out"
    check "$name $algorithm sign-blob" \
        sigstore-kms sign-blob --key "$ref" --output-signature "$dir/sig" "$dir/blob"
    check "$name $algorithm verify-blob (plugin)" \
        sigstore-kms verify-blob --key "$ref" --signature "$dir/sig" "$dir/blob"
    check "$name $algorithm verify-blob (.pub)" \
        sigstore-kms verify-blob --key "$dir/key.pub" --signature "$dir/sig" "$dir/blob"
    check "$name $algorithm openssl dgst -verify" openssl_verify "$dir/key.pub" "$dir/sig" "$dir/blob"
    check "$name $algorithm sign-blob through the agent" agent_sign "$token" "$ref" "$dir/agent.sig" "$dir/blob"
    check "$name $algorithm agent's signature (.pub)" \
        sigstore-kms verify-blob --key "$dir/key.pub" --signature "$dir/agent.sig" "$dir/blob"
    check "$name $algorithm plugin check (fresh key)" \
        sigstore-kms plugin check "hsm://token=$token;object=check-$algorithm?algorithm=$algorithm"
    grep -E 'passed|FAIL' "$out" | sed 's/^/    /'
}

# not_made NAME TOKEN ALGORITHM: the token lacks the key type, and the
# error says so by name.
not_made() {
    local name="$1" token="$2" algorithm="$3"
    check "$name $algorithm refused by name" refused "$name" \
        "hsm://token=$token;object=lacking-$algorithm?algorithm=$algorithm" "$algorithm"
    sed 's/^/    /' "$out"
}
refused() {
    local name="$1" ref="$2" algorithm="$3" answer
    if answer="$(sigstore-kms generate-key-pair --kms "$ref" --output-key-prefix "$work/$name-lacking" 2>&1)"; then
        printf '%s\ncreated a key the token should not make\n' "$answer"
        return 1
    fi
    printf '%s\n' "$answer"
    grep -q "cannot make $algorithm keys" <<<"$answer"
}

# --- a TPM: swtpm, tpm2-abrmd, tpm2-pkcs11 ---------------------------------
tpm() {
    local dir="$work/tpm" port name tcti module
    mkdir -p "$dir/state" "$dir/store"
    module="$(module_of /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so \
        /usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1 /usr/lib/pkcs11/libtpm2_pkcs11.so)"
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 20000))
        if swtpm socket --tpm2 --tpmstate dir="$dir/state" --daemon --pid file="$dir/swtpm.pid" \
            --server type=tcp,bindaddr=127.0.0.1,port="$port" \
            --ctrl type=tcp,bindaddr=127.0.0.1,port=$((port + 1)) \
            --flags not-need-init,startup-clear 2>"$dir/swtpm.log"; then
            break
        fi
        port=""
    done
    [[ -n "$port" ]] || { cat "$dir/swtpm.log"; return 1; }
    cleanups+=("kill $(cat "$dir/swtpm.pid")")
    cat >"$dir/bus.conf" <<EOF
<busconfig>
  <type>session</type>
  <listen>unix:path=$dir/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
    # Into files: the daemon keeps what it prints to open, so a command
    # substitution would wait for it forever.
    dbus-daemon --config-file="$dir/bus.conf" --fork --print-address=3 --print-pid=4 \
        3>"$dir/bus.address" 4>"$dir/bus.pid" </dev/null >/dev/null 2>&1
    cleanups+=("kill $(cat "$dir/bus.pid")")
    DBUS_SESSION_BUS_ADDRESS="$(head -n 1 "$dir/bus.address")"
    export DBUS_SESSION_BUS_ADDRESS
    name="com.intel.tss2.Tabrmd.sigstore$$"
    tpm2-abrmd --session --allow-root --dbus-name="$name" \
        --tcti="swtpm:host=127.0.0.1,port=$port" >"$dir/abrmd.log" 2>&1 &
    cleanups+=("kill $!")
    tcti="tabrmd:bus_type=session,bus_name=$name"
    export TPM2TOOLS_TCTI="$tcti" TPM2_PKCS11_TCTI="$tcti" TPM2_PKCS11_STORE="$dir/store"
    for _ in $(seq 50); do
        timeout 5 tpm2_getcap properties-fixed >/dev/null 2>&1 && break
        sleep 0.1
    done
    tpm2_ptool init --path "$dir/store" >/dev/null
    tpm2_ptool addtoken --pid=1 --label=tpm --sopin=12345678 --userpin=123456 \
        --path "$dir/store" >/dev/null
    export SIGSTORE_KMS_HSM_MODULE="$module" SIGSTORE_KMS_HSM_PIN=123456
    say "tpm: swtpm on 127.0.0.1:$port, tpm2-abrmd as $name, store $dir/store"

    # tpm2-pkcs11 pads the model with NULs: model= must still match.
    check "tpm model= selects the token" sigstore-kms generate-key-pair \
        --kms "hsm://model=SW%20%20%20TPM;object=by-model" --output-key-prefix "$dir/by-model"
    for algorithm in ecdsa-p256-sha256 ecdsa-p384-sha384 rsa-pkcs1v15-2048-sha256 rsa-pkcs1v15-3072-sha256; do
        key_type tpm tpm "$algorithm"
    done
    not_made tpm tpm rsa-pkcs1v15-4096-sha256
}

# --- openCryptoki's soft token ---------------------------------------------
ock() {
    local swtok=/var/lib/opencryptoki/swtok module slot before
    module="$(module_of /usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so \
        /usr/lib/x86_64-linux-gnu/opencryptoki/libopencryptoki.so.0 /usr/lib/opencryptoki/libopencryptoki.so)"
    if [[ -e "$swtok/NVTOK.DAT" && ! -e "$swtok/sigstore-kms-tests" ]]; then
        say "ock: openCryptoki's soft token is initialised already ($swtok/NVTOK.DAT), not by these tests; leaving it alone"
        return 1
    fi
    # Only what is not there now is ours to remove.
    before="$(cd "$swtok" && find . -mindepth 1 | sort; ls -d /dev/shm/var.lib.opencryptoki.* 2>/dev/null)" || true
    touch "$swtok/sigstore-kms-tests"
    cleanups+=("ock_clean '$before'")
    if ! pgrep -x pkcsslotd >/dev/null; then
        pkcsslotd
        cleanups+=("kill \$(cat /var/run/pkcsslotd.pid); rm -f /var/run/pkcsslotd.pid /var/run/pkcsslotd.socket")
    fi
    slot="$(pkcsconf -t | awk '/^Token #/ { slot = $2 } /Model: IBM SoftTok/ { sub("#", "", slot); print slot; exit }')"
    [[ -n "$slot" ]] || { say "ock: pkcsslotd shows no soft token"; pkcsconf -t; return 1; }
    # The soft token's defaults: SO PIN 87654321, changed before use.
    printf 'ock\n' | pkcsconf -I -c "$slot" -S 87654321 >/dev/null
    pkcsconf -P -c "$slot" -S 87654321 -n 76543210 >/dev/null
    pkcsconf -u -c "$slot" -S 76543210 -n 123456 >/dev/null
    export SIGSTORE_KMS_HSM_MODULE="$module" SIGSTORE_KMS_HSM_PIN=123456
    say "ock: soft token in slot $slot"

    for algorithm in rsa-pkcs1v15-2048-sha256 rsa-pkcs1v15-3072-sha256 rsa-pkcs1v15-4096-sha256; do
        key_type ock ock "$algorithm"
    done
    not_made ock ock ecdsa-p256-sha256
    not_made ock ock ecdsa-p384-sha384
}
ock_clean() {
    local before="$1" path
    while read -r path; do
        grep -qxF "$path" <<<"$before" || rm -rf "/var/lib/opencryptoki/swtok/${path#./}"
    done < <(cd /var/lib/opencryptoki/swtok && find . -mindepth 1 | sort -r)
    for path in /dev/shm/var.lib.opencryptoki.*; do
        [[ -e "$path" ]] && ! grep -qxF "$path" <<<"$before" && rm -f "$path"
    done
    return 0
}

# --- p11-kit's proxy over two SoftHSM2 tokens ------------------------------
p11kit() {
    local dir="$work/p11kit" module
    module="$(module_of /usr/lib/x86_64-linux-gnu/p11-kit-proxy.so /usr/lib/p11-kit-proxy.so)"
    softhsm_token "$dir" first
    softhsm2-util --init-token --free --label second --pin 123456 --so-pin 12345678 >/dev/null
    # The proxy loads the modules registered with p11-kit system-wide
    # (Debian's p11-kit reads no user configuration unless
    # /etc/pkcs11/pkcs11.conf allows it); the softhsm2 package registers
    # SoftHSM2, which finds the two tokens through SOFTHSM2_CONF.
    if ! grep -qs 'libsofthsm2' /usr/share/p11-kit/modules/*.module /etc/pkcs11/modules/*.module; then
        say "p11kit: SoftHSM2 is not registered with p11-kit (no .module file names libsofthsm2)"
        return 1
    fi
    export SIGSTORE_KMS_HSM_MODULE="$module"
    say "p11kit: $module over SoftHSM2 tokens first and second"

    for algorithm in ecdsa-p256-sha256 ecdsa-p384-sha384 rsa-pkcs1v15-2048-sha256 \
        rsa-pkcs1v15-3072-sha256 rsa-pkcs1v15-4096-sha256; do
        key_type p11kit first "$algorithm"
    done
    key_type p11kit second ecdsa-p256-sha256
}

# --- SoftHSM2, and 32 parallel signers in direct mode ----------------------
softhsm() {
    local dir="$work/softhsm" ref round i sig failures=0
    softhsm_token "$dir" softhsm
    say "softhsm: token in $dir/tokens"
    for algorithm in ecdsa-p256-sha256 ecdsa-p384-sha384 rsa-pkcs1v15-2048-sha256 \
        rsa-pkcs1v15-3072-sha256 rsa-pkcs1v15-4096-sha256; do
        key_type softhsm softhsm "$algorithm"
    done

    # 32 signers at once, each making 6 signatures back to back: every
    # call logs in, and SoftHSM2 rewrites its token file at each login.
    ref="hsm://token=softhsm;object=key-ecdsa-p256-sha256"
    mkdir -p "$dir/parallel"
    printf 'signed in parallel\n' >"$dir/parallel/blob"
    for i in $(seq 32); do
        (for round in 1 2 3 4 5 6; do
            sigstore-kms sign-blob --key "$ref" --output-signature "$dir/parallel/$i.$round.sig" \
                "$dir/parallel/blob" >>"$dir/parallel/$i.log" 2>&1 || true
        done) &
    done
    wait
    for sig in $(seq 32); do
        for round in 1 2 3 4 5 6; do
            sigstore-kms verify-blob --key "$work/softhsm-softhsm/ecdsa-p256-sha256/key.pub" \
                --signature "$dir/parallel/$sig.$round.sig" "$dir/parallel/blob" >/dev/null 2>&1 ||
                failures=$((failures + 1))
        done
    done
    { grep -hv "^Signature written" "$dir"/parallel/*.log || true; } | sort | uniq -c | sed "s/^/    /"
    check "softhsm 32 parallel signers in direct mode, 6 calls each: $failures of 192 failed" \
        test "$failures" -eq 0
}

# The tokens run side by side, each logging to a file of its own: a TPM
# spends most of its time waiting for swtpm.
touch "$work/results"
pids=()
for token in $tokens; do
    (
        trap undo EXIT
        out="$work/$token.out"
        token_started=$SECONDS
        say "==> $token"
        "$token"
        say "$token took $((SECONDS - token_started)) s"
    ) >"$work/$token.log" 2>&1 &
    pids+=($!)
done
set -- $tokens
for pid in "${pids[@]}"; do
    # In the background, errexit holds inside: a failed setup step ends
    # the token's run.
    if ! wait "$pid"; then
        printf 'FAIL %s: stopped early (see above)\n' "$1" >>"$work/results"
    fi
    cat "$work/$1.log"
    shift
done

say "$(grep -c '^PASS' "$work/results") checks passed in $((SECONDS - started)) s"
if grep -q '^FAIL' "$work/results"; then
    say "FAILED:"
    grep '^FAIL' "$work/results" >&2
    exit 1
fi
