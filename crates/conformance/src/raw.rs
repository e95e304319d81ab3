//! Running the plugin by hand, for the checks the client's methods cannot
//! express (another protocol version, an unknown method, a look at raw
//! stdout): through [`Client::call_raw`], so under the same supervision as
//! every call (deadline, stdout limit, the plugin's whole process tree).

use std::time::Duration;

use sigstore_kms_client::{CallOptions, Client};
use sigstore_kms_protocol::MethodArgs;

/// Runs the plugin as `sigstore-kms-NAME VERSION '<json>'` for `method`
/// with empty stdin and returns its stdout.
pub(crate) fn run(
    client: &Client,
    version: &str,
    method: MethodArgs,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    client
        .call_raw(version, method, &CallOptions::new().timeout(timeout))
        .map(|reply| reply.stdout)
        .map_err(|err| err.to_string())
}

/// The first bytes of `output`, printable, for a failure message.
pub(crate) fn excerpt(output: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&output[..output.len().min(MAX)]).into_owned();
    if output.len() > MAX {
        format!("{text:?}...")
    } else {
        format!("{text:?}")
    }
}
