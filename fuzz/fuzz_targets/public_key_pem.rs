//! The public key a plugin returns: `PublicKey::from_pem` on the input, and
//! `PublicKey::from_der` on it too (so that the fuzzer reaches the DER
//! decoders without having to find valid base64 first).
//!
//! Beyond "no panic": a parsed key survives PEM and DER round trips, and
//! verifying junk (the input itself as the signature) with it fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigstore_kms_client::{HashFunc, PublicKey};

fuzz_target!(|data: &[u8]| {
    for key in [PublicKey::from_pem(data), PublicKey::from_der(data)]
        .into_iter()
        .flatten()
    {
        let pem = key.to_pem();
        assert_eq!(
            PublicKey::from_pem(pem.as_bytes()).expect("a parsed key's PEM parses"),
            key
        );
        assert_eq!(
            PublicKey::from_der(key.to_der()).expect("a parsed key's DER parses"),
            key
        );
        for hash in [HashFunc::SHA256, HashFunc::SHA384, HashFunc::SHA512] {
            let size = hash.digest_size().unwrap_or_default();
            let digest = vec![0x5a; size];
            assert!(key.verify_digest(&digest, data, hash).is_err());
        }
        assert!(key.verify(data, data, HashFunc::SHA256).is_err());
    }
});
