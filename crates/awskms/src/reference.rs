//! The key references sigstore's AWS provider takes, and nothing else:
//! `awskms://[ENDPOINT]/KEY` where KEY is a key id, a key ARN, an alias
//! name or an alias ARN.

use std::fmt;
use std::sync::LazyLock;

use regex_lite::Regex;

/// What sigstore's provider answers for any other reference, word for word,
/// so that a user sees the same explanation from either implementation.
pub const FORMAT_ERROR: &str =
    "kms specification should be in the format awskms://[ENDPOINT]/[ID/ALIAS/ARN] (endpoint optional)";

/// A key id: a UUID, optionally prefixed for multi-Region keys, with the
/// leniency of the provider's grammar (each hyphen optional).
const KEY_ID: &str =
    r"m?r?k?-?[A-Fa-f0-9]{8}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{4}-?[A-Fa-f0-9]{12}";
/// The ARN prefix of a KMS resource in the three AWS partitions.
const ARN_PREFIX: &str = r"arn:(?:aws|aws-us-gov|aws-cn):kms:[a-z0-9-]+:\d{12}:";

/// The four forms, in the order the provider tries them. Group 1 is the
/// endpoint (possibly empty), group 2 what the KMS API calls `KeyId`, and
/// group 3, when present, the alias name.
static FORMS: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    let form = |key: String| {
        Regex::new(&format!("^awskms://([^/]*)/{key}$")).expect("the reference grammar compiles")
    };
    [
        form(format!("({KEY_ID})")),
        form(format!("({ARN_PREFIX}key/{KEY_ID})")),
        form("((alias/.*))".to_owned()),
        form(format!("({ARN_PREFIX}(alias/.*))")),
    ]
});

/// A parsed `awskms://` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyReference {
    /// `HOST[:PORT]` from the reference: the API is then at
    /// `https://HOST[:PORT]` instead of the configured endpoint.
    pub endpoint: Option<String>,
    /// The key id, key ARN, alias name or alias ARN, as the KMS API takes
    /// it in `KeyId`.
    pub key_id: String,
    /// `alias/NAME` when the reference names an alias (directly or by its
    /// ARN): the only form `createKey` can create.
    pub alias: Option<String>,
}

/// A reference that is not one of the provider's forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidReference(pub String);

impl fmt::Display for InvalidReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{FORMAT_ERROR}; got {:?}", self.0)
    }
}

impl std::error::Error for InvalidReference {}

impl KeyReference {
    /// Parses a whole reference, `awskms://` included.
    pub fn parse(reference: &str) -> Result<Self, InvalidReference> {
        for form in FORMS.iter() {
            if let Some(groups) = form.captures(reference) {
                let endpoint = &groups[1];
                return Ok(KeyReference {
                    endpoint: (!endpoint.is_empty()).then(|| endpoint.to_owned()),
                    key_id: groups[2].to_owned(),
                    alias: groups.get(3).map(|alias| alias.as_str().to_owned()),
                });
            }
        }
        Err(InvalidReference(reference.to_owned()))
    }

    /// The API endpoint the reference names, as the provider uses it.
    pub fn endpoint_url(&self) -> Option<String> {
        self.endpoint
            .as_ref()
            .map(|endpoint| format!("https://{endpoint}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const ACCOUNT_ARN: &str = "arn:aws:kms:us-east-2:111122223333:";

    fn parsed(reference: &str) -> (Option<String>, String, Option<String>) {
        let key = KeyReference::parse(reference)
            .unwrap_or_else(|err| panic!("{reference} must parse: {err}"));
        (key.endpoint, key.key_id, key.alias)
    }

    #[test]
    fn each_form_with_and_without_endpoint() {
        for (endpoint, prefix) in [
            (None, "awskms:///".to_owned()),
            (
                Some("localhost:4566".to_owned()),
                "awskms://localhost:4566/".to_owned(),
            ),
        ] {
            assert_eq!(
                parsed(&format!("{prefix}{UUID}")),
                (endpoint.clone(), UUID.to_owned(), None)
            );
            let key_arn = format!("{ACCOUNT_ARN}key/{UUID}");
            assert_eq!(
                parsed(&format!("{prefix}{key_arn}")),
                (endpoint.clone(), key_arn, None)
            );
            assert_eq!(
                parsed(&format!("{prefix}alias/release")),
                (
                    endpoint.clone(),
                    "alias/release".to_owned(),
                    Some("alias/release".to_owned())
                )
            );
            let alias_arn = format!("{ACCOUNT_ARN}alias/release");
            assert_eq!(
                parsed(&format!("{prefix}{alias_arn}")),
                (endpoint, alias_arn, Some("alias/release".to_owned()))
            );
        }
    }

    #[test]
    fn multi_region_keys_partitions_and_lenient_hyphens() {
        for key in [
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "1234ABCD12AB34CD56EF1234567890AB",
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            assert_eq!(parsed(&format!("awskms:///{key}")).1, key);
        }
        // An alias name may hold slashes; everything after alias/ is its.
        assert_eq!(
            parsed("awskms:///alias/team/release").2.as_deref(),
            Some("alias/team/release")
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_providers_message() {
        for reference in [
            "",
            "awskms://",
            "awskms:///",
            "awskms://release",
            "awskms:///release",
            "awskms:///1234abcd-12ab-34cd-56ef-1234567890",
            "awskms:///1234abcd-12ab-34cd-56ef-1234567890abc",
            "awskms://host/path/alias/release",
            "awskms:///arn:aws:kms:us-east-2:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "awskms:///arn:aws:s3:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "awskms:///arn:aws:kms:us-east-2:111122223333:key/alias/release",
            "awskms:///alias/line\nbreak",
            "gcpkms:///alias/release",
            " awskms:///alias/release",
        ] {
            let err = KeyReference::parse(reference).unwrap_err();
            assert!(err.to_string().starts_with(FORMAT_ERROR), "{err}");
        }
    }

    #[test]
    fn an_endpoint_means_https() {
        let key = KeyReference::parse("awskms://127.0.0.1:4443/alias/release").unwrap();
        assert_eq!(
            key.endpoint_url().as_deref(),
            Some("https://127.0.0.1:4443")
        );
        let key = KeyReference::parse("awskms:///alias/release").unwrap();
        assert_eq!(key.endpoint_url(), None);
    }
}
