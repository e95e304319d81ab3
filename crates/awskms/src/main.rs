//! `sigstore-kms-awskms`: cosign's `awskms://` key references for every
//! Sigstore KMS plugin host, through the AWS SDK for Rust. The same
//! reference names the same key, and signs the same way, as in cosign's
//! built-in AWS provider.

mod error;
mod kms;
mod reference;
mod session;
mod signing;

fn main() {
    sigstore_kms_handler::run(kms::AwsKms::open)
}
