#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora, from the protocol vectors and the
public keys of the client's tests, into fuzz/corpus/TARGET/.

Run from anywhere: `make fuzz-corpus`, or `python3 fuzz/seed_corpus.py`.
The corpora are not committed; a fuzzing run grows them in place.
"""

import base64
import hashlib
import json
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
VECTORS = ROOT / "crates" / "protocol" / "tests" / "data" / "vectors.json"
KEYS = ROOT / "crates" / "client" / "tests" / "data"

# The order of MethodName::ALL: the first byte of a plugin_resp input picks
# the method its stdout answers.
METHODS = [
    "defaultAlgorithm",
    "supportedAlgorithms",
    "createKey",
    "publicKey",
    "signMessage",
    "verifySignature",
]


def write(target, data):
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def pem_to_der(pem):
    body = b"".join(
        line for line in pem.splitlines() if line and not line.startswith(b"-----")
    )
    return base64.b64decode(body)


def main():
    vectors = json.loads(VECTORS.read_text())
    for vector in vectors["args"]:
        write("plugin_args", vector["wire"].encode())
    for vector in vectors["responses"]:
        wire = vector["wire"].encode()
        for index, method in enumerate(METHODS):
            write("plugin_resp", bytes([index]) + wire)
        answer = json.loads(wire).get(vector["name"]) or {}
        if "publicKeyPEM" in answer:
            write("public_key_pem", base64.b64decode(answer["publicKeyPEM"]))

    pems = [path.read_bytes() for path in sorted(KEYS.glob("*.pem"))]
    # A P-256 and a P-384 key, when openssl is there to make them.
    for curve in ("P-256", "P-384"):
        try:
            private = subprocess.run(
                ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                 f"ec_paramgen_curve:{curve}"],
                check=True, capture_output=True).stdout
            pems.append(subprocess.run(
                ["openssl", "pkey", "-pubout"], input=private,
                check=True, capture_output=True).stdout)
        except (OSError, subprocess.CalledProcessError):
            pass
    for pem in pems:
        write("public_key_pem", pem)
        write("public_key_pem", pem_to_der(pem))
        # The same key as a plugin answers it, for the response parser.
        encoded = base64.b64encode(pem).decode()
        for method in ("createKey", "publicKey"):
            reply = json.dumps({method: {"publicKeyPEM": encoded}},
                               separators=(",", ":")).encode()
            write("plugin_resp", bytes([METHODS.index(method)]) + reply)

    for target in sorted(path.name for path in CORPUS.iterdir()):
        count = sum(1 for _ in (CORPUS / target).iterdir())
        print(f"fuzz/corpus/{target}: {count} inputs")


if __name__ == "__main__":
    main()
