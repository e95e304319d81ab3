//! `sigstore-kms-localkms`: the reference Sigstore KMS plugin. It serves
//! ECDSA P-256 keys kept in local PEM files, `localkms://PATH`.
//!
//! Environment:
//! - `SIGSTORE_KMS_LOCALKMS_DEBUG=1`: diagnostics on stderr.
//! - `SIGSTORE_KMS_LOCALKMS_FAIL=[METHOD:]MODE`: fail on purpose (see
//!   `fault.rs`), for testing hosts.

mod diagnostics;
mod fault;
mod keyfile;
mod kms;

use fault::Fault;
use sigstore_kms_protocol::MethodArgs;

fn main() {
    let fault = Fault::from_env();
    if let Some(fault) = fault.as_ref().ok().filter(|fault| fault.is_set()) {
        let args = sigstore_kms_handler::parse_args(std::env::args_os()).ok();
        let method = args.as_ref().map(|args| match &args.method {
            MethodArgs::Unknown(name) => name.as_str(),
            known => known.method_name(),
        });
        fault.before_run(method);
    }
    sigstore_kms_handler::run(move |init| kms::LocalKms::open(init, fault?))
}
