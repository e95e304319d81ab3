//! Lookup on Windows, as Go's `exec.LookPath` does it: `PATHEXT` lists the
//! extensions of executable files, tried in its order (`.com`, `.exe`,
//! `.bat`, `.cmd` when it is unset). A batch file (`.bat`, `.cmd`) is then
//! run by std's `Command`, which quotes its arguments for `cmd.exe`.

use std::path::{Path, PathBuf};

/// Go's default when `PATHEXT` is unset or empty.
const DEFAULT_EXTENSIONS: [&str; 4] = [".com", ".exe", ".bat", ".cmd"];

/// The extensions of `PATHEXT`, lower-cased, each with its leading dot.
fn extensions() -> Vec<String> {
    parse_pathext(&std::env::var("PATHEXT").unwrap_or_default())
}

fn parse_pathext(value: &str) -> Vec<String> {
    let listed: Vec<String> = value
        .split(';')
        .filter(|ext| !ext.is_empty())
        .map(|ext| {
            let ext = ext.to_ascii_lowercase();
            if ext.starts_with('.') {
                ext
            } else {
                format!(".{ext}")
            }
        })
        .collect();
    if listed.is_empty() {
        DEFAULT_EXTENSIONS.map(String::from).to_vec()
    } else {
        listed
    }
}

/// The extension of `file_name` (with its dot) when `PATHEXT` lists it.
fn executable_extension<'a>(file_name: &'a str, extensions: &[String]) -> Option<&'a str> {
    let dot = file_name.rfind('.')?;
    let ext = &file_name[dot..];
    extensions
        .iter()
        .any(|listed| listed.eq_ignore_ascii_case(ext))
        .then_some(ext)
}

/// The paths in `dir` tried for `file_name`, in order: the name itself when
/// it already ends in an executable extension, then the name with each one.
pub(super) fn candidates(dir: &Path, file_name: &str) -> Vec<PathBuf> {
    let extensions = extensions();
    let as_is = executable_extension(file_name, &extensions).map(|_| dir.join(file_name));
    as_is
        .into_iter()
        .chain(
            extensions
                .iter()
                .map(|ext| dir.join(format!("{file_name}{ext}"))),
        )
        .collect()
}

/// What the not-found error names as searched for.
pub(super) fn searched_for(file_name: &str) -> String {
    format!("{file_name}[{}]", extensions().join("|"))
}

/// `sigstore-kms-foo` for `sigstore-kms-foo.exe` (or `.CMD`, ...).
pub(super) fn without_executable_extension(file_name: &str) -> &str {
    match executable_extension(file_name, &extensions()) {
        Some(ext) => &file_name[..file_name.len() - ext.len()],
        None => file_name,
    }
}

/// A file that Windows runs by its extension; there is no execute bit.
pub(super) fn is_executable_file(path: &Path) -> bool {
    let executable_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| executable_extension(name, &extensions()).is_some());
    executable_name && path.is_file()
}

/// `cmd.exe` runs a batch file, and expands `%VAR%` in its command line
/// before the file sees it. std escapes `%` for the real `cmd.exe`, but
/// other implementations (Wine's) expand it anyway: `%` is only ever inside
/// a JSON string, where `\u0025` means the same to every JSON parser and
/// nothing to any `cmd.exe`.
pub(super) fn plugin_argument(executable: &Path, json: String) -> String {
    let batch = executable
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("bat") || ext.eq_ignore_ascii_case("cmd"));
    if batch && json.contains('%') {
        json.replace('%', "\\u0025")
    } else {
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathext_is_parsed_as_go_does() {
        assert_eq!(parse_pathext(""), DEFAULT_EXTENSIONS);
        assert_eq!(parse_pathext(";;"), DEFAULT_EXTENSIONS);
        assert_eq!(
            parse_pathext(".COM;.EXE;;BAT;.Cmd;.PS1"),
            [".com", ".exe", ".bat", ".cmd", ".ps1"]
        );
    }

    #[test]
    fn only_listed_extensions_are_executable() {
        let extensions = parse_pathext(".EXE;.CMD");
        assert_eq!(executable_extension("a.exe", &extensions), Some(".exe"));
        assert_eq!(executable_extension("a.CMD", &extensions), Some(".CMD"));
        assert_eq!(executable_extension("a.d", &extensions), None);
        assert_eq!(executable_extension("a", &extensions), None);
        assert_eq!(executable_extension("v1.2", &extensions), None);
    }

    #[test]
    fn a_batch_file_never_gets_a_percent_sign() {
        let json = r#"{"keyResourceID":"C:\\k %OS%.pem"}"#.to_owned();
        for batch in ["p.cmd", "p.BAT"] {
            let argument = plugin_argument(Path::new(batch), json.clone());
            assert_eq!(argument, r#"{"keyResourceID":"C:\\k \u0025OS\u0025.pem"}"#);
        }
        assert_eq!(plugin_argument(Path::new("p.exe"), json.clone()), json);
    }
}
