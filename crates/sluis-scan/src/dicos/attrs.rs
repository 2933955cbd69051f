//! Typed, tracked access to the attributes dicom-rs decoded.
//!
//! Every read goes through [`Attrs`], which records the element's path as *consumed*. What the
//! structure check saw but nothing consumed is, by definition, not on the allow-list, and goes
//! into the sanitiser's drop report. Optional values that are present but unusable are dropped
//! with reason [`DropReason::InvalidValue`]; required ones refuse the input.

use std::cell::RefCell;
use std::collections::HashSet;

use dicom_core::Tag;
use dicom_core::header::HasLength as _;
use dicom_core::value::Value;
use dicom_object::InMemDicomObject;

use crate::datetime::{self, Timestamp};
use crate::model::Uid;
use crate::preflight::{PathStep, path_string};
use crate::refusal::{Location, Refusal, Rule};
use crate::report::{DropReason, Dropped};

/// What extraction consumed and what it dropped as invalid.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    consumed: RefCell<HashSet<(Vec<PathStep>, Tag)>>,
    invalid: RefCell<Vec<Dropped>>,
}

impl Tracker {
    pub(crate) fn is_consumed(&self, path: &[PathStep], tag: Tag) -> bool {
        self.consumed.borrow().contains(&(path.to_vec(), tag))
    }

    pub(crate) fn take_invalid(&self) -> Vec<Dropped> {
        std::mem::take(&mut self.invalid.borrow_mut())
    }
}

/// The attributes of one data set (the top level or an item), with its path.
#[derive(Clone)]
pub(crate) struct Attrs<'a> {
    obj: &'a InMemDicomObject,
    path: Vec<PathStep>,
    tracker: &'a Tracker,
}

/// Strips the padding DICOM adds to even lengths and trailing spaces.
fn trim(s: &str) -> &str {
    s.trim_end_matches(['\0', ' ']).trim_start_matches(' ')
}

/// Checks free text: no control characters except, in multi-line text, CR, LF, tab and form feed;
/// at most `max_chars` characters (the VR's limit).
fn clean_text(s: &str, max_chars: usize, multiline: bool) -> Result<String, String> {
    let t = if multiline {
        s.trim_end_matches(['\0', ' ', '\r', '\n'])
    } else {
        trim(s)
    };
    if let Some(c) = t
        .chars()
        .find(|&c| c.is_control() && !(multiline && matches!(c, '\r' | '\n' | '\t' | '\x0C')))
    {
        return Err(format!("holds control character U+{:04X}", u32::from(c)));
    }
    if !multiline && t.contains('\\') {
        return Err("holds several values where one is expected".to_string());
    }
    let n = t.chars().count();
    if n > max_chars {
        return Err(format!(
            "{n} characters, more than the {max_chars} its VR allows"
        ));
    }
    Ok(t.to_string())
}

impl<'a> Attrs<'a> {
    pub(crate) fn new(obj: &'a InMemDicomObject, tracker: &'a Tracker) -> Self {
        Attrs {
            obj,
            path: Vec::new(),
            tracker,
        }
    }

    pub(crate) fn path_of(&self, tag: Tag) -> String {
        path_string(&self.path, tag)
    }

    fn get(&self, tag: Tag) -> Option<&'a dicom_object::mem::InMemElement> {
        let element = self.obj.get(tag)?;
        self.tracker
            .consumed
            .borrow_mut()
            .insert((self.path.clone(), tag));
        Some(element)
    }

    /// Records a present-but-unusable optional value as dropped.
    pub(crate) fn invalid(&self, tag: Tag, detail: String) {
        let (vr, length) = self
            .obj
            .get(tag)
            .map(|e| (e.vr().to_string().to_string(), u64::from(e.length().0)))
            .unwrap_or_default();
        self.tracker.invalid.borrow_mut().push(Dropped {
            element: self.path_of(tag),
            name: crate::report::tag_name(tag),
            vr,
            length,
            reason: DropReason::InvalidValue,
            detail: Some(detail),
        });
    }

    fn refuse(&self, rule: Rule, tag: Tag, detail: String) -> Refusal {
        Refusal::sender(rule, Location::element(self.path_of(tag)), detail)
    }

    /// Whether the element is present (does not consume it).
    pub(crate) fn has(&self, tag: Tag) -> bool {
        self.obj.get(tag).is_some()
    }

    fn raw_str(&self, tag: Tag) -> Option<Result<String, String>> {
        let e = self.get(tag)?;
        Some(match e.value() {
            Value::Primitive(p) => Ok(p.to_str().into_owned()),
            _ => Err("is a sequence where a value was expected".to_string()),
        })
    }

    /// A single-line text value (LO, SH, CS, …), trimmed; empty values read as `None`.
    pub(crate) fn text(&self, tag: Tag, max_chars: usize) -> Option<String> {
        let raw = match self.raw_str(tag)? {
            Ok(r) => r,
            Err(d) => {
                self.invalid(tag, d);
                return None;
            }
        };
        match clean_text(&raw, max_chars, false) {
            Ok(t) if t.is_empty() => None,
            Ok(t) => Some(t),
            Err(d) => {
                self.invalid(tag, d);
                None
            }
        }
    }

    /// Multi-line text (ST, LT).
    pub(crate) fn long_text(&self, tag: Tag, max_chars: usize) -> Option<String> {
        let raw = match self.raw_str(tag)? {
            Ok(r) => r,
            Err(d) => {
                self.invalid(tag, d);
                return None;
            }
        };
        match clean_text(&raw, max_chars, true) {
            Ok(t) if t.is_empty() => None,
            Ok(t) => Some(t),
            Err(d) => {
                self.invalid(tag, d);
                None
            }
        }
    }

    /// A multi-valued text; each value is checked.
    pub(crate) fn texts(&self, tag: Tag, max_chars: usize) -> Vec<String> {
        let Some(e) = self.get(tag) else {
            return Vec::new();
        };
        let values = match e.value() {
            Value::Primitive(p) => p.to_multi_str().into_owned(),
            _ => {
                self.invalid(tag, "is a sequence where a value was expected".into());
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for v in values {
            match clean_text(&v, max_chars, false) {
                Ok(t) if !t.is_empty() => out.push(t),
                Ok(_) => {}
                Err(d) => {
                    self.invalid(tag, d);
                    return Vec::new();
                }
            }
        }
        out
    }

    /// A coded value parsed into its enum; an undefined term is dropped as invalid.
    pub(crate) fn code<T>(&self, tag: Tag, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let text = self.text(tag, 64)?;
        let parsed = parse(&text);
        if parsed.is_none() {
            self.invalid(tag, format!("{text:?} is not a defined term"));
        }
        parsed
    }

    /// Each value of a multi-valued code string, raw (for Image Type).
    pub(crate) fn codes(&self, tag: Tag) -> Vec<String> {
        self.texts(tag, 16)
    }

    /// An optional UID.
    pub(crate) fn uid(&self, tag: Tag) -> Option<Uid> {
        let raw = match self.raw_str(tag)? {
            Ok(r) => r,
            Err(d) => {
                self.invalid(tag, d);
                return None;
            }
        };
        if trim(&raw).is_empty() {
            return None;
        }
        let uid = Uid::new(&raw);
        if uid.is_none() {
            self.invalid(tag, "is not a valid UID".into());
        }
        uid
    }

    /// A required UID.
    pub(crate) fn req_uid(&self, tag: Tag, name: &str) -> Result<Uid, Refusal> {
        match self.raw_str(tag) {
            None => Err(self.refuse(Rule::MissingAttribute, tag, format!("{name} is required"))),
            Some(Err(d)) => Err(self.refuse(Rule::InvalidAttribute, tag, format!("{name} {d}"))),
            Some(Ok(raw)) => Uid::new(&raw).ok_or_else(|| {
                self.refuse(
                    Rule::InvalidAttribute,
                    tag,
                    format!("{name} is not a valid UID"),
                )
            }),
        }
    }

    fn numbers(&self, tag: Tag) -> Option<Result<Vec<f64>, String>> {
        let e = self.get(tag)?;
        Some(match e.value() {
            Value::Primitive(p) => p
                .to_multi_float64()
                .map_err(|err| format!("is not numeric: {err}"))
                .and_then(|v| {
                    if v.iter().all(|x| x.is_finite()) {
                        Ok(v)
                    } else {
                        Err("holds a non-finite number".to_string())
                    }
                }),
            _ => Err("is a sequence where a number was expected".to_string()),
        })
    }

    /// Optional floating-point values (DS, FL, FD); exactly `n` of them when `n` is given.
    pub(crate) fn f64s(&self, tag: Tag, n: Option<usize>) -> Option<Vec<f64>> {
        match self.numbers(tag)? {
            Ok(v) if v.is_empty() => None,
            Ok(v) if n.is_some_and(|n| v.len() != n) => {
                self.invalid(
                    tag,
                    format!("has {} values, {} expected", v.len(), n.unwrap_or(0)),
                );
                None
            }
            Ok(v) => Some(v),
            Err(d) => {
                self.invalid(tag, d);
                None
            }
        }
    }

    /// One optional floating-point value.
    pub(crate) fn f64(&self, tag: Tag) -> Option<f64> {
        self.f64s(tag, Some(1)).and_then(|v| v.first().copied())
    }

    /// One optional 32-bit float (FL), checked to fit.
    pub(crate) fn f32(&self, tag: Tag) -> Option<f32> {
        self.f32s(tag, Some(1)).and_then(|v| v.first().copied())
    }

    /// Optional 32-bit floats.
    pub(crate) fn f32s(&self, tag: Tag, n: Option<usize>) -> Option<Vec<f32>> {
        let v = self.f64s(tag, n)?;
        #[allow(clippy::cast_possible_truncation)]
        let out: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        if out.iter().all(|x| x.is_finite()) {
            Some(out)
        } else {
            self.invalid(tag, "out of range for a 32-bit float".into());
            None
        }
    }

    /// Optional integers (IS, US, SS, UL, SL) of type `T`.
    pub(crate) fn ints<T>(&self, tag: Tag) -> Option<Vec<T>>
    where
        T: num_from::FromI64,
    {
        let e = self.get(tag)?;
        let values = match e.value() {
            Value::Primitive(p) => p
                .to_multi_int::<i64>()
                .map_err(|err| format!("is not an integer: {err}")),
            _ => Err("is a sequence where an integer was expected".to_string()),
        };
        match values {
            Ok(v) if v.is_empty() => None,
            Ok(v) => {
                let converted: Option<Vec<T>> = v.iter().map(|&x| T::from_i64(x)).collect();
                if converted.is_none() {
                    self.invalid(tag, "integer out of range".into());
                }
                converted
            }
            Err(d) => {
                self.invalid(tag, d);
                None
            }
        }
    }

    /// One optional integer.
    pub(crate) fn int<T: num_from::FromI64 + Copy>(&self, tag: Tag) -> Option<T> {
        let v = self.ints::<T>(tag)?;
        if v.len() != 1 {
            self.invalid(tag, format!("has {} values, 1 expected", v.len()));
            return None;
        }
        v.first().copied()
    }

    /// One required integer.
    pub(crate) fn req_int<T: num_from::FromI64 + Copy>(
        &self,
        tag: Tag,
        name: &str,
    ) -> Result<T, Refusal> {
        if !self.has(tag) {
            return Err(self.refuse(Rule::MissingAttribute, tag, format!("{name} is required")));
        }
        let before = self.tracker.invalid.borrow().len();
        match self.int::<T>(tag) {
            Some(v) => Ok(v),
            None => {
                let detail = self
                    .tracker
                    .invalid
                    .borrow_mut()
                    .drain(before..)
                    .filter_map(|d| d.detail)
                    .next()
                    .unwrap_or_else(|| "is empty".into());
                Err(self.refuse(Rule::InvalidAttribute, tag, format!("{name} {detail}")))
            }
        }
    }

    /// Raw bytes of an OB/OW/UN value.
    pub(crate) fn bytes(&self, tag: Tag, max: usize) -> Option<Vec<u8>> {
        let e = self.get(tag)?;
        let b = match e.value() {
            Value::Primitive(p) => p.to_bytes().into_owned(),
            _ => {
                self.invalid(tag, "is a sequence where bytes were expected".into());
                return None;
            }
        };
        if b.len() > max {
            self.invalid(tag, format!("{} bytes, more than {max}", b.len()));
            return None;
        }
        (!b.is_empty()).then_some(b)
    }

    /// 16-bit words of an OW or US value (LUT data).
    pub(crate) fn words(&self, tag: Tag, max: usize) -> Option<Vec<u16>> {
        let v = self.ints::<u16>(tag)?;
        if v.len() > max {
            self.invalid(tag, format!("{} entries, more than {max}", v.len()));
            return None;
        }
        Some(v)
    }

    /// A DT value.
    pub(crate) fn dt(&self, tag: Tag) -> Option<Timestamp> {
        let raw = self.text(tag, 26)?;
        let t = datetime::parse_dt(&raw);
        if t.is_none() {
            self.invalid(tag, format!("{raw:?} is not a DICOM date-time"));
        }
        t
    }

    /// A DA value with an optional TM value.
    pub(crate) fn date_time(&self, da: Tag, tm: Tag) -> Option<Timestamp> {
        let date = self.text(da, 10);
        let time = self.text(tm, 28);
        let date = date?;
        if let Some(t) = &time
            && datetime::parse_tm(t).is_none()
        {
            self.invalid(tm, format!("{t:?} is not a DICOM time"));
            return datetime::from_da_tm(&date, None);
        }

        let ts = datetime::from_da_tm(&date, time.as_deref());
        if ts.is_none() {
            self.invalid(da, format!("{date:?} is not a DICOM date"));
        }
        ts
    }

    /// The items of a sequence, each with its path.
    pub(crate) fn items(&self, tag: Tag) -> Vec<Attrs<'a>> {
        let Some(e) = self.get(tag) else {
            return Vec::new();
        };
        match e.value() {
            Value::Sequence(seq) => seq
                .items()
                .iter()
                .enumerate()
                .map(|(i, obj)| {
                    let mut path = self.path.clone();
                    path.push(PathStep {
                        tag,
                        item: u32::try_from(i).unwrap_or(u32::MAX),
                    });
                    Attrs {
                        obj,
                        path,
                        tracker: self.tracker,
                    }
                })
                .collect(),
            _ => {
                self.invalid(tag, "is not a sequence".into());
                Vec::new()
            }
        }
    }

    /// The first item of a sequence.
    pub(crate) fn item(&self, tag: Tag) -> Option<Attrs<'a>> {
        self.items(tag).into_iter().next()
    }
}

/// Checked conversion from the `i64` dicom-rs yields to narrower integers.
pub(crate) mod num_from {
    /// Conversion that fails instead of wrapping.
    pub(crate) trait FromI64: Sized {
        fn from_i64(v: i64) -> Option<Self>;
    }
    macro_rules! impl_from {
        ($($t:ty),*) => {$(
            impl FromI64 for $t {
                fn from_i64(v: i64) -> Option<Self> { <$t>::try_from(v).ok() }
            }
        )*};
    }
    impl_from!(u8, u16, u32, i16, i32, i64, u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cleaning() {
        assert_eq!(clean_text("ABC \0", 64, false).unwrap(), "ABC");
        assert!(clean_text("A\x1bB", 64, false).is_err());
        assert!(clean_text("line1\r\nline2", 64, true).is_ok());
        assert!(clean_text("line1\r\nline2", 64, false).is_err());
        assert!(clean_text(&"x".repeat(65), 64, false).is_err());
        assert!(clean_text("A\\B", 64, false).is_err());
    }
}
