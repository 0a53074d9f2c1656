//! Column helpers: stored text back into domain types, a malformed value becoming an error (never a panic).

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::Row;

use crate::core::ids::Id;
use crate::time;

fn bad(what: &str, s: &str) -> FromSqlError {
    FromSqlError::Other(format!("malformed {what} `{s}`").into())
}

/// A stored UTC timestamp.
pub struct Ts(pub DateTime<Utc>);
impl FromSql for Ts {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        time::from_db(s).map(Ts).ok_or_else(|| bad("timestamp", s))
    }
}

pub struct Day(pub NaiveDate);
impl FromSql for Day {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        time::parse_date(s).map(Day).map_err(|_| bad("date", s))
    }
}

pub struct StoredId(pub Id);
impl FromSql for StoredId {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        Id::from_data(s).map(StoredId).ok_or_else(|| bad("identifier", s))
    }
}

/// A closed enumeration stored as its text form.
pub struct Text<T>(pub T);
impl<T: std::str::FromStr> FromSql for Text<T> {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        s.parse().map(Text).map_err(|_| bad("code", s))
    }
}

pub fn ts(r: &Row, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    r.get::<_, Ts>(i).map(|t| t.0)
}
pub fn opt_ts(r: &Row, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    r.get::<_, Option<Ts>>(i).map(|t| t.map(|t| t.0))
}
pub fn day(r: &Row, i: usize) -> rusqlite::Result<NaiveDate> {
    r.get::<_, Day>(i).map(|d| d.0)
}
pub fn id(r: &Row, i: usize) -> rusqlite::Result<Id> {
    r.get::<_, StoredId>(i).map(|d| d.0)
}
pub fn text<T: std::str::FromStr>(r: &Row, i: usize) -> rusqlite::Result<T> {
    r.get::<_, Text<T>>(i).map(|d| d.0)
}
