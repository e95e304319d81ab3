//! Reading inputs and writing outputs the way cosign does.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::error::CliError;

/// The largest signature file read. No signature comes near it: base64 of
/// an RSA-16384 signature is under 3 KiB, so a larger file is a mistake
/// (the blob given as the signature, say), refused without being read
/// into memory.
pub const MAX_SIGNATURE_FILE_SIZE: u64 = 64 * 1024;

/// The signature given to `verify-blob --signature`: a file holding the
/// base64 signature (or the raw bytes), or the base64 text itself.
pub fn read_signature(argument: &str) -> Result<Vec<u8>, CliError> {
    let path = Path::new(argument);
    let input_error = |source| CliError::Input {
        what: "signature",
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return decode_base64(argument.as_bytes()).ok_or_else(|| CliError::Signature {
                reason: format!("{argument:?} is neither a file nor base64 text"),
            });
        }
        Err(source) => return Err(input_error(source)),
    };
    // Read one byte past the limit, to tell a file at the limit from a
    // larger one without reading the larger one.
    let mut bytes = Vec::new();
    file.take(MAX_SIGNATURE_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(input_error)?;
    if bytes.len() as u64 > MAX_SIGNATURE_FILE_SIZE {
        return Err(CliError::Signature {
            reason: format!(
                "{} is larger than {MAX_SIGNATURE_FILE_SIZE} bytes, far more than any signature \
                 (a base64 signature is a few KiB at most); is it the blob?",
                path.display()
            ),
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::Signature {
            reason: format!("{} is empty", path.display()),
        });
    }
    // Base64 text as cosign writes it, else the raw bytes (DER ECDSA as
    // `openssl dgst -sign` writes it, or an RSA signature).
    Ok(decode_base64(&bytes).unwrap_or(bytes))
}

fn decode_base64(bytes: &[u8]) -> Option<Vec<u8>> {
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if text.is_empty() {
        return None;
    }
    STANDARD
        .decode(&text)
        .ok()
        .filter(|decoded| !decoded.is_empty())
}

/// Writes `contents` to `path` all at once: a reader never sees a partial
/// file. Without `overwrite`, an existing file is left alone and reported.
pub fn write_atomically(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), CliError> {
    let output_error = |source| CliError::Output {
        path: path.to_owned(),
        source,
    };
    if !overwrite && path.exists() {
        return Err(CliError::WouldOverwrite {
            path: path.to_owned(),
        });
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(output_error)?;
    temp.write_all(contents).map_err(output_error)?;
    temp.as_file().sync_all().map_err(output_error)?;
    if overwrite {
        temp.persist(path).map_err(|err| output_error(err.error))?;
    } else {
        temp.persist_noclobber(path).map_err(|err| {
            if err.error.kind() == io::ErrorKind::AlreadyExists {
                CliError::WouldOverwrite {
                    path: path.to_owned(),
                }
            } else {
                output_error(err.error)
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_from_base64_file_der_file_or_text() {
        let dir = tempfile::tempdir().unwrap();
        let der = vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];
        let b64 = STANDARD.encode(&der);

        let text_file = dir.path().join("sig.b64");
        std::fs::write(&text_file, format!("{b64}\n")).unwrap();
        assert_eq!(read_signature(text_file.to_str().unwrap()).unwrap(), der);

        let der_file = dir.path().join("sig.der");
        std::fs::write(&der_file, &der).unwrap();
        assert_eq!(read_signature(der_file.to_str().unwrap()).unwrap(), der);

        assert_eq!(read_signature(&b64).unwrap(), der);
    }

    #[test]
    fn unreadable_signature_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b" \n").unwrap();
        assert!(read_signature(empty.to_str().unwrap()).is_err());
        assert!(read_signature("no/such/file/and not base64!").is_err());
        assert!(read_signature(dir.path().to_str().unwrap()).is_err());
    }

    #[test]
    fn a_signature_file_past_the_limit_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let huge = dir.path().join("huge.sig");
        // Sparse: 200 MB on paper, nothing on disk.
        File::create(&huge).unwrap().set_len(200_000_000).unwrap();
        let err = match read_signature(huge.to_str().unwrap()) {
            Ok(bytes) => panic!("read {} bytes as a signature", bytes.len()),
            Err(err) => err,
        };
        assert_eq!(
            err.to_string(),
            format!(
                "invalid signature: {} is larger than 65536 bytes, far more than any signature \
                 (a base64 signature is a few KiB at most); is it the blob?",
                huge.display()
            )
        );

        let just_over = dir.path().join("over.sig");
        std::fs::write(&just_over, vec![b'A'; MAX_SIGNATURE_FILE_SIZE as usize + 1]).unwrap();
        assert!(read_signature(just_over.to_str().unwrap()).is_err());

        // At the limit: read, and decoded as the base64 it is.
        let at_limit = dir.path().join("at.sig");
        std::fs::write(&at_limit, vec![b'A'; MAX_SIGNATURE_FILE_SIZE as usize]).unwrap();
        let decoded = read_signature(at_limit.to_str().unwrap()).unwrap();
        assert_eq!(decoded.len(), MAX_SIGNATURE_FILE_SIZE as usize / 4 * 3);
    }

    /// An endless source is read only up to the limit.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_endless_signature_source_is_refused() {
        assert!(matches!(
            read_signature("/dev/zero"),
            Err(CliError::Signature { .. })
        ));
    }

    #[test]
    fn existing_file_is_kept_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cosign.pub");
        write_atomically(&path, b"first", false).unwrap();
        let err = write_atomically(&path, b"second", false).unwrap_err();
        assert!(matches!(err, CliError::WouldOverwrite { .. }));
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        write_atomically(&path, b"third", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"third");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
