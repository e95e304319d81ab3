# Every target runs from the repository root on a fresh clone.
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(CURDIR)/target

.PHONY: test fmt-check clippy unit-test test-signer-program interop interop-when-go demo package

## test: everything a change must pass (formatting, lints, all tests, the
## conformance suite against localkms, and the Go interop tests when go is present)
test: fmt-check clippy unit-test test-signer-program interop-when-go

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy -p sigstore-kms-client --features tokio --all-targets --locked -- -D warnings

unit-test:
	$(CARGO) build --workspace --locked
	$(CARGO) test --workspace --locked
	$(CARGO) test -p sigstore-kms-client --features tokio --locked --test asynchronous --test supervision

## test-signer-program: the conformance suite against localkms, with a key in
## a fresh temporary directory
test-signer-program:
	$(CARGO) build --locked -p sigstore-kms-localkms
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && cd crates/conformance && \
	  PATH="$(CARGO_TARGET_DIR)/debug:$$PATH" \
	  $(CARGO) test --locked --features signer_program --test signer_program -- \
	    --key-resource-id "localkms://$$dir/key.pem"

## package: cargo package (with verification) of every publishable crate
package:
	$(CARGO) package --workspace --locked

## demo: generate a key, sign, verify (through the plugin and with the PEM),
## and show that a tampered file fails
demo:
	$(CARGO) build --locked -p sigstore-kms-cli -p sigstore-kms-localkms
	crates/cli/demo.sh "$(CARGO_TARGET_DIR)/debug"

interop-when-go:
	@if command -v go >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory interop; \
	else \
	  echo "make test: go is not on PATH, SKIPPING make interop (the Go reference tests)" >&2; \
	fi

## interop: the Go reference host (pinned in interop/go.mod) against our
## plugins, and the Go plugin sigstore-kms-gokms checked for our host
interop:
	bash interop/run-interop.sh

.PHONY: test-windows
## test-windows: cross-build for Windows (mingw) and run the test suites and
## the conformance suite under Wine; cargo check for the Windows MSVC and
## both Apple targets with -D warnings (installs what it lacks; caches the
## Wine prefix and its target dir in ~/.cache/sigstore-kms-rs)
test-windows:
	bash .ci/windows.sh

.PHONY: e2e-cosign
## e2e-cosign: pinned cosign releases (and go-containerregistry's registry
## and crane), installed into .tools/bin: keys, blobs (bare and bundles) and
## images signed and verified offline through localkms and sigstore-kms-hsm
## (SoftHSM2) with P-256, P-384 and RSA-3072 keys
e2e-cosign:
	bash interop/e2e-cosign.sh

.PHONY: e2e-awskms
## e2e-awskms: sigstore-kms-awskms (crates/awskms, a workspace of its own,
## left out of make test) built, linted and tested against local-kms, the
## conformance suite against it, and cosign 3's built-in AWS provider on the
## same local-kms: P-256, P-384 and RSA-3072 keys made by either side, each
## side's signatures verified by the other and by OpenSSL, over http and
## over https with the endpoint in the reference (local-kms and cosign
## installed with go install into COSIGN_BIN_DIR; needs socat and openssl)
e2e-awskms:
	bash interop/e2e-awskms.sh

.PHONY: e2e-tsa
## e2e-tsa: a Sigstore timestamp authority (timestamp-server and
## timestamp-cli v2.1.3, built into ~/.cache/sigstore-kms-rs/tsa) signing on
## 127.0.0.1 with its file signer, localkms, and sigstore-kms-hsm (SoftHSM2;
## linked statically with its dynamically linked companion, as the Linux
## archives ship it) directly and through its agent with P-256, P-384 and
## RSA-3072 keys: 200
## sequential and 32 parallel requests each, every response verified with
## openssl ts -verify and timestamp-cli verify
e2e-tsa:
	bash interop/e2e-tsa.sh

.PHONY: example-sigstore
## example-sigstore: sigstore-rs (0.15) signs a cosign signature layer
## through plugin keys and verifies with its own key type: P-256 in
## localkms, P-384 in sigstore-kms-hsm over SoftHSM2 (examples/sigstore-rs)
example-sigstore:
	bash examples/sigstore-rs/run.sh

.PHONY: stress
## stress: concurrency and soak against localkms in a release build: 32
## concurrent createKey, 64 signing threads, 5,000 sequential calls, 100 MiB
## messages (a minute or two; not part of make test); figures in docs/robustness.md
stress:
	$(CARGO) build --release --locked -p sigstore-kms-localkms
	$(CARGO) test --release --locked -p sigstore-kms-stress -- --ignored --nocapture --test-threads=1

.PHONY: fuzz fuzz-corpus
FUZZ_TOOLCHAIN ?= nightly
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= plugin_args plugin_resp public_key_pem
## fuzz-corpus: seed fuzz/corpus/TARGET from the protocol vectors and the
## client's test keys (not committed)
fuzz-corpus:
	python3 fuzz/seed_corpus.py

## fuzz: each fuzz target in turn for FUZZ_SECONDS (default 600), with
## cargo-fuzz on the nightly toolchain (see docs/robustness.md)
fuzz: fuzz-corpus
	cd fuzz && for target in $(FUZZ_TARGETS); do \
	  CARGO_TARGET_DIR="$(CURDIR)/fuzz/target" cargo +$(FUZZ_TOOLCHAIN) fuzz run $$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -dict=protocol.dict -print_final_stats=1 || exit 1; \
	done

.PHONY: bench
## bench: per-call overhead, streaming, memory and scaling in release builds,
## against /bin/true, OpenSSL, the Go reference and cosign, and a timestamp
## authority on plugin keys; writes BENCHMARKS.md (minutes; not part of make test)
bench:
	bash bench/run.sh

.PHONY: conformance-under-load
RUNS ?= 20
STRESS_CPUS ?= $(shell echo $$(( 2 * $$(nproc) )))
HSM_TESTS ?=
## conformance-under-load: the conformance suite RUNS times (default 20)
## against localkms and against sigstore-kms-hsm on SoftHSM2 (HSM_TESTS
## filters its algorithms, e.g. "ecdsa_p256_sha256"), while stress-ng keeps
## STRESS_CPUS workers (default twice the cores) busy; stops at the first
## failure (docs/conformance-under-load.md)
conformance-under-load:
	$(CARGO) build --locked -p sigstore-kms-localkms
	$(CARGO) test --locked --no-run -p sigstore-kms-hsm --test conformance
	cd crates/conformance && $(CARGO) test --locked --no-run --features signer_program --test signer_program
	stress-ng --cpu $(STRESS_CPUS) --quiet & stress=$$!; \
	log=$$(mktemp); trap 'kill $$stress; rm -f "$$log"' EXIT; \
	for run in $$(seq $(RUNS)); do \
	  dir=$$(mktemp -d); \
	  if (cd crates/conformance && PATH="$(CARGO_TARGET_DIR)/debug:$$PATH" \
	      $(CARGO) test --locked --features signer_program --test signer_program -- \
	        --key-resource-id "localkms://$$dir/key.pem") >"$$log" 2>&1; then \
	    echo "localkms: run $$run of $(RUNS): $$(tail -n 1 "$$log")"; rm -rf "$$dir"; \
	  else cat "$$log"; echo "localkms: run $$run FAILED" >&2; exit 1; fi; \
	done; \
	for run in $$(seq $(RUNS)); do \
	  if SIGSTORE_KMS_REQUIRE_SOFTHSM=1 $(CARGO) test --locked -p sigstore-kms-hsm \
	      --test conformance -- $(HSM_TESTS) >"$$log" 2>&1; then \
	    echo "hsm: run $$run of $(RUNS): $$(grep 'test result' "$$log")"; \
	  else cat "$$log"; echo "hsm: run $$run FAILED" >&2; exit 1; fi; \
	done

.PHONY: bench-hsm
## bench-hsm: only the HSM section of make bench (sigstore-kms-hsm direct and
## through its agent, over SoftHSM2), replaced in BENCHMARKS.md.
bench-hsm:
	bash bench/run.sh hsm

.PHONY: test-tokens
## test-tokens: sigstore-kms-hsm against four PKCS#11 implementations from
## Debian's packages, each started by interop/tokens.sh: a software TPM
## (swtpm, tpm2-abrmd, tpm2-pkcs11), openCryptoki's soft token, p11-kit's
## proxy over two SoftHSM2 tokens, and SoftHSM2 with 32 parallel signers;
## every key type each makes, and the ones it lacks refused by name
test-tokens:
	bash interop/tokens.sh

.PHONY: bench-tsa
## bench-tsa: only the timestamp authority section of make bench
## (timestamp-server on plugin keys, per request, against its file signer),
## replaced in BENCHMARKS.md.
bench-tsa:
	bash bench/run.sh tsa

.PHONY: dist
## dist: release archives (Linux glibc, static musl and aarch64, Windows;
## the Apple targets on macOS) into dist/ with SHA256SUMS, each target built
## twice to check that the bytes are the same (DIST_CHECK_TARGETS), signed
## with a plugin key (SIGNING_KEY=NAME://REF, default a new localkms key)
## and verified by sigstore-kms and cosign 3 (packaging/dist.sh;
## DIST_TARGETS picks targets)
dist:
	bash packaging/dist.sh

.PHONY: dist-sign
## dist-sign: SHA256SUMS over the archives in dist/, signed and verified as
## make dist does, with the binaries in DIST_TOOLS (the release job's
## signing of archives built on several machines)
dist-sign:
	bash packaging/dist.sh sign
