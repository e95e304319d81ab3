//! `sigstore-kms-racyfilekey`: the plugin of `filekey/`, with the
//! `createKey` most first plugins have, and a lesson in what the
//! conformance suite catches (this crate's `tests/examples.rs`). Do not
//! copy it.
//!
//! It checks that the key file does not exist, then makes a key and writes
//! it: callers that arrive at once all find no file, each makes its own key,
//! each answers its own, and the last write wins, so most of them published
//! a public key that signs nothing. (It does write the file private, mode
//! 0600, so that the suite shows the race alone: the loader it shares with
//! `filekey`, `sigstore_kms_handler::keyfile`, refuses a key file others
//! can read.)

#[path = "filekey/plugin.rs"]
mod plugin;

use std::io::Write as _;
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
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)?
        .write_all(key.to_pkcs8_pem(LineEnding::LF)?.as_bytes())?;
    Ok(key)
}

fn main() {
    sigstore_kms_handler::run(|init| plugin::FileKey::open(init, create_unless_exists))
}
