//! One call, start to finish: read argv, build the plugin, dispatch, answer.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};

use serde::Deserialize as _;
use sigstore_kms_protocol::{
    CreateKeyResp, DefaultAlgorithmResp, InitOptions, MethodArgs, MethodResp, PluginArgs,
    PluginResp, PublicKeyResp, SignMessageResp, SupportedAlgorithmsResp, VerifySignatureResp,
    PROTOCOL_VERSION,
};

use crate::{error_message, CallOptions, Error, HandlerError, Plugin};

/// Reads the call from the process arguments: `argv[0]` is the program,
/// `argv[1]` must be the protocol version and `argv[2]` the `PluginArgs`
/// JSON object. Arguments after `argv[2]` are ignored.
pub fn parse_args<I>(argv: I) -> Result<PluginArgs, HandlerError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let (version, json) = match argv.as_slice() {
        [_, version, json, ..] => (version, json),
        _ => return Err(HandlerError::MissingArgv(argv.len().saturating_sub(1))),
    };
    if version.as_os_str() != PROTOCOL_VERSION {
        return Err(HandlerError::ProtocolVersion(
            version.to_string_lossy().into_owned(),
        ));
    }
    let json = json.to_str().ok_or(HandlerError::ArgsNotUtf8)?;
    let value: serde_json::Value = serde_json::from_str(json).map_err(HandlerError::InvalidJson)?;
    let kind = match &value {
        serde_json::Value::Object(_) => None,
        serde_json::Value::Null => Some("null"),
        serde_json::Value::Bool(_) => Some("a boolean"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::String(_) => Some("a string"),
        serde_json::Value::Array(_) => Some("an array"),
    };
    if let Some(kind) = kind {
        return Err(HandlerError::ArgsNotObject(kind));
    }
    PluginArgs::deserialize(&value).map_err(HandlerError::InvalidArgs)
}

/// Checks what can be checked before the plugin is built: the method is one
/// of the six and came with its arguments, the deadline has not passed, and
/// a signing call names a hash function Go defines.
pub fn check_call(args: &PluginArgs) -> Result<CallOptions, HandlerError> {
    match &args.method {
        MethodArgs::Unknown(name) if name.is_empty() => {
            return Err(HandlerError::MissingMethodName)
        }
        MethodArgs::Unknown(name) => return Err(HandlerError::UnsupportedMethod(name.clone())),
        MethodArgs::MissingArguments(method) => {
            return Err(HandlerError::MissingMethodArguments(*method))
        }
        _ => {}
    }
    let options = CallOptions::from_args(args);
    options.check_deadline()?;
    if matches!(
        args.method,
        MethodArgs::SignMessage(_) | MethodArgs::VerifySignature(_)
    ) && !options.hash_func.is_known()
    {
        return Err(HandlerError::UnsupportedHashFunc(options.hash_func));
    }
    Ok(options)
}

/// Serves the call `args` with `plugin`: checks it (see [`check_call`]),
/// calls the method, and turns its result, its error or its panic into the
/// reply. `message` is the message stream (stdin) of `signMessage` and
/// `verifySignature`.
pub fn dispatch(plugin: &dyn Plugin, args: &PluginArgs, message: &mut dyn Read) -> PluginResp {
    let options = match check_call(args) {
        Ok(options) => options,
        Err(err) => return error_response(&err),
    };
    let result = catch_panic(|| call_method(plugin, &args.method, &options, message));
    match result {
        Ok(method_resp) => PluginResp::Success(method_resp),
        Err(err) => PluginResp::Error(error_message(&*err)),
    }
}

fn call_method(
    plugin: &dyn Plugin,
    method: &MethodArgs,
    options: &CallOptions,
    message: &mut dyn Read,
) -> Result<MethodResp, Error> {
    Ok(match method {
        MethodArgs::DefaultAlgorithm(_) => {
            MethodResp::DefaultAlgorithm(DefaultAlgorithmResp::new(plugin.default_algorithm()?))
        }
        MethodArgs::SupportedAlgorithms(_) => MethodResp::SupportedAlgorithms(
            SupportedAlgorithmsResp::new(plugin.supported_algorithms()?),
        ),
        MethodArgs::CreateKey(call) => MethodResp::CreateKey(CreateKeyResp::new(
            plugin.create_key(&call.algorithm, options)?.into_bytes(),
        )),
        MethodArgs::PublicKey(_) => {
            MethodResp::PublicKey(PublicKeyResp::new(plugin.public_key(options)?.into_bytes()))
        }
        MethodArgs::SignMessage(_) => {
            MethodResp::SignMessage(SignMessageResp::new(plugin.sign_message(message, options)?))
        }
        MethodArgs::VerifySignature(call) => {
            plugin.verify_signature(&call.signature, message, options)?;
            MethodResp::VerifySignature(VerifySignatureResp::new())
        }
        // Unknown and argument-less calls, and methods of a later protocol
        // version this handler does not serve.
        _ => {
            return Err(Box::new(HandlerError::UnsupportedMethod(
                method.method_name().to_owned(),
            )))
        }
    })
}

/// The whole call without touching the process: parses `argv` (see
/// [`parse_args`]), checks the call, builds the plugin with `make_plugin`
/// from the init options, and dispatches. Every failure, a panic of the
/// constructor or the plugin included, becomes a [`PluginResp::Error`].
pub fn handle<I, P, F, E>(argv: I, message: &mut dyn Read, make_plugin: F) -> PluginResp
where
    I: IntoIterator,
    I::Item: Into<OsString>,
    P: Plugin,
    F: FnOnce(&InitOptions) -> Result<P, E>,
    E: Into<Error>,
{
    let args = match parse_args(argv).and_then(|args| check_call(&args).map(|_| args)) {
        Ok(args) => args,
        Err(err) => return error_response(&err),
    };
    match catch_panic(|| make_plugin(&args.init_options).map_err(Into::into)) {
        Ok(plugin) => dispatch(&plugin, &args, message),
        Err(err) => PluginResp::Error(error_message(&*err)),
    }
}

/// Writes `resp` as the one JSON object of stdout, byte for byte as a Go
/// plugin would, and flushes.
pub fn write_response(stdout: &mut dyn Write, resp: &PluginResp) -> io::Result<()> {
    let json = sigstore_kms_protocol::to_vec(resp).map_err(io::Error::other)?;
    stdout.write_all(&json)?;
    stdout.flush()
}

/// Writes an `errorMessage` reply carrying `error` and its sources (see
/// [`error_message`]).
pub fn write_error_response(
    stdout: &mut dyn Write,
    error: &(dyn std::error::Error + 'static),
) -> io::Result<()> {
    write_response(stdout, &error_response(error))
}

fn error_response(error: &(dyn std::error::Error + 'static)) -> PluginResp {
    PluginResp::Error(error_message(error))
}

/// Runs `f`, turning a panic into an error carrying the panic's message.
fn catch_panic<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let text = if let Some(text) = payload.downcast_ref::<&str>() {
                (*text).to_owned()
            } else if let Some(text) = payload.downcast_ref::<String>() {
                text.clone()
            } else {
                "a non-text panic payload".to_owned()
            };
            Err(Box::new(HandlerError::Panicked(text)))
        }
    }
}
