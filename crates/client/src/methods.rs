//! The six methods, described once for every API that calls them: what
//! each sends (its arguments, from the call's options) and what it makes
//! of the plugin's reply. The clients add only how the call is made.

use std::time::SystemTime;

use sigstore_kms_protocol::{
    CreateKeyArgs, DefaultAlgorithmArgs, MessageOptions, MethodArgs, MethodName, MethodResp,
    OffsetDateTime, PublicKeyArgs, RpcOptions, SignMessageArgs, SupportedAlgorithmsArgs,
    VerifySignatureArgs,
};

use crate::{CallOptions, Client, Error, PublicKey};

/// One method call, ready to be made: the arguments, the deadline, and
/// how the reply becomes the method's result.
pub(crate) struct Request<T> {
    pub method: MethodName,
    pub args: MethodArgs,
    pub deadline: Option<SystemTime>,
    pub reply: fn(&Client, MethodResp) -> Result<T, Error>,
}

pub(crate) fn default_algorithm(client: &Client, options: &CallOptions) -> Request<String> {
    Request {
        method: MethodName::DefaultAlgorithm,
        args: MethodArgs::DefaultAlgorithm(DefaultAlgorithmArgs::new()),
        deadline: client.deadline(options),
        reply: |client, reply| match reply {
            MethodResp::DefaultAlgorithm(reply) => Ok(reply.default_algorithm),
            other => Err(client.mismatched(MethodName::DefaultAlgorithm, other)),
        },
    }
}

pub(crate) fn supported_algorithms(client: &Client, options: &CallOptions) -> Request<Vec<String>> {
    Request {
        method: MethodName::SupportedAlgorithms,
        args: MethodArgs::SupportedAlgorithms(SupportedAlgorithmsArgs::new()),
        deadline: client.deadline(options),
        reply: |client, reply| match reply {
            MethodResp::SupportedAlgorithms(reply) => Ok(reply.supported_algorithms),
            other => Err(client.mismatched(MethodName::SupportedAlgorithms, other)),
        },
    }
}

pub(crate) fn create_key(
    client: &Client,
    algorithm: &str,
    options: &CallOptions,
) -> Request<PublicKey> {
    let deadline = client.deadline(options);
    Request {
        method: MethodName::CreateKey,
        args: MethodArgs::CreateKey(CreateKeyArgs::new(
            algorithm,
            deadline.map(OffsetDateTime::from),
        )),
        deadline,
        reply: |client, reply| match reply {
            MethodResp::CreateKey(reply) => {
                client.public_key_from(MethodName::CreateKey, &reply.public_key_pem)
            }
            other => Err(client.mismatched(MethodName::CreateKey, other)),
        },
    }
}

pub(crate) fn public_key(client: &Client, options: &CallOptions) -> Request<PublicKey> {
    let deadline = client.deadline(options);
    Request {
        method: MethodName::PublicKey,
        args: MethodArgs::PublicKey(PublicKeyArgs::new(rpc_options(options, deadline))),
        deadline,
        reply: |client, reply| match reply {
            MethodResp::PublicKey(reply) => {
                client.public_key_from(MethodName::PublicKey, &reply.public_key_pem)
            }
            other => Err(client.mismatched(MethodName::PublicKey, other)),
        },
    }
}

/// `signMessage`, of the message streamed with it or of the digest in
/// `options`.
pub(crate) fn sign_message(client: &Client, options: &CallOptions) -> Request<Vec<u8>> {
    let deadline = client.deadline(options);
    Request {
        method: MethodName::SignMessage,
        args: MethodArgs::SignMessage(SignMessageArgs::new(
            rpc_options(options, deadline),
            message_options(options),
        )),
        deadline,
        reply: |client, reply| match reply {
            MethodResp::SignMessage(reply) => Ok(reply.signature),
            other => Err(client.mismatched(MethodName::SignMessage, other)),
        },
    }
}

/// `signMessage` of a digest computed with `hash_func`.
pub(crate) fn sign_digest(
    client: &Client,
    digest: &[u8],
    hash_func: sigstore_kms_protocol::HashFunc,
    options: &CallOptions,
) -> Request<Vec<u8>> {
    sign_message(client, &options.clone().digest(digest).hash_func(hash_func))
}

pub(crate) fn verify_signature(
    client: &Client,
    signature: &[u8],
    options: &CallOptions,
) -> Request<()> {
    let deadline = client.deadline(options);
    Request {
        method: MethodName::VerifySignature,
        args: MethodArgs::VerifySignature(VerifySignatureArgs::new(
            signature.to_vec(),
            rpc_options(options, deadline),
            message_options(options),
        )),
        deadline,
        reply: |client, reply| match reply {
            MethodResp::VerifySignature(_) => Ok(()),
            other => Err(client.mismatched(MethodName::VerifySignature, other)),
        },
    }
}

/// `rpcOptions` of one call. As in the Go host, they come from the call's
/// own options only; what the client was loaded with travels in
/// `initOptions`.
fn rpc_options(options: &CallOptions, deadline: Option<SystemTime>) -> RpcOptions {
    let mut rpc = RpcOptions::go_defaults();
    rpc.ctx_deadline = deadline.map(OffsetDateTime::from);
    if let Some(key_version) = &options.key_version {
        rpc.key_version = Some(key_version.clone());
    }
    if let Some(remote) = options.remote_verification {
        rpc.remote_verification = Some(remote);
    }
    rpc
}

fn message_options(options: &CallOptions) -> MessageOptions {
    MessageOptions::new(
        options.digest.clone().filter(|digest| !digest.is_empty()),
        options.hash_func,
    )
}
