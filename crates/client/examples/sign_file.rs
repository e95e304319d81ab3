//! Signs a file with a plugin key, checks the signature locally with the
//! key's public half, and prints it in base64 (as `cosign sign-blob` does):
//!
//! ```sh
//! cargo run -p sigstore-kms-client --example sign_file -- localkms:///tmp/key.pem README.md
//! ```

use std::fs::File;
use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use sigstore_kms_client::{CallOptions, Client, HashFunc, KeyAlgorithm};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(key), Some(path)) = (args.next(), args.next()) else {
        return Err("usage: sign_file NAME://KEYREF FILE".into());
    };
    let options = CallOptions::new();
    let public_key = Client::builder()
        .default_timeout(Duration::from_secs(60))
        .load(&key)?
        .public_key(&options)?;
    // The digest each key type is used with in Sigstore.
    let hash = match public_key.algorithm() {
        KeyAlgorithm::EcdsaP384 => HashFunc::SHA384,
        KeyAlgorithm::EcdsaP521 => HashFunc::SHA512,
        _ => HashFunc::SHA256,
    };
    let client = Client::builder()
        .hash_func(hash)
        .default_timeout(Duration::from_secs(60))
        .load(&key)?;
    // The file is streamed to the plugin, and hashed as it is read again.
    let signature = client.sign_message(File::open(&path)?, &options)?;
    public_key.verify(File::open(&path)?, &signature, hash)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&signature);
    writeln!(std::io::stdout(), "{encoded}")?;
    Ok(())
}
