//! Builds a PKCS #10 certificate request signed by a plugin key, of
//! whichever type the plugin serves, and prints it as PEM:
//!
//! ```sh
//! cargo run -p sigstore-kms-client --example csr -- localkms:///tmp/key.pem 'CN=release signing'
//! openssl req -verify -noout -in request.pem
//! ```

use std::io::Write as _;
use std::str::FromStr;
use std::time::Duration;

use signature::{Keypair, Signer};
use sigstore_kms_client::{CallOptions, Client, KeyAlgorithm, KeyType, PluginSigner, RsaPkcs1v15};
use spki::{DynSignatureAlgorithmIdentifier, EncodePublicKey, SignatureBitStringEncoding};
use x509_cert::builder::{Builder, RequestBuilder};
use x509_cert::der::pem::LineEnding;
use x509_cert::der::EncodePem;
use x509_cert::name::Name;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let (Some(key), Some(subject)) = (args.next(), args.next()) else {
        return Err(
            "usage: csr NAME://KEYREF SUBJECT (e.g. 'CN=release signing,O=Example')".into(),
        );
    };
    let subject = Name::from_str(&subject)?;
    let client = Client::builder()
        .default_timeout(Duration::from_secs(60))
        .load(&key)?;
    let algorithm = client.public_key(&CallOptions::new())?.algorithm().clone();
    let pem = match algorithm {
        KeyAlgorithm::EcdsaP256 => {
            request::<p256::NistP256, p256::ecdsa::DerSignature>(client, subject)?
        }
        KeyAlgorithm::EcdsaP384 => {
            request::<p384::NistP384, p384::ecdsa::DerSignature>(client, subject)?
        }
        KeyAlgorithm::EcdsaP521 => {
            request::<p521::NistP521, p521::ecdsa::DerSignature>(client, subject)?
        }
        KeyAlgorithm::Rsa { .. } => {
            request::<RsaPkcs1v15<sha2::Sha256>, rsa::pkcs1v15::Signature>(client, subject)?
        }
        other => return Err(format!("no certificate request for a {other} key").into()),
    };
    write!(std::io::stdout(), "{pem}")?;
    Ok(())
}

/// The request for `subject`, signed through a `PluginSigner<K>` with
/// signatures of type `S`.
fn request<K, S>(client: Client, subject: Name) -> Result<String, Failure>
where
    K: KeyType,
    K::VerifyingKey: EncodePublicKey,
    PluginSigner<K>: Signer<S> + Keypair<VerifyingKey = K::VerifyingKey>,
    PluginSigner<K>: DynSignatureAlgorithmIdentifier,
    S: SignatureBitStringEncoding,
{
    let signer = PluginSigner::<K>::new(client)?;
    let request = RequestBuilder::new(subject)?.build::<_, S>(&signer)?;
    Ok(request.to_pem(LineEnding::LF)?)
}
