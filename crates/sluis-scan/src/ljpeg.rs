//! Lossless JPEG (ITU-T T.81 process 14, SOF3; Annex H), one component, 2 to 16 bits.
//!
//! Written here rather than taken from `jpeg-decoder` (the decoder dicom-rs uses): its lossless
//! path holds about six bytes per pixel while decoding (a `Vec<u16>` of results, a `Vec<i32>` of
//! differences, then two conversions to bytes), runs at about half the speed of dcmtk's, and
//! does not reset prediction at restart markers. This decoder writes reconstructed samples
//! straight into the caller's frame buffer, sized from the checked geometry, keeps two rows of
//! prediction state, and allocates nothing else by anything the stream declares. `jpeg-decoder`
//! and dcmtk's `dcmdjpeg` remain in the tests as independent oracles.
//!
//! ```text
//! SOI  [DHT | DRI | APPn | COM]*  SOF3(P, Y, X, Nf=1)  [DHT | DRI]*  SOS(Ns=1, Ss=predictor,
//!      Al=point transform)  entropy-coded differences [RSTm ...]  EOI
//! ```
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

/// Why a frame does not decode.
pub(crate) type Error = String;

/// A canonical Huffman table for DC difference categories (T.81 Annex C and F.2.2.3), with a
/// lookup on the next [`LOOKUP_BITS`] bits for short codes.
#[derive(Clone)]
struct Huffman {
    /// For each bit pattern of LOOKUP_BITS: (code length, category), length 0 when the code is
    /// longer.
    lookup: Vec<(u8, u8)>,
    /// Largest code of each length 1..=16 (-1 when none), and where its values start.
    maxcode: [i32; 17],
    valptr: [i32; 17],
    mincode: [i32; 17],
    values: Vec<u8>,
}

const LOOKUP_BITS: u8 = 9;

impl Huffman {
    fn new(counts: &[u8; 16], values: &[u8]) -> Result<Self, Error> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total != values.len() || total > 256 {
            return Err("a Huffman table's counts and values disagree".into());
        }
        if values.iter().any(|&v| v > 16) {
            return Err("a lossless Huffman table holds a category above 16".into());
        }
        let mut maxcode = [-1i32; 17];
        let mut valptr = [0i32; 17];
        let mut mincode = [0i32; 17];
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKUP_BITS];
        let mut code: i32 = 0;
        let mut k: i32 = 0;
        for (len, &count) in (1u8..=16).zip(counts.iter()) {
            let l = usize::from(len);
            if count > 0 {
                if let (Some(v), Some(m)) = (valptr.get_mut(l), mincode.get_mut(l)) {
                    *v = k;
                    *m = code;
                }
                for _ in 0..count {
                    if len <= LOOKUP_BITS {
                        let shift = LOOKUP_BITS.saturating_sub(len);
                        let first = usize::try_from(code)
                            .unwrap_or(0)
                            .checked_shl(u32::from(shift))
                            .unwrap_or(0);
                        let n = 1usize.checked_shl(u32::from(shift)).unwrap_or(1);
                        let value = values
                            .get(usize::try_from(k).unwrap_or(usize::MAX))
                            .copied()
                            .unwrap_or(0);
                        for slot in lookup.iter_mut().skip(first).take(n) {
                            *slot = (len, value);
                        }
                    }
                    code = code.saturating_add(1);
                    k = k.saturating_add(1);
                }
                if let Some(m) = maxcode.get_mut(l) {
                    *m = code.saturating_sub(1);
                }
            }
            // A code longer than its length allows means the counts are not a prefix code.
            if code > (1i32 << len) {
                return Err("a Huffman table's counts do not form a prefix code".into());
            }
            code = code.saturating_mul(2);
        }
        Ok(Huffman {
            lookup,
            maxcode,
            valptr,
            mincode,
            values: values.to_vec(),
        })
    }
}

/// Reads the entropy-coded segment: bytes with `FF 00` stuffing, stopping at any marker.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    count: u8,
    /// A marker was met; bits beyond it read as zero, and too many of them are an error.
    marker: Option<u8>,
    padded: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Bits {
            data,
            pos,
            acc: 0,
            count: 0,
            marker: None,
            padded: 0,
        }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            let byte = if self.marker.is_some() {
                self.padded = self.padded.saturating_add(8);
                0
            } else {
                match self.data.get(self.pos).copied() {
                    Some(0xFF) => match self.data.get(self.pos.saturating_add(1)).copied() {
                        Some(0x00) => {
                            self.pos = self.pos.saturating_add(2);
                            0xFF
                        }
                        Some(m) => {
                            self.marker = Some(m);
                            continue;
                        }
                        None => {
                            self.marker = Some(0);
                            continue;
                        }
                    },
                    Some(b) => {
                        self.pos = self.pos.saturating_add(1);
                        b
                    }
                    None => {
                        self.marker = Some(0);
                        continue;
                    }
                }
            };
            self.acc |= u64::from(byte) << (56u8.saturating_sub(self.count));
            self.count = self.count.saturating_add(8);
        }
    }

    fn peek(&mut self, n: u8) -> u32 {
        if self.count < n {
            self.fill();
        }
        u32::try_from(self.acc >> (64u8.saturating_sub(n))).unwrap_or(0)
    }

    fn consume(&mut self, n: u8) {
        self.acc = self.acc.checked_shl(u32::from(n)).unwrap_or(0);
        self.count = self.count.saturating_sub(n);
    }

    fn bits(&mut self, n: u8) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// Decodes one Huffman symbol.
    fn decode(&mut self, table: &Huffman) -> Result<u8, Error> {
        let look = usize::try_from(self.peek(LOOKUP_BITS)).unwrap_or(0);
        if let Some(&(len, value)) = table.lookup.get(look)
            && len > 0
        {
            self.consume(len);
            return Ok(value);
        }
        // Longer codes: T.81 F.2.2.3, one bit at a time past the lookup.
        let mut code = i32::try_from(self.bits(LOOKUP_BITS)).unwrap_or(0);
        for len in (LOOKUP_BITS.saturating_add(1))..=16 {
            code = code
                .saturating_mul(2)
                .saturating_add(i32::try_from(self.bits(1)).unwrap_or(0));
            let l = usize::from(len);
            let max = table.maxcode.get(l).copied().unwrap_or(-1);
            if code <= max {
                let idx = table
                    .valptr
                    .get(l)
                    .copied()
                    .unwrap_or(0)
                    .saturating_add(code)
                    .saturating_sub(table.mincode.get(l).copied().unwrap_or(0));
                return table
                    .values
                    .get(usize::try_from(idx).unwrap_or(usize::MAX))
                    .copied()
                    .ok_or_else(|| "corrupt Huffman code".to_string());
            }
        }
        Err("a Huffman code matches no table entry".into())
    }

    /// Too many bits were read past the end of the scan data: the stream is short.
    fn overrun(&self) -> bool {
        self.padded > 64
    }

    /// Discards buffered bits and returns to the byte position after the data read so far
    /// (at a marker).
    fn align_to_marker(&mut self) -> usize {
        self.acc = 0;
        self.count = 0;
        self.pos
    }
}

/// The header values of a lossless frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    pub precision: u8,
    pub rows: u16,
    pub columns: u16,
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *data.get(at)?,
        *data.get(at.checked_add(1)?)?,
    ]))
}

/// Where the output goes: the reconstructed samples, shifted left by the point transform.
pub(crate) enum Out<'a> {
    U8(&'a mut [u8]),
    U16(&'a mut [u16]),
}

/// Decodes one lossless JPEG frame of exactly `rows` x `columns` into `out`; returns the frame
/// header. Refuses anything but SOF3 with one component, a mismatched geometry, a precision
/// that does not fit `max_precision`, a stream that ends early, and more than one pad byte after
/// EOI.
pub(crate) fn decode(
    data: &[u8],
    rows: u16,
    columns: u16,
    max_precision: u8,
    out: Out<'_>,
) -> Result<Frame, Error> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err("the frame does not start with an SOI marker".into());
    }
    let mut tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut frame: Option<Frame> = None;
    let mut restart: u16 = 0;
    let mut pos = 2usize;
    loop {
        // A marker: fill bytes 0xFF, then the code.
        let mut code = 0u8;
        while let Some(&b) = data.get(pos) {
            pos = pos.saturating_add(1);
            if b == 0xFF {
                continue;
            }
            code = b;
            break;
        }
        if code == 0 {
            return Err("the frame ends before a scan".into());
        }
        let seg_len = usize::from(be16(data, pos).ok_or("a marker segment is cut short")?);
        let seg = data
            .get(pos.saturating_add(2)..pos.saturating_add(seg_len))
            .filter(|_| seg_len >= 2)
            .ok_or_else(|| format!("marker FF{code:02X} runs past the frame"))?;
        let next = pos.saturating_add(seg_len);
        match code {
            0xC4 => {
                let mut p = 0usize;
                while p < seg.len() {
                    let tc_th = *seg.get(p).ok_or("DHT cut short")?;
                    let (class, id) = (tc_th >> 4, tc_th & 0x0F);
                    if class != 0 || id > 3 {
                        return Err(format!(
                            "Huffman table class {class} id {id} is not a lossless DC table"
                        ));
                    }
                    let mut counts = [0u8; 16];
                    counts.copy_from_slice(
                        seg.get(p.saturating_add(1)..p.saturating_add(17))
                            .ok_or("DHT cut short")?,
                    );
                    let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
                    let values = seg
                        .get(p.saturating_add(17)..p.saturating_add(17).saturating_add(n))
                        .ok_or("DHT cut short")?;
                    if let Some(slot) = tables.get_mut(usize::from(id)) {
                        *slot = Some(Huffman::new(&counts, values)?);
                    }
                    p = p.saturating_add(17).saturating_add(n);
                }
            }
            0xC3 => {
                if frame.is_some() {
                    return Err("two frame headers".into());
                }
                let (p, y, x, nf) = (
                    *seg.first().ok_or("SOF3 cut short")?,
                    be16(seg, 1).ok_or("SOF3 cut short")?,
                    be16(seg, 3).ok_or("SOF3 cut short")?,
                    *seg.get(5).ok_or("SOF3 cut short")?,
                );
                if nf != 1 {
                    return Err(format!("{nf} components; one is accepted"));
                }
                if y != rows || x != columns {
                    return Err(format!(
                        "JPEG frame is {x} x {y}; the data set declares {columns} x {rows}"
                    ));
                }
                if !(2..=16).contains(&p) || p > max_precision {
                    return Err(format!("precision {p} does not fit {max_precision} bits"));
                }
                frame = Some(Frame {
                    precision: p,
                    rows: y,
                    columns: x,
                });
            }
            0xC0..=0xCF if code != 0xC8 && code != 0xCC => {
                return Err(format!("SOF marker FF{code:02X} is not lossless (SOF3)"));
            }
            0xDD => restart = be16(seg, 0).ok_or("DRI cut short")?,
            0xDA => {
                let f = frame.ok_or("a scan before the frame header")?;
                let ns = *seg.first().ok_or("SOS cut short")?;
                if ns != 1 {
                    return Err(format!("a scan of {ns} components"));
                }
                let td = seg.get(2).map(|b| b >> 4).ok_or("SOS cut short")?;
                let predictor = *seg.get(3).ok_or("SOS cut short")?;
                let point_transform = seg.get(5).map(|b| b & 0x0F).ok_or("SOS cut short")?;
                if !(1..=7).contains(&predictor) {
                    return Err(format!("predictor {predictor} is not 1 to 7"));
                }
                if point_transform >= f.precision {
                    return Err(format!(
                        "point transform {point_transform} with precision {}",
                        f.precision
                    ));
                }
                let table = tables
                    .get(usize::from(td))
                    .and_then(Option::as_ref)
                    .ok_or("the scan's Huffman table is not defined")?;
                if restart != 0 && !restart.is_multiple_of(columns.max(1)) {
                    return Err(format!(
                        "restart interval {restart} is not a whole number of lines of {columns}"
                    ));
                }
                let end = scan(
                    data,
                    next,
                    f,
                    table,
                    predictor,
                    point_transform,
                    restart,
                    out,
                )?;
                return finish(data, end, f);
            }
            0xD8 | 0xD9 | 0xD0..=0xD7 | 0x01 | 0xDC => {
                return Err(format!("unexpected marker FF{code:02X} before the scan"));
            }
            _ => {}
        }
        pos = next;
    }
}

/// After the scan: EOI, then at most one pad byte.
fn finish(data: &[u8], mut pos: usize, f: Frame) -> Result<Frame, Error> {
    while data.get(pos) == Some(&0xFF) && data.get(pos.saturating_add(1)) == Some(&0xFF) {
        pos = pos.saturating_add(1);
    }
    if data.get(pos..pos.saturating_add(2)) != Some(&[0xFF, 0xD9][..]) {
        return Err("no EOI marker after the scan".into());
    }
    let trailing = data.len().saturating_sub(pos.saturating_add(2));
    if trailing > 1 {
        return Err(format!("{trailing} bytes follow the EOI marker"));
    }
    Ok(f)
}

/// Decodes the entropy-coded data of the scan starting at `pos`; returns the offset of the
/// marker that ends it.
#[allow(clippy::too_many_arguments)]
fn scan(
    data: &[u8],
    pos: usize,
    f: Frame,
    table: &Huffman,
    predictor: u8,
    pt: u8,
    restart: u16,
    out: Out<'_>,
) -> Result<usize, Error> {
    let width = usize::from(f.columns);
    let height = usize::from(f.rows);
    let mut prev: Vec<u16> = vec![0; width];
    let mut cur: Vec<u16> = vec![0; width];
    let initial: i32 = 1i32 << (f.precision.saturating_sub(pt).saturating_sub(1));
    let mut bits = Bits::new(data, pos);
    let lines_per_restart = if restart == 0 {
        usize::MAX
    } else {
        usize::from(restart)
            .checked_div(width)
            .unwrap_or(usize::MAX)
    };
    let mut next_rst: u8 = 0;
    let mut out = out;
    let mut first_line = true;
    for y in 0..height {
        if y > 0 && lines_per_restart != usize::MAX && y.checked_rem(lines_per_restart) == Some(0) {
            // T.81 H.1.2.1: at a restart the prediction starts over as on the first line.
            let p = bits.align_to_marker();
            match (data.get(p), data.get(p.saturating_add(1))) {
                (Some(0xFF), Some(&m)) if m == 0xD0 | next_rst => {}
                _ => return Err(format!("line {y}: RST{next_rst} expected")),
            }
            bits = Bits::new(data, p.saturating_add(2));
            next_rst = (next_rst.saturating_add(1)) & 7;
            first_line = true;
        }
        for x in 0..width {
            let ssss = bits.decode(table)?;
            let diff: i32 = match ssss {
                0 => 0,
                16 => 32768,
                s => {
                    let v = i32::try_from(bits.bits(s)).unwrap_or(0);
                    // T.81 F.2.2.1 EXTEND: values below 2^(s-1) are negative.
                    if v < (1i32 << (s.saturating_sub(1))) {
                        v.saturating_sub((1i32 << s).saturating_sub(1))
                    } else {
                        v
                    }
                }
            };
            let ra = if x > 0 {
                i32::from(cur.get(x.saturating_sub(1)).copied().unwrap_or(0))
            } else {
                0
            };
            let rb = i32::from(prev.get(x).copied().unwrap_or(0));
            let rc = if x > 0 {
                i32::from(prev.get(x.saturating_sub(1)).copied().unwrap_or(0))
            } else {
                0
            };
            let px = if first_line {
                if x == 0 { initial } else { ra }
            } else if x == 0 {
                rb
            } else {
                match predictor {
                    1 => ra,
                    2 => rb,
                    3 => rc,
                    4 => ra.wrapping_add(rb).wrapping_sub(rc),
                    5 => ra.wrapping_add(rb.wrapping_sub(rc) >> 1),
                    6 => rb.wrapping_add(ra.wrapping_sub(rc) >> 1),
                    _ => ra.wrapping_add(rb) >> 1,
                }
            };
            // Reconstruction is modulo 2^16 (T.81 H.2.1).
            let value = (px.wrapping_add(diff) & 0xFFFF) as u16;
            if let Some(c) = cur.get_mut(x) {
                *c = value;
            }
        }
        if bits.overrun() {
            return Err(format!("the scan data ends at line {y} of {height}"));
        }
        let row = y.saturating_mul(width);
        match &mut out {
            Out::U16(d) => {
                let dst = d
                    .get_mut(row..row.saturating_add(width))
                    .ok_or("output row out of range")?;
                for (o, &v) in dst.iter_mut().zip(cur.iter()) {
                    *o = v.wrapping_shl(u32::from(pt));
                }
            }
            Out::U8(d) => {
                let dst = d
                    .get_mut(row..row.saturating_add(width))
                    .ok_or("output row out of range")?;
                for (o, &v) in dst.iter_mut().zip(cur.iter()) {
                    *o = (v.wrapping_shl(u32::from(pt)) & 0xFF) as u8;
                }
            }
        }
        std::mem::swap(&mut prev, &mut cur);
        first_line = false;
    }
    Ok(bits.align_to_marker())
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;

    #[test]
    fn huffman_tables_reject_non_prefix_counts() {
        // Three codes of length 1 cannot exist.
        let mut counts = [0u8; 16];
        counts[0] = 3;
        assert!(Huffman::new(&counts, &[0, 1, 2]).is_err());
        counts[0] = 2;
        assert!(Huffman::new(&counts, &[0, 1]).is_ok());
        assert!(Huffman::new(&counts, &[0, 17]).is_err());
    }

    /// A minimal lossless encoder (T.81 H.1), the mirror of the decoder, to build streams with
    /// restart markers and byte stuffing that dcmtk's command-line tools do not produce.
    fn encode(
        img: &[u16],
        w: usize,
        h: usize,
        precision: u8,
        predictor: u8,
        restart_lines: usize,
    ) -> Vec<u8> {
        // Categories 0..=2 on 2 bits, 3..=15 on 3..=15 bits, 16 on 16 bits (never all ones).
        let mut counts = [0u8; 16];
        counts[1] = 3;
        for len in 3..=15 {
            counts[len - 1] = 1;
        }
        counts[15] = 1;
        let values: Vec<u8> = (0..=16).collect();
        let mut codes = [(0u32, 0u8); 17];
        let (mut code, mut k) = (0u32, 0usize);
        for len in 1..=16u8 {
            for _ in 0..counts[usize::from(len) - 1] {
                codes[usize::from(values[k])] = (code, len);
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        let mut out = vec![0xFF, 0xD8, 0xFF, 0xC4];
        out.extend_from_slice(&((2 + 1 + 16 + values.len()) as u16).to_be_bytes());
        out.push(0x00);
        out.extend_from_slice(&counts);
        out.extend_from_slice(&values);
        if restart_lines > 0 {
            out.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04]);
            out.extend_from_slice(&((restart_lines * w) as u16).to_be_bytes());
        }
        out.extend_from_slice(&[0xFF, 0xC3, 0x00, 0x0B, precision]);
        out.extend_from_slice(&(h as u16).to_be_bytes());
        out.extend_from_slice(&(w as u16).to_be_bytes());
        out.extend_from_slice(&[1, 1, 0x11, 0]);
        out.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, predictor, 0, 0]);
        let (mut acc, mut n) = (0u64, 0u32);
        let flush = |out: &mut Vec<u8>, acc: &mut u64, n: &mut u32, pad: bool| {
            if pad && !(*n).is_multiple_of(8) {
                let fill = 8 - *n % 8;
                *acc = (*acc << fill) | ((1 << fill) - 1);
                *n += fill;
            }
            while *n >= 8 {
                let byte = ((*acc >> (*n - 8)) & 0xFF) as u8;
                out.push(byte);
                if byte == 0xFF {
                    out.push(0);
                }
                *n -= 8;
            }
        };
        let mut rst = 0u8;
        for y in 0..h {
            let first_line =
                restart_lines == 0 && y == 0 || restart_lines > 0 && y % restart_lines == 0;
            if restart_lines > 0 && y > 0 && y % restart_lines == 0 {
                flush(&mut out, &mut acc, &mut n, true);
                out.extend_from_slice(&[0xFF, 0xD0 + rst]);
                rst = (rst + 1) & 7;
            }
            for x in 0..w {
                let at = |yy: usize, xx: usize| i32::from(img[yy * w + xx]);
                let px = if first_line {
                    if x == 0 {
                        1 << (precision - 1)
                    } else {
                        at(y, x - 1)
                    }
                } else if x == 0 {
                    at(y - 1, 0)
                } else {
                    let (ra, rb, rc) = (at(y, x - 1), at(y - 1, x), at(y - 1, x - 1));
                    match predictor {
                        1 => ra,
                        2 => rb,
                        3 => rc,
                        4 => ra + rb - rc,
                        5 => ra + ((rb - rc) >> 1),
                        6 => rb + ((ra - rc) >> 1),
                        _ => (ra + rb) >> 1,
                    }
                };
                let mut diff = (i32::from(img[y * w + x]) - px).rem_euclid(65536);
                if diff > 32768 {
                    diff -= 65536;
                }
                let cat = if diff == 32768 {
                    16
                } else {
                    32 - diff.unsigned_abs().leading_zeros()
                } as u8;
                let (c, len) = codes[usize::from(cat)];
                acc = (acc << len) | u64::from(c);
                n += u32::from(len);
                if cat > 0 && cat < 16 {
                    let bits = if diff >= 0 {
                        diff
                    } else {
                        diff + (1 << cat) - 1
                    } as u64;
                    acc = (acc << cat) | bits;
                    n += u32::from(cat);
                }
                flush(&mut out, &mut acc, &mut n, false);
            }
        }
        flush(&mut out, &mut acc, &mut n, true);
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }

    fn image(w: usize, h: usize, precision: u8, seed: u32) -> Vec<u16> {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        (0..w * h)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                // Smooth ramps with noise, and an occasional extreme value.
                let v = if x.is_multiple_of(97) {
                    x
                } else {
                    (i as u32 % w as u32) * 300 + (x % 64)
                };
                (v & ((1u32 << precision) - 1)) as u16
            })
            .collect()
    }

    #[test]
    fn restart_markers_every_predictor_and_byte_stuffing() {
        let (w, h) = (23, 37);
        for precision in [8u8, 12, 16] {
            for predictor in 1..=7 {
                for restart_lines in [0, 1, 2, 5] {
                    let img = image(
                        w,
                        h,
                        precision,
                        u32::from(predictor) * 31 + u32::from(precision),
                    );
                    let stream = encode(&img, w, h, precision, predictor, restart_lines);
                    let mut out = vec![0u16; w * h];
                    decode(&stream, h as u16, w as u16, 16, Out::U16(&mut out)).unwrap_or_else(
                        |e| panic!("P{precision} SV{predictor} R{restart_lines}: {e}"),
                    );
                    assert_eq!(out, img, "P{precision} SV{predictor} R{restart_lines}");
                }
            }
        }
    }

    #[test]
    fn broken_streams_are_refused_not_misread() {
        let (w, h) = (23, 37);
        let img = image(w, h, 16, 7);
        let good = encode(&img, w, h, 16, 1, 2);
        let mut out = vec![0u16; w * h];
        // A restart marker out of sequence.
        let mut bad = good.clone();
        let at = bad.windows(2).position(|p| p == [0xFF, 0xD1]).unwrap();
        bad[at + 1] = 0xD5;
        assert!(
            decode(&bad, h as u16, w as u16, 16, Out::U16(&mut out))
                .unwrap_err()
                .contains("RST")
        );
        // Every truncation fails cleanly.
        for cut in 0..good.len() - 2 {
            assert!(
                decode(&good[..cut], h as u16, w as u16, 16, Out::U16(&mut out)).is_err(),
                "cut {cut}"
            );
        }
        // Data hidden after EOI.
        let mut hidden = good.clone();
        hidden.extend_from_slice(b"exfiltrated");
        assert!(
            decode(&hidden, h as u16, w as u16, 16, Out::U16(&mut out))
                .unwrap_err()
                .contains("EOI")
        );
        // The wrong geometry.
        assert!(
            decode(
                &good,
                h as u16 + 1,
                w as u16,
                16,
                Out::U16(&mut vec![0u16; w * (h + 1)])
            )
            .is_err()
        );
        // 16-bit precision into an 8-bit frame.
        assert!(decode(&good, h as u16, w as u16, 8, Out::U8(&mut vec![0u8; w * h])).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut out = vec![0u16; 4];
        for data in [
            &b""[..],
            b"\xFF\xD8",
            b"\xFF\xD8\xFF\xDA\x00\x02",
            b"\xFF\xD8\xFF\xC0\x00\x0B\x08\x00\x02\x00\x02\x01\x01\x11\x00",
        ] {
            assert!(decode(data, 2, 2, 16, Out::U16(&mut out)).is_err());
        }
    }
}
