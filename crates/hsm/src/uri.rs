//! Key references: the attributes of an RFC 7512 PKCS#11 URI after
//! `hsm://`, e.g. `token=release;object=cosign?module-path=/usr/lib/softhsm/libsofthsm2.so`.

use std::fmt;
use std::path::PathBuf;

use crate::algorithm::Algorithm;

/// Path attributes this plugin understands (they select a token, a slot or
/// a key).
const PATH_ATTRIBUTES: [&str; 9] = [
    "token",
    "manufacturer",
    "model",
    "serial",
    "slot-id",
    "slot-description",
    "slot-manufacturer",
    "object",
    "id",
];

/// Query attributes this plugin understands.
const QUERY_ATTRIBUTES: [&str; 3] = ["module-path", "pin-source", "algorithm"];

/// A parsed `hsm://` key reference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyUri {
    /// Which token holds the key.
    pub token: TokenFilter,
    /// `object`: the key's `CKA_LABEL`.
    pub object: Option<String>,
    /// `id`: the key's `CKA_ID`, raw bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path`: the PKCS#11 module to load.
    pub module_path: Option<PathBuf>,
    /// `pin-source`: a `file:` URI naming the file that holds the user PIN.
    pub pin_source: Option<PathBuf>,
    /// `algorithm`: the key's algorithm, which also becomes the plugin's
    /// default algorithm (cosign creates keys with the default).
    pub algorithm: Option<Algorithm>,
}

/// The attributes that select a token; `None` matches any value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenFilter {
    /// `token`: the token label.
    pub label: Option<String>,
    /// `manufacturer`: the token's manufacturer ID.
    pub manufacturer: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `slot-id`: the slot's number.
    pub slot_id: Option<u64>,
    /// `slot-description`: the slot's description.
    pub slot_description: Option<String>,
    /// `slot-manufacturer`: the slot's manufacturer ID.
    pub slot_manufacturer: Option<String>,
}

/// Why a key reference cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UriError {
    /// An attribute without `=`.
    #[error("attribute {0:?} has no value: expected NAME=VALUE")]
    NoValue(String),
    /// An attribute given twice.
    #[error("attribute {0:?} is given more than once")]
    Repeated(String),
    /// A malformed `%XX` escape.
    #[error("attribute {name:?}: {reason}")]
    BadEscape {
        /// The attribute.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `pin-value`: the PIN would travel in argv.
    #[error(
        "pin-value is refused: a key reference travels in the process arguments, where other \
         users can read it; set the PIN in the SIGSTORE_KMS_HSM_PIN environment variable or use \
         pin-source=file:PATH"
    )]
    PinValue,
    /// An attribute this plugin does not know.
    #[error(
        "unsupported attribute {name:?} in the {part}; supported: {supported}",
        supported = .supported.join(", ")
    )]
    Unsupported {
        /// The attribute.
        name: String,
        /// `path` or `query`.
        part: &'static str,
        /// What would be accepted there.
        supported: Vec<&'static str>,
    },
    /// `slot-id` is not a decimal number.
    #[error("slot-id {0:?} is not a decimal number")]
    SlotId(String),
    /// `pin-source` is not a `file:` URI.
    #[error("pin-source {0:?} is not supported: use pin-source=file:/PATH/TO/PIN-FILE")]
    PinSource(String),
    /// `algorithm` is not one this plugin knows.
    #[error("{0}")]
    Algorithm(String),
}

impl KeyUri {
    /// Parses the key reference after `hsm://`. A leading `pkcs11:` is
    /// accepted too, so a URI copied from other PKCS#11 tools works.
    pub fn parse(reference: &str) -> Result<KeyUri, UriError> {
        let reference = reference.strip_prefix("pkcs11:").unwrap_or(reference);
        let (path, query) = reference.split_once('?').unwrap_or((reference, ""));
        let mut uri = KeyUri::default();
        let mut seen = Vec::new();
        for (part, text, separator) in [("path", path, ';'), ("query", query, '&')] {
            for attribute in text.split(separator).filter(|a| !a.is_empty()) {
                let (name, raw) = attribute
                    .split_once('=')
                    .ok_or_else(|| UriError::NoValue(attribute.to_owned()))?;
                if seen.contains(&name) {
                    return Err(UriError::Repeated(name.to_owned()));
                }
                seen.push(name);
                uri.set(part, name, raw)?;
            }
        }
        Ok(uri)
    }

    fn set(&mut self, part: &'static str, name: &str, raw: &str) -> Result<(), UriError> {
        let bytes = || percent_decode(name, raw);
        let text = || -> Result<String, UriError> {
            String::from_utf8(bytes()?).map_err(|_| UriError::BadEscape {
                name: name.to_owned(),
                reason: "the value is not UTF-8 text".to_owned(),
            })
        };
        if name == "pin-value" {
            return Err(UriError::PinValue);
        }
        match (part, name) {
            ("path", "token") => self.token.label = Some(text()?),
            ("path", "manufacturer") => self.token.manufacturer = Some(text()?),
            ("path", "model") => self.token.model = Some(text()?),
            ("path", "serial") => self.token.serial = Some(text()?),
            ("path", "slot-description") => self.token.slot_description = Some(text()?),
            ("path", "slot-manufacturer") => self.token.slot_manufacturer = Some(text()?),
            ("path", "slot-id") => {
                let value = text()?;
                let number = value
                    .parse()
                    .ok()
                    .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or(UriError::SlotId(value))?;
                self.token.slot_id = Some(number);
            }
            ("path", "object") => self.object = Some(text()?),
            ("path", "id") => self.id = Some(bytes()?),
            ("query", "module-path") => self.module_path = Some(PathBuf::from(text()?)),
            ("query", "pin-source") => self.pin_source = Some(pin_file(&text()?)?),
            ("query", "algorithm") => {
                let value = text()?;
                let algorithm = Algorithm::from_name(&value)
                    .map_err(|err| UriError::Algorithm(err.to_string()))?;
                self.algorithm = Some(algorithm);
            }
            _ => {
                return Err(UriError::Unsupported {
                    name: name.to_owned(),
                    part,
                    supported: if part == "path" {
                        PATH_ATTRIBUTES.to_vec()
                    } else {
                        QUERY_ATTRIBUTES.to_vec()
                    },
                })
            }
        }
        Ok(())
    }

    /// Whether the reference names a key (`object` or `id`).
    pub fn names_a_key(&self) -> bool {
        self.object.is_some() || self.id.is_some()
    }
}

/// How the reference names the key, for messages: `object="cosign"`,
/// `id=%01%02`, or both.
impl fmt::Display for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(object) = &self.object {
            parts.push(format!("object={object:?}"));
        }
        if let Some(id) = &self.id {
            let hex: String = id.iter().map(|b| format!("%{b:02x}")).collect();
            parts.push(format!("id={hex}"));
        }
        if parts.is_empty() {
            f.write_str("(no object or id)")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// The file path of a `pin-source` value: `file:/abs`, `file:///abs` or
/// `file:relative`. Other schemes (RFC 7512 leaves them open) are refused.
fn pin_file(source: &str) -> Result<PathBuf, UriError> {
    let path = source
        .strip_prefix("file://")
        .or_else(|| source.strip_prefix("file:"))
        .filter(|path| !path.is_empty())
        .ok_or_else(|| UriError::PinSource(source.to_owned()))?;
    Ok(PathBuf::from(path))
}

/// Decodes the `%XX` escapes of RFC 7512 (RFC 3986 percent-encoding).
fn percent_decode(name: &str, raw: &str) -> Result<Vec<u8>, UriError> {
    let bad = |reason: &str| UriError::BadEscape {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            out.push(byte);
            continue;
        }
        let high = bytes.next().and_then(hex_value);
        let low = bytes.next().and_then(hex_value);
        match (high, low) {
            (Some(high), Some(low)) => out.push(high << 4 | low),
            _ => return Err(bad("a '%' must be followed by two hexadecimal digits")),
        }
    }
    Ok(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|value| value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_and_query_attributes() {
        let uri = KeyUri::parse(
            "token=release;object=cosign;id=%01%ab;slot-id=7?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(uri.token.label.as_deref(), Some("release"));
        assert_eq!(uri.token.slot_id, Some(7));
        assert_eq!(uri.object.as_deref(), Some("cosign"));
        assert_eq!(uri.id, Some(vec![0x01, 0xab]));
        assert_eq!(
            uri.module_path,
            Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(uri.pin_source, Some(PathBuf::from("/run/pin")));
        assert_eq!(uri.to_string(), r#"object="cosign" id=%01%ab"#);
    }

    #[test]
    fn percent_escapes_decode_in_every_value() {
        let uri = KeyUri::parse(
            "token=My%20Token%3b1;object=a%2Fb%3Fc?module-path=/opt/my%20hsm/lib.so&pin-source=file:///tmp/p%25in",
        )
        .unwrap();
        assert_eq!(uri.token.label.as_deref(), Some("My Token;1"));
        assert_eq!(uri.object.as_deref(), Some("a/b?c"));
        assert_eq!(uri.module_path, Some(PathBuf::from("/opt/my hsm/lib.so")));
        assert_eq!(uri.pin_source, Some(PathBuf::from("/tmp/p%in")));
    }

    #[test]
    fn accepts_a_pkcs11_prefix_and_the_algorithm() {
        let uri = KeyUri::parse("pkcs11:token=t;object=k?algorithm=ecdsa-p384-sha384").unwrap();
        assert_eq!(uri.algorithm, Some(Algorithm::EcdsaP384));
        assert!(uri.names_a_key());
        assert!(!KeyUri::parse("token=t").unwrap().names_a_key());
        assert_eq!(KeyUri::parse("").unwrap(), KeyUri::default());
    }

    #[test]
    fn refuses_malformed_references() {
        let err = |reference| KeyUri::parse(reference).unwrap_err();
        assert_eq!(err("token"), UriError::NoValue("token".into()));
        assert_eq!(err("token=a;token=b"), UriError::Repeated("token".into()));
        assert!(matches!(err("object=%4"), UriError::BadEscape { .. }));
        assert!(matches!(err("object=%zz"), UriError::BadEscape { .. }));
        assert!(matches!(err("object=%ff"), UriError::BadEscape { .. }));
        assert_eq!(err("slot-id=-1"), UriError::SlotId("-1".into()));
        assert_eq!(err("slot-id=+1"), UriError::SlotId("+1".into()));
        assert!(matches!(err("type=private"), UriError::Unsupported { .. }));
        assert!(matches!(
            err("object=k?token=t"),
            UriError::Unsupported { part: "query", .. }
        ));
        assert_eq!(
            err("object=k?pin-source=|/bin/cat"),
            UriError::PinSource("|/bin/cat".into())
        );
        assert!(matches!(err("?algorithm=rsa"), UriError::Algorithm(_)));
    }

    #[test]
    fn pin_value_is_refused_without_echoing_it() {
        let err = KeyUri::parse("token=t;object=k?pin-value=123456").unwrap_err();
        assert_eq!(err, UriError::PinValue);
        let message = err.to_string();
        assert!(!message.contains("123456"), "{message}");
        assert!(message.contains("SIGSTORE_KMS_HSM_PIN"), "{message}");
    }
}
