//! Time as the program reads and writes it. Timestamps are stored in UTC; rules count calendar days in the
//! bank's local time zone; input is RFC 3339 or a bare `YYYY-MM-DD` (local midnight).

use chrono::{DateTime, Local, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};

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
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| DateError(s.trim().into()))
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
    t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
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
}
