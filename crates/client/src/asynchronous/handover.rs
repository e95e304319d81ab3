//! The caller's `AsyncRead` message, handed over to the blocking call that
//! streams it to the plugin: the future reads it and sends each chunk
//! through a bounded channel, which the call reads as a blocking `Read`.
//! Only an explicit end piece reads as the end of the message: a failed
//! read, and a sender gone before the end (the future was dropped), read
//! as errors, so that the call kills the plugin before it could take a
//! truncated message for the whole.

use std::io::{self, Read};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

/// As the blocking call's chunks (see `process`).
const CHUNK: usize = 64 * 1024;

/// Chunks on their way: enough that reading the message and writing it
/// into the pipe overlap, few enough that the message is never held.
const IN_FLIGHT: usize = 4;

pub(super) enum Piece {
    Bytes(Vec<u8>),
    End,
    Failed(io::Error),
}

pub(super) fn channel() -> (mpsc::Sender<Piece>, Reader) {
    let (sender, receiver) = mpsc::channel(IN_FLIGHT);
    let reader = Reader {
        receiver,
        chunk: Vec::new(),
        taken: 0,
        ended: false,
    };
    (sender, reader)
}

/// Reads `message` and sends it on, until its end, a failed read, or the
/// reader is gone (the call no longer streams: the plugin stopped reading,
/// or the call ended).
pub(super) async fn pass_on<R: AsyncRead + Unpin>(mut message: R, sender: mpsc::Sender<Piece>) {
    loop {
        let mut chunk = vec![0; CHUNK];
        let piece = match message.read(&mut chunk).await {
            Ok(0) => Piece::End,
            Ok(read) => {
                chunk.truncate(read);
                Piece::Bytes(chunk)
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => Piece::Failed(error),
        };
        let last = !matches!(piece, Piece::Bytes(_));
        if sender.send(piece).await.is_err() || last {
            return;
        }
    }
}

/// The message as the blocking call reads it, in its stdin helper thread.
pub(super) struct Reader {
    receiver: mpsc::Receiver<Piece>,
    chunk: Vec<u8>,
    /// How much of `chunk` was read.
    taken: usize,
    ended: bool,
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.taken == self.chunk.len() && !self.ended && !buf.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Piece::Bytes(chunk)) => (self.chunk, self.taken) = (chunk, 0),
                Some(Piece::End) => self.ended = true,
                Some(Piece::Failed(error)) => return Err(error),
                None => {
                    return Err(io::Error::other(
                        "the message was not read to its end: the call's future was dropped",
                    ))
                }
            }
        }
        let read = buf.len().min(self.chunk.len() - self.taken);
        buf[..read].copy_from_slice(&self.chunk[self.taken..self.taken + read]);
        self.taken += read;
        Ok(read)
    }
}
