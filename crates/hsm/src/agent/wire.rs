//! What travels over the agent's socket: frames of `[kind][length][bytes]`.
//!
//! A call is a `Request` header, the message in `Chunk` frames (only for
//! `signMessage` and `verifySignature` whose digest, if any, does not
//! stand for the message on its own), an `End` frame,
//! and then one `Reply` from the agent: a status byte and the plugin reply
//! exactly as a plugin writes it to stdout. Neither side ever sends a PIN
//! or key material: the header holds the plugin's own arguments (which any
//! user can read in the process table anyway) and the caller's module
//! setting.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Bytes of the message per `Chunk` frame, as the handler reads stdin.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// The largest frame either side accepts: a header holds a key reference
/// and a signature, a chunk at most [`CHUNK_SIZE`] bytes.
const MAX_FRAME: usize = 1 << 20;

/// The kind of a frame, its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A [`Request`] as JSON.
    Request = 1,
    /// A piece of the message.
    Chunk = 2,
    /// The message is complete.
    End = 3,
    /// The agent's answer: a status byte (0 success, 1 error) and the
    /// plugin reply JSON.
    Reply = 4,
}

impl Kind {
    fn from_byte(byte: u8) -> Option<Kind> {
        [Kind::Request, Kind::Chunk, Kind::End, Kind::Reply]
            .into_iter()
            .find(|kind| *kind as u8 == byte)
    }
}

/// What a connection asks of the agent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "camelCase")]
pub enum Request {
    /// One plugin call.
    Call {
        /// The plugin's argv after the program name: `v1` and the
        /// `PluginArgs` JSON.
        argv: Vec<String>,
        /// The caller's `SIGSTORE_KMS_HSM_MODULE`, so that the agent can
        /// refuse a call meant for another module.
        module: Option<String>,
        /// The caller's `SIGSTORE_KMS_HSM_MODULE_ALLOWLIST`, which the
        /// agent's module must be on, as a module the caller loads itself.
        #[serde(default)]
        allowlist: Option<String>,
    },
    /// `sigstore-kms-hsm agent --stop`.
    Stop,
}

/// Writes one frame.
pub fn write_frame(out: &mut impl Write, kind: Kind, payload: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(kind as u8);
    frame.extend_from_slice(&frame_length(payload.len())?.to_be_bytes());
    frame.extend_from_slice(payload);
    out.write_all(&frame)
}

/// The header of a frame whose `length` payload bytes the caller writes
/// itself (to send a chunk without copying it).
pub fn frame_header(kind: Kind, length: usize) -> io::Result<[u8; 5]> {
    let length = frame_length(length)?.to_be_bytes();
    Ok([kind as u8, length[0], length[1], length[2], length[3]])
}

fn frame_length(length: usize) -> io::Result<u32> {
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a frame of {length} bytes is larger than {MAX_FRAME}"),
        ));
    }
    Ok(length as u32)
}

/// Reads one frame; `None` at a clean end of the stream before a frame.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<(Kind, Vec<u8>)>> {
    let mut header = [0u8; 5];
    let mut filled = 0;
    while filled < header.len() {
        match input.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let kind = Kind::from_byte(header[0]).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown frame kind {}", header[0]),
        )
    })?;
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {length} bytes is larger than {MAX_FRAME}"),
        ));
    }
    let mut payload = vec![0; length];
    input.read_exact(&mut payload)?;
    Ok(Some((kind, payload)))
}

/// The message of a call as the agent reads it: the payloads of `Chunk`
/// frames up to the `End` frame. A connection that ends before `End` is an
/// error, so a caller killed mid-message never gets a signature over part
/// of it.
pub struct MessageReader<R> {
    input: R,
    chunk: Vec<u8>,
    position: usize,
    ended: bool,
}

impl<R: Read> MessageReader<R> {
    /// Reads the message that follows the request on `input`.
    pub fn new(input: R) -> Self {
        MessageReader {
            input,
            chunk: Vec::new(),
            position: 0,
            ended: false,
        }
    }

    /// Reads and drops what is left of the message, so that the caller
    /// can read the reply even when the call failed before the message was
    /// needed.
    pub fn drain(&mut self) -> io::Result<()> {
        let mut sink = [0u8; CHUNK_SIZE];
        while self.read(&mut sink)? > 0 {}
        Ok(())
    }
}

impl<R: Read> Read for MessageReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            match read_frame(&mut self.input)? {
                Some((Kind::Chunk, payload)) => {
                    self.chunk = payload;
                    self.position = 0;
                }
                Some((Kind::End, _)) => self.ended = true,
                Some((kind, _)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a {kind:?} frame inside the message"),
                    ))
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the caller closed the connection before the end of the message",
                    ))
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.position);
        buf[..n].copy_from_slice(&self.chunk[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_back_across_chunks_and_a_cut_message_is_an_error() {
        let mut wire = Vec::new();
        write_frame(&mut wire, Kind::Chunk, b"hello, ").unwrap();
        write_frame(&mut wire, Kind::Chunk, b"").unwrap();
        write_frame(&mut wire, Kind::Chunk, b"world").unwrap();
        let complete = wire.len();
        write_frame(&mut wire, Kind::End, b"").unwrap();
        let mut text = String::new();
        MessageReader::new(&wire[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello, world");

        let err = MessageReader::new(&wire[..complete])
            .read_to_string(&mut String::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn oversized_and_unknown_frames_are_refused() {
        let mut wire = vec![Kind::Chunk as u8];
        wire.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_frame(&mut &wire[..]).is_err());
        assert!(read_frame(&mut &[9u8, 0, 0, 0, 0][..]).is_err());
        assert!(read_frame(&mut &[][..]).unwrap().is_none());
    }
}
