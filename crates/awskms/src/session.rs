//! One conversation with AWS KMS: the SDK configured from the standard
//! chain (environment, profiles, web identity, instance roles), with the
//! reference's endpoint when it names one, over rustls.

use std::future::Future;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sigstore_kms_protocol::OffsetDateTime;
use tokio::runtime::Runtime;

use crate::error::AwsKmsError;
use crate::reference::KeyReference;

/// A runtime, and a KMS client configured for one key reference.
pub struct Session {
    runtime: Runtime,
    pub client: aws_sdk_kms::Client,
    deadline: Option<OffsetDateTime>,
}

impl Session {
    /// Loads the AWS configuration and builds the client. Nothing is sent
    /// yet; credentials are resolved by the first request.
    pub fn open(
        reference: &KeyReference,
        deadline: Option<OffsetDateTime>,
    ) -> Result<Self, AwsKmsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(AwsKmsError::Runtime)?;
        let config = within(&runtime, deadline, load_config(reference))??;
        let client = aws_sdk_kms::Client::new(&config);
        Ok(Session {
            runtime,
            client,
            deadline,
        })
    }

    /// Runs `work` to completion, or until the call's deadline.
    pub fn run<T>(
        &self,
        work: impl Future<Output = Result<T, AwsKmsError>>,
    ) -> Result<T, AwsKmsError> {
        within(&self.runtime, self.deadline, work)?
    }
}

fn within<T>(
    runtime: &Runtime,
    deadline: Option<OffsetDateTime>,
    work: impl Future<Output = T>,
) -> Result<T, AwsKmsError> {
    let Some(deadline) = deadline else {
        return Ok(runtime.block_on(work));
    };
    let left = deadline - OffsetDateTime::now_utc();
    let left = Duration::try_from(left).map_err(|_| AwsKmsError::DeadlineExceeded)?;
    runtime
        .block_on(async { tokio::time::timeout(left, work).await })
        .map_err(|_| AwsKmsError::DeadlineExceeded)
}

async fn load_config(reference: &KeyReference) -> Result<SdkConfig, AwsKmsError> {
    // sigstore's provider turns verification off for this value: refuse
    // it rather than silently verify what its user meant to skip.
    if std::env::var_os("AWS_TLS_INSECURE_SKIP_VERIFY").is_some_and(|value| value == "1") {
        return Err(AwsKmsError::InsecureSkipVerify);
    }
    let tls_context = TlsContext::builder()
        .with_trust_store(trust_store()?)
        .build()
        .map_err(|err| AwsKmsError::Api {
            operation: "configuring TLS",
            message: DisplayErrorContext(&err).to_string(),
        })?;
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context)
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
    // An endpoint in the reference wins over AWS_ENDPOINT_URL and the
    // profile's, as in sigstore's provider.
    if let Some(url) = reference.endpoint_url() {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(AwsKmsError::NoRegion);
    }
    Ok(config)
}

/// The system's roots, or only the certificates of `AWS_CA_BUNDLE` when it
/// is set (the Go SDK's meaning of the variable), each checked here so that
/// a bad file is an error that names it.
fn trust_store() -> Result<TrustStore, AwsKmsError> {
    let path = match std::env::var_os("AWS_CA_BUNDLE") {
        Some(path) if !path.is_empty() => path,
        _ => return Ok(TrustStore::default()),
    };
    let shown = path.to_string_lossy().into_owned();
    let bundle_error = |reason: String| AwsKmsError::CaBundle {
        path: shown.clone(),
        reason,
    };
    let pem = std::fs::read(&path).map_err(|err| bundle_error(err.to_string()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bundle_error(format!("not a PEM certificate bundle: {err}")))?;
    if certificates.is_empty() {
        return Err(bundle_error("holds no PEM certificate".to_owned()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (index, certificate) in certificates.into_iter().enumerate() {
        roots.add(certificate).map_err(|err| {
            bundle_error(format!(
                "certificate {} cannot be a trust anchor: {err}",
                index + 1
            ))
        })?;
    }
    Ok(TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(pem))
}

/// The KMS error code and message of a service error; for any other
/// failure (connection, credentials, timeout) the whole chain of causes.
pub fn api_error<E>(operation: &'static str, err: SdkError<E>) -> AwsKmsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = match err.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("(no message)")
        ),
        None => DisplayErrorContext(&err).to_string(),
    };
    AwsKmsError::Api { operation, message }
}
