//! `sigstore-kms-hsm`: a Sigstore KMS plugin that signs with keys kept in
//! any PKCS#11 token (a network HSM, a smart card, a YubiKey, SoftHSM2).
//! cosign 2.4.3 and later, Go programs using sigstore, and this project's
//! `sigstore-kms` use it for references `hsm://ATTRIBUTES`, where
//! ATTRIBUTES are those of an RFC 7512 PKCS#11 URI:
//!
//! ```text
//! hsm://token=release;object=cosign?module-path=/usr/lib/softhsm/libsofthsm2.so
//! ```
//!
//! - Path attributes select the token (`token`, `manufacturer`, `model`,
//!   `serial`, `slot-id`, `slot-description`, `slot-manufacturer`) and the
//!   key (`object` is its label, `id` its `CKA_ID`), percent-encoded.
//! - Query attributes: `module-path` (else `SIGSTORE_KMS_HSM_MODULE`),
//!   `pin-source=file:PATH` (else `SIGSTORE_KMS_HSM_PIN`), and
//!   `algorithm`, the key's algorithm and the plugin's default one.
//!   `pin-value` is refused: argv is readable by other users. A
//!   `module-path` is loaded as code, so a key reference is to be trusted
//!   as a program is; `SIGSTORE_KMS_HSM_MODULE_ALLOWLIST` limits which
//!   modules load.
//!
//! Digests are computed here and signed with the token's raw mechanisms
//! (`CKM_ECDSA`, `CKM_RSA_PKCS`), so tokens without combined
//! hash-and-sign mechanisms work. See README.md for cosign.
//!
//! `sigstore-kms-hsm agent` keeps the token logged in across calls; see
//! the `agent` module. A statically linked build forwards calls to the
//! agent and leaves the rest to its dynamically linked companion; see the
//! `companion` module.

// A static build runs only the forwarding to the agent; the rest is its
// companion's.
#![cfg_attr(
    all(unix, target_feature = "crt-static"),
    allow(dead_code, unused_imports)
)]

mod agent;
mod algorithm;
#[cfg(all(unix, target_feature = "crt-static"))]
mod companion;
mod create_lock;
mod error;
mod generate;
mod keys;
mod kms;
mod pair;
mod public_key;
mod report;
mod settings;
mod sys;
mod token;
mod token_info;
mod uri;

fn main() {
    agent::intercept();
    serve()
}

/// Serves the call in this process.
#[cfg(not(all(unix, target_feature = "crt-static")))]
fn serve() -> ! {
    sigstore_kms_handler::run(|init| report::report(kms::Hsm::open(init)).map(report::ReportErrors))
}

/// A static build cannot load modules: its companion serves the call.
#[cfg(all(unix, target_feature = "crt-static"))]
use companion::exec as serve;
