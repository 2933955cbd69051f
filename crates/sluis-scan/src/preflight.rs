//! The bounded structure check: a sans-I/O walk over the raw bytes, before dicom-rs sees any.
//!
//! dicom-rs is not hardened against hostile files (measured with dicom-object 0.10.1: a
//! 20,000-deep nested sequence overflows its stack and aborts the process, a 4 GB length makes
//! it allocate 4 GB, a deflate bomb is inflated fully into memory). So every input
//! is walked here first, by code that:
//!
//! * holds one cursor over `&[u8]` and checks every length against the bytes that remain before
//!   using it (no allocation is ever sized by a length from the input);
//! * counts elements and nesting depth against [`Limits`] and recurses at most
//!   [`Limits::max_depth`] levels (itself capped, so the stack is bounded);
//! * inflates a deflated data set under a byte budget and stops the moment it is exceeded;
//! * requires strictly ascending tags in every data set (a duplicate tag is how two parsers are
//!   made to disagree about a file), terminated sequences and items, and nothing after the data
//!   set but well-formed trailing elements.
//!
//! What it produces is an inventory of every element (with its path, VR and extent) and the
//! location of the pixel data. The sanitiser then hands dicom-rs only the allow-listed top-level
//! elements, and decodes pixels itself from the ranges found here.
//!
//! File layout checked (PS3.10 §7.1, PS3.5 §7):
//!
//! ```text
//! +-----------+------+------------------------------+------------------------------------+
//! | preamble  | DICM | file meta group (0002,xxxx)  | data set in the transfer syntax    |
//! | 128 bytes | 4    | explicit VR little endian    | (deflated: raw RFC 1951 stream)    |
//! +-----------+------+------------------------------+------------------------------------+
//!
//! element, explicit VR:  tag(4) VR(2) len(2) value          (most VRs)
//!                        tag(4) VR(2) 00 00 len(4) value    (OB OD OF OL OV OW SQ SV UC UN UR UT UV)
//! element, implicit VR:  tag(4) len(4) value                (VR from the data dictionary)
//! item / delimiters:     FFFE,E000 len(4) | FFFE,E00D 0 | FFFE,E0DD 0
//! ```
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::Read;
use std::ops::Range;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use crate::limits::Limits;
use crate::refusal::{Location, Refusal, Rule};
use crate::syntax::{self, Encoding, TransferSyntax};

/// The undefined length marker (PS3.5 §7.1.1).
const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);
pub(crate) const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
/// The largest file meta group accepted: real ones are a few hundred bytes.
const MAX_META_BYTES: usize = 64 * 1024;

/// One step of an element path: the sequence tag and the item index within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PathStep {
    pub tag: Tag,
    pub item: u32,
}

/// Formats a path as `(4010,1011)[0]/(4010,1037)[0]/(0008,114A)`.
pub(crate) struct PathDisplay<'a>(pub &'a [PathStep], pub Tag);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in self.0 {
            write!(
                f,
                "({:04X},{:04X})[{}]/",
                step.tag.group(),
                step.tag.element(),
                step.item
            )?;
        }
        write!(f, "({:04X},{:04X})", self.1.group(), self.1.element())
    }
}

/// Formats a path into a `String`.
pub(crate) fn path_string(path: &[PathStep], tag: Tag) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}", PathDisplay(path, tag));
    s
}

/// One element found by the walk, at any depth.
#[derive(Debug, Clone)]
pub(crate) struct ElementRecord {
    /// The sequences and items that enclose it; empty at the top level.
    pub path: Vec<PathStep>,
    pub tag: Tag,
    /// Explicit VR as found, or the dictionary VR for implicit VR (UN when unknown).
    pub vr: VR,
    /// Value bytes; for undefined-length elements, the bytes up to the closing delimiter.
    pub value_len: u64,
    /// Offset of the element header in the data set buffer.
    pub header_start: usize,
    /// Offset just past the element, including any closing delimiter.
    pub end: usize,
}

/// Where the pixel data lies in the data set buffer.
#[derive(Debug, Clone)]
pub(crate) enum PixelLayout {
    /// Native (uncompressed) pixel data: the value bytes.
    Native { value: Range<usize> },
    /// Encapsulated pixel data (PS3.5 §A.4): the basic offset table and each fragment's bytes.
    Encapsulated {
        offset_table: Range<usize>,
        /// Fragment value ranges, with the offset of each fragment's item header relative to the
        /// first fragment's item header (what the basic offset table counts).
        fragments: Vec<Fragment>,
    },
}

/// One encapsulated fragment.
#[derive(Debug, Clone)]
pub(crate) struct Fragment {
    pub value: Range<usize>,
    /// Offset of this fragment's item header from the first fragment's item header.
    pub relative_offset: u64,
}

/// Bytes the walker can read, by offset.
pub(crate) trait Source {
    /// The length of the whole (including any part not held).
    fn len(&self) -> usize;
    /// The bytes of `range`, if held.
    fn bytes(&self, range: Range<usize>) -> Option<&[u8]>;
}

impl Source for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn bytes(&self, range: Range<usize>) -> Option<&[u8]> {
        self.get(range)
    }
}

/// A data set held in two parts around a hole: the value of a large native pixel data element
/// that is streamed from the input instead of held in memory. Reading inside the hole yields
/// nothing (the walker never needs to: it skips a value by its length).
#[derive(Debug)]
pub(crate) struct Split<'a> {
    /// Data set bytes before the hole.
    pub head: Cow<'a, [u8]>,
    /// The hole, in data set offsets.
    pub hole: Range<usize>,
    /// Small parts of the hole that are held, sorted by offset: for encapsulated pixel data, the
    /// item headers, the basic offset table and the first bytes of each fragment.
    pub islands: Vec<(usize, Vec<u8>)>,
    /// Data set bytes after the hole.
    pub tail: Cow<'a, [u8]>,
}

impl Source for Split<'_> {
    fn len(&self) -> usize {
        self.hole.end.saturating_add(self.tail.len())
    }
    fn bytes(&self, range: Range<usize>) -> Option<&[u8]> {
        if range.end <= self.hole.start {
            self.head.get(range)
        } else if range.start >= self.hole.end {
            self.tail.get(
                range.start.checked_sub(self.hole.end)?..range.end.checked_sub(self.hole.end)?,
            )
        } else {
            let i = self
                .islands
                .partition_point(|(at, _)| *at <= range.start)
                .checked_sub(1)?;
            let (at, bytes) = self.islands.get(i)?;
            bytes.get(range.start.checked_sub(*at)?..range.end.checked_sub(*at)?)
        }
    }
}

/// The data set as the walker saw it.
#[derive(Debug)]
pub(crate) enum Dataset<'a> {
    /// All of it.
    Whole(Cow<'a, [u8]>),
    /// All but the pixel data value.
    Split(Split<'a>),
}

impl Source for Dataset<'_> {
    fn len(&self) -> usize {
        match self {
            Dataset::Whole(b) => b.len(),
            Dataset::Split(s) => s.len(),
        }
    }
    fn bytes(&self, range: Range<usize>) -> Option<&[u8]> {
        match self {
            Dataset::Whole(b) => b.get(range),
            Dataset::Split(s) => s.bytes(range),
        }
    }
}

/// The file meta information (group 0002) as found.

#[derive(Debug, Clone, Default)]
pub(crate) struct FileMeta {
    pub media_storage_sop_class_uid: String,
    pub media_storage_sop_instance_uid: String,
    pub transfer_syntax_uid: String,
    pub implementation_class_uid: Option<String>,
    pub implementation_version_name: Option<String>,
    /// Every meta element, for the drop report.
    pub elements: Vec<(Tag, u32)>,
}

/// The result of a successful structure check.
#[derive(Debug)]
pub(crate) struct Structure<'a> {
    pub meta: FileMeta,
    pub syntax: TransferSyntax,
    /// True if the 128-byte preamble held anything but zeros (a polyglot file, for example).
    pub preamble_nonzero: bool,
    /// The data set bytes: borrowed from the input, inflated, or (when streaming) everything
    /// but the pixel data value.
    pub dataset: Dataset<'a>,

    /// Offset of `dataset[0]` in the file (0 when inflated).
    pub dataset_base: usize,
    /// True when the data set was inflated from a deflate stream.
    pub inflated: bool,
    /// Every element at every depth, in the order found.
    pub elements: Vec<ElementRecord>,
    /// Pixel data at the top level, if any.
    pub pixel_data: Option<PixelLayout>,
}

impl Structure<'_> {
    /// Top-level elements, in order.
    pub(crate) fn top_level(&self) -> impl Iterator<Item = &ElementRecord> {
        self.elements.iter().filter(|e| e.path.is_empty())
    }

    /// A location for a data set offset.
    pub(crate) fn location(&self, offset: usize) -> Location {
        let mut loc = Location::at(offset.saturating_add(self.dataset_base));
        loc.inflated = self.inflated;
        loc
    }
}

/// What the preamble and file meta group say.
struct FileHead {
    meta: FileMeta,
    syntax: TransferSyntax,
    preamble_nonzero: bool,
    /// Offset of the data set.
    meta_end: usize,
}

/// Checks the size, the preamble and `DICM`, and the file meta group, which must lie in `head`
/// (the first bytes of a file of `file_len` bytes).
fn file_head(head: &[u8], file_len: usize, limits: &Limits) -> Result<FileHead, Refusal> {
    limits.validate()?;
    limits.check_file_size(u64::try_from(file_len).unwrap_or(u64::MAX))?;
    let (preamble, rest) = head
        .split_at_checked(128)
        .ok_or_else(|| no_prefix(file_len))?;
    match rest.get(..4) {
        Some(b"DICM") => {}
        _ => return Err(no_prefix(file_len)),
    }
    let preamble_nonzero = preamble.iter().any(|&b| b != 0);
    let (meta, meta_end) = read_meta(head, 132)?;
    let syntax = TransferSyntax::from_uid(&meta.transfer_syntax_uid).ok_or_else(|| {
        Refusal::sender(
            Rule::UnsupportedTransferSyntax,
            Location::element("(0002,0010)"),
            format!(
                "{} is not decoded losslessly by sluis; accepted: implicit and explicit VR little \
                 endian, explicit VR big endian, deflated, RLE lossless, JPEG lossless",
                syntax::describe_refused_syntax(&meta.transfer_syntax_uid)
            ),
        )
    })?;
    Ok(FileHead {
        meta,
        syntax,
        preamble_nonzero,
        meta_end,
    })
}

/// Walks a data set; with `stop_at_pixels`, stops after the header of native top-level pixel
/// data (to locate it for streaming).
fn walk<D: Source + ?Sized>(
    data: &D,
    base: usize,
    inflated: bool,
    syntax: TransferSyntax,
    limits: &Limits,
    stop_at_pixels: bool,
) -> Result<(Vec<ElementRecord>, Option<PixelLayout>), Refusal> {
    let mut walker = Walker {
        data,
        base,
        inflated,
        limits,
        elements: Vec::new(),
        pixel_data: None,
        pixel_end: None,
        stop_at_pixels,
    };
    let mut path = Vec::new();
    walker
        .dataset(0, DatasetEnd::Eof, syntax.encoding(), 0, &mut path)
        .map_err(|e| if inflated { e.in_inflated_stream() } else { e })?;
    Ok((walker.elements, walker.pixel_data))
}

/// Walks `input` as a DICOM Part 10 file under `limits`.
pub(crate) fn check<'a>(input: &'a [u8], limits: &Limits) -> Result<Structure<'a>, Refusal> {
    let head = file_head(input, input.len(), limits)?;
    let raw = input.get(head.meta_end..).unwrap_or_default();
    let (dataset, dataset_base, inflated) = if head.syntax.is_deflated() {
        (Cow::Owned(inflate(raw, head.meta_end, limits)?), 0, true)
    } else {
        (Cow::Borrowed(raw), head.meta_end, false)
    };
    let (elements, pixel_data) = walk(
        &*dataset,
        dataset_base,
        inflated,
        head.syntax,
        limits,
        false,
    )?;
    Ok(Structure {
        meta: head.meta,
        syntax: head.syntax,
        preamble_nonzero: head.preamble_nonzero,
        dataset: Dataset::Whole(dataset),
        dataset_base,
        inflated,
        elements,
        pixel_data,
    })
}

/// Where a file's pixel data value lies, for streaming.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Located {
    /// Native pixel data at the top level: its value, in file offsets.
    Found(Range<usize>),
    /// Encapsulated pixel data at the top level: where its items start, in file offsets.
    Encapsulated(usize),
    /// The head does not reach the pixel data header yet.
    NeedMore,
    /// Not streamable (compressed or deflated, no native pixel data, or malformed: the
    /// in-memory path gives the precise answer).
    NotStreamable,
}

/// Finds the native pixel data value of a file of `file_len` bytes from its first bytes.
pub(crate) fn locate_pixel_data(head: &[u8], file_len: usize, limits: &Limits) -> Located {
    let Ok(fh) = file_head(head, file_len, limits) else {
        return if head.len() < file_len {
            Located::NeedMore
        } else {
            Located::NotStreamable
        };
    };
    if fh.syntax.is_deflated() {
        return Located::NotStreamable;
    }
    let have = head.len().saturating_sub(fh.meta_end);
    let total = file_len.saturating_sub(fh.meta_end);
    let data = Split {
        head: Cow::Borrowed(head.get(fh.meta_end..).unwrap_or_default()),
        hole: have..total,
        islands: Vec::new(),
        tail: Cow::Borrowed(&[]),
    };
    match walk(&data, fh.meta_end, false, fh.syntax, limits, true) {
        Ok((_, Some(PixelLayout::Encapsulated { offset_table, .. })))
            if fh.syntax.codec().is_some() =>
        {
            // In stop mode the layout only marks where the items start.
            match offset_table.start.checked_add(fh.meta_end) {
                Some(at) if at <= head.len() => Located::Encapsulated(at),
                _ => Located::NeedMore,
            }
        }
        Ok((_, Some(PixelLayout::Native { value }))) if fh.syntax.codec().is_none() => {
            match (
                value.start.checked_add(fh.meta_end),
                value.end.checked_add(fh.meta_end),
            ) {
                (Some(a), Some(b)) if a <= head.len() => Located::Found(a..b),
                _ => Located::NeedMore,
            }
        }
        Err(_) if head.len() < file_len => Located::NeedMore,
        _ => Located::NotStreamable,
    }
}

/// Walks a file held as `head` (its first bytes, through at least the start of the pixel data
/// value) and `tail` (its bytes after the pixel data value), with the value itself not held.
pub(crate) fn check_split<'a>(
    head: &'a [u8],
    value: Range<usize>,
    islands: Vec<(usize, Vec<u8>)>,
    tail: &'a [u8],
    limits: &Limits,
) -> Result<Structure<'a>, Refusal> {
    let file_len = value.end.saturating_add(tail.len());
    let fh = file_head(head, file_len, limits)?;
    let hole = value.start.saturating_sub(fh.meta_end)..value.end.saturating_sub(fh.meta_end);
    let islands = islands
        .into_iter()
        .map(|(at, bytes)| (at.saturating_sub(fh.meta_end), bytes))
        .collect();
    let data = Split {
        head: Cow::Borrowed(head.get(fh.meta_end..value.start).unwrap_or_default()),
        hole: hole.clone(),
        islands,
        tail: Cow::Borrowed(tail),
    };
    let (elements, pixel_data) = walk(&data, fh.meta_end, false, fh.syntax, limits, false)?;
    match &pixel_data {
        Some(PixelLayout::Native { value }) if *value == hole => {}
        Some(PixelLayout::Encapsulated { .. }) if fh.syntax.codec().is_some() => {}
        _ => {
            return Err(Refusal::internal(
                Rule::PixelDataEncapsulation,
                Location::at(value.start),
                "the streamed pixel data value was not where the structure check found it",
            ));
        }
    }
    Ok(Structure {
        meta: fh.meta,
        syntax: fh.syntax,
        preamble_nonzero: fh.preamble_nonzero,
        dataset: Dataset::Split(data),
        dataset_base: fh.meta_end,
        inflated: false,
        elements,
        pixel_data,
    })
}

fn no_prefix(len: usize) -> Refusal {
    Refusal::sender(
        Rule::MissingDicmPrefix,
        Location::at(128),
        format!(
            "a DICOM file starts with a 128-byte preamble and \"DICM\"; this input ({len} bytes) \
             does not"
        ),
    )
}

/// Reads the file meta group, which is always explicit VR little endian (PS3.10 §7.1).
fn read_meta(input: &[u8], start: usize) -> Result<(FileMeta, usize), Refusal> {
    let meta_err = |offset: usize, detail: String| {
        Refusal::sender(Rule::FileMeta, Location::at(offset), detail)
    };
    let mut meta = FileMeta::default();
    let mut pos = start;
    // With a group length, the group's end is known up front; without one (tolerated, some
    // writers omit it), the group ends at the first element of another group.
    let mut declared_end: Option<usize> = None;
    let mut last: Option<Tag> = None;
    loop {
        if declared_end == Some(pos) {
            break;
        }

        let Some(peek) = input.get(pos..pos.saturating_add(2)) else {
            if declared_end.is_some() {
                return Err(meta_err(pos, "file ends inside the file meta group".into()));
            }
            break;
        };
        let group = u16::from_le_bytes([
            peek.first().copied().unwrap_or(0),
            peek.get(1).copied().unwrap_or(0),
        ]);
        if group != 0x0002 {
            if declared_end.is_some() {
                return Err(meta_err(
                    pos,
                    format!("element of group {group:04X} inside the file meta group length"),
                ));
            }
            break;
        }
        let header =
            read_header(input, pos, Encoding::EXPLICIT_LE, input.len()).map_err(|e| Refusal {
                rule: Rule::FileMeta,
                ..e
            })?;
        if header.length == UNDEFINED {
            return Err(meta_err(
                pos,
                "undefined length in the file meta group".into(),
            ));
        }
        let value_start = pos
            .checked_add(header.header_len)
            .ok_or_else(|| meta_err(pos, "overflow".into()))?;
        let value_end = checked_end(value_start, header.length, input.len()).ok_or_else(|| {
            meta_err(
                pos,
                format!(
                    "{} declares {} bytes past the end of the file",
                    tag_str(header.tag),
                    header.length
                ),
            )
        })?;
        if value_end.saturating_sub(start) > MAX_META_BYTES {
            return Err(meta_err(
                pos,
                format!("file meta group larger than {MAX_META_BYTES} bytes"),
            ));
        }
        if last.is_some_and(|l| header.tag <= l) {
            return Err(meta_err(
                pos,
                format!(
                    "{} out of order in the file meta group",
                    tag_str(header.tag)
                ),
            ));
        }
        last = Some(header.tag);
        let value = input.get(value_start..value_end).unwrap_or_default();
        meta.elements.push((header.tag, header.length));
        match header.tag.element() {
            0x0000 => {
                if pos != start || header.length != 4 {
                    return Err(meta_err(
                        pos,
                        "misplaced or malformed (0002,0000) group length".into(),
                    ));
                }
                let len = u32::from_le_bytes(array4(value));
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > MAX_META_BYTES {
                    return Err(meta_err(
                        pos,
                        format!("file meta group length {len} is implausible"),
                    ));
                }
                let end = value_end
                    .checked_add(len)
                    .filter(|&e| e <= input.len())
                    .ok_or_else(|| {
                        meta_err(
                            pos,
                            format!("file meta group length {len} runs past the end of the file"),
                        )
                    })?;
                declared_end = Some(end);
            }
            0x0002 => meta.media_storage_sop_class_uid = uid_value(value, pos)?,
            0x0003 => meta.media_storage_sop_instance_uid = uid_value(value, pos)?,
            0x0010 => meta.transfer_syntax_uid = uid_value(value, pos)?,
            0x0012 => meta.implementation_class_uid = Some(uid_value(value, pos)?),
            0x0013 => {
                meta.implementation_version_name = Some(
                    String::from_utf8_lossy(value)
                        .trim_end_matches(['\0', ' '])
                        .to_string(),
                );
            }
            _ => {}
        }
        pos = value_end;
    }
    for (tag, what) in [
        (
            meta.media_storage_sop_class_uid.is_empty(),
            "(0002,0002) Media Storage SOP Class UID",
        ),
        (
            meta.media_storage_sop_instance_uid.is_empty(),
            "(0002,0003) Media Storage SOP Instance UID",
        ),
        (
            meta.transfer_syntax_uid.is_empty(),
            "(0002,0010) Transfer Syntax UID",
        ),
    ] {
        if tag {
            return Err(meta_err(start, format!("the file meta group lacks {what}")));
        }
    }
    Ok((meta, pos))
}

fn uid_value(value: &[u8], pos: usize) -> Result<String, Refusal> {
    let text = std::str::from_utf8(value).ok().map(syntax::trim_uid);
    match text {
        Some(uid) if uid.len() <= 64 && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
            Ok(uid.to_string())
        }
        _ => Err(Refusal::sender(
            Rule::FileMeta,
            Location::at(pos),
            "a UID in the file meta group holds characters other than digits and dots, or is \
             longer than 64",
        )),
    }
}

fn array4(value: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    for (o, v) in out.iter_mut().zip(value) {
        *o = *v;
    }
    out
}

/// Inflates a raw deflate data set under the configured budget, growing the buffer geometrically
/// but never past the budget, so a bomb costs at most the budget before it is refused.
fn inflate(raw: &[u8], file_offset: usize, limits: &Limits) -> Result<Vec<u8>, Refusal> {
    let budget = usize::try_from(limits.max_inflated_bytes).unwrap_or(usize::MAX);
    let mut decoder = flate2::read::DeflateDecoder::new(raw);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = decoder.read(&mut chunk).map_err(|e| {
            Refusal::sender(
                Rule::DeflateInvalid,
                Location::at(file_offset),
                format!("the deflated data set is not a valid deflate stream: {e}"),
            )
        })?;
        if n == 0 {
            break;
        }
        let new_len = out
            .len()
            .checked_add(n)
            .filter(|&l| l <= budget)
            .ok_or_else(|| {
                Refusal::sender(
                    Rule::DeflateExpansion,
                    Location::at(file_offset),
                    format!(
                        "the deflated data set expands past the inflate budget of {budget} bytes \
                     (after reading {} compressed bytes); refused without inflating further",
                        decoder.total_in()
                    ),
                )
            })?;
        if out.capacity() < new_len {
            let grow = out
                .capacity()
                .max(1 << 20)
                .min(budget.saturating_sub(out.len()))
                .max(n);
            out.try_reserve_exact(grow).map_err(|_| {
                Refusal::sender(
                    Rule::MemoryLimit,
                    Location::at(file_offset),
                    "cannot reserve memory to inflate the data set",
                )
            })?;
        }
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    let consumed = usize::try_from(decoder.total_in()).unwrap_or(usize::MAX);
    let trailing = raw.len().saturating_sub(consumed);
    if trailing > 1 {
        return Err(Refusal::sender(
            Rule::TrailingBytes,
            Location::at(file_offset.saturating_add(consumed)),
            format!("{trailing} bytes follow the end of the deflate stream"),
        ));
    }
    Ok(out)
}

/// An element or item header.
#[derive(Debug, Clone, Copy)]
struct Header {
    tag: Tag,
    /// Explicit VR, or `None` for items, delimiters and implicit VR.
    vr: Option<VR>,
    length: u32,
    header_len: usize,
}

fn tag_str(tag: Tag) -> String {
    format!("({:04X},{:04X})", tag.group(), tag.element())
}

/// The size of one value of a binary VR, whose value length must be a multiple of it.
fn value_size(vr: VR) -> Option<u32> {
    match vr {
        VR::SS | VR::US | VR::OW => Some(2),
        VR::SL | VR::UL | VR::FL | VR::AT | VR::OL | VR::OF => Some(4),
        VR::FD | VR::SV | VR::UV | VR::OD | VR::OV => Some(8),
        _ => None,
    }
}

/// Long-form explicit VRs: 2 reserved bytes and a 4-byte length (PS3.5 §7.1.2).
fn has_long_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::OW
            | VR::SQ
            | VR::SV
            | VR::UC
            | VR::UN
            | VR::UR
            | VR::UT
            | VR::UV
    )
}

/// `n` bytes at `pos`, if they lie before `limit` and the source holds them.
fn take<D: Source + ?Sized>(data: &D, pos: usize, n: usize, limit: usize) -> Option<&[u8]> {
    let end = pos.checked_add(n)?;
    if end > limit {
        return None;
    }
    data.bytes(pos..end)
}

fn u16_at<D: Source + ?Sized>(data: &D, pos: usize, limit: usize, big: bool) -> Option<u16> {
    let b = take(data, pos, 2, limit)?;
    let arr = [*b.first()?, *b.get(1)?];
    Some(if big {
        u16::from_be_bytes(arr)
    } else {
        u16::from_le_bytes(arr)
    })
}

fn u32_at<D: Source + ?Sized>(data: &D, pos: usize, limit: usize, big: bool) -> Option<u32> {
    let b = take(data, pos, 4, limit)?;
    let arr = array4(b);
    Some(if big {
        u32::from_be_bytes(arr)
    } else {
        u32::from_le_bytes(arr)
    })
}

/// `start + len`, if that is within `limit`.
fn checked_end(start: usize, len: u32, limit: usize) -> Option<usize> {
    start
        .checked_add(usize::try_from(len).ok()?)
        .filter(|&e| e <= limit)
}

/// Reads a header at `pos`, with `limit` the end of the enclosing structure.
fn read_header<D: Source + ?Sized>(
    data: &D,
    pos: usize,
    enc: Encoding,
    limit: usize,
) -> Result<Header, Refusal> {
    let truncated = || {
        Refusal::sender(
            Rule::Truncated,
            Location::at(pos),
            format!(
                "the input ends inside an element header ({} bytes remain)",
                limit.saturating_sub(pos)
            ),
        )
    };
    let avail = (data, limit);
    // Items and delimiters are always little endian in encapsulated data; in big endian data sets
    // their tag is big endian like every other tag.
    let group = u16_at(avail.0, pos, avail.1, enc.big_endian).ok_or_else(truncated)?;
    let element =
        u16_at(avail.0, pos.saturating_add(2), avail.1, enc.big_endian).ok_or_else(truncated)?;
    let tag = Tag(group, element);
    let at4 = pos.checked_add(4).ok_or_else(truncated)?;
    if group == 0xFFFE {
        let length = u32_at(avail.0, at4, avail.1, enc.big_endian).ok_or_else(truncated)?;
        return Ok(Header {
            tag,
            vr: None,
            length,
            header_len: 8,
        });
    }
    if !enc.explicit_vr {
        let length = u32_at(avail.0, at4, avail.1, enc.big_endian).ok_or_else(truncated)?;
        return Ok(Header {
            tag,
            vr: None,
            length,
            header_len: 8,
        });
    }
    let code = take(avail.0, at4, 2, avail.1).ok_or_else(truncated)?;
    let vr = VR::from_binary([
        code.first().copied().unwrap_or(0),
        code.get(1).copied().unwrap_or(0),
    ])
    .ok_or_else(|| {
        Refusal::sender(
            Rule::InvalidVr,
            Location::at(pos).with_element(tag_str(tag)),
            format!(
                "value representation bytes {:02X?} are not a DICOM VR",
                code
            ),
        )
    })?;
    let at6 = at4.checked_add(2).ok_or_else(truncated)?;
    if has_long_length(vr) {
        let at8 = at6.checked_add(2).ok_or_else(truncated)?;
        let length = u32_at(avail.0, at8, avail.1, enc.big_endian).ok_or_else(truncated)?;
        Ok(Header {
            tag,
            vr: Some(vr),
            length,
            header_len: 12,
        })
    } else {
        let length = u16_at(avail.0, at6, avail.1, enc.big_endian).ok_or_else(truncated)?;
        Ok(Header {
            tag,
            vr: Some(vr),
            length: u32::from(length),
            header_len: 8,
        })
    }
}

/// The dictionary VR for implicit VR data sets; UN when the tag is private or unknown.
fn dictionary_vr(tag: Tag) -> VR {
    if tag.group() % 2 == 1 {
        return VR::UN;
    }
    StandardDataDictionary
        .by_tag(tag)
        .map(|entry| entry.vr().relaxed())
        .unwrap_or(VR::UN)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatasetEnd {
    /// The top-level data set: runs to the end of the buffer.
    Eof,
    /// An item of defined length: ends exactly at this offset.
    Fixed(usize),
    /// An item of undefined length: ends with an item delimitation item.
    ItemDelimited,
}

struct Walker<'d, 'l, D: Source + ?Sized> {
    data: &'d D,
    base: usize,
    inflated: bool,
    limits: &'l Limits,
    elements: Vec<ElementRecord>,
    pixel_data: Option<PixelLayout>,
    /// Offset just past the top-level pixel data element, once seen.
    pixel_end: Option<usize>,
    /// Stop after the header of native top-level pixel data (locating it for streaming).
    stop_at_pixels: bool,
}

impl<D: Source + ?Sized> Walker<'_, '_, D> {
    fn loc(&self, pos: usize) -> Location {
        let mut loc = Location::at(pos.saturating_add(self.base));
        loc.inflated = self.inflated;
        loc
    }

    fn fail(
        &self,
        rule: Rule,
        pos: usize,
        path: &[PathStep],
        tag: Option<Tag>,
        detail: String,
    ) -> Refusal {
        let mut loc = self.loc(pos);
        if let Some(tag) = tag {
            loc.element = Some(path_string(path, tag));
        }
        Refusal::sender(rule, loc, detail)
    }

    fn header(&self, pos: usize, enc: Encoding, limit: usize) -> Result<Header, Refusal> {
        read_header(self.data, pos, enc, limit).map_err(|mut e| {
            e.location = Location {
                element: e.location.element.take(),
                ..self.loc(pos)
            };
            e
        })
    }

    fn count_element(&self, pos: usize) -> Result<(), Refusal> {
        let max = usize::try_from(self.limits.max_elements).unwrap_or(usize::MAX);
        if self.elements.len() >= max {
            return Err(self.fail(
                Rule::TooManyElements,
                pos,
                &[],
                None,
                format!("more than the configured maximum of {max} data elements"),
            ));
        }
        Ok(())
    }

    /// Walks a data set from `pos`; returns the offset just past it (past the item delimiter for
    /// undefined-length items).
    fn dataset(
        &mut self,
        mut pos: usize,
        end: DatasetEnd,
        enc: Encoding,
        depth: u32,
        path: &mut Vec<PathStep>,
    ) -> Result<usize, Refusal> {
        let limit = match end {
            DatasetEnd::Fixed(e) => e,
            DatasetEnd::Eof | DatasetEnd::ItemDelimited => self.data.len(),
        };
        let top = path.is_empty();
        let mut last: Option<Tag> = None;
        loop {
            if pos == limit {
                return match end {
                    DatasetEnd::ItemDelimited => Err(self.fail(
                        Rule::Truncated,
                        pos,
                        path,
                        None,
                        "the input ends inside an item of undefined length (no item delimiter)"
                            .into(),
                    )),
                    _ => Ok(pos),
                };
            }
            let result = self.element(pos, limit, end, enc, depth, path, &mut last);
            match result {
                Ok(Step::Next(next)) => pos = next,
                Ok(Step::EndOfItem(next)) | Ok(Step::Stop(next)) => return Ok(next),
                Err(e) => {
                    // After the top-level pixel data, anything that does not parse as a
                    // well-formed trailing element is trailing garbage.
                    if top && self.pixel_end.is_some() {
                        return Err(self.fail(
                            Rule::TrailingBytes,
                            pos,
                            path,
                            None,
                            format!(
                                "{} bytes after the pixel data do not form a valid element ({}: {})",
                                limit.saturating_sub(pos),
                                e.rule,
                                e.detail
                            ),
                        ));
                    }
                    return Err(e);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn element(
        &mut self,
        pos: usize,
        limit: usize,
        end: DatasetEnd,
        enc: Encoding,
        depth: u32,
        path: &mut Vec<PathStep>,
        last: &mut Option<Tag>,
    ) -> Result<Step, Refusal> {
        let h = self.header(pos, enc, limit)?;
        let tag = h.tag;
        if tag == ITEM_DELIMITER {
            if end != DatasetEnd::ItemDelimited {
                return Err(self.fail(
                    Rule::Delimiter,
                    pos,
                    path,
                    None,
                    "item delimiter outside an item of undefined length".into(),
                ));
            }
            if h.length != 0 {
                return Err(self.fail(
                    Rule::Delimiter,
                    pos,
                    path,
                    None,
                    format!("item delimiter with length {} (must be 0)", h.length),
                ));
            }
            return Ok(Step::EndOfItem(pos.saturating_add(8)));
        }
        if tag.group() == 0xFFFE {
            return Err(self.fail(
                Rule::Delimiter,
                pos,
                path,
                Some(tag),
                "item or sequence delimiter where a data element was expected".into(),
            ));
        }
        if last.is_some_and(|l| tag <= l) {
            let what = if *last == Some(tag) {
                "appears twice"
            } else {
                "is out of ascending order"
            };
            return Err(self.fail(
                Rule::ElementOrder,
                pos,
                path,
                Some(tag),
                format!("tag {} {what}", tag_str(tag)),
            ));
        }
        *last = Some(tag);
        self.count_element(pos)?;
        let vr = match h.vr {
            Some(vr) => vr,
            None => dictionary_vr(tag),
        };
        let value_start = pos.checked_add(h.header_len).ok_or_else(|| {
            self.fail(
                Rule::LengthPastEnd,
                pos,
                path,
                Some(tag),
                "offset overflow".into(),
            )
        })?;
        let top = path.is_empty();
        let is_pixel = top && tag == PIXEL_DATA;
        let next = if h.length == UNDEFINED {
            if is_pixel && self.stop_at_pixels {
                self.pixel_data = Some(PixelLayout::Encapsulated {
                    offset_table: value_start..value_start,
                    fragments: Vec::new(),
                });
                return Ok(Step::Stop(value_start));
            }
            if is_pixel && (vr == VR::OB || vr == VR::OW || !enc.explicit_vr) {
                self.encapsulated(value_start, path, tag)?
            } else if vr == VR::SQ || vr == VR::UN {
                // PS3.5 §6.2.2: UN of undefined length holds implicit VR little endian items.
                let inner = if vr == VR::UN {
                    Encoding::IMPLICIT_LE
                } else {
                    enc
                };
                self.sequence(value_start, None, inner, depth, path, tag)?
            } else {
                return Err(self.fail(
                    Rule::UndefinedLength,
                    pos,
                    path,
                    Some(tag),
                    format!("undefined length on an element with VR {} (only SQ, UN and encapsulated pixel data may have one)", vr.to_string()),
                ));
            }
        } else {
            let value_end = checked_end(value_start, h.length, limit).ok_or_else(|| {
                self.fail(
                    Rule::LengthPastEnd,
                    pos,
                    path,
                    Some(tag),
                    format!(
                        "element declares {} bytes of value but only {} remain",
                        h.length,
                        limit.saturating_sub(value_start)
                    ),
                )
            })?;
            if let Some(size) = value_size(vr)
                && !is_pixel
                && h.length.checked_rem(size) != Some(0)
            {
                return Err(self.fail(
                    Rule::ValueLength,
                    pos,
                    path,
                    Some(tag),
                    format!(
                        "a {vr:?} value is made of {size}-byte numbers; this one has {} bytes",
                        h.length
                    ),
                ));
            }
            if vr == VR::SQ {
                self.sequence(value_start, Some(value_end), enc, depth, path, tag)?;
            } else if is_pixel {
                self.pixel_data = Some(PixelLayout::Native {
                    value: value_start..value_end,
                });
                if self.stop_at_pixels {
                    return Ok(Step::Stop(value_end));
                }
            }
            value_end
        };
        if is_pixel {
            self.pixel_end = Some(next);
        }
        let value_len = next.saturating_sub(value_start);
        self.elements.push(ElementRecord {
            path: path.clone(),
            tag,
            vr,
            value_len: u64::try_from(value_len).unwrap_or(u64::MAX),
            header_start: pos,
            end: next,
        });
        Ok(Step::Next(next))
    }

    /// Walks the items of a sequence. `end` is the value end for defined length, `None` for
    /// undefined length (terminated by a sequence delimiter).
    fn sequence(
        &mut self,
        mut pos: usize,
        end: Option<usize>,
        enc: Encoding,
        depth: u32,
        path: &mut Vec<PathStep>,
        tag: Tag,
    ) -> Result<usize, Refusal> {
        let depth = depth.saturating_add(1);
        if depth > self.limits.max_depth {
            return Err(self.fail(
                Rule::NestingTooDeep,
                pos,
                path,
                Some(tag),
                format!(
                    "sequences nested deeper than the configured maximum of {}",
                    self.limits.max_depth
                ),
            ));
        }
        let limit = end.unwrap_or(self.data.len());
        let mut item: u32 = 0;
        loop {
            if pos == limit {
                return match end {
                    Some(e) => Ok(e),
                    None => Err(self.fail(
                        Rule::Truncated,
                        pos,
                        path,
                        Some(tag),
                        "the input ends inside a sequence of undefined length (no sequence delimiter)".into(),
                    )),
                };
            }
            let h = self.header(pos, enc, limit)?;
            let body = pos.saturating_add(8);
            if h.tag == SEQUENCE_DELIMITER {
                if end.is_some() || h.length != 0 {
                    return Err(self.fail(
                        Rule::Delimiter,
                        pos,
                        path,
                        Some(tag),
                        "misplaced sequence delimiter or delimiter with a length".into(),
                    ));
                }
                return Ok(body);
            }
            if h.tag != ITEM {
                return Err(self.fail(
                    Rule::Delimiter,
                    pos,
                    path,
                    Some(tag),
                    format!(
                        "sequence holds {} where an item was expected",
                        tag_str(h.tag)
                    ),
                ));
            }
            self.count_element(pos)?;
            path.push(PathStep { tag, item });
            let result = if h.length == UNDEFINED {
                self.dataset(body, DatasetEnd::ItemDelimited, enc, depth, path)
            } else {
                match checked_end(body, h.length, limit) {
                    Some(item_end) => {
                        self.dataset(body, DatasetEnd::Fixed(item_end), enc, depth, path)
                    }
                    None => Err(self.fail(
                        Rule::LengthPastEnd,
                        pos,
                        path,
                        None,
                        format!(
                            "item declares {} bytes but only {} remain",
                            h.length,
                            limit.saturating_sub(body)
                        ),
                    )),
                }
            };
            path.pop();
            pos = result?;
            item = item.saturating_add(1);
        }
    }

    /// Walks encapsulated pixel data (PS3.5 §A.4): a basic offset table item, fragment items,
    /// and a sequence delimiter.
    fn encapsulated(
        &mut self,
        start: usize,
        path: &[PathStep],
        tag: Tag,
    ) -> Result<usize, Refusal> {
        let limit = self.data.len();
        let enc = Encoding::EXPLICIT_LE;
        let mut pos = start;
        let mut offset_table: Option<Range<usize>> = None;
        let mut fragments: Vec<Fragment> = Vec::new();
        let mut first_fragment_at: Option<usize> = None;
        let max_fragments = usize::try_from(self.limits.max_fragments).unwrap_or(usize::MAX);
        loop {
            if pos == limit {
                return Err(self.fail(
                    Rule::Truncated,
                    pos,
                    path,
                    Some(tag),
                    "encapsulated pixel data ends without a sequence delimiter".into(),
                ));
            }
            let h = self.header(pos, enc, limit)?;
            let body = pos.saturating_add(8);
            if h.tag == SEQUENCE_DELIMITER {
                if h.length != 0 {
                    return Err(self.fail(
                        Rule::Delimiter,
                        pos,
                        path,
                        Some(tag),
                        "sequence delimiter with a length".into(),
                    ));
                }
                if offset_table.is_none() {
                    return Err(self.fail(
                        Rule::FrameFragments,
                        pos,
                        path,
                        Some(tag),
                        "encapsulated pixel data without a basic offset table item".into(),
                    ));
                }
                self.pixel_data = Some(PixelLayout::Encapsulated {
                    offset_table: offset_table.unwrap_or(0..0),
                    fragments,
                });
                return Ok(body);
            }
            if h.tag != ITEM {
                return Err(self.fail(
                    Rule::Delimiter,
                    pos,
                    path,
                    Some(tag),
                    format!(
                        "encapsulated pixel data holds {} where an item was expected",
                        tag_str(h.tag)
                    ),
                ));
            }
            if h.length == UNDEFINED {
                return Err(self.fail(
                    Rule::UndefinedLength,
                    pos,
                    path,
                    Some(tag),
                    "a pixel data fragment has undefined length".into(),
                ));
            }
            let value_end = checked_end(body, h.length, limit).ok_or_else(|| {
                self.fail(
                    Rule::FragmentPastEnd,
                    pos,
                    path,
                    Some(tag),
                    format!(
                        "fragment declares {} bytes but only {} remain",
                        h.length,
                        limit.saturating_sub(body)
                    ),
                )
            })?;
            if offset_table.is_none() {
                if h.length % 4 != 0 {
                    return Err(self.fail(
                        Rule::FrameFragments,
                        pos,
                        path,
                        Some(tag),
                        format!(
                            "basic offset table length {} is not a multiple of 4",
                            h.length
                        ),
                    ));
                }
                offset_table = Some(body..value_end);
            } else {
                if fragments.len() >= max_fragments {
                    return Err(self.fail(
                        Rule::TooManyFragments,
                        pos,
                        path,
                        Some(tag),
                        format!("more than the configured maximum of {max_fragments} fragments"),
                    ));
                }
                let first = *first_fragment_at.get_or_insert(pos);
                let relative = u64::try_from(pos.saturating_sub(first)).unwrap_or(u64::MAX);
                fragments.push(Fragment {
                    value: body..value_end,
                    relative_offset: relative,
                });
            }
            pos = value_end;
        }
    }
}

enum Step {
    Next(usize),
    EndOfItem(usize),
    /// Pixel data located (in stop mode): the walk ends here.
    Stop(usize),
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    /// Builds an explicit VR little endian Part 10 file around `dataset`.
    pub(crate) fn part10(ts: &str, dataset: &[u8]) -> Vec<u8> {
        let mut meta = Vec::new();
        let mut put = |tag: u16, vr: &[u8; 2], value: &[u8]| {
            meta.extend_from_slice(&0x0002u16.to_le_bytes());
            meta.extend_from_slice(&tag.to_le_bytes());
            meta.extend_from_slice(vr);
            if vr == b"OB" {
                meta.extend_from_slice(&[0, 0]);
                meta.extend_from_slice(&(value.len() as u32).to_le_bytes());
            } else {
                meta.extend_from_slice(&(value.len() as u16).to_le_bytes());
            }
            meta.extend_from_slice(value);
        };
        let pad = |s: &str| {
            let mut v = s.as_bytes().to_vec();
            if v.len() % 2 == 1 {
                v.push(0);
            }
            v
        };
        put(0x0001, b"OB", &[0, 1]);
        put(0x0002, b"UI", &pad("1.2.840.10008.5.1.4.1.1.501.2.2"));
        put(0x0003, b"UI", &pad("1.2.3.4"));
        put(0x0010, b"UI", &pad(ts));
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
        out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(dataset);
        out
    }

    fn el(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&group.to_le_bytes());
        v.extend_from_slice(&element.to_le_bytes());
        v.extend_from_slice(vr);
        if has_long_length(VR::from_binary(*vr).unwrap()) {
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        v.extend_from_slice(value);
        v
    }

    const EXPLICIT: &str = "1.2.840.10008.1.2.1";

    #[test]
    fn walks_a_minimal_dataset() {
        let mut ds = el(0x0008, 0x0060, b"CS", b"DX");
        ds.extend(el(0x7FE0, 0x0010, b"OW", &[1, 0, 2, 0]));
        let file = part10(EXPLICIT, &ds);
        let s = check(&file, &Limits::default()).unwrap();
        assert_eq!(s.syntax, TransferSyntax::ExplicitVrLittleEndian);
        assert_eq!(s.top_level().count(), 2);
        match s.pixel_data {
            Some(PixelLayout::Native { value }) => {
                assert_eq!(s.dataset.bytes(value).unwrap().len(), 4)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_out_of_order_and_duplicate_tags() {
        let mut ds = el(0x0008, 0x0060, b"CS", b"DX");
        ds.extend(el(0x0008, 0x0060, b"CS", b"CT"));
        let err = check(&part10(EXPLICIT, &ds), &Limits::default()).unwrap_err();
        assert_eq!(err.rule, Rule::ElementOrder);
        assert!(err.detail.contains("twice"));
    }

    #[test]
    fn refuses_length_past_end_without_allocating() {
        let mut ds = el(0x0008, 0x0060, b"CS", b"DX");
        ds.extend_from_slice(&[
            0x10, 0x00, 0x10, 0x00, b'O', b'B', 0, 0, 0xFE, 0xFF, 0xFF, 0xFF,
        ]);
        let err = check(&part10(EXPLICIT, &ds), &Limits::default()).unwrap_err();
        assert_eq!(err.rule, Rule::LengthPastEnd);
        assert!(err.detail.contains("4294967294"), "{}", err.detail);
    }

    #[test]
    fn refuses_deep_nesting_at_the_limit() {
        // 20 nested undefined-length sequences.
        let mut ds = Vec::new();
        for _ in 0..20 {
            ds.extend_from_slice(&[
                0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            ds.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let err = check(&part10(EXPLICIT, &ds), &Limits::default()).unwrap_err();
        assert_eq!(err.rule, Rule::NestingTooDeep);
    }

    #[test]
    fn trailing_garbage_after_pixel_data_is_named() {
        let mut ds = el(0x7FE0, 0x0010, b"OW", &[1, 0, 2, 0]);
        ds.extend_from_slice(b"\x01\x02garbage!");
        let err = check(&part10(EXPLICIT, &ds), &Limits::default()).unwrap_err();
        assert_eq!(err.rule, Rule::TrailingBytes);
    }

    #[test]
    fn refuses_unknown_transfer_syntax_by_name() {
        let err = check(&part10("1.2.840.10008.1.2.4.90", &[]), &Limits::default()).unwrap_err();
        assert_eq!(err.rule, Rule::UnsupportedTransferSyntax);
        assert!(err.detail.contains("JPEG 2000"), "{}", err.detail);
    }

    #[test]
    fn path_display() {
        let path = [PathStep {
            tag: Tag(0x4010, 0x1011),
            item: 1,
        }];
        assert_eq!(
            path_string(&path, Tag(0x4010, 0x1010)),
            "(4010,1011)[1]/(4010,1010)"
        );
    }
}
