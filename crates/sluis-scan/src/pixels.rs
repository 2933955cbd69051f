//! Pixel decoding under declared geometry: native, RLE lossless and JPEG lossless.
//!
//! Every decoder writes into buffers sized from the *checked* geometry (rows x columns x frames,
//! already compared with the limits), never from a size the compressed stream declares. Frames
//! that decode to more or fewer samples than the geometry says are refused.
//!
//! Bits above Bits Stored are a covert channel (a vendor could hide data in the unused high bits
//! of every pixel), so they are cleared (unsigned) or set to the sign (signed) and the number of
//! samples changed is reported.
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::ops::Range;

use crate::limits::Limits;
use crate::model::Samples;
use crate::preflight::{Fragment, PixelLayout, Source, Structure};
use crate::refusal::{Location, Refusal, Rule};
pub(crate) use crate::syntax::Codec;

/// The geometry the pixel data must match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelSpec {
    pub rows: u16,
    pub columns: u16,
    /// Total frames in the pixel data (all channels).
    pub frames: u32,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
}

impl PixelSpec {
    pub(crate) fn frame_samples(&self) -> usize {
        usize::from(self.rows).saturating_mul(usize::from(self.columns))
    }

    fn bytes_per_sample(&self) -> usize {
        usize::from(self.bits_allocated / 8)
    }
}

/// The result of decoding: one sample buffer per channel, and how many samples had their
/// padding bits normalised.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub channels: Vec<Samples>,
    pub padding_bits_cleared: u64,
}

fn pixel_loc(structure: &Structure<'_>, offset: usize) -> Location {
    structure.location(offset).with_element("(7FE0,0010)")
}

/// Checks the memory needed to decode, then decodes the pixel data into `channel_frames.len()`
/// channel buffers of `channel_frames[i]` frames each.
pub(crate) fn decode(
    structure: &Structure<'_>,
    spec: &PixelSpec,
    channel_frames: &[u32],
    limits: &Limits,
) -> Result<Decoded, Refusal> {
    let layout = structure.pixel_data.as_ref().ok_or_else(|| {
        Refusal::sender(
            Rule::MissingAttribute,
            Location::element("(7FE0,0010)"),
            "an image without Pixel Data",
        )
    })?;
    let frame_samples = spec.frame_samples();
    let total_samples = frame_samples
        .checked_mul(usize::try_from(spec.frames).unwrap_or(usize::MAX))
        .ok_or_else(|| {
            Refusal::sender(
                Rule::ImageDimensions,
                Location::default(),
                "pixel count overflows",
            )
        })?;
    let total_bytes = total_samples.saturating_mul(spec.bytes_per_sample());
    // What this decode holds at its peak: the output, plus one frame of decoder scratch for
    // compressed data, plus the inflated data set if there is one.
    let scratch = match layout {
        PixelLayout::Native { .. } => 0,
        PixelLayout::Encapsulated { .. } => frame_samples
            .saturating_mul(spec.bytes_per_sample())
            .saturating_mul(2)
            .saturating_mul(decode_threads()),
    };
    let inflated = if structure.inflated {
        structure.dataset.len()
    } else {
        0
    };
    let need = total_bytes.saturating_add(scratch).saturating_add(inflated);
    if u64::try_from(need).map_or(true, |n| n > limits.max_memory_bytes) {
        return Err(Refusal::sender(
            Rule::MemoryLimit,
            Location::element("(7FE0,0010)"),
            format!(
                "decoding needs about {need} bytes, more than the configured maximum of {} bytes",
                limits.max_memory_bytes
            ),
        ));
    }
    let frames_sum: u64 = channel_frames.iter().map(|&f| u64::from(f)).sum();
    if frames_sum != u64::from(spec.frames) {
        return Err(Refusal::internal(
            Rule::ImageDimensions,
            Location::default(),
            "channel frame counts do not add up to the number of frames",
        ));
    }
    let mut out = Output::new(spec, channel_frames)?;
    match layout {
        PixelLayout::Native { value } => {
            native(structure, value.clone(), spec, &mut out)?;
        }
        PixelLayout::Encapsulated { .. } => {
            let (codec, plan) = frame_plan(structure, spec)?;
            let dsts = out.frames_mut(frame_samples);
            let mut jobs = Vec::with_capacity(plan.len());
            for ((index, ranges), dst) in plan.iter().enumerate().zip(dsts) {
                jobs.push(Job {
                    index,
                    bytes: frame_bytes(structure, ranges),
                    dst,
                    loc: pixel_loc(structure, ranges.first().map_or(0, |r| r.start)),
                });
            }
            decode_jobs(jobs, spec, codec)?;
        }
    }
    out.finish(spec)
}

fn value_start(fragments: &[Fragment]) -> usize {
    fragments.first().map_or(0, |f| f.value.start)
}

/// Destination buffers, one per channel, filled frame by frame.
struct Output {
    channels: Vec<Samples>,
    /// For each global frame index: (channel, frame within channel).
    frame_map: Vec<(usize, usize)>,
}

impl Output {
    fn new(spec: &PixelSpec, channel_frames: &[u32]) -> Result<Self, Refusal> {
        let frame_samples = spec.frame_samples();
        let mut channels = Vec::with_capacity(channel_frames.len());
        let mut frame_map = Vec::new();
        for (c, &frames) in channel_frames.iter().enumerate() {
            let frames = usize::try_from(frames).unwrap_or(usize::MAX);
            let len = frame_samples.saturating_mul(frames);
            let samples = match spec.bits_allocated {
                8 => Samples::U8(try_zeroed(len)?),
                _ => Samples::U16(try_zeroed(len)?),
            };
            channels.push(samples);
            frame_map.extend((0..frames).map(|f| (c, f)));
        }
        Ok(Output {
            channels,
            frame_map,
        })
    }

    /// Every frame's destination, in frame order.
    fn frames_mut(&mut self, frame_samples: usize) -> Vec<FrameMut<'_>> {
        let n = frame_samples.max(1);
        let mut out = Vec::new();
        for ch in &mut self.channels {
            match ch {
                Samples::U8(v) => out.extend(v.chunks_exact_mut(n).map(FrameMut::U8)),
                Samples::U16(v) => out.extend(v.chunks_exact_mut(n).map(FrameMut::U16)),
            }
        }
        out
    }

    /// The destination of global frame `index`.
    fn frame_mut(&mut self, index: usize, frame_samples: usize) -> Option<FrameMut<'_>> {
        let &(c, f) = self.frame_map.get(index)?;
        let start = f.checked_mul(frame_samples)?;
        let range = start..start.checked_add(frame_samples)?;
        match self.channels.get_mut(c)? {
            Samples::U8(v) => v.get_mut(range).map(FrameMut::U8),
            Samples::U16(v) => v.get_mut(range).map(FrameMut::U16),
        }
    }

    fn finish(mut self, spec: &PixelSpec) -> Result<Decoded, Refusal> {
        let mut cleared = 0u64;
        for ch in &mut self.channels {
            cleared = cleared.saturating_add(normalise_padding(ch, spec.bits_stored, spec.signed));
        }
        Ok(Decoded {
            channels: self.channels,
            padding_bits_cleared: cleared,
        })
    }
}

/// One frame of a destination buffer.
pub(crate) enum FrameMut<'a> {
    U8(&'a mut [u8]),
    U16(&'a mut [u16]),
}

impl FrameMut<'_> {
    fn fill_zero(&mut self) {
        match self {
            FrameMut::U8(d) => d.fill(0),
            FrameMut::U16(d) => d.fill(0),
        }
    }
}

/// One compressed frame to decode into its destination.
struct Job<'a> {
    index: usize,
    bytes: std::borrow::Cow<'a, [u8]>,
    dst: FrameMut<'a>,
    loc: Location,
}

/// How many frames to decode at once: the machine's cores, at most four.
fn decode_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 4)
}

/// Decodes compressed frames, in parallel across up to [`decode_threads`] threads. The error
/// reported is the one of the lowest frame index, whatever the threads' timing.
fn decode_jobs(jobs: Vec<Job<'_>>, spec: &PixelSpec, codec: Codec) -> Result<(), Refusal> {
    let run = |job: Job<'_>| match codec {
        Codec::Rle => rle::decode_frame(&job.bytes, spec, job.index, job.dst, &job.loc),
        Codec::JpegLossless => jpeg::decode_frame(&job.bytes, spec, job.index, job.dst, &job.loc),
    };
    let threads = decode_threads().min(jobs.len());
    if threads <= 1 {
        return jobs.into_iter().try_for_each(run);
    }
    // Deal the jobs round robin so that each thread gets frames of every channel.
    let mut lanes: Vec<Vec<Job<'_>>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        if let Some(lane) = lanes.get_mut(i.checked_rem(threads).unwrap_or(0)) {
            lane.push(job);
        }
    }
    let results: Vec<Result<(), (usize, Refusal)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                scope.spawn(move || {
                    for job in lane {
                        let index = job.index;
                        run(job).map_err(|e| (index, e))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err((
                        0,
                        Refusal::internal(
                            Rule::JpegInvalid,
                            Location::element("(7FE0,0010)"),
                            "a decoder thread panicked",
                        ),
                    ))
                })
            })
            .collect()
    });
    match results
        .into_iter()
        .filter_map(Result::err)
        .min_by_key(|(i, _)| *i)
    {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

fn try_zeroed<T: Clone + Default>(len: usize) -> Result<Vec<T>, Refusal> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        Refusal::sender(
            Rule::MemoryLimit,
            Location::element("(7FE0,0010)"),
            format!("cannot reserve {len} samples"),
        )
    })?;
    v.resize(len, T::default());
    Ok(v)
}

/// Clears (or sign-fills) the bits above `bits_stored`; returns how many samples changed.
fn normalise_padding(samples: &mut Samples, bits_stored: u16, signed: bool) -> u64 {
    let mut changed = 0u64;
    match samples {
        Samples::U16(v) if bits_stored < 16 => {
            let keep: u16 = (1u16 << bits_stored).wrapping_sub(1);
            let sign_bit: u16 = 1u16 << bits_stored.saturating_sub(1);
            for x in v.iter_mut() {
                let stored = *x & keep;
                let new = if signed && stored & sign_bit != 0 {
                    stored | !keep
                } else {
                    stored
                };
                changed = changed.wrapping_add(u64::from(new != *x));
                *x = new;
            }
        }
        Samples::U8(v) if bits_stored < 8 => {
            let keep: u8 = (1u8 << bits_stored).wrapping_sub(1);
            let sign_bit: u8 = 1u8 << bits_stored.saturating_sub(1);
            for x in v.iter_mut() {
                let stored = *x & keep;
                let new = if signed && stored & sign_bit != 0 {
                    stored | !keep
                } else {
                    stored
                };
                changed = changed.wrapping_add(u64::from(new != *x));
                *x = new;
            }
        }
        _ => {}
    }
    changed
}

/// Checks that native pixel data holds exactly the declared samples (plus one pad byte for an
/// odd number of 8-bit samples); returns the number of sample bytes.
pub(crate) fn check_native_length(
    structure: &Structure<'_>,
    value: &Range<usize>,
    spec: &PixelSpec,
) -> Result<usize, Refusal> {
    if structure.syntax.codec().is_some() {
        return Err(Refusal::sender(
            Rule::PixelDataEncapsulation,
            pixel_loc(structure, value.start),
            format!(
                "native pixel data under {}, which requires encapsulated fragments",
                structure.syntax
            ),
        ));
    }
    let total_bytes = spec
        .frame_samples()
        .saturating_mul(usize::try_from(spec.frames).unwrap_or(usize::MAX))
        .saturating_mul(spec.bytes_per_sample());
    let padded = total_bytes.saturating_add(total_bytes % 2);
    let len = value.len();
    if len != total_bytes && len != padded {
        return Err(Refusal::sender(
            Rule::PixelDataLength,
            pixel_loc(structure, value.start),
            format!(
                "{} x {} x {} frames x {} bits needs {total_bytes} bytes, the element holds {len}",
                spec.rows, spec.columns, spec.frames, spec.bits_allocated,
            ),
        ));
    }
    Ok(total_bytes)
}

/// Why streaming pixels stopped.
#[derive(Debug)]
pub(crate) enum StreamFault {
    /// A compressed frame is refused.
    Refused(Refusal),
    /// The input ended early or could not be read (it changed while being read).
    Read(std::io::Error),
    /// The output could not be written.
    Write(std::io::Error),
}

/// For each frame, the value ranges (data set offsets) of its fragments, in order.
pub(crate) type FramePlan = Vec<Vec<Range<usize>>>;

/// The compressed frames of encapsulated pixel data: the codec, and for each frame the value
/// ranges (data set offsets) of its fragments, in order.
pub(crate) fn frame_plan(
    structure: &Structure<'_>,
    spec: &PixelSpec,
) -> Result<(Codec, FramePlan), Refusal> {
    let Some(PixelLayout::Encapsulated {
        offset_table,
        fragments,
    }) = &structure.pixel_data
    else {
        return Err(Refusal::internal(
            Rule::PixelDataEncapsulation,
            Location::element("(7FE0,0010)"),
            "not encapsulated pixel data",
        ));
    };
    let codec = structure.syntax.codec().ok_or_else(|| {
        Refusal::sender(
            Rule::PixelDataEncapsulation,
            pixel_loc(structure, value_start(fragments)),
            format!(
                "encapsulated pixel data under {}, which is a native transfer syntax",
                structure.syntax
            ),
        )
    })?;
    let frames = map_frames(
        structure,
        offset_table.clone(),
        fragments,
        spec.frames,
        codec,
    )?;
    Ok((
        codec,
        frames
            .iter()
            .map(|r| {
                fragments
                    .get(r.clone())
                    .unwrap_or_default()
                    .iter()
                    .map(|f| f.value.clone())
                    .collect()
            })
            .collect(),
    ))
}

/// Streams encapsulated pixel data: reads the frames' fragments from `input` (whose data set
/// starts at file offset `base`), decodes them a few frames at a time in parallel into frame
/// buffers sized by the checked geometry, normalises their padding bits, and writes them as
/// canonical little-endian samples. Returns the number of samples changed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn stream_encapsulated<R: std::io::Read + std::io::Seek, W: std::io::Write>(
    input: &mut R,
    structure: &Structure<'_>,
    base: usize,
    plan: &[Vec<Range<usize>>],
    codec: Codec,
    spec: &PixelSpec,
    out: &mut W,
) -> Result<u64, StreamFault> {
    let frame_samples = spec.frame_samples();
    let threads = decode_threads();
    let mut buffers: Vec<Samples> = Vec::new();
    let mut changed = 0u64;
    let mut bytes_out: Vec<u8> = Vec::with_capacity(STREAM_CHUNK);
    for (group_index, group) in plan.chunks(threads.max(1)).enumerate() {
        while buffers.len() < group.len() {
            buffers.push(match spec.bits_allocated {
                8 => Samples::U8(try_zeroed(frame_samples).map_err(StreamFault::Refused)?),
                _ => Samples::U16(try_zeroed(frame_samples).map_err(StreamFault::Refused)?),
            });
        }
        let mut compressed = Vec::with_capacity(group.len());
        for fragments in group {
            let mut bytes = Vec::new();
            for range in fragments {
                let at = range
                    .start
                    .checked_add(base)
                    .ok_or_else(|| StreamFault::Read(std::io::ErrorKind::InvalidData.into()))?;
                input
                    .seek(std::io::SeekFrom::Start(at as u64))
                    .map_err(StreamFault::Read)?;
                let start = bytes.len();
                bytes
                    .try_reserve(range.len())
                    .map_err(|_| StreamFault::Read(std::io::ErrorKind::OutOfMemory.into()))?;
                bytes.resize(start.saturating_add(range.len()), 0);
                input
                    .read_exact(bytes.get_mut(start..).unwrap_or_default())
                    .map_err(StreamFault::Read)?;
            }
            compressed.push(bytes);
        }
        let first = group_index.saturating_mul(threads.max(1));
        let jobs: Vec<Job<'_>> = compressed
            .iter()
            .zip(buffers.iter_mut())
            .zip(group.iter())
            .enumerate()
            .map(|(i, ((bytes, buffer), fragments))| Job {
                index: first.saturating_add(i),
                bytes: std::borrow::Cow::Borrowed(bytes.as_slice()),
                dst: match buffer {
                    Samples::U8(v) => FrameMut::U8(v.as_mut_slice()),
                    Samples::U16(v) => FrameMut::U16(v.as_mut_slice()),
                },
                loc: pixel_loc(structure, fragments.first().map_or(0, |f| f.start)),
            })
            .collect();
        decode_jobs(jobs, spec, codec).map_err(StreamFault::Refused)?;
        drop(compressed);
        for buffer in buffers.iter_mut().take(group.len()) {
            changed =
                changed.saturating_add(normalise_padding(buffer, spec.bits_stored, spec.signed));
            match buffer {
                Samples::U8(v) => out.write_all(v).map_err(StreamFault::Write)?,
                Samples::U16(v) => {
                    for chunk in v.chunks(STREAM_CHUNK / 2) {
                        bytes_out.clear();
                        bytes_out.extend(chunk.iter().flat_map(|s| s.to_le_bytes()));
                        out.write_all(&bytes_out).map_err(StreamFault::Write)?;
                    }
                }
            }
        }
    }
    Ok(changed)
}

/// The bytes moved per step when streaming native pixels (even, so 16-bit samples never split).
/// Small enough to stay in the cache, and to cost a short-lived process (the core's sanitiser
/// worker) few fresh pages: each is a page fault, and two 1 MiB buffers were 512 of them.
const STREAM_CHUNK: usize = 64 << 10;

/// Streams `total_bytes` of native pixel data from `input` to `out` as canonical little-endian
/// samples: each sample is decoded (little or big endian), its bits above Bits Stored are
/// normalised exactly as [`decode`] does, and it is encoded again. Returns the number of samples
/// changed. The input must be positioned at the value; a pad byte after the samples is skipped.
pub(crate) fn stream_native<R: std::io::Read, W: std::io::Write>(
    input: &mut R,
    total_bytes: usize,
    value_len: usize,
    spec: &PixelSpec,
    big_endian: bool,
    out: &mut W,
) -> Result<u64, StreamFault> {
    let mut inbuf = vec![0u8; STREAM_CHUNK];
    let mut outbuf = vec![0u8; STREAM_CHUNK];
    let mut remaining = total_bytes;
    let mut changed = 0u64;
    let bits = spec.bits_stored;
    while remaining > 0 {
        let n = remaining.min(STREAM_CHUNK);
        let (Some(chunk), Some(dst)) = (inbuf.get_mut(..n), outbuf.get_mut(..n)) else {
            return Err(StreamFault::Read(std::io::ErrorKind::InvalidInput.into()));
        };
        input.read_exact(chunk).map_err(StreamFault::Read)?;
        changed = changed.wrapping_add(if spec.bits_allocated == 16 {
            transform16(chunk, dst, bits, spec.signed, big_endian)
        } else {
            transform8(chunk, dst, bits, spec.signed)
        });
        out.write_all(dst).map_err(StreamFault::Write)?;
        remaining = remaining.saturating_sub(n);
    }
    // Skip the pad byte of an odd number of 8-bit samples.
    if value_len > total_bytes {
        let mut pad = [0u8; 1];
        input.read_exact(&mut pad).map_err(StreamFault::Read)?;
    }
    Ok(changed)
}

/// Decodes 16-bit samples (little or big endian), normalises the bits above `bits` as
/// [`normalise_padding`] does, and encodes them little endian into `dst`; returns how many
/// changed. Written as straight loops over two-byte arrays so that the common case (little
/// endian, unsigned) compiles to vector instructions.
fn transform16(src: &[u8], dst: &mut [u8], bits: u16, signed: bool, big_endian: bool) -> u64 {
    let keep: u16 = if bits >= 16 {
        u16::MAX
    } else {
        (1u16 << bits).wrapping_sub(1)
    };
    let sign_bit: u16 = 1u16 << bits.saturating_sub(1).min(15);
    let sign_fill = signed && bits < 16;
    let (ins, _) = src.as_chunks::<2>();
    let (outs, _) = dst.as_chunks_mut::<2>();
    let mut total = 0u64;
    // Count in u32 per block (vectorisable), then widen.
    for (block_in, block_out) in ins.chunks(4096).zip(outs.chunks_mut(4096)) {
        let mut changed = 0u32;
        for (i, o) in block_in.iter().zip(block_out.iter_mut()) {
            let v = if big_endian {
                u16::from_be_bytes(*i)
            } else {
                u16::from_le_bytes(*i)
            };
            let stored = v & keep;
            let new = if sign_fill && stored & sign_bit != 0 {
                stored | !keep
            } else {
                stored
            };
            changed = changed.wrapping_add(u32::from(new != v));
            *o = new.to_le_bytes();
        }
        total = total.wrapping_add(u64::from(changed));
    }
    total
}

/// The 8-bit counterpart of [`transform16`].
fn transform8(src: &[u8], dst: &mut [u8], bits: u16, signed: bool) -> u64 {
    let keep: u8 = if bits >= 8 {
        u8::MAX
    } else {
        (1u8 << bits).wrapping_sub(1)
    };
    let sign_bit: u8 = 1u8 << bits.saturating_sub(1).min(7);
    let sign_fill = signed && bits < 8;
    let mut changed = 0u64;
    for (&v, o) in src.iter().zip(dst.iter_mut()) {
        let stored = v & keep;
        let new = if sign_fill && stored & sign_bit != 0 {
            stored | !keep
        } else {
            stored
        };
        changed = changed.wrapping_add(u64::from(new != v));
        *o = new;
    }
    changed
}

/// Native pixel data into channel buffers.
fn native(
    structure: &Structure<'_>,
    value: Range<usize>,
    spec: &PixelSpec,
    out: &mut Output,
) -> Result<(), Refusal> {
    if structure.syntax.codec().is_some() {
        return Err(Refusal::sender(
            Rule::PixelDataEncapsulation,
            pixel_loc(structure, value.start),
            format!(
                "native pixel data under {}, which requires encapsulated fragments",
                structure.syntax
            ),
        ));
    }
    let total_bytes = check_native_length(structure, &value, spec)?;
    let bytes = structure
        .dataset
        .bytes(value.clone())
        .and_then(|b| b.get(..total_bytes))
        .unwrap_or_default();

    let big_endian = structure.syntax.encoding().big_endian;
    let frame_samples = spec.frame_samples();
    let frame_bytes = frame_samples.saturating_mul(spec.bytes_per_sample());
    let frames = usize::try_from(spec.frames).unwrap_or(usize::MAX);
    for (index, src) in bytes
        .chunks_exact(frame_bytes.max(1))
        .take(frames)
        .enumerate()
    {
        match out.frame_mut(index, frame_samples) {
            Some(FrameMut::U16(dst)) => {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                    let pair = [
                        s.first().copied().unwrap_or(0),
                        s.get(1).copied().unwrap_or(0),
                    ];
                    *d = if big_endian {
                        u16::from_be_bytes(pair)
                    } else {
                        u16::from_le_bytes(pair)
                    };
                }
            }
            Some(FrameMut::U8(dst)) => {
                dst.copy_from_slice(src.get(..dst.len()).unwrap_or_default())
            }
            None => {
                return Err(Refusal::internal(
                    Rule::ImageDimensions,
                    pixel_loc(structure, value.start),
                    "frame index out of range",
                ));
            }
        }
    }
    Ok(())
}

/// Maps encapsulated fragments to frames (PS3.5 §A.4): one fragment per frame, all fragments for
/// a single frame, the basic offset table, or (JPEG only) a new frame at every fragment that
/// starts with an SOI marker. Returns, for each frame, the range of fragment indices.
fn map_frames(
    structure: &Structure<'_>,
    offset_table: Range<usize>,
    fragments: &[Fragment],
    frames: u32,
    codec: Codec,
) -> Result<Vec<Range<usize>>, Refusal> {
    let frames = usize::try_from(frames).unwrap_or(usize::MAX);
    let fail = |detail: String| {
        Refusal::sender(
            Rule::FrameFragments,
            pixel_loc(structure, value_start(fragments)),
            detail,
        )
    };
    if fragments.is_empty() {
        return Err(fail("encapsulated pixel data has no fragments".into()));
    }
    if fragments.len() == frames {
        return Ok((0..frames).map(|i| i..i.saturating_add(1)).collect());
    }
    if frames == 1 {
        return Ok(std::iter::once(0..fragments.len()).collect());
    }
    if fragments.len() < frames {
        return Err(fail(format!(
            "{} fragments cannot hold {frames} frames",
            fragments.len()
        )));
    }
    let table = structure.dataset.bytes(offset_table).unwrap_or_default();
    if !table.is_empty() {
        let offsets: Vec<u64> = table
            .chunks_exact(4)
            .map(|c| {
                u64::from(u32::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                    c.get(2).copied().unwrap_or(0),
                    c.get(3).copied().unwrap_or(0),
                ]))
            })
            .collect();
        if offsets.len() != frames {
            return Err(fail(format!(
                "basic offset table has {} entries for {frames} frames",
                offsets.len()
            )));
        }
        let mut starts = Vec::with_capacity(frames);
        for (i, off) in offsets.iter().enumerate() {
            let idx = fragments
                .iter()
                .position(|f| f.relative_offset == *off)
                .ok_or_else(|| {
                    fail(format!(
                        "basic offset table entry {i} ({off}) does not point at a fragment"
                    ))
                })?;
            if starts.last().is_some_and(|&prev| idx <= prev) || (i == 0 && idx != 0) {
                return Err(fail(
                    "basic offset table entries are not ascending from the first fragment".into(),
                ));
            }
            starts.push(idx);
        }
        return Ok(ranges_from_starts(&starts, fragments.len()));
    }
    match codec {
        Codec::JpegLossless => {
            let starts: Vec<usize> = fragments
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    structure
                        .dataset
                        .bytes(f.value.start..f.value.start.saturating_add(2).min(f.value.end))
                        .is_some_and(|b| b.starts_with(&[0xFF, 0xD8]))
                })
                .map(|(i, _)| i)
                .collect();
            if starts.len() != frames || starts.first() != Some(&0) {
                return Err(fail(format!(
                    "without an offset table, {} fragments start a JPEG stream but there are {frames} frames",
                    starts.len()
                )));
            }
            Ok(ranges_from_starts(&starts, fragments.len()))
        }
        Codec::Rle => Err(fail(format!(
            "RLE needs one fragment per frame; found {} for {frames} frames",
            fragments.len()
        ))),
    }
}

fn ranges_from_starts(starts: &[usize], total: usize) -> Vec<Range<usize>> {
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| s..starts.get(i.saturating_add(1)).copied().unwrap_or(total))
        .collect()
}

/// The bytes of one frame: its fragment, or its fragments joined.
fn frame_bytes<'s>(
    structure: &'s Structure<'_>,
    ranges: &[Range<usize>],
) -> std::borrow::Cow<'s, [u8]> {
    if let [one] = ranges {
        return std::borrow::Cow::Borrowed(
            structure.dataset.bytes(one.clone()).unwrap_or_default(),
        );
    }
    let mut joined = Vec::new();
    for range in ranges {
        joined.extend_from_slice(structure.dataset.bytes(range.clone()).unwrap_or_default());
    }
    std::borrow::Cow::Owned(joined)
}

/// RLE Lossless (PS3.5 Annex G).
///
/// Written here rather than taken from dicom-transfer-syntax-registry 0.10: its RLE decoder reads
/// the segment header without checking the fragment length, expands PackBits runs without an
/// output cap, and indexes decoded segments without checking their length (a short segment
/// panics). This one checks the header and decodes every segment into exactly rows x columns
/// bytes.
mod rle {
    use super::{FrameMut, PixelSpec};
    use crate::refusal::{Location, Refusal, Rule};

    const HEADER: usize = 64;

    pub(super) fn decode_frame(
        fragment: &[u8],
        spec: &PixelSpec,
        index: usize,
        dst: FrameMut<'_>,
        loc: &Location,
    ) -> Result<(), Refusal> {
        let fail = |detail: String| {
            Refusal::sender(
                Rule::RleInvalid,
                loc.clone(),
                format!("frame {index}: {detail}"),
            )
        };
        let header = fragment.get(..HEADER).ok_or_else(|| {
            fail(format!(
                "fragment of {} bytes is shorter than the 64-byte RLE header",
                fragment.len()
            ))
        })?;
        let word = |i: usize| -> u32 {
            let at = i.saturating_mul(4);
            let b = |k: usize| header.get(at.saturating_add(k)).copied().unwrap_or(0);
            u32::from_le_bytes([b(0), b(1), b(2), b(3)])
        };
        let segments = usize::try_from(word(0)).unwrap_or(usize::MAX);
        let expected = usize::from(spec.bits_allocated / 8);
        if segments != expected {
            return Err(fail(format!(
                "{segments} segments, expected {expected} for one {}-bit sample per pixel",
                spec.bits_allocated
            )));
        }
        let mut offsets = Vec::with_capacity(segments.saturating_add(1));
        for i in 1..=segments {
            offsets.push(usize::try_from(word(i)).unwrap_or(usize::MAX));
        }
        offsets.push(fragment.len());
        if offsets.first() != Some(&HEADER) || offsets.windows(2).any(|w| w.first() > w.get(1)) {
            return Err(fail(
                "segment offsets do not start after the header and ascend within the fragment"
                    .into(),
            ));
        }
        let frame_samples = spec.frame_samples();
        let mut plane: Vec<u8> = Vec::new();
        plane
            .try_reserve_exact(frame_samples)
            .map_err(|_| fail("cannot reserve a segment buffer".into()))?;
        let mut dst = dst;
        dst.fill_zero();
        for s in 0..segments {
            let start = offsets.get(s).copied().unwrap_or(0);
            let end = offsets.get(s.saturating_add(1)).copied().unwrap_or(0);
            let segment = fragment.get(start..end).unwrap_or_default();
            plane.clear();
            unpack(segment, frame_samples, &mut plane)
                .map_err(|d| fail(format!("segment {s}: {d}")))?;
            // Segment 0 holds the most significant bytes (PS3.5 §G.2).
            match &mut dst {
                FrameMut::U8(d) => d.copy_from_slice(&plane),
                FrameMut::U16(d) => {
                    let shift = if s == 0 { 8 } else { 0 };
                    for (x, &b) in d.iter_mut().zip(plane.iter()) {
                        *x |= u16::from(b) << shift;
                    }
                }
            }
        }
        Ok(())
    }

    /// PackBits (PS3.5 §G.3.1) into exactly `want` bytes. At most one byte may follow the point
    /// where the output is full (segments are padded to even length); more is hidden data.
    fn unpack(mut input: &[u8], want: usize, out: &mut Vec<u8>) -> Result<(), String> {
        while out.len() < want {
            let (&n, rest) = input
                .split_first()
                .ok_or_else(|| format!("decodes to {} bytes, {want} expected", out.len()))?;
            input = rest;
            let room = want.saturating_sub(out.len());
            let n = i8::from_ne_bytes([n]);
            if n >= 0 {
                let count = usize::from(n.unsigned_abs()).saturating_add(1);
                if count > room {
                    return Err(format!("a literal run passes the {want}-byte segment"));
                }
                let (lit, rest) = input
                    .split_at_checked(count)
                    .ok_or("a literal run passes the end of the segment")?;
                out.extend_from_slice(lit);
                input = rest;
            } else if n != -128 {
                let count = usize::from(n.unsigned_abs()).saturating_add(1);
                if count > room {
                    return Err(format!("a replicate run passes the {want}-byte segment"));
                }
                let (&b, rest) = input
                    .split_first()
                    .ok_or("a replicate run passes the end of the segment")?;
                out.resize(out.len().saturating_add(count), b);
                input = rest;
            }
        }
        if input.len() > 1 {
            return Err(format!("{} bytes follow the complete segment", input.len()));
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn packbits_runs_and_caps() {
            let mut out = Vec::new();
            unpack(&[0x02, 1, 2, 3, 0xFE, 9], 6, &mut out).unwrap();
            assert_eq!(out, [1, 2, 3, 9, 9, 9]);
            out.clear();
            // A replicate run of 128 into a 6-byte segment is refused, not expanded.
            assert!(unpack(&[0x81, 7], 6, &mut out).is_err());
            out.clear();
            assert!(unpack(&[0x02, 1, 2], 3, &mut out).is_err());
            out.clear();
            assert!(unpack(&[0x00, 1, 0x00, 2, 3, 4], 2, &mut out).is_err());
        }
    }
}

/// JPEG Lossless (T.81 process 14), decoded by [`crate::ljpeg`] straight into the frame.
mod jpeg {
    use super::{FrameMut, PixelSpec};
    use crate::ljpeg;
    use crate::refusal::{Location, Refusal, Rule};

    pub(super) fn decode_frame(
        bytes: &[u8],
        spec: &PixelSpec,
        index: usize,
        dst: FrameMut<'_>,
        loc: &Location,
    ) -> Result<(), Refusal> {
        let max_precision = if spec.bits_allocated == 8 { 8 } else { 16 };
        let out = match dst {
            FrameMut::U8(d) => ljpeg::Out::U8(d),
            FrameMut::U16(d) => ljpeg::Out::U16(d),
        };
        ljpeg::decode(bytes, spec.rows, spec.columns, max_precision, out)
            .map(|_| ())
            .map_err(|e| {
                Refusal::sender(
                    Rule::JpegInvalid,
                    loc.clone(),
                    format!("frame {index}: {e}"),
                )
            })
    }
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn padding_bits_are_cleared_and_counted() {
        let mut s = Samples::U16(vec![0x0FFF, 0xF001, 0x0800]);
        assert_eq!(normalise_padding(&mut s, 12, false), 1);
        assert_eq!(s, Samples::U16(vec![0x0FFF, 0x0001, 0x0800]));
        let mut s = Samples::U16(vec![0x0800, 0x0001]);
        // Signed 12-bit: 0x800 is negative, so its high bits become ones.
        assert_eq!(normalise_padding(&mut s, 12, true), 1);
        assert_eq!(s, Samples::U16(vec![0xF800, 0x0001]));
    }
}
