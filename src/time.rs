//! Time as the program reads and writes it. Timestamps are stored in UTC; rules count calendar days in the
//! bank's local time zone; input is RFC 3339 or a bare `YYYY-MM-DD` (local midnight).

use chrono::{DateTime, Datelike, Local, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Timelike, Utc};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a time: use RFC 3339 (2026-03-01T09:30:00+01:00) or a date (2026-03-01, local midnight)")]
pub struct TimeError(pub String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a date: use YYYY-MM-DD")]
pub struct DateError(pub String);

/// Parses `--at`-style input: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` (local), or `YYYY-MM-DD` (local midnight).
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, TimeError> {
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    let local = |naive: chrono::NaiveDateTime| {
        Local.from_local_datetime(&naive).earliest().map(|dt| dt.with_timezone(&Utc)).ok_or_else(|| TimeError(t.into()))
    };
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return local(naive);
        }
    }
    let date = parse_date(t).map_err(|_| TimeError(t.into()))?;
    local(date.and_time(NaiveTime::MIN))
}

pub fn parse_date(s: &str) -> Result<NaiveDate, DateError> {
    let t = s.trim();
    canonical_date(t).or_else(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()).ok_or_else(|| DateError(t.into()))
}

/// `YYYY-MM-DD` read digit by digit: every stored date has this form, and a trace reads thousands, which chrono's
/// format parser takes ten times longer over. It accepts nothing `%Y-%m-%d` refuses and reads the same date;
/// any other form is left to that parser.
fn canonical_date(t: &str) -> Option<NaiveDate> {
    let b = t.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number =
        |digits: &[u8]| digits.iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')));
    NaiveDate::from_ymd_opt(i32::try_from(number(&b[0..4])?).ok()?, number(&b[5..7])?, number(&b[8..10])?)
}

/// The stored form: UTC, second precision, `Z`.
pub fn to_db(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn from_db(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// The bank's calendar day of a moment.
pub fn local_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Local).date_naive()
}

/// A moment in the bank's local time, for people: `2026-03-01 09:30`.
pub fn show(t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&Local);
    if !(0..=9999).contains(&l.year()) {
        return l.format("%Y-%m-%d %H:%M").to_string();
    }
    // What `%Y-%m-%d %H:%M` writes for such a year, digit by digit: a trace shows thousands of moments, and
    // formatting with padding costs ten times as much.
    fn digits(s: &mut String, value: u32, width: u32) {
        for place in (0..width).rev() {
            s.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
    }
    let mut s = String::with_capacity(16);
    digits(&mut s, l.year().unsigned_abs(), 4);
    s.push('-');
    digits(&mut s, l.month(), 2);
    s.push('-');
    digits(&mut s, l.day(), 2);
    s.push(' ');
    digits(&mut s, l.hour(), 2);
    s.push(':');
    digits(&mut s, l.minute(), 2);
    s
}

/// Now, truncated to the second as stored.
pub fn now() -> DateTime<Utc> {
    from_db(&to_db(Utc::now())).unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms() {
        let t = parse_timestamp("2026-03-01T09:30:00Z").unwrap();
        assert_eq!(to_db(t), "2026-03-01T09:30:00Z");
        assert_eq!(from_db(&to_db(t)), Some(t));
        assert!(parse_timestamp("2026-03-01").is_ok());
        assert!(parse_timestamp("2026-03-01 09:30").is_ok());
        assert!(parse_timestamp("yesterday").unwrap_err().to_string().contains("RFC 3339"));
        assert!(parse_date("2026-02-30").is_err());
    }

    /// The digit-by-digit reading of `YYYY-MM-DD` agrees with chrono's `%Y-%m-%d` on every form it meets, and
    /// the quick way of showing a moment with chrono's `%Y-%m-%d %H:%M`.
    #[test]
    fn quick_paths_agree_with_chrono() {
        let chrono_date = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
        for s in [
            "2026-03-01",
            "0000-01-01",
            "9999-12-31",
            "2024-02-29",
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-32",
            "2026-1-01",
            "2026-01-1",
            "+2026-01-01",
            "20260101",
            "2026/01/01",
            "2026-01-01 ",
            " 2026-01-01",
            "2026-01-0a",
            "-001-01-01",
            "２０２６-01-01",
            "",
        ] {
            assert_eq!(parse_date(s).ok(), chrono_date(s), "{s:?}");
        }
        let mut day = NaiveDate::from_ymd_opt(1999, 12, 25).unwrap();
        while day.year() < 2001 {
            for (h, m) in [(0, 0), (9, 5), (23, 59)] {
                let t = Utc.from_utc_datetime(&day.and_hms_opt(h, m, 7).unwrap());
                assert_eq!(show(t), t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string());
            }
            day = day.succ_opt().unwrap();
        }
        for (y, mo, d, h) in [(0, 1, 1, 12), (1, 1, 1, 0), (999, 12, 31, 23), (9999, 12, 31, 11), (10000, 1, 1, 0)] {
            let t = Utc.with_ymd_and_hms(y, mo, d, h, 30, 0).unwrap();
            assert_eq!(show(t), t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string());
        }
    }
}
