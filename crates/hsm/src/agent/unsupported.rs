//! Systems without Unix sockets: the agent is not available, and a call
//! with `SIGSTORE_KMS_HSM_AGENT` set fails rather than silently using the
//! token directly.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process;

use super::AGENT_VARIABLE;

const UNSUPPORTED: &str = "the sigstore-kms-hsm agent runs on Unix systems only (Linux, macOS, \
     the BSDs): it needs a Unix socket and the peer's credentials";

/// `sigstore-kms-hsm agent`: says that it is not available here.
pub fn command(_args: Vec<OsString>) -> ! {
    eprintln!("sigstore-kms-hsm agent: {UNSUPPORTED}");
    process::exit(1)
}

/// A plugin call with `SIGSTORE_KMS_HSM_AGENT` set: answers an error.
pub fn forward(_socket: PathBuf) -> ! {
    let message = format!("{AGENT_VARIABLE} is set, but {UNSUPPORTED}; unset {AGENT_VARIABLE}");
    let reply = sigstore_kms_protocol::PluginResp::Error(message);
    let _ = sigstore_kms_handler::write_response(&mut io::stdout(), &reply);
    process::exit(1)
}
