//! The plugin: cosign's `awskms://` references, served as sigstore's AWS
//! provider serves them.

use std::io::Read;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use sigstore_kms_handler::{public_key_pem_from_der, CallOptions, Error, Plugin};
use sigstore_kms_protocol::InitOptions;

use crate::error::AwsKmsError;
use crate::reference::KeyReference;
use crate::session::{api_error, Session};
use crate::signing::SigningAlgorithm;

/// The key specs `createKey` takes, as sigstore's provider lists them.
pub const SUPPORTED_ALGORITHMS: [&str; 6] = [
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
];

/// The provider's default key spec.
pub const DEFAULT_ALGORITHM: &str = "ECC_NIST_P256";

/// The description sigstore's provider gives the keys it creates.
const KEY_DESCRIPTION: &str = "Created by Sigstore";

/// How long a key made by a `createKey` that lost the race for its alias
/// waits for deletion: the shortest AWS allows.
const ORPHAN_DELETION_DAYS: i32 = 7;

/// How long a `createKey` that made an alias waits before reading it back.
/// Concurrent `createKey` calls of one new alias send their CreateAlias
/// within milliseconds of each other; creating a key is rare, and slow
/// anyway.
const ALIAS_SETTLE: Duration = Duration::from_secs(1);

/// One `awskms://` key reference.
pub struct AwsKms {
    reference: KeyReference,
}

/// What `GetPublicKey` tells about a key.
struct KeyInfo {
    der: Vec<u8>,
    signing_algorithms: Vec<SigningAlgorithmSpec>,
}

impl KeyInfo {
    fn pem(&self) -> Result<String, Error> {
        Ok(public_key_pem_from_der(&self.der)?)
    }

    fn signing_algorithm(&self) -> Result<SigningAlgorithm, AwsKmsError> {
        SigningAlgorithm::of_key(&self.signing_algorithms)
    }
}

impl AwsKms {
    /// Parses the reference; nothing is sent to AWS until a method needs it.
    pub fn open(init: &InitOptions) -> Result<Self, Error> {
        let reference = KeyReference::parse(&format!("awskms://{}", init.key_resource_id))?;
        Ok(AwsKms { reference })
    }

    fn session(&self, options: &CallOptions) -> Result<Session, AwsKmsError> {
        if !options.key_version.is_empty() {
            return Err(AwsKmsError::KeyVersion(options.key_version.clone()));
        }
        Session::open(&self.reference, options.deadline)
    }

    /// The digest to sign or verify, once the key's algorithm accepts the
    /// call's hash.
    fn digest(
        &self,
        key: &KeyInfo,
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(SigningAlgorithm, Vec<u8>), Error> {
        let algorithm = key.signing_algorithm()?;
        algorithm.check_hash(options.hash_func)?;
        let digest = options.digest(message)?;
        Ok((algorithm, digest))
    }
}

async fn get_public_key(session: &Session, key_id: &str) -> Result<KeyInfo, AwsKmsError> {
    let out = session
        .client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|err| api_error("getting the public key", err))?;
    Ok(key_info(out.public_key, out.signing_algorithms))
}

fn key_info(der: Option<Blob>, algorithms: Option<Vec<SigningAlgorithmSpec>>) -> KeyInfo {
    KeyInfo {
        der: der.map(Blob::into_inner).unwrap_or_default(),
        signing_algorithms: algorithms.unwrap_or_default(),
    }
}

/// Creates the key and its alias; when another caller created the alias
/// first, schedules the key just made for deletion and answers theirs.
async fn create_key(session: &Session, alias: &str, spec: &str) -> Result<KeyInfo, AwsKmsError> {
    let created = session
        .client
        .create_key()
        .key_spec(KeySpec::from(spec))
        .key_usage(KeyUsageType::SignVerify)
        .description(KEY_DESCRIPTION)
        .send()
        .await
        .map_err(|err| api_error("creating the key", err))?;
    let key_id = created
        .key_metadata
        .map(|metadata| metadata.key_id)
        .ok_or_else(|| AwsKmsError::Api {
            operation: "creating the key",
            message: "CreateKey answered no key metadata".to_owned(),
        })?;
    match session
        .client
        .create_alias()
        .alias_name(alias)
        .target_key_id(&key_id)
        .send()
        .await
    {
        Ok(_) => {
            let ours = get_public_key(session, &key_id).await?;
            // Read back through the alias once concurrent creators are
            // done: a server whose CreateAlias checks and then writes
            // (local-kms) lets racing callers all succeed, the last write
            // winning; each then answers the key the alias ends with. A new
            // alias that does not resolve yet (AWS is eventually
            // consistent, and its CreateAlias atomic) is ours.
            tokio::time::sleep(ALIAS_SETTLE).await;
            match get_public_key(session, alias).await {
                Ok(theirs) if theirs.der != ours.der => {
                    abandon(session, alias, &key_id).await;
                    Ok(theirs)
                }
                _ => Ok(ours),
            }
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|err| err.is_already_exists_exception()) =>
        {
            abandon(session, alias, &key_id).await;
            get_public_key(session, alias).await
        }
        Err(err) => Err(api_error("creating the alias", err)),
    }
}

/// Schedules the deletion of `key_id`, a key this call made for `alias`
/// that another caller's key took, and says so on stderr.
async fn abandon(session: &Session, alias: &str, key_id: &str) {
    let scheduled = session
        .client
        .schedule_key_deletion()
        .key_id(key_id)
        .pending_window_in_days(ORPHAN_DELETION_DAYS)
        .send()
        .await;
    match scheduled {
        Ok(_) => eprintln!(
            "sigstore-kms-awskms: {alias} was created by another caller meanwhile; the key {key_id} made by this call is scheduled for deletion in {ORPHAN_DELETION_DAYS} days"
        ),
        Err(err) => eprintln!(
            "sigstore-kms-awskms: {alias} was created by another caller meanwhile; scheduling the deletion of the unused key {key_id} failed: {}",
            api_error("scheduling key deletion", err)
        ),
    }
}

impl Plugin for AwsKms {
    fn default_algorithm(&self) -> Result<String, Error> {
        Ok(DEFAULT_ALGORITHM.to_owned())
    }

    fn supported_algorithms(&self) -> Result<Vec<String>, Error> {
        Ok(SUPPORTED_ALGORITHMS.map(str::to_owned).to_vec())
    }

    fn create_key(&self, algorithm: &str, options: &CallOptions) -> Result<String, Error> {
        let Some(alias) = &self.reference.alias else {
            return Err(AwsKmsError::CreateNeedsAlias(self.reference.key_id.clone()).into());
        };
        if !SUPPORTED_ALGORITHMS.contains(&algorithm) {
            return Err(AwsKmsError::UnsupportedAlgorithm {
                algorithm: algorithm.to_owned(),
                supported: SUPPORTED_ALGORITHMS.join(", "),
            }
            .into());
        }
        let session = self.session(options)?;
        let key_id = &self.reference.key_id;
        let key = session.run(async {
            match session.client.get_public_key().key_id(key_id).send().await {
                Ok(out) => Ok(key_info(out.public_key, out.signing_algorithms)),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|err| err.is_not_found_exception()) =>
                {
                    create_key(&session, alias, algorithm).await
                }
                Err(err) => Err(api_error("looking up the key", err)),
            }
        })?;
        key.pem()
    }

    fn public_key(&self, options: &CallOptions) -> Result<String, Error> {
        let session = self.session(options)?;
        session
            .run(get_public_key(&session, &self.reference.key_id))?
            .pem()
    }

    fn sign_message(
        &self,
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        let session = self.session(options)?;
        let key = session.run(get_public_key(&session, &self.reference.key_id))?;
        let (algorithm, digest) = self.digest(&key, message, options)?;
        let signature = session.run(async {
            session
                .client
                .sign()
                .key_id(&self.reference.key_id)
                .message(Blob::new(digest))
                .message_type(MessageType::Digest)
                .signing_algorithm(algorithm.spec.clone())
                .send()
                .await
                .map_err(|err| api_error("signing", err))
        })?;
        signature
            .signature
            .map(Blob::into_inner)
            .ok_or_else(|| "Sign answered no signature".into())
    }

    fn verify_signature(
        &self,
        signature: &[u8],
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(), Error> {
        let session = self.session(options)?;
        let key = session.run(get_public_key(&session, &self.reference.key_id))?;
        let (algorithm, digest) = self.digest(&key, message, options)?;
        if !options.remote_verification {
            return Ok(algorithm.verify_locally(&key.der, &digest, signature)?);
        }
        let verified = session.run(async {
            match session
                .client
                .verify()
                .key_id(&self.reference.key_id)
                .message(Blob::new(digest))
                .message_type(MessageType::Digest)
                .signature(Blob::new(signature))
                .signing_algorithm(algorithm.spec.clone())
                .send()
                .await
            {
                Ok(out) => Ok(out.signature_valid),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|err| err.is_kms_invalid_signature_exception()) =>
                {
                    Ok(false)
                }
                Err(err) => Err(api_error("verifying", err)),
            }
        })?;
        if verified {
            Ok(())
        } else {
            Err(AwsKmsError::InvalidSignatureRemotely(algorithm.spec.as_str().to_owned()).into())
        }
    }
}
