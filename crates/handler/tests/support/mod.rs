//! A small plugin for the tests: its key reference picks a behaviour.
#![allow(dead_code)]

use std::io::{self, Read, Write};

use p256::ecdsa::SigningKey;
use sigstore_kms_handler::{public_key_pem, CallOptions, Error, Plugin};
use sigstore_kms_protocol::{HashFunc, InitOptions, MethodArgs, PluginArgs, RpcOptions};

/// Key references the toy plugin understands.
pub const NORMAL: &str = "normal";
/// Writes to stdout, directly and from a child process, then answers.
pub const NOISY: &str = "noisy";
/// Panics inside every method.
pub const PANICS: &str = "panics";
/// Panics while being built.
pub const PANICS_IN_CONSTRUCTOR: &str = "panics-in-constructor";
/// Refuses to be built.
pub const FAILS_IN_CONSTRUCTOR: &str = "fails-in-constructor";

pub const ALGORITHM: &str = "toy-sha";

/// Answers signatures that are the digest itself: not a signature scheme,
/// just enough to see which bytes the handler passed.
pub struct Toy {
    behaviour: String,
}

impl Toy {
    pub fn new(init: &InitOptions) -> Result<Self, Error> {
        match init.key_resource_id.as_str() {
            PANICS_IN_CONSTRUCTOR => panic!("constructor blew up"),
            FAILS_IN_CONSTRUCTOR => Err(Box::new(io::Error::new(
                io::ErrorKind::NotFound,
                "key store not found",
            ))),
            other => Ok(Toy {
                behaviour: other.to_owned(),
            }),
        }
    }

    fn act(&self) {
        match self.behaviour.as_str() {
            PANICS => panic!("method blew up"),
            NOISY => make_noise(),
            _ => {}
        }
    }
}

fn make_noise() {
    let mut stdout = io::stdout();
    let _ = stdout.write_all(b"noise from println\n");
    let _ = stdout.write_all(b"noise left in the buffer");
    let _ = child_noise().status();
}

#[cfg(unix)]
fn child_noise() -> std::process::Command {
    let mut command = std::process::Command::new("sh");
    command.args(["-c", "echo noise from a child process"]);
    command
}

#[cfg(windows)]
fn child_noise() -> std::process::Command {
    let mut command = std::process::Command::new("cmd");
    command.args(["/c", "echo noise from a child process"]);
    command
}

pub fn fixed_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).unwrap()
}

impl Plugin for Toy {
    fn default_algorithm(&self) -> Result<String, Error> {
        self.act();
        Ok(ALGORITHM.to_owned())
    }

    fn supported_algorithms(&self) -> Result<Vec<String>, Error> {
        self.act();
        Ok(vec![ALGORITHM.to_owned(), "other".to_owned()])
    }

    fn create_key(&self, algorithm: &str, options: &CallOptions) -> Result<String, Error> {
        self.act();
        if algorithm != ALGORITHM {
            return Err(format!("unsupported algorithm {algorithm:?}").into());
        }
        self.public_key(options)
    }

    fn public_key(&self, _options: &CallOptions) -> Result<String, Error> {
        self.act();
        Ok(public_key_pem(fixed_key().verifying_key())?)
    }

    fn sign_message(
        &self,
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<Vec<u8>, Error> {
        self.act();
        Ok(options.digest(message)?)
    }

    fn verify_signature(
        &self,
        signature: &[u8],
        message: &mut dyn Read,
        options: &CallOptions,
    ) -> Result<(), Error> {
        self.act();
        if options.digest(message)? == signature {
            Ok(())
        } else {
            Err("signature does not match".into())
        }
    }
}

/// `argv[2]` for `method` on key `key_ref`, as a Go host writes it.
pub fn args_json(key_ref: &str, method: MethodArgs) -> String {
    PluginArgs::new(InitOptions::new(key_ref, HashFunc::SHA256), method)
        .to_json()
        .unwrap()
}

pub fn rpc() -> RpcOptions {
    RpcOptions::go_defaults()
}
