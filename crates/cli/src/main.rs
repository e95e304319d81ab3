//! `sigstore-kms`: generate keys, sign and verify blobs through any Sigstore
//! KMS plugin, with cosign's flag names and file formats.
#![allow(clippy::print_stdout)]

mod blob;
mod bundle;
mod commands;
mod digest;
mod duration;
mod error;
mod files;
#[cfg(unix)]
mod interrupt;
mod plugins;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sigstore_kms_client::Escaped;

use crate::digest::SignatureDigest;

const KEY_REFERENCE_HELP: &str = "A plugin key reference NAME://REF runs the program \
sigstore-kms-NAME from PATH and passes it REF.";

#[derive(Parser)]
#[command(
    name = "sigstore-kms",
    version,
    about = "Generate keys, sign and verify blobs through any Sigstore KMS plugin",
    long_about = "Generate keys, sign and verify blobs through any Sigstore KMS plugin \
(a program named sigstore-kms-NAME on PATH, as cosign uses), with cosign's flag names \
and file formats: what this writes, cosign reads, and the other way round.",
    after_help = "Examples:
  sigstore-kms generate-key-pair --kms localkms:///keys/release.pem
  sigstore-kms sign-blob --key localkms:///keys/release.pem --output-signature app.sig app.tar.gz
  sigstore-kms verify-blob --key cosign.pub --signature app.sig app.tar.gz
  sigstore-kms plugin list"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(Args)]
struct GlobalArgs {
    /// Deadline of each plugin call, e.g. 30s, 2m, 1.5s.
    #[arg(long, global = true, value_name = "DURATION", default_value = "3m",
          value_parser = duration::parse_timeout)]
    timeout: Duration,
}

#[derive(Subcommand)]
enum Command {
    /// Create a key in the KMS (or find the existing one) and write its public key.
    #[command(after_help = "Examples:
  sigstore-kms generate-key-pair --kms localkms:///keys/release.pem
  sigstore-kms generate-key-pair --kms localkms:///keys/release.pem --output-key-prefix release")]
    GenerateKeyPair {
        /// The key to create, NAME://REF.
        #[arg(long, value_name = "NAME://REF", long_help = KEY_REFERENCE_HELP)]
        kms: String,
        /// The key algorithm (the plugin's default when absent).
        #[arg(long, value_name = "ALG")]
        algorithm: Option<String>,
        /// The public key is written to PREFIX.pub.
        #[arg(long, value_name = "PREFIX", default_value = "cosign")]
        output_key_prefix: PathBuf,
        /// Overwrite PREFIX.pub when it exists.
        #[arg(long, short)]
        force: bool,
    },
    /// Print the public key of a KMS key as PEM.
    #[command(after_help = "Examples:
  sigstore-kms public-key --key localkms:///keys/release.pem
  sigstore-kms public-key --key localkms:///keys/release.pem --outfile cosign.pub")]
    PublicKey {
        /// The key, NAME://REF.
        #[arg(long, value_name = "NAME://REF", long_help = KEY_REFERENCE_HELP)]
        key: String,
        /// Write the PEM to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        outfile: Option<PathBuf>,
    },
    /// Sign a file (or stdin, `-`) with a KMS key; prints the base64 signature.
    #[command(
        after_help = "The signature is made over the SHA-256 digest of the blob, whatever \
the key type: that is what stock cosign verify-blob checks (cosign 2 and 3, every key type). \
--signature-digest-algorithm chooses another hash. Without --bundle the blob is streamed to \
the plugin, whatever its size; with --bundle its digest is computed here and sent, and the \
bundle records it.

Examples:
  sigstore-kms sign-blob --key localkms:///keys/release.pem app.tar.gz > app.sig
  sigstore-kms sign-blob --key localkms:///keys/release.pem --bundle app.sigstore.json app.tar.gz
  tar c dist | sigstore-kms sign-blob --key localkms:///keys/release.pem -"
    )]
    SignBlob {
        /// The signing key, NAME://REF.
        #[arg(long, value_name = "NAME://REF", long_help = KEY_REFERENCE_HELP)]
        key: String,
        /// Write the base64 signature to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        output_signature: Option<PathBuf>,
        /// Also write a Sigstore bundle (v0.3, no transparency log entry) to FILE.
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// The hash the signature is made over.
        #[arg(long, value_enum, value_name = "ALG", default_value_t = SignatureDigest::Sha256)]
        signature_digest_algorithm: SignatureDigest,
        /// The file to sign, or `-` for stdin.
        blob: PathBuf,
    },
    /// Verify a blob's signature or bundle, through the plugin or with a PEM public key.
    #[command(
        after_help = "With --key NAME://REF the plugin verifies (as cosign does); with \
a PEM public key file the signature is checked here (ECDSA P-256 and P-384, RSA PKCS#1 v1.5). \
A bare signature is checked over the SHA-256 digest of the blob unless \
--signature-digest-algorithm says otherwise; a bundle over the digest it records. When the \
signature fails only because it was made over another digest, the error names that hash.

Examples:
  sigstore-kms verify-blob --key localkms:///keys/release.pem --signature app.sig app.tar.gz
  sigstore-kms verify-blob --key cosign.pub --signature app.sig app.tar.gz
  sigstore-kms verify-blob --key cosign.pub --bundle app.sigstore.json app.tar.gz"
    )]
    VerifyBlob {
        /// The key: NAME://REF, or a PEM public key file.
        #[arg(long, value_name = "NAME://REF|PUBKEY.pem")]
        key: String,
        /// A file holding the base64 (or DER) signature, or the base64 text itself.
        #[arg(
            long,
            value_name = "SIG",
            required_unless_present = "bundle",
            conflicts_with = "bundle"
        )]
        signature: Option<String>,
        /// A Sigstore bundle holding the signature and the digest it covers.
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// The hash the signature was made over [default: sha256, or the
        /// one a bundle records].
        #[arg(long, value_enum, value_name = "ALG")]
        signature_digest_algorithm: Option<SignatureDigest>,
        /// The signed file, or `-` for stdin.
        blob: PathBuf,
    },
    /// Find and check plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// List every sigstore-kms-* program on PATH.
    #[command(after_help = "Examples:
  sigstore-kms plugin list")]
    List,
    /// Run the conformance suite against a plugin, creating the key if needed.
    #[command(
        after_help = "Use a throwaway key: the suite creates it and signs with it.

Examples:
  sigstore-kms plugin check localkms:///tmp/check/key.pem"
    )]
    Check {
        /// The key to test with, NAME://REF.
        #[arg(value_name = "NAME://REF")]
        key: String,
    },
}

fn main() -> ExitCode {
    #[cfg(unix)]
    interrupt::pass_signals_to_plugins();
    let cli = Cli::parse();
    let timeout = cli.global.timeout;
    let result = match cli.command {
        Command::GenerateKeyPair {
            kms,
            algorithm,
            output_key_prefix,
            force,
        } => commands::generate_key_pair(
            &kms,
            algorithm.as_deref(),
            &output_key_prefix,
            force,
            timeout,
        ),
        Command::PublicKey { key, outfile } => {
            commands::public_key(&key, outfile.as_deref(), timeout)
        }
        Command::SignBlob {
            key,
            output_signature,
            bundle,
            signature_digest_algorithm,
            blob,
        } => commands::sign_blob(
            &key,
            &blob,
            signature_digest_algorithm,
            commands::SignOutputs {
                signature: output_signature.as_deref(),
                bundle: bundle.as_deref(),
            },
            timeout,
        ),
        Command::VerifyBlob {
            key,
            signature,
            bundle,
            signature_digest_algorithm,
            blob,
        } => {
            let evidence = match (&signature, &bundle) {
                (Some(signature), _) => verify::Evidence::Signature(signature),
                (None, Some(bundle)) => verify::Evidence::Bundle(bundle),
                // clap requires one of the two; this only guards the match.
                (None, None) => {
                    eprintln!("Error: verify-blob needs --signature SIG or --bundle FILE");
                    return ExitCode::from(error::EXIT_USAGE);
                }
            };
            verify::verify_blob(&key, evidence, &blob, signature_digest_algorithm, timeout)
        }
        Command::Plugin(PluginCommand::List) => plugins::list(),
        Command::Plugin(PluginCommand::Check { key }) => plugins::check(&key, timeout),
    };
    #[cfg(unix)]
    match &result {
        _ if interrupt::received() => interrupt::wait_for_the_end(),
        // The user interrupted the plugin at the terminal: the command
        // ends as it would have, had it shared the plugin's group.
        Err(error::CliError::Client(sigstore_kms_client::Error::Interrupted {
            signal, ..
        })) => interrupt::pass_on_to_group(*signal),
        _ => {}
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Errors quote plugins (and file names): nothing in them may act
            // on the terminal.
            eprintln!("Error: {}", Escaped::multiline(&err));
            ExitCode::from(err.exit_code())
        }
    }
}
