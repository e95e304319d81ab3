//! How values are spelled on the wire: base64 byte strings, RFC 3339 times,
//! and JSON written byte for byte as Go's `encoding/json` writes it.

use std::io;

use serde::{Deserialize as _, Serialize};

/// `[]byte` as Go encodes it: standard base64 with padding.
pub(crate) mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    /// A Go `nil` slice encodes as `null`; it reads back as no bytes.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Vec::new()),
            Some(text) => decode(&text).map_err(de::Error::custom),
        }
    }

    pub(crate) fn decode(text: &str) -> Result<Vec<u8>, String> {
        STANDARD
            .decode(text)
            .map_err(|err| format!("invalid base64 ({err})"))
    }
}

/// `messageOptions.digest`: `null`, absent and `""` all mean "no digest".
pub(crate) mod optional_digest {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        digest: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match digest {
            Some(bytes) => super::base64_bytes::serialize(bytes, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => super::base64_bytes::decode(&text)
                .map(Some)
                .map_err(de::Error::custom),
        }
    }
}

/// A list Go may encode as `null` (a nil slice).
pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Writes JSON the way Go's `json.Marshal` does: compact, with `<`, `>`, `&`,
/// U+2028 and U+2029 escaped inside strings.
#[derive(Clone, Copy, Debug, Default)]
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (index, ch) in fragment.char_indices() {
            let escape = match ch {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..index])?;
            writer.write_all(escape.as_bytes())?;
            start = index + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Encodes `value` exactly as Go's `json.Marshal` would.
///
/// Every type of this crate encodes to the bytes a Go host or Go plugin
/// writes for the same value.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    to_writer(&mut out, value)?;
    Ok(out)
}

/// [`to_vec`], as a `String`.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let bytes = to_vec(value)?;
    // The serializer only ever writes UTF-8.
    String::from_utf8(bytes).map_err(|err| serde::ser::Error::custom(err.to_string()))
}

/// [`to_vec`], into a writer.
pub fn to_writer<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(writer, GoFormatter);
    value.serialize(&mut serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html_characters_like_go() {
        let text = "key <release> not found & no fallback \u{2028}";
        assert_eq!(
            to_string(text).unwrap(),
            r#""key \u003crelease\u003e not found \u0026 no fallback \u2028""#
        );
        assert_eq!(to_string("line\n\"q\"\\").unwrap(), r#""line\n\"q\"\\""#);
    }
}
