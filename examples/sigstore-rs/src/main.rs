//! sigstore-rs with a key held by a Sigstore KMS plugin: signs a cosign
//! signature layer through the plugin (a `cosign::Constraint`), verifies it
//! and a blob signature made by the plugin with sigstore-rs's own
//! `CosignVerificationKey`, and checks that changed payloads fail.
//!
//! ```sh
//! sigstore-kms-sigstore-rs-example [--create ALGORITHM] NAME://KEYREF
//! ```
//!
//! With `--create`, the plugin first creates the key (`createKey`). Exits
//! with status 1 and a message on stderr when any step fails.

mod constraint;

use std::io::Write as _;
use std::process::ExitCode;
use std::slice;
use std::time::Duration;

use signature::SignatureEncoding;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{verify_constraints, Constraint, SignatureLayer};
use sigstore::crypto::{CosignVerificationKey, Signature, SigningScheme};
use sigstore::registry::OciReference;
use sigstore_kms_client::{CallOptions, Client, HashFunc, KeyAlgorithm, KeyType, PluginSigner};

use crate::constraint::{with_sources, PluginConstraint};

const USAGE: &str = "usage: sigstore-kms-sigstore-rs-example [--create ALGORITHM] NAME://KEYREF";

/// The image whose manifest the signature layer signs.
const IMAGE: &str =
    "registry.example/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const MANIFEST_DIGEST: &str =
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
/// The digest a tampered layer claims instead.
const OTHER_DIGEST: &str =
    "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

/// Plugins may wait on a token or a remote KMS; a generous deadline only
/// keeps a stuck plugin from hanging the example.
const TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "sigstore-rs example: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (create, key) = match args.as_slice() {
        [flag, algorithm, key] if flag == "--create" => (Some(algorithm.as_str()), key.as_str()),
        [key] if !key.starts_with('-') => (None, key.as_str()),
        _ => return Err(USAGE.to_owned()),
    };
    let options = CallOptions::new();
    let client = Client::builder()
        .default_timeout(TIMEOUT)
        .load(key)
        .map_err(|e| format!("cannot load the plugin for {key}: {}", with_sources(&e)))?;
    let public_key = match create {
        Some(algorithm) => client.create_key(algorithm, &options),
        None => client.public_key(&options),
    }
    .map_err(|e| format!("no public key for {key}: {}", with_sources(&e)))?;

    // The digest and sigstore-rs signing scheme cosign uses with each key type.
    match public_key.algorithm() {
        KeyAlgorithm::EcdsaP256 => check::<p256::NistP256, p256::ecdsa::DerSignature>(
            key,
            SigningScheme::ECDSA_P256_SHA256_ASN1,
            HashFunc::SHA256,
        ),
        KeyAlgorithm::EcdsaP384 => check::<p384::NistP384, p384::ecdsa::DerSignature>(
            key,
            SigningScheme::ECDSA_P384_SHA384_ASN1,
            HashFunc::SHA384,
        ),
        other => Err(format!(
            "{key} is an {other} key; this example covers ECDSA P-256 and P-384 keys"
        )),
    }
}

/// Signs and verifies with the plugin key `key` of type `K`, whose
/// signatures are `S`.
fn check<K, S>(key: &str, scheme: SigningScheme, hash: HashFunc) -> Result<(), String>
where
    K: KeyType + 'static,
    S: SignatureEncoding + 'static,
    PluginSigner<K>: signature::Signer<S>,
{
    let options = CallOptions::new();
    let client = Client::builder()
        .hash_func(hash)
        .default_timeout(TIMEOUT)
        .load(key)
        .map_err(|e| format!("cannot load the plugin for {key}: {}", with_sources(&e)))?;
    let signer = PluginSigner::<K>::new(client.clone())
        .map_err(|e| format!("no {} signer for {key}: {}", K::NAME, with_sources(&e)))?;
    // The bridge into sigstore-rs is the key's PEM (SubjectPublicKeyInfo),
    // exactly as cosign users hand it a `cosign.pub`.
    let pem = signer.public_key().to_pem();
    let verifying_key = CosignVerificationKey::from_pem(pem.as_bytes(), &scheme)
        .map_err(|e| format!("sigstore-rs cannot read the plugin's public key: {e}"))?;

    // A signature layer for an image, signed through the plugin. The
    // constraint is applied directly rather than through
    // `cosign::apply_constraints`, which logs the reason of a failure and
    // drops it.
    let image: OciReference = IMAGE
        .parse()
        .map_err(|e| format!("bad image reference {IMAGE}: {e}"))?;
    let mut layer = SignatureLayer::new_unsigned(&image, MANIFEST_DIGEST)
        .map_err(|e| format!("cannot build the signature layer: {e}"))?;
    let signed = PluginConstraint::<K, S>::new(signer)
        .add_constraint(&mut layer)
        .map_err(|e| e.to_string())?;
    if !signed {
        return Err("the new signature layer was signed already".to_owned());
    }

    // sigstore-rs verifies the layer with the plugin's public key...
    let verifiers: Vec<Box<dyn VerificationConstraint>> = vec![Box::new(
        PublicKeyVerifier::new(pem.as_bytes(), &scheme)
            .map_err(|e| format!("sigstore-rs cannot read the plugin's public key: {e}"))?,
    )];
    verify_constraints(slice::from_ref(&layer), verifiers.iter())
        .map_err(|_| format!("sigstore-rs rejected the layer signed with {key} ({scheme})"))?;
    // ...and rejects it once its payload names another manifest.
    let mut tampered = layer.clone();
    tampered
        .simple_signing
        .critical
        .image
        .docker_manifest_digest = OTHER_DIGEST.to_owned();
    tampered.raw_data = serde_json::to_vec(&tampered.simple_signing)
        .map_err(|e| format!("cannot serialise the tampered payload: {e}"))?;
    if verify_constraints(slice::from_ref(&tampered), verifiers.iter()).is_ok() {
        return Err(format!(
            "sigstore-rs accepted a layer whose payload changed after {key} signed it"
        ));
    }

    // A blob signed by the plugin's own signMessage path (hashing in the
    // client, as cosign's plugin host does), checked with the same key.
    let blob = layer.raw_data.clone();
    let blob_signature = client
        .sign_message(blob.as_slice(), &options)
        .map_err(|e| format!("{key} did not sign the blob: {}", with_sources(&e)))?;
    verifying_key
        .verify_signature(Signature::Raw(&blob_signature), &blob)
        .map_err(|e| format!("sigstore-rs rejected the blob signature of {key}: {e}"))?;
    let mut changed = blob;
    changed.push(b'\n');
    if verifying_key
        .verify_signature(Signature::Raw(&blob_signature), &changed)
        .is_ok()
    {
        return Err(format!(
            "sigstore-rs accepted {key}'s blob signature over a changed blob"
        ));
    }

    let _ = writeln!(
        std::io::stdout(),
        "{key}: {} ({scheme}): signature layer signed through the plugin and verified by \
         sigstore-rs; blob signature verified; tampered payloads rejected",
        K::NAME
    );
    Ok(())
}
