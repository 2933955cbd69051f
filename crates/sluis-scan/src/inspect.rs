//! `sluis scan inspect`: what a file is, what is in it, and what the sanitiser would do with it.
//!
//! Inspection never shows unsanitised values: attributes are reported from the sanitised model,
//! and for a refused file only the structure (tags, lengths, the refusal) is shown.

use std::fmt::Write as _;

use serde::Serialize;

use crate::limits::Limits;
use crate::model::{DicosObject, Samples};
use crate::preflight;
use crate::refusal::Refusal;
use crate::report::SanitiseReport;
use crate::sanitise::sanitise;
use crate::syntax::{self, TransferSyntax};

/// Statistics of one channel.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStats {
    /// The channel kind.
    pub kind: String,
    /// Smallest stored value.
    pub min: u16,
    /// Largest stored value.
    pub max: u16,
    /// Mean stored value.
    pub mean: f64,
}

/// The verdict on a file.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The file sanitises.
    Accepted {
        /// The sanitised content (pixels omitted).
        object: Box<DicosObject>,
        /// Per-channel statistics.
        channels: Vec<ChannelStats>,
        /// The sanitiser's report.
        report: Box<SanitiseReport>,
    },
    /// The file is refused.
    Refused {
        /// Why.
        refusal: Refusal,
    },
}

/// Everything `inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// File size.
    pub bytes: u64,
    /// The SOP class named in the file meta group, when it can be read.
    pub sop_class: Option<String>,
    /// The transfer syntax named in the file meta group, when it can be read.
    pub transfer_syntax: Option<String>,
    /// Elements walked by the structure check (when it passed).
    pub elements: Option<usize>,
    /// Deepest sequence nesting seen.
    pub max_depth: Option<usize>,
    /// Private elements seen.
    pub private_elements: Option<usize>,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

fn stats(kind: &str, samples: &Samples) -> ChannelStats {
    let (mut min, mut max, mut sum) = (u16::MAX, 0u16, 0f64);
    let n = samples.len();
    for i in 0..n {
        let v = samples.get(i).unwrap_or(0);
        min = min.min(v);
        max = max.max(v);
        sum += f64::from(v);
    }
    ChannelStats {
        kind: kind.to_string(),
        min: if n == 0 { 0 } else { min },
        max,
        mean: if n == 0 { 0.0 } else { sum / n as f64 },
    }
}

/// Inspects a file.
pub fn inspect(input: &[u8], limits: &Limits) -> Inspection {
    let structure = preflight::check(input, limits).ok();
    let (sop_class, transfer_syntax) = match &structure {
        Some(s) => (
            Some(syntax::describe_sop_class(
                &s.meta.media_storage_sop_class_uid,
            )),
            Some(s.syntax.to_string()),
        ),
        None => (None, None),
    };
    let elements = structure.as_ref().map(|s| s.elements.len());
    let max_depth = structure
        .as_ref()
        .map(|s| s.elements.iter().map(|e| e.path.len()).max().unwrap_or(0));
    let private_elements = structure
        .as_ref()
        .map(|s| s.elements.iter().filter(|e| e.tag.group() % 2 == 1).count());
    drop(structure);
    let verdict = match sanitise(input, limits) {
        Ok(s) => {
            let channels = match s.scan.object() {
                DicosObject::Image(scan) => scan
                    .image
                    .channels
                    .iter()
                    .map(|c| stats(c.kind.as_str(), &c.samples))
                    .collect(),
                DicosObject::ThreatReport(_) => Vec::new(),
            };
            Verdict::Accepted {
                object: Box::new(s.scan.into_object()),
                channels,
                report: Box::new(s.report),
            }
        }
        Err(refusal) => Verdict::Refused { refusal },
    };
    Inspection {
        bytes: u64::try_from(input.len()).unwrap_or(u64::MAX),
        sop_class,
        transfer_syntax,
        elements,
        max_depth,
        private_elements,
        verdict,
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), ToString::to_string)
}

impl Inspection {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "size:             {} bytes", self.bytes);
        let _ = writeln!(s, "SOP class:        {}", opt(&self.sop_class));
        let _ = writeln!(s, "transfer syntax:  {}", opt(&self.transfer_syntax));
        if let (Some(e), Some(d), Some(p)) = (self.elements, self.max_depth, self.private_elements)
        {
            let _ = writeln!(
                s,
                "structure:        {e} elements, nesting depth {d}, {p} private"
            );
        }
        match &self.verdict {
            Verdict::Refused { refusal } => {
                let _ = writeln!(s, "verdict:          REFUSED ({})", refusal.rule);
                let _ = writeln!(s, "  where:          {}", refusal.location);
                let _ = writeln!(s, "  why:            {}", refusal.detail);
                let _ = writeln!(s, "  fault:          {}", refusal.fault);
            }
            Verdict::Accepted {
                object,
                channels,
                report,
            } => {
                let _ = writeln!(s, "verdict:          accepted");
                let i = object.instance();
                let _ = writeln!(s, "instance:         {}", i.sop_instance_uid);
                let _ = writeln!(s, "scan id:          {}", opt(&i.scan_id));
                match object.as_ref() {
                    DicosObject::Image(scan) => {
                        let img = &scan.image;
                        let _ = writeln!(s, "stored as:        {}", scan.sop_class);
                        let _ = writeln!(
                            s,
                            "scanner:          {} {} (serial {}, station {})",
                            opt(&scan.scanner.manufacturer),
                            opt(&scan.scanner.model),
                            opt(&scan.scanner.serial_number),
                            opt(&scan.scanner.station_name)
                        );
                        let _ = writeln!(s, "scanned:          {}", opt(&scan.times.scanned()));
                        let conv = &scan.conveyance;
                        let _ = writeln!(
                            s,
                            "object:           {} {}",
                            opt(&conv.kind),
                            conv.id.as_ref().map_or("-", |i| i.value.as_str())
                        );
                        for c in &conv.containers {
                            let check = match c {
                                crate::model::ContainerId::Iso6346(_) => "check digit ok",
                                crate::model::ContainerId::Unverified(_) => "UNVERIFIED",
                            };
                            let _ = writeln!(s, "container:        {} ({check})", c.as_str());
                        }
                        let _ = writeln!(
                            s,
                            "image:            {} x {} x {} frames, {} of {} bits, {}",
                            img.columns,
                            img.rows,
                            img.frames_per_channel,
                            img.bits_stored,
                            img.bits_allocated(),
                            img.photometric
                        );
                        if let Some(sp) = img.geometry.pixel_spacing {
                            let _ = writeln!(
                                s,
                                "pixel spacing:    {} x {} mm",
                                sp.column_mm, sp.row_mm
                            );
                        }
                        for c in channels {
                            let _ = writeln!(
                                s,
                                "channel:          {:<12} min {:>5}  max {:>5}  mean {:>9.1}",
                                c.kind, c.min, c.max, c.mean
                            );
                        }
                    }
                    DicosObject::ThreatReport(r) => {
                        let _ = writeln!(
                            s,
                            "report:           {} by {}, decision {}",
                            r.tdr_type,
                            r.algorithm.join(" "),
                            opt(&r.alarm)
                        );
                        for th in &r.threats {
                            let a = th.assessments.first();
                            let _ = writeln!(
                                s,
                                "threat {:>4}:      {} {} p={}",
                                th.id,
                                a.and_then(|a| a.category.as_ref())
                                    .map_or("-".into(), ToString::to_string),
                                a.and_then(|a| a.flag.as_ref())
                                    .map_or("-".into(), ToString::to_string),
                                a.and_then(|a| a.probability)
                                    .map_or("-".into(), |p| format!("{p:.2}"))
                            );
                        }
                    }
                }
                let _ = writeln!(s, "dropped:          {} elements", report.dropped.len());
                for d in &report.dropped {
                    let _ = writeln!(
                        s,
                        "  {:<40} {:<4} {:>9} bytes  {:?}{}",
                        format!("{} {}", d.element, d.name.unwrap_or("")),
                        d.vr,
                        d.length,
                        d.reason,
                        d.detail
                            .as_ref()
                            .map_or(String::new(), |x| format!(": {x}"))
                    );
                }
                for n in &report.normalised {
                    let _ = writeln!(s, "normalised:       {}", normalisation_text(n));
                }
            }
        }
        s
    }
}

fn normalisation_text(n: &crate::report::Normalisation) -> String {
    use crate::report::Normalisation as N;
    match n {
        N::PreambleCleared => "preamble held data; written as zeros".into(),
        N::PixelPaddingBits { samples } => {
            format!("bits above Bits Stored set in {samples} samples; cleared")
        }
        N::TransferSyntax { from } => format!(
            "transfer syntax {from} -> {}",
            TransferSyntax::ExplicitVrLittleEndian
        ),
        N::SopClass { from, to } => format!("SOP class {} -> {}", from.name(), to.name()),
        N::CharacterSet { from } => format!("character set {from} -> ISO_IR 192 (UTF-8)"),
    }
}
