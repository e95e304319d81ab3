//! `argv[2]` as a plugin receives it: the SDK's `parse_args` and
//! `check_call`, and the protocol crate's `PluginArgs::from_json`.
//!
//! Beyond "no panic": whatever decodes encodes again and reads back as the
//! same value, and the two decoders agree whenever both accept.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt as _;

use libfuzzer_sys::fuzz_target;
use sigstore_kms_handler::{check_call, parse_args};
use sigstore_kms_protocol::PluginArgs;

fuzz_target!(|data: &[u8]| {
    let argv = [
        OsString::from("sigstore-kms-fuzz"),
        OsString::from("v1"),
        OsString::from_vec(data.to_vec()),
    ];
    let from_argv = parse_args(argv);
    if let Ok(args) = &from_argv {
        let _ = check_call(args);
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(args) = PluginArgs::from_json(text) else {
        return;
    };
    let json = args.to_json().expect("a decoded PluginArgs encodes");
    let again = PluginArgs::from_json(&json).expect("an encoded PluginArgs decodes");
    assert_eq!(again, args, "{json}");
    if let Ok(from_argv) = from_argv {
        assert_eq!(from_argv, args, "parse_args and from_json disagree");
    }
});
