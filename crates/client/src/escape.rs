//! Text from a plugin, made safe to print.

use std::fmt::{self, Write as _};

/// Displays a value with its control characters escaped, so that text a
/// plugin supplied (its `errorMessage`, its stderr, an algorithm name) can
/// go to a terminal or a log without acting on it: no escape sequence that
/// retitles the window, clears the screen or moves the cursor to overwrite
/// what was printed before, no carriage return that rewrites the line, no
/// bell.
///
/// Escaped are the C0 and C1 control characters and DEL (each shown as
/// `\u{1b}`, or `\n`, `\r`, `\t`), and the Unicode bidirectional formatting
/// characters, which reorder how a line reads (`\u{202e}`). Everything else,
/// backslashes and non-ASCII letters included, is shown as it is, so text
/// that was already escaped is unchanged.
///
/// [`Error`](crate::Error)'s `Display` escapes this way the text it shows
/// from the plugin; its fields keep the plugin's words verbatim.
///
/// ```
/// use sigstore_kms_client::Escaped;
///
/// let message = "\u{1b}]0;pwned\u{7}\u{1b}[2J\rVerified OK";
/// assert_eq!(
///     Escaped::new(message).to_string(),
///     r"\u{1b}]0;pwned\u{7}\u{1b}[2J\rVerified OK"
/// );
/// // Multi-line text (a stderr tail) keeps its line feeds.
/// assert_eq!(Escaped::multiline("one\ntwo\r").to_string(), "one\ntwo\\r");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Escaped<T> {
    value: T,
    keep_line_feeds: bool,
}

impl<T: fmt::Display> Escaped<T> {
    /// Escapes every control character, line feeds included: the value
    /// shows as one line.
    pub fn new(value: T) -> Self {
        Escaped {
            value,
            keep_line_feeds: false,
        }
    }

    /// Escapes every control character except the line feed, for text that
    /// is meant to span lines.
    pub fn multiline(value: T) -> Self {
        Escaped {
            value,
            keep_line_feeds: true,
        }
    }
}

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Escaping {
            out: f,
            keep_line_feeds: self.keep_line_feeds,
        };
        write!(out, "{}", self.value)
    }
}

/// Escapes what is written through it; the value is never held whole.
struct Escaping<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    keep_line_feeds: bool,
}

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut clean_from = 0;
        for (at, c) in text.char_indices() {
            if needs_escape(c) && !(c == '\n' && self.keep_line_feeds) {
                self.out.write_str(&text[clean_from..at])?;
                write!(self.out, "{}", c.escape_default())?;
                clean_from = at + c.len_utf8();
            }
        }
        self.out.write_str(&text[clean_from..])
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_character_is_escaped() {
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let shown = Escaped::new(format!("a{c}b")).to_string();
            assert!(!shown.chars().any(char::is_control), "{c:?}: {shown:?}");
            assert!(
                shown.starts_with("a\\") && shown.ends_with('b'),
                "{shown:?}"
            );
        }
    }

    #[test]
    fn escape_sequences_are_shown_not_acted_on() {
        let hostile = "\u{1b}]0;title\u{7}\u{1b}[2J\u{1b}[1A\rVerified OK\u{9b}31m\u{202e}txt.exe";
        assert_eq!(
            Escaped::new(hostile).to_string(),
            r"\u{1b}]0;title\u{7}\u{1b}[2J\u{1b}[1A\rVerified OK\u{9b}31m\u{202e}txt.exe"
        );
    }

    #[test]
    fn line_feeds_are_kept_only_when_asked() {
        assert_eq!(Escaped::new("a\nb").to_string(), r"a\nb");
        assert_eq!(Escaped::multiline("a\nb\r\n").to_string(), "a\nb\\r\n");
    }

    #[test]
    fn ordinary_text_and_escaped_text_are_unchanged() {
        for text in [
            "key file key.pem: no such file",
            "clé «ключ» 鍵 ✓",
            r"already \u{1b} escaped \n",
            "",
        ] {
            assert_eq!(Escaped::new(text).to_string(), text);
            let once = Escaped::new(format!("{text}\u{1b}")).to_string();
            assert_eq!(Escaped::new(&once).to_string(), once, "idempotent");
        }
    }

    #[test]
    fn formatting_goes_through_the_display_of_the_value() {
        let error = std::io::Error::other("bad\u{1b}[31m");
        assert_eq!(Escaped::new(&error).to_string(), r"bad\u{1b}[31m");
    }
}
