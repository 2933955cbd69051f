//! Rendering a scan to an 8-bit RGB picture: window/level, palettes and material colouring.
//!
//! This is for previews and reports, not for diagnosis: the analyst workstation shows the full
//! 16-bit data. Material colouring follows the usual cargo convention: orange for organic
//! (Z < 10), green for inorganic and light metals (10 ≤ Z < 20), blue for metals (Z ≥ 20), with
//! brightness from the transmission, so air is white and impenetrable steel is black.

use std::io::Write;

use crate::material::{MaterialClass, z_from_ratio};
use crate::model::{Channel, ChannelKind, Image, LutShape, Photometric, Scan, Window};

/// What to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Window centre and width in output units (the DICOM linear window); default: the scan's
    /// first window for presentation images, else a logarithmic stretch between the 0.5th and
    /// 99.9th percentiles of the frame.
    pub window: Option<Window>,
    /// Colour by material class from the dual-energy channels.
    pub material: bool,
    /// Which frame of the channel (CT slice); default: the middle one.
    pub frame: Option<u32>,
}

/// An 8-bit RGB picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGB triples.
    pub data: Vec<u8>,
}

/// Why a scan could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// Material colouring needs a Z-effective channel, or high- and low-energy channels.
    #[error(
        "material colouring needs a Z_EFFECTIVE channel or HIGH ENERGY and LOW ENERGY channels; this scan has {0}"
    )]
    NoDualEnergy(String),
    /// The requested frame does not exist.
    #[error("frame {frame} requested, the scan has {frames}")]
    NoSuchFrame {
        /// Requested.
        frame: u32,
        /// Available.
        frames: u32,
    },
    /// The image holds no channel.
    #[error("the image has no channels")]
    NoChannels,
    /// PNG encoding failed.
    #[error("writing PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// The channel shown in greyscale: high energy, else single-energy intensity, else the first.
pub fn display_channel(image: &Image) -> Option<&Channel> {
    image
        .channel(&ChannelKind::HighEnergy)
        .or_else(|| image.channel(&ChannelKind::Intensity))
        .or_else(|| image.channels.first())
}

fn physical(channel: &Channel, stored: u16, signed: bool) -> f64 {
    let raw = if signed {
        f64::from(i16::from_ne_bytes(stored.to_ne_bytes()))
    } else {
        f64::from(stored)
    };
    match &channel.rescale {
        Some(r) => raw * r.slope + r.intercept,
        None => raw,
    }
}

/// How stored values become brightness.
#[derive(Debug, Clone, Copy)]
enum Mapping {
    /// DICOM linear window (PS3.3 §C.11.2.1.2) over rescaled values.
    Linear(Window),
    /// Logarithmic stretch between two stored values: transmission images span four decades,
    /// and a log scale shows thin walls and dense cargo at once (the usual cargo display).
    Log { lo: f64, hi: f64 },
}

impl Mapping {
    fn apply(self, channel: &Channel, stored: u16, signed: bool) -> f64 {
        match self {
            Mapping::Linear(w) => apply_window(physical(channel, stored, signed), w),
            Mapping::Log { lo, hi } => {
                let v = f64::from(stored).max(1.0).ln();
                ((v - lo) / (hi - lo).max(1e-9)).clamp(0.0, 1.0)
            }
        }
    }
}

/// A logarithmic stretch between the 0.5th and 99.9th percentiles of a frame (sampled), at most
/// six e-foldings deep.
fn auto_mapping(channel: &Channel, range: std::ops::Range<usize>) -> Mapping {
    let step = (range.len() / 200_000).max(1);
    let mut values: Vec<f64> = range
        .step_by(step)
        .filter_map(|i| channel.samples.get(i))
        .map(|v| f64::from(v).max(1.0).ln())
        .collect();
    if values.is_empty() {
        return Mapping::Log { lo: 0.0, hi: 1.0 };
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let idx = ((values.len() - 1) as f64 * q).round() as usize;
        values.get(idx).copied().unwrap_or(0.0)
    };
    // Pixels with no signal left (dense steel, lead) would otherwise pull the dark end of the
    // stretch down to the noise floor; about six e-foldings of attenuation is what a cargo
    // display shows.
    let hi = at(0.999);
    Mapping::Log {
        lo: at(0.005).max(hi - 6.0),
        hi,
    }
}

/// A linear window over the 0.5th to 99.5th percentiles (for signed data, such as CT numbers).
fn linear_auto(channel: &Channel, range: std::ops::Range<usize>, signed: bool) -> Window {
    let step = (range.len() / 200_000).max(1);
    let mut values: Vec<f64> = range
        .step_by(step)
        .filter_map(|i| channel.samples.get(i))
        .map(|v| physical(channel, v, signed))
        .collect();
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let idx = ((values.len().max(1) - 1) as f64 * q).round() as usize;
        values.get(idx).copied().unwrap_or(0.0)
    };
    let (lo, hi) = (at(0.005), at(0.995));
    Window {
        center: (lo + hi) / 2.0,
        width: (hi - lo).max(1.0),
    }
}

/// Maps a value through a window to 0..=1 (DICOM linear VOI function, PS3.3 §C.11.2.1.2).
fn apply_window(v: f64, w: Window) -> f64 {
    let c = w.center - 0.5;
    let width = (w.width - 1.0).max(1.0);
    ((v - c) / width + 0.5).clamp(0.0, 1.0)
}

fn to_u8(x: f64) -> u8 {
    (x.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Renders one frame of a scan.
pub fn render(scan: &Scan, options: &RenderOptions) -> Result<RgbImage, RenderError> {
    let image = &scan.image;
    let frames = image.frames_per_channel;
    let frame = options.frame.unwrap_or(frames / 2);
    if frame >= frames {
        return Err(RenderError::NoSuchFrame { frame, frames });
    }
    let n = image.frame_len();
    let start = n * frame as usize;
    let range = start..start + n;
    let base = display_channel(image).ok_or(RenderError::NoChannels)?;
    let for_presentation =
        image.presentation_intent == Some(crate::model::PresentationIntent::ForPresentation);
    let mapping = match options.window {
        Some(w) => Mapping::Linear(w),
        None => match image.presentation.windows.first() {
            Some(w) if for_presentation => Mapping::Linear(*w),
            _ if image.signed => Mapping::Linear(linear_auto(base, range.clone(), image.signed)),
            _ => auto_mapping(base, range.clone()),
        },
    };
    let invert = image.photometric == Photometric::Monochrome1
        || image.presentation.lut_shape == Some(LutShape::Inverse);
    let mut data = Vec::with_capacity(n * 3);
    if options.material {
        let z = z_source(image)?;
        for i in range {
            let v = mapping.apply(base, base.samples.get(i).unwrap_or(0), image.signed);
            let class = z.class(i, image);
            data.extend_from_slice(&material_colour(class, v));
        }
    } else if let (Photometric::PaletteColor, Some(p)) =
        (&image.photometric, &image.presentation.palette)
    {
        for i in range {
            let v = base.samples.get(i).unwrap_or(0);
            for lut in [&p.red, &p.green, &p.blue] {
                data.push(palette_lookup(lut, v));
            }
        }
    } else {
        for i in range {
            let mut v = mapping.apply(base, base.samples.get(i).unwrap_or(0), image.signed);
            if invert {
                v = 1.0 - v;
            }
            let g = to_u8(v);
            data.extend_from_slice(&[g, g, g]);
        }
    }
    Ok(RgbImage {
        width: u32::from(image.columns),
        height: u32::from(image.rows),
        data,
    })
}

fn palette_lookup(lut: &crate::model::Lut, v: u16) -> u8 {
    let [entries, first, bits] = lut.descriptor;
    let entries = if entries == 0 {
        65_536usize
    } else {
        usize::from(entries)
    };
    let idx = usize::from(v.saturating_sub(first)).min(entries.saturating_sub(1));
    let packed = bits == 8 && lut.data.len() * 2 == entries;
    let value = if packed {
        let word = lut.data.get(idx / 2).copied().unwrap_or(0);
        if idx % 2 == 0 { word & 0xFF } else { word >> 8 }
    } else {
        lut.data.get(idx).copied().unwrap_or(0)
    };
    if bits <= 8 {
        (value & 0xFF) as u8
    } else {
        (value >> 8) as u8
    }
}

enum ZSource<'a> {
    Channel(&'a Channel),
    Ratio { high: &'a Channel, low: &'a Channel },
}

impl ZSource<'_> {
    fn class(&self, i: usize, image: &Image) -> MaterialClass {
        match self {
            ZSource::Channel(c) => {
                let z = physical(c, c.samples.get(i).unwrap_or(0), false);
                MaterialClass::from_z(z)
            }
            ZSource::Ratio { high, low } => {
                let full = f64::from((1u32 << image.bits_stored) - 1);
                let att = |c: &Channel| {
                    -((f64::from(c.samples.get(i).unwrap_or(0)) / full).max(1e-6)).ln()
                };
                let (ah, al) = (att(high), att(low));
                if ah < 0.05 {
                    MaterialClass::Unknown
                } else if ah > 8.0 {
                    MaterialClass::Impenetrable
                } else {
                    MaterialClass::from_z(z_from_ratio(al / ah))
                }
            }
        }
    }
}

fn z_source(image: &Image) -> Result<ZSource<'_>, RenderError> {
    if let Some(c) = image.channel(&ChannelKind::ZEffective) {
        return Ok(ZSource::Channel(c));
    }
    match (
        image.channel(&ChannelKind::HighEnergy),
        image.channel(&ChannelKind::LowEnergy),
    ) {
        (Some(high), Some(low)) => Ok(ZSource::Ratio { high, low }),
        _ => Err(RenderError::NoDualEnergy(
            image
                .channels
                .iter()
                .map(|c| c.kind.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

/// The display colour of a material class at transmission `v` (0 dark .. 1 air).
pub fn material_colour(class: MaterialClass, v: f64) -> [u8; 3] {
    let hue: [f64; 3] = match class {
        MaterialClass::Organic => [0.93, 0.55, 0.13],
        MaterialClass::Inorganic => [0.25, 0.70, 0.25],
        MaterialClass::Metal => [0.20, 0.40, 0.90],
        MaterialClass::Impenetrable => [0.0, 0.0, 0.0],
        MaterialClass::Unknown => {
            let g = to_u8(v);
            return [g, g, g];
        }
    };
    let shade = 0.15 + 0.85 * v;
    let white = v.powi(4);
    let mix = |h: f64| to_u8(h * shade * (1.0 - white) + white);
    [mix(hue[0]), mix(hue[1]), mix(hue[2])]
}

/// Encodes a picture as PNG.
pub fn write_png<W: Write>(picture: &RgbImage, out: W) -> Result<(), RenderError> {
    let mut encoder = png::Encoder::new(out, picture.width, picture.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&picture.data)?;
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_maps_linearly_and_clamps() {
        let w = Window {
            center: 100.0,
            width: 101.0,
        };
        assert_eq!(apply_window(0.0, w), 0.0);
        assert_eq!(apply_window(1000.0, w), 1.0);
        assert!((apply_window(99.5, w) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn material_colours_follow_the_convention() {
        let o = material_colour(MaterialClass::Organic, 0.5);
        let m = material_colour(MaterialClass::Metal, 0.5);
        assert!(o[0] > o[2], "organic is orange: {o:?}");
        assert!(m[2] > m[0], "metal is blue: {m:?}");
        assert_eq!(
            material_colour(MaterialClass::Organic, 1.0),
            [255, 255, 255]
        );
    }
}
