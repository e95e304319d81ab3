//! `sigstore-kms-racyfilekey`: the plugin of `filekey/`, with the
//! `createKey` most first plugins have, and a lesson in what the
//! conformance suite catches (this crate's `tests/examples.rs`). Do not
//! copy it.
//!
//! It checks that the key file does not exist, then makes a key and writes
//! it: callers that arrive at once all find no file, each makes its own key,
//! each answers its own, and the last write wins, so most of them published
//! a public key that signs nothing. The file is also written with the
//! default mode (0644 under the usual umask), readable by every user.

#[path = "filekey/plugin.rs"]
mod plugin;

use std::path::Path;
use std::time::Duration;

use p384::ecdsa::SigningKey;
use p384::elliptic_curve::Generate as _;
use p384::pkcs8::{EncodePrivateKey, LineEnding};
use sigstore_kms_handler::Error;

/// How long making a key takes: a remote key service takes this long or
/// longer, and the race below is open all that time.
const KEY_SERVICE_DELAY: Duration = Duration::from_millis(500);

fn create_unless_exists(path: &Path) -> Result<SigningKey, Error> {
    std::thread::sleep(KEY_SERVICE_DELAY);
    let key = SigningKey::from(p384::SecretKey::try_generate()?);
    std::fs::write(path, key.to_pkcs8_pem(LineEnding::LF)?.as_bytes())?;
    Ok(key)
}

fn main() {
    sigstore_kms_handler::run(|init| plugin::FileKey::open(init, create_unless_exists))
}
