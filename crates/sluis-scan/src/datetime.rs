//! DICOM dates and times (DA, TM, DT; PS3.5 §6.2) as [`Timestamp`] values.
//!
//! Written by hand rather than through dicom-core's date conversions because those document
//! panics for some time-zone offsets, and a value from a hostile file must never reach a panic.
//! The grammar is small: fixed-width digit fields, an optional fraction, an optional offset.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Serialize, Serializer};

/// A point in time as a scanner recorded it: local date and time, and the UTC offset when the
/// scanner gave one (DICOM times are local unless an offset or Timezone Offset From UTC is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Local date and time, to the microsecond.
    pub local: NaiveDateTime,
    /// Offset from UTC in minutes, when known.
    pub utc_offset_minutes: Option<i16>,
}

impl Timestamp {
    /// A timestamp without a UTC offset.
    pub fn local(local: NaiveDateTime) -> Self {
        Timestamp {
            local,
            utc_offset_minutes: None,
        }
    }

    /// The DA value (`YYYYMMDD`).
    pub fn to_da(&self) -> String {
        let d = self.local.date();
        format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
    }

    /// The TM value (`HHMMSS.FFFFFF`).
    pub fn to_tm(&self) -> String {
        let t = self.local.time();
        format!(
            "{:02}{:02}{:02}.{:06}",
            t.hour(),
            t.minute(),
            t.second(),
            (t.nanosecond() / 1000).min(999_999)
        )
    }

    /// The DT value (`YYYYMMDDHHMMSS.FFFFFF[&ZZXX]`).
    pub fn to_dt(&self) -> String {
        let mut s = format!("{}{}", self.to_da(), self.to_tm());
        if let Some(off) = self.utc_offset_minutes {
            let sign = if off < 0 { '-' } else { '+' };
            let abs = off.unsigned_abs();
            s.push_str(&format!("{sign}{:02}{:02}", abs / 60, abs % 60));
        }
        s
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.local.date();
        let t = self.local.time();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        let micros = t.nanosecond() / 1000;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        match self.utc_offset_minutes {
            Some(0) => f.write_str("Z"),
            Some(off) => {
                let sign = if off < 0 { '-' } else { '+' };
                let abs = off.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", abs / 60, abs % 60)
            }
            None => Ok(()),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a DA value: `YYYYMMDD` (the legacy `YYYY.MM.DD` form is accepted too).
pub fn parse_da(value: &str) -> Option<NaiveDate> {
    let v = value.trim_matches([' ', '\0']);
    let v: String = if v.len() == 10 && v.as_bytes().get(4) == Some(&b'.') {
        v.chars().filter(|&c| c != '.').collect()
    } else {
        v.to_string()
    };
    if v.len() != 8 {
        return None;
    }
    let year = i32::try_from(digits(v.get(0..4)?)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(v.get(4..6)?)?, digits(v.get(6..8)?)?)
}

/// Parses a TM value: `HH[MM[SS[.F{1,6}]]]` (the legacy `HH:MM:SS` form is accepted too).
pub fn parse_tm(value: &str) -> Option<NaiveTime> {
    let v: String = value
        .trim_matches([' ', '\0'])
        .chars()
        .filter(|&c| c != ':')
        .collect();
    let (main, frac) = match v.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (v.as_str(), None),
    };
    if main.len() % 2 != 0 || main.is_empty() || main.len() > 6 {
        return None;
    }
    let hour = digits(main.get(0..2)?)?;
    let minute = if main.len() >= 4 {
        digits(main.get(2..4)?)?
    } else {
        0
    };
    // Leap seconds (60) are clamped: chrono represents them differently and a scan time does not
    // need them.
    let second = if main.len() >= 6 {
        digits(main.get(4..6)?)?.min(59)
    } else {
        0
    };
    let micros = match frac {
        Some(f) if !f.is_empty() && f.len() <= 6 => {
            let n = digits(f)?;
            let scale = 10u32.checked_pow(u32::try_from(6usize.checked_sub(f.len())?).ok()?)?;
            n.checked_mul(scale)?
        }
        Some(_) if main.len() != 6 => return None,
        Some(_) => return None,
        None => 0,
    };
    NaiveTime::from_hms_micro_opt(hour, minute, second, micros)
}

/// Parses a DT value: `YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX]`.
pub fn parse_dt(value: &str) -> Option<Timestamp> {
    let v = value.trim_matches([' ', '\0']);
    let (main, offset) = match v.find(['+', '-']) {
        Some(i) => (v.get(..i)?, Some(v.get(i..)?)),
        None => (v, None),
    };
    let utc_offset_minutes = match offset {
        Some(o) if o.len() == 5 => {
            let sign: i16 = if o.starts_with('-') { -1 } else { 1 };
            let h = i16::try_from(digits(o.get(1..3)?)?).ok()?;
            let m = i16::try_from(digits(o.get(3..5)?)?).ok()?;
            if h > 14 || m > 59 {
                return None;
            }
            Some(sign.checked_mul(h.checked_mul(60)?.checked_add(m)?)?)
        }
        Some(_) => return None,
        None => None,
    };
    let (date_part, frac) = match main.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (main, None),
    };
    if date_part.len() < 4 || date_part.len() > 14 || date_part.len() % 2 != 0 {
        return None;
    }
    let year = i32::try_from(digits(date_part.get(0..4)?)?).ok()?;
    let month = date_part.get(4..6).map_or(Some(1), digits)?;
    let day = date_part.get(6..8).map_or(Some(1), digits)?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = match date_part.get(8..) {
        Some(t) if !t.is_empty() => {
            let tm = match frac {
                Some(f) => format!("{t}.{f}"),
                None => t.to_string(),
            };
            parse_tm(&tm)?
        }
        _ if frac.is_some() => return None,
        _ => NaiveTime::MIN,
    };
    Some(Timestamp {
        local: NaiveDateTime::new(date, time),
        utc_offset_minutes,
    })
}

/// Combines a DA and an optional TM into a timestamp.
pub fn from_da_tm(da: &str, tm: Option<&str>) -> Option<Timestamp> {
    let date = parse_da(da)?;
    let time = match tm {
        Some(t) if !t.trim_matches([' ', '\0']).is_empty() => parse_tm(t)?,
        _ => NaiveTime::MIN,
    };
    Some(Timestamp::local(NaiveDateTime::new(date, time)))
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
    fn parses_sample_values() {
        let t = from_da_tm("20240103", Some("231702.743494")).unwrap();
        assert_eq!(t.to_string(), "2024-01-03T23:17:02.743494");
        assert_eq!(t.to_da(), "20240103");
        assert_eq!(t.to_tm(), "231702.743494");
        let dt = parse_dt("19440606063000.000000+0000").unwrap();
        assert_eq!(dt.utc_offset_minutes, Some(0));
        assert_eq!(dt.to_string(), "1944-06-06T06:30:00Z");
        assert_eq!(dt.to_dt(), "19440606063000.000000+0000");
    }

    #[test]
    fn partial_and_legacy_forms() {
        assert_eq!(
            parse_tm("23").unwrap(),
            NaiveTime::from_hms_opt(23, 0, 0).unwrap()
        );
        assert_eq!(
            parse_tm("10:20:30").unwrap(),
            NaiveTime::from_hms_opt(10, 20, 30).unwrap()
        );
        assert_eq!(
            parse_da("2024.01.03").unwrap(),
            NaiveDate::from_ymd_opt(2024, 1, 3).unwrap()
        );
        assert!(parse_dt("2024").is_some());
    }

    #[test]
    fn hostile_values_are_rejected_not_panicking() {
        for v in [
            "",
            "2024130",
            "20241301",
            "99999999",
            "2024-01-03",
            "x",
            "240000",
            "12.",
            ".5",
            "120000.1234567",
            "20240103+9999",
            "20240103-14",
            "１２３４５６７８",
        ] {
            assert!(parse_da(v).is_none() || v.len() == 8, "{v}");
            let _ = parse_tm(v);
            let _ = parse_dt(v);
        }
        assert!(parse_dt("99991231235959+1400").is_some());
        assert!(parse_dt("20240103+1500").is_none());
    }
}
