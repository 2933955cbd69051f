//! A hostile corpus: files built byte by byte to break DICOM readers, each with the outcome the
//! sanitiser must give.
//!
//! The files are assembled from a small element encoder rather than by editing a valid file, so
//! every case is exact: which element is truncated, which length lies, which tag repeats. The
//! tests, the fuzz seeds and the demo share this corpus.

use sluis_scan::{DropReason, Rule};

/// What the sanitiser must do with a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Refuse it by one of these rules.
    Refused(Vec<Rule>),
    /// Accept it, dropping at least one element for each of these reasons.
    Dropped(Vec<DropReason>),
    /// Accept it and report these normalisations by their kebab-case name.
    Normalised(Vec<&'static str>),
}

/// One hostile input.
#[derive(Debug, Clone)]
pub struct Case {
    /// A short kebab-case name.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The required outcome.
    pub expect: Expect,
}

/// Element encoding of a hand-built file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    /// Explicit VR little endian.
    ExplicitLe,
    /// Implicit VR little endian.
    ImplicitLe,
    /// Explicit VR big endian.
    ExplicitBe,
}

fn long_vr(vr: &[u8; 2]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// Encodes one element header and value.
pub fn element(enc: Enc, group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    element_with_len(
        enc,
        group,
        elem,
        vr,
        u32::try_from(value.len()).unwrap_or(u32::MAX),
        value,
    )
}

/// Encodes an element whose declared length may lie about its value.
pub fn element_with_len(
    enc: Enc,
    group: u16,
    elem: u16,
    vr: &[u8; 2],
    len: u32,
    value: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 12);
    let be = enc == Enc::ExplicitBe;
    let u16b = |x: u16| if be { x.to_be_bytes() } else { x.to_le_bytes() };
    let u32b = |x: u32| if be { x.to_be_bytes() } else { x.to_le_bytes() };
    v.extend_from_slice(&u16b(group));
    v.extend_from_slice(&u16b(elem));
    match enc {
        Enc::ImplicitLe => v.extend_from_slice(&u32b(len)),
        Enc::ExplicitLe | Enc::ExplicitBe => {
            v.extend_from_slice(vr);
            if long_vr(vr) {
                v.extend_from_slice(&[0, 0]);
                v.extend_from_slice(&u32b(len));
            } else {
                v.extend_from_slice(&u16b(u16::try_from(len).unwrap_or(u16::MAX)));
            }
        }
    }
    v.extend_from_slice(value);
    v
}

/// A text value padded to even length with a space (UI values with NUL).
pub fn text(s: &str, vr: &[u8; 2]) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(if vr == b"UI" { 0 } else { b' ' });
    }
    v
}

/// Wraps a data set in a preamble, `DICM` and a file meta group.
pub fn part10(sop_class: &str, instance: &str, syntax: &str, dataset: &[u8]) -> Vec<u8> {
    part10_with_preamble(&[0u8; 128], sop_class, instance, syntax, dataset)
}

/// Like [`part10`], with a chosen preamble.
pub fn part10_with_preamble(
    preamble: &[u8; 128],
    sop_class: &str,
    instance: &str,
    syntax: &str,
    dataset: &[u8],
) -> Vec<u8> {
    let e = Enc::ExplicitLe;
    let mut meta = Vec::new();
    meta.extend(element(e, 0x0002, 0x0001, b"OB", &[0, 1]));
    meta.extend(element(e, 0x0002, 0x0002, b"UI", &text(sop_class, b"UI")));
    meta.extend(element(e, 0x0002, 0x0003, b"UI", &text(instance, b"UI")));
    meta.extend(element(e, 0x0002, 0x0010, b"UI", &text(syntax, b"UI")));
    meta.extend(element(
        e,
        0x0002,
        0x0012,
        b"UI",
        &text("1.2.3.4.5.6", b"UI"),
    ));
    let mut out = preamble.to_vec();
    out.extend_from_slice(b"DICM");
    out.extend(element(
        e,
        0x0002,
        0x0000,
        b"UL",
        &u32::try_from(meta.len()).unwrap_or(0).to_le_bytes(),
    ));
    out.extend(meta);
    out.extend_from_slice(dataset);
    out
}

/// DICOS DX For Processing.
pub const DX: &str = "1.2.840.10008.5.1.4.1.1.501.2.2";
/// DICOS TDR.
pub const TDR: &str = "1.2.840.10008.5.1.4.1.1.501.3";
/// Enhanced SR: a document class.
pub const ENHANCED_SR: &str = "1.2.840.10008.5.1.4.1.1.88.22";
/// Explicit VR little endian.
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
/// Implicit VR little endian.
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR big endian.
pub const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
/// Deflated explicit VR little endian.
pub const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
/// RLE lossless.
pub const RLE: &str = "1.2.840.10008.1.2.5";
const INSTANCE: &str = "2.25.1001";

/// The attributes of a small valid DX, in tag order, as (group, element, VR, value); pixel data
/// is not included.
pub fn dx_attributes(
    rows: u16,
    columns: u16,
    bits_stored: u16,
    sop_class: &str,
) -> Vec<(u16, u16, [u8; 2], Vec<u8>)> {
    let us = |v: u16| v.to_le_bytes().to_vec();
    vec![
        (0x0008, 0x0016, *b"UI", text(sop_class, b"UI")),
        (0x0008, 0x0018, *b"UI", text(INSTANCE, b"UI")),
        (0x0008, 0x0060, *b"CS", text("DX", b"CS")),
        (0x0008, 0x0070, *b"LO", text("hostile corpus", b"LO")),
        (0x0010, 0x0020, *b"LO", text("AB-123-C", b"LO")),
        (0x0020, 0x000D, *b"UI", text("2.25.1002", b"UI")),
        (0x0020, 0x000E, *b"UI", text("2.25.1003", b"UI")),
        (0x0028, 0x0002, *b"US", us(1)),
        (0x0028, 0x0004, *b"CS", text("MONOCHROME2", b"CS")),
        (0x0028, 0x0010, *b"US", us(rows)),
        (0x0028, 0x0011, *b"US", us(columns)),
        (0x0028, 0x0100, *b"US", us(16)),
        (0x0028, 0x0101, *b"US", us(bits_stored)),
        (0x0028, 0x0102, *b"US", us(bits_stored - 1)),
        (0x0028, 0x0103, *b"US", us(0)),
    ]
}

/// Encodes attributes (little endian values; byte-swapped for big endian where numeric).
fn encode_attributes(enc: Enc, attrs: &[(u16, u16, [u8; 2], Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (g, e, vr, value) in attrs {
        let v = if enc == Enc::ExplicitBe && vr == b"US" {
            value
                .chunks(2)
                .flat_map(|c| {
                    [
                        c.get(1).copied().unwrap_or(0),
                        c.first().copied().unwrap_or(0),
                    ]
                })
                .collect()
        } else {
            value.clone()
        };
        out.extend(element(enc, *g, *e, vr, &v));
    }
    out
}

/// A ramp of pixel values, little endian.
pub fn ramp(rows: u16, columns: u16) -> Vec<u8> {
    (0..u32::from(rows) * u32::from(columns))
        .flat_map(|i| ((i * 37) as u16 & 0x0FFF).to_le_bytes())
        .collect()
}

/// A small valid DX with native pixel data: the base of most cases. Returns the file and the
/// offsets at which each top-level element of the data set starts.
pub fn valid_dx(enc: Enc, syntax: &str) -> (Vec<u8>, Vec<usize>) {
    let (rows, columns) = (16u16, 24u16);
    let attrs = dx_attributes(rows, columns, 16, DX);
    let mut dataset = Vec::new();
    let mut starts = Vec::new();
    for (g, e, vr, value) in &attrs {
        starts.push(dataset.len());
        dataset.extend(encode_attributes(enc, &[(*g, *e, *vr, value.clone())]));
    }
    starts.push(dataset.len());
    let mut pixels = ramp(rows, columns);
    if enc == Enc::ExplicitBe {
        for c in pixels.chunks_mut(2) {
            c.swap(0, 1);
        }
    }
    dataset.extend(element(enc, 0x7FE0, 0x0010, b"OW", &pixels));
    let file = part10(DX, INSTANCE, syntax, &dataset);
    let base = file.len() - dataset.len();
    (file, starts.into_iter().map(|s| s + base).collect())
}

fn dx_with(extra_before_pixels: &[u8], pixel_element: &[u8], bits_stored: u16) -> Vec<u8> {
    let attrs = dx_attributes(16, 24, bits_stored, DX);
    let mut dataset = encode_attributes(Enc::ExplicitLe, &attrs);
    dataset.extend_from_slice(extra_before_pixels);
    dataset.extend_from_slice(pixel_element);
    part10(DX, INSTANCE, EXPLICIT_LE, &dataset)
}

fn native_pixels() -> Vec<u8> {
    element(Enc::ExplicitLe, 0x7FE0, 0x0010, b"OW", &ramp(16, 24))
}

fn refused(name: &str, bytes: Vec<u8>, rules: &[Rule]) -> Case {
    Case {
        name: name.into(),
        bytes,
        expect: Expect::Refused(rules.to_vec()),
    }
}

/// Raw deflate (RFC 1951) of `data`, as the deflated transfer syntax carries it.
fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// The whole corpus. `deflate_bomb_bytes` sets how far the deflate bomb expands (it must exceed
/// the inflate budget of the limits it is tested under).
pub fn corpus(deflate_bomb_bytes: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    let (valid, starts) = valid_dx(Enc::ExplicitLe, EXPLICIT_LE);

    // Truncation at every element boundary of the data set, and inside the file meta group.
    for (i, &at) in starts.iter().enumerate() {
        cases.push(refused(
            &format!("truncated-at-element-{i}"),
            valid.get(..at).unwrap_or_default().to_vec(),
            &[Rule::MissingAttribute, Rule::FileMeta, Rule::Truncated],
        ));
    }
    cases.push(refused(
        "truncated-in-meta",
        valid.get(..150).unwrap_or_default().to_vec(),
        &[Rule::FileMeta, Rule::Truncated],
    ));
    cases.push(refused(
        "truncated-in-pixel-data",
        valid.get(..valid.len() - 7).unwrap_or_default().to_vec(),
        &[Rule::LengthPastEnd],
    ));
    cases.push(refused(
        "no-dicm-prefix",
        valid.get(132..).unwrap_or_default().to_vec(),
        &[Rule::MissingDicmPrefix],
    ));
    cases.push(refused("empty", Vec::new(), &[Rule::MissingDicmPrefix]));

    // Lengths that lie.
    cases.push(refused(
        "length-past-end",
        dx_with(
            &element_with_len(Enc::ExplicitLe, 0x0040, 0xA160, b"UT", 4000, b"short"),
            &[],
            16,
        ),
        &[Rule::LengthPastEnd],
    ));
    cases.push(refused(
        "length-4gb",
        dx_with(
            &element_with_len(Enc::ExplicitLe, 0x0040, 0xA160, b"UT", 0xFFFF_FFF0, b"x"),
            &[],
            16,
        ),
        &[Rule::LengthPastEnd],
    ));
    cases.push(refused(
        "pixel-data-4gb",
        dx_with(
            &[],
            &element_with_len(
                Enc::ExplicitLe,
                0x7FE0,
                0x0010,
                b"OW",
                0xFFFF_FFFE,
                &ramp(16, 24),
            ),
            16,
        ),
        &[Rule::LengthPastEnd],
    ));
    cases.push(refused(
        "pixel-data-too-short",
        dx_with(
            &[],
            &element(Enc::ExplicitLe, 0x7FE0, 0x0010, b"OW", &ramp(16, 23)),
            16,
        ),
        &[Rule::PixelDataLength],
    ));
    let mut long_pixels = ramp(16, 24);
    long_pixels.extend_from_slice(b"hidden payload after the image!!");
    cases.push(refused(
        "pixel-data-too-long",
        dx_with(
            &[],
            &element(Enc::ExplicitLe, 0x7FE0, 0x0010, b"OW", &long_pixels),
            16,
        ),
        &[Rule::PixelDataLength],
    ));

    // A dimension bomb: 65535 x 65535 declared over a few bytes.
    let mut attrs = dx_attributes(65_535, 65_535, 16, DX);
    let mut ds = encode_attributes(Enc::ExplicitLe, &attrs);
    ds.extend(native_pixels());
    cases.push(refused(
        "dimension-bomb",
        part10(DX, INSTANCE, EXPLICIT_LE, &ds),
        &[Rule::ImageDimensions],
    ));
    attrs = dx_attributes(16, 24, 16, DX);
    attrs.insert(9, (0x0028, 0x0008, *b"IS", text("100000", b"IS")));
    let mut ds = encode_attributes(Enc::ExplicitLe, &attrs);
    ds.extend(native_pixels());
    cases.push(refused(
        "frame-bomb",
        part10(DX, INSTANCE, EXPLICIT_LE, &ds),
        &[Rule::ImageDimensions],
    ));

    // 20,000 nested sequences of undefined length.
    let mut deep = Vec::new();
    for _ in 0..20_000 {
        deep.extend_from_slice(&element_with_len(
            Enc::ExplicitLe,
            0x0040,
            0x0555,
            b"SQ",
            0xFFFF_FFFF,
            &[],
        ));
        deep.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
    }
    cases.push(refused(
        "nesting-20000",
        dx_with(&deep, &native_pixels(), 16),
        &[Rule::NestingTooDeep],
    ));

    // A deflate bomb: a small stream that expands past the budget.
    let zeros = vec![0u8; deflate_bomb_bytes];
    cases.push(refused(
        "deflate-bomb",
        part10(DX, INSTANCE, DEFLATED, &deflate(&zeros)),
        &[Rule::DeflateExpansion],
    ));
    cases.push(refused(
        "deflate-garbage",
        part10(DX, INSTANCE, DEFLATED, &[0xFF; 64]),
        &[Rule::DeflateInvalid],
    ));

    // Encapsulated fragments that run past the end.
    let mut enc_px = element_with_len(Enc::ExplicitLe, 0x7FE0, 0x0010, b"OB", 0xFFFF_FFFF, &[]);
    enc_px.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
    enc_px.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0x00, 0x00, 0x10, 0x00]);
    enc_px.extend_from_slice(&[1, 2, 3, 4]);
    let attrs = dx_attributes(16, 24, 16, DX);
    let mut ds = encode_attributes(Enc::ExplicitLe, &attrs);
    ds.extend(enc_px);
    cases.push(refused(
        "fragment-past-end",
        part10(DX, INSTANCE, RLE, &ds),
        &[Rule::FragmentPastEnd],
    ));

    // An RLE segment whose runs expand past the frame.
    let mut rle = vec![0u8; 64];
    rle[0] = 2;
    rle[4] = 64;
    rle[8] = 64 + 2 * 10;
    let mut seg = Vec::new();
    for _ in 0..10 {
        seg.extend_from_slice(&[0x81, 0xAA]);
    }
    rle.extend_from_slice(&seg);
    rle.extend_from_slice(&seg);
    let mut enc_px = element_with_len(Enc::ExplicitLe, 0x7FE0, 0x0010, b"OB", 0xFFFF_FFFF, &[]);
    enc_px.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
    enc_px.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    enc_px.extend_from_slice(&u32::try_from(rle.len()).unwrap_or(0).to_le_bytes());
    enc_px.extend_from_slice(&rle);
    enc_px.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    let mut ds = encode_attributes(Enc::ExplicitLe, &attrs);
    ds.extend(enc_px);
    cases.push(refused(
        "rle-bomb",
        part10(DX, INSTANCE, RLE, &ds),
        &[Rule::RleInvalid],
    ));

    // Transfer syntaxes sluis does not decode losslessly, or at all.
    cases.push(refused(
        "jpeg2000",
        part10(DX, INSTANCE, "1.2.840.10008.1.2.4.90", &[]),
        &[Rule::UnsupportedTransferSyntax],
    ));
    cases.push(refused(
        "jpeg-baseline",
        part10(DX, INSTANCE, "1.2.840.10008.1.2.4.50", &[]),
        &[Rule::UnsupportedTransferSyntax],
    ));
    cases.push(refused(
        "unknown-syntax",
        part10(DX, INSTANCE, "1.2.3.4.5.6.7", &[]),
        &[Rule::UnsupportedTransferSyntax],
    ));

    // Trailing bytes after the data set.
    let mut trailing = valid.clone();
    trailing.extend_from_slice(b"\x00\x01\x02 this is not an element \xFF\xFE");
    cases.push(refused("trailing-bytes", trailing, &[Rule::TrailingBytes]));

    // Non-image classes carrying pixels.
    let mut sr = dx_attributes(16, 24, 16, ENHANCED_SR);
    sr.retain(|a| a.0 < 0x0028);
    let mut ds = encode_attributes(Enc::ExplicitLe, &sr);
    ds.extend(native_pixels());
    cases.push(refused(
        "sr-with-pixels",
        part10(ENHANCED_SR, INSTANCE, EXPLICIT_LE, &ds),
        &[Rule::NotAnImageSopClass],
    ));
    let mut tdr = dx_attributes(16, 24, 16, TDR);
    tdr.retain(|a| a.0 < 0x0028);
    tdr.push((0x4010, 0x1027, *b"CS", text("MACHINE", b"CS")));
    let mut ds = encode_attributes(Enc::ExplicitLe, &tdr);
    ds.extend(native_pixels());
    cases.push(refused(
        "tdr-with-pixels",
        part10(TDR, INSTANCE, EXPLICIT_LE, &ds),
        &[Rule::NotAnImageSopClass],
    ));
    cases.push(refused(
        "unsupported-class",
        part10("1.2.840.10008.5.1.4.1.1.7", INSTANCE, EXPLICIT_LE, &[]),
        &[Rule::UnsupportedSopClass],
    ));

    // Structure that lies.
    let mut dup = encode_attributes(Enc::ExplicitLe, &dx_attributes(16, 24, 16, DX));
    dup.extend(element(
        Enc::ExplicitLe,
        0x0028,
        0x0103,
        b"US",
        &1u16.to_le_bytes(),
    ));
    dup.extend(native_pixels());
    cases.push(refused(
        "duplicate-tag",
        part10(DX, INSTANCE, EXPLICIT_LE, &dup),
        &[Rule::ElementOrder],
    ));
    cases.push(refused(
        "invalid-vr",
        dx_with(
            &element(Enc::ExplicitLe, 0x0040, 0xA160, b"Q!", b"xx"),
            &native_pixels(),
            16,
        ),
        &[Rule::InvalidVr],
    ));
    cases.push(refused(
        "odd-length-number",
        dx_with(
            &element(Enc::ExplicitLe, 0x0040, 0x0301, b"US", &[1, 0, 2]),
            &native_pixels(),
            16,
        ),
        &[Rule::ValueLength],
    ));
    cases.push(refused(
        "undefined-length-string",
        dx_with(
            &element_with_len(Enc::ExplicitLe, 0x0040, 0xA160, b"UT", 0xFFFF_FFFF, b"abc"),
            &native_pixels(),
            16,
        ),
        &[Rule::UndefinedLength],
    ));
    cases.push(refused(
        "meta-says-other-class",
        part10("1.2.840.10008.5.1.4.1.1.501.2.1", INSTANCE, EXPLICIT_LE, &{
            let mut d = encode_attributes(Enc::ExplicitLe, &dx_attributes(16, 24, 16, DX));
            d.extend(native_pixels());
            d
        }),
        &[Rule::SopClassMismatch],
    ));
    // More elements than the default limit of 100,000: two private groups, full.
    let mut flood = encode_attributes(Enc::ExplicitLe, &dx_attributes(16, 24, 16, DX)[..4]);
    for group in [0x0009u16, 0x000B] {
        for e in 0x1000u16..=0xFFFF {
            flood.extend(element(Enc::ExplicitLe, group, e, b"UN", &[]));
        }
    }
    cases.push(refused(
        "element-flood",
        part10(DX, INSTANCE, EXPLICIT_LE, &flood),
        &[Rule::TooManyElements],
    ));

    // Accepted, with what must not survive dropped.
    let mut extras = Vec::new();
    extras.extend(element(
        Enc::ExplicitLe,
        0x0029,
        0x0010,
        b"LO",
        &text("VENDOR PRIVATE", b"LO"),
    ));
    extras.extend(element(
        Enc::ExplicitLe,
        0x0029,
        0x1001,
        b"OB",
        b"vendor-private-payload-SECRET",
    ));
    extras.extend(element(
        Enc::ExplicitLe,
        0x0042,
        0x0011,
        b"OB",
        b"%PDF-1.7 embedded document payload",
    ));
    extras.extend(element(Enc::ExplicitLe, 0x6000, 0x3000, b"OW", &[0xAA; 48]));
    cases.push(Case {
        name: "private-overlay-document".into(),
        bytes: dx_with(&extras, &native_pixels(), 16),
        expect: Expect::Dropped(vec![
            DropReason::PrivateTag,
            DropReason::EmbeddedDocument,
            DropReason::Overlay,
        ]),
    });
    let mut polyglot = [0u8; 128];
    polyglot[..4].copy_from_slice(b"MZ\x90\x00");
    cases.push(Case {
        name: "polyglot-preamble".into(),
        bytes: part10_with_preamble(&polyglot, DX, INSTANCE, EXPLICIT_LE, &{
            let mut d = encode_attributes(Enc::ExplicitLe, &dx_attributes(16, 24, 16, DX));
            d.extend(native_pixels());
            d
        }),
        expect: Expect::Normalised(vec!["preamble-cleared"]),
    });
    let high_bits: Vec<u8> = ramp(16, 24)
        .chunks(2)
        .flat_map(|c| [c[0], c[1] | 0xF0])
        .collect();
    cases.push(Case {
        name: "data-in-padding-bits".into(),
        bytes: dx_with(
            &[],
            &element(Enc::ExplicitLe, 0x7FE0, 0x0010, b"OW", &high_bits),
            12,
        ),
        expect: Expect::Normalised(vec!["pixel-padding-bits"]),
    });
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_names_are_unique() {
        let c = corpus(1 << 20);
        let mut names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
