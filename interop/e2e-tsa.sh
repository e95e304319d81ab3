#!/usr/bin/env bash
# A Sigstore timestamp authority (timestamp-server of sigstore's
# timestamp-authority) that signs with plugin keys, on 127.0.0.1, offline:
#   its file signer (the yardstick), localkms P-256, and sigstore-kms-hsm
#   over SoftHSM2 with P-256, P-384 and RSA-3072 keys, each directly and
#   through `sigstore-kms-hsm agent`;
#   for each, a timestamping certificate chain made with OpenSSL for the
#   plugin's public key (-force_pubkey, critical EKU timeStamping);
#   TSA_SEQUENTIAL (200) requests one after another and TSA_PARALLEL (32)
#   at once, none may fail; every response checked with `openssl ts
#   -verify`, and with `timestamp-cli verify` (the first and last of the
#   sequence and every parallel one).
# timestamp-server always binds its metrics port 2112, so one server runs
# at a time. Every step prints how long it took; each signer prints its
# time per sequential request. Exits non-zero on the first failure.
#
# --bench: the sequential requests only, TSA_ROUNDS (3) interleaved rounds
# of the file signer, localkms, P-256 directly and through the agent, and
# P-384 and RSA-3072 through the agent; one line per signer and round on
# stdout, "tsa ROUND NAME MS_PER_REQUEST" (bench/run.sh reads them).
#
# timestamp-server and timestamp-cli are installed with `go install` into
# TSA_BIN_DIR (default ~/.cache/sigstore-kms-rs/tsa) as NAME-VERSION, and
# reused when already there.
set -euo pipefail

TSA_VERSION=v2.1.3
TSA_MODULE=github.com/sigstore/timestamp-authority/v2
SEQUENTIAL="${TSA_SEQUENTIAL:-200}"
PARALLEL="${TSA_PARALLEL:-32}"

interop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(dirname "$interop_dir")"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
tools_bin="${TSA_BIN_DIR:-$HOME/.cache/sigstore-kms-rs/tsa}"
cargo="${CARGO:-cargo}"
bench=false
[[ "${1:-}" == --bench ]] && bench=true

export GOTOOLCHAIN=local

# shellcheck source=interop/steps.sh
source "$interop_dir/steps.sh"
die() { printf 'e2e-tsa: %s\n' "$*" >&2; exit 1; }

# shellcheck source=interop/softhsm.sh
source "$interop_dir/softhsm.sh"
# shellcheck source=interop/go-tools.sh
source "$interop_dir/go-tools.sh"
# shellcheck source=packaging/static-hsm.sh
source "$repo_root/packaging/static-hsm.sh"

for tool in go "$cargo" openssl curl python3; do
    command -v "$tool" >/dev/null || die "$tool is not on PATH"
done

work="$(mktemp -d)"
tsa_pid=""
agent_socket=""
server_env=()
cleanup() {
    stop_tsa
    if [[ -n "$agent_socket" ]]; then
        sigstore-kms-hsm agent --stop --socket "$agent_socket" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Release builds: a timestamp costs three plugin processes, and the run
# makes nearly two thousand. sigstore-kms-hsm as the Linux archives ship it:
# linked statically, with its dynamically linked companion
# (packaging/static-hsm.sh), so both run here, directly and through the
# agent. Cargo builds while Go does.
step "build the plugins and sigstore-kms (release; sigstore-kms-hsm static and its companion), and timestamp-server and timestamp-cli $TSA_VERSION (go install, cached in $tools_bin)"
(cd "$repo_root" && "$cargo" build --release --locked -p sigstore-kms-hsm -p sigstore-kms-localkms \
    -p sigstore-kms-cli && static_hsm "$target_dir/release" --release) >&2 &
cargo_pid=$!
server_exe="$(install_go_tool "$TSA_MODULE" "$TSA_MODULE/cmd/timestamp-server" "$TSA_VERSION")"
cli_exe="$(install_go_tool "$TSA_MODULE" "$TSA_MODULE/cmd/timestamp-cli" "$TSA_VERSION")"
wait "$cargo_pid" || die "cargo build failed"
export PATH="$target_dir/release:$PATH"

step "sigstore-kms-hsm is linked statically, and without its companion says what is missing"
if readelf -d "$target_dir/release/sigstore-kms-hsm" | grep -q NEEDED; then
    die "$target_dir/release/sigstore-kms-hsm is linked dynamically"
fi
mkdir "$work/alone"
cp "$target_dir/release/sigstore-kms-hsm" "$work/alone/"
alone_answer="$(env -u SIGSTORE_KMS_HSM_AGENT "$work/alone/sigstore-kms-hsm" v1 \
    '{"initOptions":{"protocolVersion":"v1","keyResourceID":"token=t;object=k","hashFunc":5},"methodName":"publicKey","publicKey":{}}' \
    </dev/null)" && die "sigstore-kms-hsm without its companion succeeded"
[[ "$alone_answer" == *"sigstore-kms-hsm-direct beside it, which cannot be run"* ]] ||
    die "sigstore-kms-hsm without its companion answered: $alone_answer"

# Self-signed root of every chain, made once.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/root.key" -out "$work/root.pem" -days 2 -subj "/CN=e2e-tsa root" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=critical,timeStamping" "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" >"$work/leaf.ext"
# Any key signs the request; -force_pubkey puts the plugin's key in the
# certificate.
openssl req -new -key "$work/root.key" -subj "/CN=e2e-tsa signer" -out "$work/leaf.csr"

# make_chain PUBLIC_KEY_PEM DIR: DIR/leaf.pem for the key, issued by the
# root, and DIR/chain.pem (leaf, root) for the server.
make_chain() {
    openssl x509 -req -in "$work/leaf.csr" -CA "$work/root.pem" -CAkey "$work/root.key" \
        -CAcreateserial -days 2 -force_pubkey "$1" -extfile "$work/leaf.ext" \
        -out "$2/leaf.pem" 2>/dev/null
    cat "$2/leaf.pem" "$work/root.pem" >"$2/chain.pem"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_tsa DIR HASH SIGNER-FLAGS...: timestamp-server on 127.0.0.1 with the
# chain in DIR and the environment changed by the env(1) arguments in
# server_env, logging to DIR/server.log, once it answers /ping.
start_tsa() {
    local dir="$1" hash="$2" port
    shift 2
    port="$(free_port)"
    env "${server_env[@]}" "$server_exe" serve --host 127.0.0.1 --port "$port" --disable-ntp-monitoring \
        --log-type prod --certificate-chain-path "$dir/chain.pem" \
        --timestamp-signer-hash "$hash" "$@" >"$dir/server.log" 2>&1 &
    tsa_pid=$!
    tsa_url="http://127.0.0.1:$port"
    for _ in $(seq 200); do
        curl -sf -o /dev/null "$tsa_url/ping" && return 0
        kill -0 "$tsa_pid" 2>/dev/null || { cat "$dir/server.log" >&2; die "timestamp-server exited"; }
        sleep 0.05
    done
    cat "$dir/server.log" >&2
    die "timestamp-server did not answer on $tsa_url"
}

# stop_tsa: stops the server and waits until it is gone (and with it its
# metrics port).
stop_tsa() {
    if [[ -n "$tsa_pid" ]]; then
        kill "$tsa_pid" 2>/dev/null || true
        wait "$tsa_pid" 2>/dev/null || true
        tsa_pid=""
    fi
}

# timestamp DIR NAME: one request of DIR/query.tsq, answered into DIR/NAME.tsr
# (an error's body into DIR/NAME.tsr too, and shown).
timestamp() {
    local status
    status="$(curl -sS -H 'Content-Type: application/timestamp-query' -w '%{http_code}' \
        --data-binary @"$1/query.tsq" -o "$1/$2.tsr" "$tsa_url/api/v1/timestamp")" || return 1
    [[ "$status" == 200 ]] && return 0
    printf 'HTTP %s: %s\n' "$status" "$(head -c 300 "$1/$2.tsr")" >&2
    return 1
}

# check_response DIR NAME [cli]: OpenSSL verifies DIR/NAME.tsr against the
# query and the root; with "cli", timestamp-cli verifies it too.
check_response() {
    local dir="$1" name="$2"
    openssl ts -verify -in "$dir/$name.tsr" -queryfile "$dir/query.tsq" \
        -CAfile "$work/root.pem" -untrusted "$dir/leaf.pem" >"$dir/verify.log" 2>&1 ||
        { cat "$dir/verify.log" >&2; die "openssl ts -verify refused $dir/$name.tsr"; }
    if [[ "${3:-}" == cli ]]; then
        "$cli_exe" verify --timestamp "$dir/$name.tsr" --artifact "$dir/blob" \
            --certificate-chain "$work/root.pem" >"$dir/verify.log" 2>&1 ||
            { cat "$dir/verify.log" >&2; die "timestamp-cli verify refused $dir/$name.tsr"; }
    fi
}

# run_signer NAME KEY_DIR HASH SIGNER-FLAGS...: the server with the chain in
# KEY_DIR, the requests and their checks in a directory of the run's own;
# prints the time per sequential request. Names ending in -direct and
# -agent run the server with the plugin's settings for that mode.
run_signer() {
    local name="$1" key_dir="$2" hash="$3" dir i started elapsed_ms failed
    shift 3
    dir="$key_dir/$name-$round"
    mkdir "$dir"
    cp "$key_dir/leaf.pem" "$key_dir/chain.pem" "$dir/"
    step "$name: $SEQUENTIAL requests one after another$($bench || printf ', %s at once' "$PARALLEL")"
    printf 'the artifact timestamped by %s\n' "$name" >"$dir/blob"
    openssl ts -query -data "$dir/blob" "-$hash" -cert -out "$dir/query.tsq" 2>/dev/null
    case "$name" in
        *-direct) server_env=(-u SIGSTORE_KMS_HSM_AGENT) ;;
        # The plugins the server runs get no module and no PIN.
        *-agent) server_env=(-u SIGSTORE_KMS_HSM_MODULE -u SIGSTORE_KMS_HSM_PIN
            "SIGSTORE_KMS_HSM_AGENT=$agent_socket") ;;
        *) server_env=() ;;
    esac
    start_tsa "$dir" "$hash" "$@"
    # One request before the clock starts: the server's own start-up.
    timestamp "$dir" warm-up || { cat "$dir/server.log" >&2; die "$name: the first request failed"; }
    started=$(date +%s%N)
    for i in $(seq "$SEQUENTIAL"); do
        timestamp "$dir" "seq-$i" || { cat "$dir/server.log" >&2; die "$name: request $i failed"; }
    done
    elapsed_ms=$((($(date +%s%N) - started) / 1000000))
    if ! $bench; then
        export -f timestamp
        export tsa_url
        # shellcheck disable=SC2016 # expanded by the bash that xargs runs
        seq "$PARALLEL" | xargs -P "$PARALLEL" -I{} bash -c \
            'timestamp "$0" "par-{}" 2>"$0/par-{}.err" || mv "$0/par-{}.err" "$0/par-{}.failed"' \
            "$dir" || true
        failed=$(find "$dir" -name 'par-*.failed' | wc -l)
        if ((failed > 0)); then
            grep -v -m 5 '"severity":"info"' "$dir/server.log" | cut -c1-600 >&2 || true
            cat "$dir"/par-*.failed >&2
            [[ ! -e "$work/agent.log" ]] || grep -m 5 'error' "$work/agent.log" >&2 || true
            die "$name: $failed of $PARALLEL parallel requests failed"
        fi
    fi
    stop_tsa
    # The floor's answers are fixed: its timestamps do not verify.
    [[ "$name" == floor ]] || for i in $(seq "$SEQUENTIAL"); do
        check_response "$dir" "seq-$i" "$([[ $i == 1 || $i == "$SEQUENTIAL" ]] && echo cli)"
    done
    if ! $bench; then
        for i in $(seq "$PARALLEL"); do
            [[ -e "$dir/par-$i.failed" ]] || check_response "$dir" "par-$i" cli
        done
    fi
    printf '%s: %d sequential requests in %d ms: %s ms per request\n' "$name" "$SEQUENTIAL" \
        "$elapsed_ms" "$(awk "BEGIN { printf \"%.1f\", $elapsed_ms / $SEQUENTIAL }")" >&2
    if $bench; then
        printf 'tsa %s %s %s\n' "$round" "$name" "$(awk "BEGIN { printf \"%.3f\", $elapsed_ms / $SEQUENTIAL }")"
    fi
}

# Every signer: NAME KEY_DIR HASH SIGNER-FLAGS..., one a line.
signers=()
add_signer() { signers+=("$(printf '%q ' "$@")"); }

# The yardstick: the server's own file signer, no plugin.
dir="$work/file" && mkdir -p "$dir"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/key.pem"
openssl pkey -in "$dir/key.pem" -pubout -out "$dir/key.pub"
make_chain "$dir/key.pub" "$dir"
add_signer file "$dir" sha256 --timestamp-signer file --file-signer-key-path "$dir/key.pem"

# plugin_key DIR REFERENCE: creates the key through the plugin and makes
# its chain in DIR.
plugin_key() {
    (cd "$1" && sigstore-kms generate-key-pair --kms "$2" --output-key-prefix key >/dev/null)
    make_chain "$1/key.pub" "$1"
}

dir="$work/localkms" && mkdir -p "$dir"
plugin_key "$dir" "localkms://$dir/key.pem"
add_signer localkms-p256 "$dir" sha256 --timestamp-signer kms --kms-key-resource "localkms://$dir/key.pem"

if softhsm_module >/dev/null && command -v softhsm2-util >/dev/null; then
    step "a SoftHSM2 token with a P-256, a P-384 and an RSA-3072 key; sigstore-kms-hsm agent in the background"
    softhsm_token "$work/hsm" e2e-tsa
    eval "$(sigstore-kms-hsm agent --token e2e-tsa --log "$work/agent.log")" >&2
    agent_socket="$SIGSTORE_KMS_HSM_AGENT"
    unset SIGSTORE_KMS_HSM_AGENT
    [[ -S "$agent_socket" ]] || die "sigstore-kms-hsm agent printed no socket"
    # The modes of each key, in the order they run; the benchmark measures
    # P-256 in both modes, the other keys through the agent.
    for entry in \
        "p256 sha256 agent direct hsm://token=e2e-tsa;object=p256" \
        "p384 sha384 agent $($bench || echo direct) hsm://token=e2e-tsa;object=p384?algorithm=ecdsa-p384-sha384" \
        "rsa3072 sha256 agent $($bench || echo direct) hsm://token=e2e-tsa;object=rsa3072?algorithm=rsa-pkcs1v15-3072-sha256"; do
        read -r -a fields <<<"$entry"
        name="${fields[0]}" hash="${fields[1]}" reference="${fields[-1]}"
        mkdir -p "$work/hsm-$name"
        plugin_key "$work/hsm-$name" "$reference"
        for mode in "${fields[@]:2:${#fields[@]}-3}"; do
            add_signer "hsm-$name-$mode" "$work/hsm-$name" "$hash" \
                --timestamp-signer kms --kms-key-resource "$reference"
        done
    done
    if $bench; then
        # The floor under any plugin: sigstore-kms-floor, a static C
        # program that only prints the answers the P-256 key gave through
        # the agent (its signature is of another digest, so its timestamps
        # do not verify, and are not checked). A timestamp costs the server
        # three of its processes and nothing else.
        step "the floor: a static C program printing fixed answers"
        floor_call() {
            SIGSTORE_KMS_HSM_AGENT="$agent_socket" sigstore-kms-hsm v1 "{\"initOptions\":{\"protocolVersion\":\"v1\",\"keyResourceID\":\"token=e2e-tsa;object=p256\",\"hashFunc\":5,\"rpcOptions\":{\"keyVersion\":\"\",\"remoteVerification\":false}},$1}" </dev/null
        }
        mkdir "$work/floor"
        floor_call '"methodName":"publicKey","publicKey":{"publicKeyOptions":{"rpcOptions":{"keyVersion":"","remoteVerification":false}}}' >"$work/floor/public.json"
        floor_call '"methodName":"signMessage","signMessage":{"signOptions":{"rpcOptions":{"keyVersion":"","remoteVerification":false},"messageOptions":{"digest":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}}}' >"$work/floor/sign.json"
        python3 - "$work/floor" <<'PY'
import sys
d = sys.argv[1]
array = lambda name: ",".join(str(b) for b in open(f"{d}/{name}.json", "rb").read())
open(f"{d}/floor.c", "w").write(f"""#include <string.h>
#include <unistd.h>
static const char pk[] = {{{array("public")}}};
static const char sg[] = {{{array("sign")}}};
int main(int argc, char **argv) {{
    int public = argc > 2 && strstr(argv[2], "\\"publicKey\\"") != 0;
    return write(1, public ? pk : sg, public ? sizeof pk : sizeof sg) < 0;
}}
""")
PY
        cc -O2 -static -o "$work/floor/sigstore-kms-floor" "$work/floor/floor.c"
        export PATH="$work/floor:$PATH"
        add_signer floor "$work/hsm-p256" sha256 --timestamp-signer kms --kms-key-resource floor://p256
    fi
elif [[ "${SIGSTORE_KMS_REQUIRE_SOFTHSM:-}" == 1 ]]; then
    die "SoftHSM2 is not installed, and SIGSTORE_KMS_REQUIRE_SOFTHSM=1"
else
    printf '\nSKIPPING the HSM signers: SoftHSM2 (softhsm2-util and its module) is not installed\n' >&2
fi

# The benchmark interleaves its rounds, so that a change in the machine's
# load falls on every signer alike.
rounds=1
$bench && rounds="${TSA_ROUNDS:-3}"
for round in $(seq "$rounds"); do
    for signer in "${signers[@]}"; do
        eval "run_signer $signer"
    done
done

if [[ -n "$agent_socket" ]]; then
    ! grep -q 'error' "$work/agent.log" || { cat "$work/agent.log" >&2; die "the agent logged an error"; }
    eval "$(sigstore-kms-hsm agent --stop --socket "$agent_socket")" >&2
    agent_socket=""
fi

end_step
printf '\n==> e2e-tsa: all checks passed in %ds\n' "$SECONDS" >&2
