# Every target runs from the repository root on a fresh clone.
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(CURDIR)/target

.PHONY: test fmt-check clippy unit-test test-signer-program interop interop-when-go demo

## test: everything a change must pass (formatting, lints, all tests, the
## conformance suite against localkms, and the Go interop tests when go is present)
test: fmt-check clippy unit-test test-signer-program interop-when-go

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit-test:
	$(CARGO) build --workspace --locked
	$(CARGO) test --workspace --locked

## test-signer-program: the conformance suite against localkms, with a key in
## a fresh temporary directory
test-signer-program:
	$(CARGO) build --locked -p sigstore-kms-localkms
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && cd crates/conformance && \
	  PATH="$(CARGO_TARGET_DIR)/debug:$$PATH" \
	  $(CARGO) test --locked --features signer_program --test signer_program -- \
	    --key-resource-id "localkms://$$dir/key.pem"

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

.PHONY: e2e-cosign
## e2e-cosign: pinned cosign releases, installed into .tools/bin, generate a
## key, sign and verify blobs offline through localkms
e2e-cosign:
	bash interop/e2e-cosign.sh
