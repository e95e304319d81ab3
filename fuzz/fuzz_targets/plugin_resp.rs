//! A plugin's stdout as a host reads it: `PluginResp::parse`, for the
//! method chosen by the first byte.
//!
//! Beyond "no panic": a success answers the method asked for, and whatever
//! parses encodes again and parses back as the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigstore_kms_protocol::{MethodName, PluginResp};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stdout)) = data.split_first() else {
        return;
    };
    let method = MethodName::ALL[usize::from(selector) % MethodName::ALL.len()];
    let Ok(resp) = PluginResp::parse(stdout, method) else {
        return;
    };
    if let PluginResp::Success(result) = &resp {
        assert_eq!(result.method(), method);
    }
    let json = resp.to_json().expect("a parsed PluginResp encodes");
    let again = PluginResp::parse(json.as_bytes(), method).expect("an encoded PluginResp parses");
    assert_eq!(again, resp, "{json}");
});
