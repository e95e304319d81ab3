//! The blob to sign or verify: a file, or stdin for `-`.
//!
//! A blob is streamed to the plugin while it runs, so a source that can
//! block for any time (a pipe whose writer neither writes nor closes, as
//! in `sleep 20 | sigstore-kms sign-blob -`) is read in a thread of its
//! own (and a FIFO is opened there, since opening one waits for a
//! writer): the call's deadline then holds whatever the input does.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::error::CliError;

const CHUNK: usize = 64 * 1024;

/// How long after the call's deadline a blocked read gives up. The call
/// itself ends at its deadline, killing the plugin: this only has to come
/// later, so that the call reports the deadline rather than the input.
const READ_MARGIN: Duration = Duration::from_millis(100);

/// A blob, opened.
pub enum Blob {
    /// A regular file: reading it never blocks for long.
    File(File),
    /// Stdin, a pipe, a device: anything else.
    Stream(Box<dyn Read + Send>),
    /// Stdin that is a terminal.
    Terminal,
}

/// Opens a blob to sign or verify: a file, or stdin for `-`.
pub fn open_blob(path: &Path) -> Result<Blob, CliError> {
    let input_error = |source| CliError::Input {
        what: "blob",
        path: path.to_owned(),
        source,
    };
    if path == Path::new("-") {
        if io::stdin().is_terminal() {
            return Ok(Blob::Terminal);
        }
        return Ok(Blob::Stream(Box::new(io::stdin())));
    }
    let kind = std::fs::metadata(path).map_err(input_error)?.file_type();
    if kind.is_dir() {
        return Err(input_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        )));
    }
    if kind.is_file() {
        return Ok(Blob::File(File::open(path).map_err(input_error)?));
    }
    // Opening a FIFO waits for a writer: that too is reading the input.
    Ok(Blob::Stream(Box::new(OpenedOnFirstRead {
        path: path.to_owned(),
        file: None,
    })))
}

/// A file opened by its first read.
struct OpenedOnFirstRead {
    path: PathBuf,
    file: Option<File>,
}

impl Read for OpenedOnFirstRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(File::open(&self.path).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot open {}: {error}", self.path.display()),
                )
            })?),
        };
        file.read(buf)
    }
}

impl Blob {
    /// The blob, read as it comes.
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        match self {
            Blob::File(file) => Box::new(file),
            Blob::Stream(stream) => stream,
            Blob::Terminal => Box::new(io::stdin()),
        }
    }

    /// The blob as the message of a plugin call that ends at `deadline`.
    /// What a person types on the terminal is read whole first: the
    /// terminal belongs to the plugin while it runs (it may prompt there).
    pub fn into_message(
        self,
        deadline: Option<SystemTime>,
    ) -> Result<Box<dyn Read + Send>, CliError> {
        match self {
            Blob::File(file) => Ok(Box::new(file)),
            Blob::Stream(stream) => Ok(Box::new(Pumped::start(stream, deadline))),
            Blob::Terminal => {
                let mut typed = Vec::new();
                io::stdin()
                    .read_to_end(&mut typed)
                    .map_err(|source| CliError::Input {
                        what: "blob",
                        path: "-".into(),
                        source,
                    })?;
                Ok(Box::new(io::Cursor::new(typed)))
            }
        }
    }
}

/// A stream read by a thread of its own, in chunks, a few ahead; a read
/// from it waits until the deadline (and a short margin) at most. The
/// thread ends at the end of the stream, or when this reader is gone and
/// its blocked read returns; the process may end before that.
struct Pumped {
    chunks: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    read: usize,
    give_up_at: Option<Instant>,
}

impl Pumped {
    fn start(mut stream: Box<dyn Read + Send>, deadline: Option<SystemTime>) -> Pumped {
        let (sender, chunks) = mpsc::sync_channel(4);
        thread::spawn(move || loop {
            let mut chunk = vec![0u8; CHUNK];
            let sent = match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    sender.send(Ok(chunk))
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let _ = sender.send(Err(error));
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        });
        let give_up_at = deadline.and_then(|deadline| {
            let left = deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            Instant::now().checked_add(left.checked_add(READ_MARGIN)?)
        });
        Pumped {
            chunks,
            current: Vec::new(),
            read: 0,
            give_up_at,
        }
    }
}

impl Read for Pumped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read == self.current.len() {
            let next = match self.give_up_at {
                Some(at) => self
                    .chunks
                    .recv_timeout(at.saturating_duration_since(Instant::now())),
                None => self
                    .chunks
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            self.current = match next {
                Ok(chunk) => chunk?,
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the input did not end before the deadline",
                    ))
                }
            };
            self.read = 0;
        }
        let n = buf.len().min(self.current.len() - self.read);
        buf[..n].copy_from_slice(&self.current[self.read..self.read + n]);
        self.read += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_passed_on_whole_in_order() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut pumped = Pumped::start(Box::new(io::Cursor::new(data.clone())), None);
        let mut read = Vec::new();
        pumped.read_to_end(&mut read).unwrap();
        assert!(read == data, "the stream changed on its way");
    }

    #[test]
    fn a_stream_that_never_ends_gives_up_after_the_deadline() {
        struct Never;
        impl Read for Never {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                thread::sleep(Duration::from_secs(3600));
                Ok(0)
            }
        }
        let start = Instant::now();
        let deadline = SystemTime::now() + Duration::from_millis(200);
        let error = Pumped::start(Box::new(Never), Some(deadline))
            .read(&mut [0; 16])
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}
