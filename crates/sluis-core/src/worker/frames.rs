//! The frames a sanitiser worker writes on its standard output, and their reader.
//!
//! ```text
//!  frame    kind (1) | length (u32, little-endian) | payload (length)
//!  D        canonical DICOS bytes, in order (any number)
//!  R        the result as JSON (one, the last; at most 1 MiB)
//! ```
//!
//! Framed, because a refusal can come after part of the output was written. The reader is a
//! hostile-input parser: the worker that writes them has just parsed a hostile scan, and may
//! be the attacker's. Every length is checked against the bounds before a byte is read, and
//! each `D` payload is read straight onto the end of the canonical bytes. Fuzzed by the target
//! `frames`.

#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::io::Read;

use serde::{Deserialize, Serialize};
use sluis_scan::Refusal;

/// What the worker says in its result frame.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum WorkerResult {
    /// Canonical DICOS written in the data frames.
    Sanitised {
        /// Elements dropped.
        dropped: usize,
        /// Whether the network was isolated.
        network_isolated: bool,
    },
    /// Refused.
    Refused {
        /// Why.
        refusal: Refusal,
    },
}

/// Why the worker's output could not be read.
#[derive(Debug)]
pub enum ReadFault {
    /// The deadline passed first.
    TimedOut,
    /// The pipe failed.
    Failed(String),
    /// The frames broke their rules (what is wrong, as "its output ..." goes on).
    Malformed(String),
}

/// Reads frames (see [`Frames`]) until the stream ends: `(result JSON, canonical bytes)`. Each
/// `D` payload is read straight onto the end of the canonical bytes, never gathered from a copy
/// of the stream. Refused: a frame cut short or of an unknown kind, data past `max_data`, a
/// result larger than [`MAX_RESULT`], no result, or anything after it. `wait` is called when the
/// stream has nothing yet (a non-blocking pipe).
pub fn read_frames<R: Read>(
    r: &mut R,
    max_data: u64,
    hint: usize,
    mut wait: impl FnMut() -> Result<(), ReadFault>,
) -> Result<(Vec<u8>, Vec<u8>), ReadFault> {
    let malformed = |why: &str| ReadFault::Malformed(why.to_string());
    let mut data = Vec::new();
    data.try_reserve(hint)
        .map_err(|e| ReadFault::Failed(e.to_string()))?;
    let mut head = Vec::with_capacity(5);
    loop {
        head.clear();
        take_into(r, &mut head, 5, &mut wait)?;
        let (kind, len) = match head.as_slice() {
            [] => return Err(malformed("ended without a result")),
            &[kind, a, b, c, d] => (kind, u32::from_le_bytes([a, b, c, d])),
            _ => return Err(malformed("was cut short in a frame header")),
        };
        let len = usize::try_from(len).map_err(|_| malformed("has a frame too large"))?;
        match kind {
            b'D' => {
                let have = u64::try_from(data.len()).unwrap_or(u64::MAX);
                if have.saturating_add(u64::try_from(len).unwrap_or(u64::MAX)) > max_data {
                    return Err(malformed("passed the largest file accepted"));
                }
                let want = data.len().saturating_add(len);
                take_into(r, &mut data, len, &mut wait)?;
                if data.len() < want {
                    return Err(malformed("was cut short in a data frame"));
                }
            }
            b'R' => {
                if len > MAX_RESULT {
                    return Err(malformed("has a result larger than 1 MiB"));
                }
                let mut json = Vec::new();
                take_into(r, &mut json, len, &mut wait)?;
                if json.len() < len {
                    return Err(malformed("was cut short in the result"));
                }
                let mut after = Vec::new();
                take_into(r, &mut after, 1, &mut wait)?;
                if !after.is_empty() {
                    return Err(malformed("went on after the result"));
                }
                return Ok((json, data));
            }
            _ => return Err(malformed("has a frame of an unknown kind")),
        }
    }
}

/// Appends `n` bytes from `r` to `buf`, fewer only where the stream ends.
fn take_into<R: Read>(
    r: &mut R,
    buf: &mut Vec<u8>,
    n: usize,
    wait: &mut impl FnMut() -> Result<(), ReadFault>,
) -> Result<(), ReadFault> {
    let target = buf.len().saturating_add(n);
    while buf.len() < target {
        let want = u64::try_from(target.saturating_sub(buf.len())).unwrap_or(u64::MAX);
        match r.take(want).read_to_end(buf) {
            // Either all of it, or the end of the stream.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait()?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadFault::Failed(e.to_string())),
        }
    }
    Ok(())
}

/// The worker's standard output: frames of `kind (1 byte) | length (u32, little-endian) |
/// payload`. `D` frames carry the canonical DICOS in order; one `R` frame, the last, carries the
/// result as JSON. Framed, because a refusal can come after part of the output was written.
#[derive(Debug)]
pub struct Frames<W: std::io::Write>(pub W);

/// The canonical DICOS bytes the worker buffers before it writes a frame.
pub const FRAME_DATA: usize = 64 << 10;
/// The largest result a worker may give (a refusal's detail goes into the quarantine index).
pub const MAX_RESULT: usize = 1 << 20;

impl<W: std::io::Write> std::io::Write for Frames<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(u32::MAX).unwrap_or(usize::MAX));
        self.0.write_all(&frame_head(b'D', n))?;
        self.0.write_all(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<W: std::io::Write> Frames<W> {
    /// Writes the result frame, the last.
    pub fn result(&mut self, json: &[u8]) -> std::io::Result<()> {
        self.0.write_all(&frame_head(b'R', json.len()))?;
        self.0.write_all(json)?;
        self.0.flush()
    }
}

fn frame_head(kind: u8, len: usize) -> [u8; 5] {
    let l = u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes();
    [kind, l[0], l[1], l[2], l[3]]
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use std::io::Write as _;

    use super::{FRAME_DATA, Frames, ReadFault};

    fn framed(data: &[u8], json: &[u8]) -> Vec<u8> {
        let mut w = std::io::BufWriter::with_capacity(FRAME_DATA, Frames(Vec::new()));
        for chunk in data.chunks(1000) {
            w.write_all(chunk).unwrap();
        }
        w.flush().unwrap();
        let mut f = w.into_inner().unwrap();
        f.result(json).unwrap();
        f.0
    }

    /// Reads framed bytes as the core reads a worker's pipe, `step` bytes at a time, as if the
    /// pipe had nothing more between them.
    fn read(bytes: &[u8], max: u64, step: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
        struct Trickle<'a>(&'a [u8], usize, bool);
        impl std::io::Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                // Every other call finds the pipe empty.
                self.2 = !self.2;
                if self.2 && !self.0.is_empty() {
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        super::read_frames(&mut Trickle(bytes, step, false), max, 16, || Ok(())).map_err(
            |f| match f {
                ReadFault::Malformed(why) => why,
                ReadFault::Failed(why) => format!("failed: {why}"),
                ReadFault::TimedOut => "timed out".into(),
            },
        )
    }

    #[test]
    fn worker_frames_give_back_the_bytes_and_the_result() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let out = framed(&data, b"{\"result\":\"x\"}");
        for step in [1, 3, 4096, usize::MAX] {
            let (json, back) = read(&out, 1 << 20, step).unwrap();
            assert_eq!(json, b"{\"result\":\"x\"}");
            assert_eq!(back, data, "step {step}");
        }
        // Nothing but a result.
        let empty = framed(&[], b"{}");
        let (json, back) = read(&empty, 0, 7).unwrap();
        assert_eq!((&json[..], back.len()), (&b"{}"[..], 0));
    }

    #[test]
    fn malformed_worker_frames_are_refused() {
        let data = vec![7u8; 5000];
        let out = framed(&data, b"{}");
        let refused = |bytes: &[u8], max: u64| read(bytes, max, 1000).unwrap_err();
        // More data than the limit.
        assert_eq!(refused(&out, 4999), "passed the largest file accepted");
        // Cut anywhere: inside the result, inside a header, before the result.
        for cut in [out.len() - 1, out.len() - 3, out.len() - 7, 3, 0] {
            assert!(read(&out[..cut], 1 << 20, 1000).is_err(), "cut {cut}");
        }
        assert_eq!(refused(&[], 1 << 20), "ended without a result");
        // Something after the result.
        let mut more = out.clone();
        more.push(b'D');
        assert_eq!(refused(&more, 1 << 20), "went on after the result");
        // A result larger than a result may be.
        let big = framed(&[], &vec![b' '; super::MAX_RESULT + 1]);
        assert_eq!(refused(&big, 1 << 20), "has a result larger than 1 MiB");
        // An unknown kind.
        let mut odd = out.clone();
        odd[0] = b'X';
        assert_eq!(refused(&odd, 1 << 20), "has a frame of an unknown kind");
        // A length past the end.
        let mut long = out;
        long[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(refused(&long, u64::MAX), "was cut short in a data frame");
    }
}
