//! Fuzzes the core's reader of a sanitiser worker's output frames: the worker has just parsed
//! a hostile scan and may be the attacker's. The first byte sets how many bytes each read
//! returns (with an empty pipe between reads); the rest is the stream. No panic, no data past
//! the limit, and what is accepted reads back the same after writing it again with the
//! worker's own writer.
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;
use sluis_core::worker::frames::{read_frames, Frames, ReadFault, FRAME_DATA};

const MAX_DATA: u64 = 256 << 10;

/// A pipe that returns `step` bytes at a time and is empty every other read.
struct Trickle<'a>(&'a [u8], usize, bool);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
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

fn read(bytes: &[u8], step: usize) -> Result<(Vec<u8>, Vec<u8>), ReadFault> {
    let mut waits = 0u32;
    read_frames(&mut Trickle(bytes, step, false), MAX_DATA, 4096, || {
        waits += 1;
        if waits > 1_000_000 {
            Err(ReadFault::TimedOut)
        } else {
            Ok(())
        }
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, stream)) = input.split_first() else {
        return;
    };
    let step = usize::from(first).max(1) * 97;
    let Ok((json, data)) = read(stream, step) else {
        return;
    };
    assert!(data.len() as u64 <= MAX_DATA);
    assert!(json.len() <= sluis_core::worker::frames::MAX_RESULT);
    let mut w = std::io::BufWriter::with_capacity(FRAME_DATA, Frames(Vec::new()));
    w.write_all(&data).unwrap();
    w.flush().unwrap();
    let mut f = w.into_inner().unwrap();
    f.result(&json).unwrap();
    let (json2, data2) = read(&f.0, 4096).expect("our own frames read back");
    assert_eq!((json2, data2), (json, data));
});
