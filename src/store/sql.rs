//! Column helpers: stored text back into domain types. A malformed value is never a panic: the strict helpers
//! make it an error, [`Stored`] keeps it as text to be shown marked.

use super::Row;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};

use crate::core::ids::Id;
use crate::core::model::{Cohort, Consent, QcResult, ScreeningKind, Sex, TestResult, UnitKind};
use crate::time;

fn bad(what: &'static str, s: &str) -> FromSqlError {
    FromSqlError::Other(Box::new(Malformed::new(what, s.to_string())))
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
pub fn day(r: &Row, i: usize) -> rusqlite::Result<NaiveDate> {
    r.get::<_, Day>(i).map(|d| d.0)
}
pub fn id(r: &Row, i: usize) -> rusqlite::Result<Id> {
    r.get::<_, StoredId>(i).map(|d| d.0)
}
pub fn text<T: std::str::FromStr>(r: &Row, i: usize) -> rusqlite::Result<T> {
    r.get::<_, Text<T>>(i).map(|d| d.0)
}

/// A value read from the file that no reader can parse: its stored text, to be shown marked (a file written by
/// another program can hold one; `verify` names every such value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what} `{raw}`")]
pub struct Malformed {
    pub what: &'static str,
    pub raw: String,
    /// Made only by [`Malformed::new`], which counts it.
    _counted: Counted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Counted;

/// Malformed values this process has met: while none, no answer can hold one (see [`malformed_in`]).
static MET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Malformed {
    pub fn new(what: &'static str, raw: String) -> Malformed {
        MET.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Malformed { what, raw, _counted: Counted }
    }
}

impl From<Malformed> for super::StoreError {
    fn from(m: Malformed) -> Self {
        super::StoreError::Malformed(m)
    }
}

/// A field as stored: the value, or the text no reader can parse. Reads keep going past a malformed field (the
/// record is shown with that field marked); a rule that needs the value gets [`Malformed`] as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored<T> {
    Read(T),
    /// Boxed: a value read is most of what a record holds, and a list of thousands of records is sized by it.
    Malformed(Box<Malformed>),
}

impl<T> Stored<T> {
    pub fn malformed(m: Malformed) -> Stored<T> {
        Stored::Malformed(Box::new(m))
    }

    pub fn ok(&self) -> Option<&T> {
        match self {
            Stored::Read(v) => Some(v),
            Stored::Malformed(_) => None,
        }
    }

    /// The value, or the malformed text as an error (for a rule or a write that cannot go on without it).
    pub fn get(&self) -> Result<&T, Malformed> {
        match self {
            Stored::Read(v) => Ok(v),
            Stored::Malformed(m) => Err((**m).clone()),
        }
    }

    pub fn as_ref(&self) -> Stored<&T> {
        match self {
            Stored::Read(v) => Stored::Read(v),
            Stored::Malformed(m) => Stored::Malformed(m.clone()),
        }
    }

    pub fn into_value(self) -> Result<T, Malformed> {
        match self {
            Stored::Read(v) => Ok(v),
            Stored::Malformed(m) => Err(*m),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Stored<U> {
        match self {
            Stored::Read(v) => Stored::Read(f(v)),
            Stored::Malformed(m) => Stored::Malformed(m),
        }
    }

    /// The one rendering of a stored field for people: the value as `show` writes it, or `⚠ malformed "…"`
    /// with the stored text escaped (it came from outside the program).
    pub fn shown(&self, show: impl FnOnce(&T) -> String) -> String {
        match self {
            Stored::Read(v) => show(v),
            Stored::Malformed(m) => format!("⚠ malformed \"{}\"", crate::escape::shown(&m.raw)),
        }
    }
}

impl<T: PartialOrd> Stored<T> {
    /// Whether the value is at most `bound`; a malformed value counts as within, so that no record is ever
    /// left out of an answer (a trace, a recall) because one of its fields cannot be read.
    pub fn at_most(&self, bound: &T) -> bool {
        self.ok().is_none_or(|v| v <= bound)
    }
}

impl<T: Copy> Stored<T> {
    /// The value by copy, or the malformed text as an error.
    pub fn value(&self) -> Result<T, Malformed> {
        self.get().copied()
    }
}

impl<T> From<Result<T, Malformed>> for Stored<T> {
    fn from(r: Result<T, Malformed>) -> Self {
        r.map_or_else(Stored::malformed, Stored::Read)
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Stored<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plain = f.width().is_none()
            && f.precision().is_none()
            && !(f.alternate() || f.sign_plus() || f.sign_minus() || f.sign_aware_zero_pad());
        match self {
            // Without a width or a flag, padding the value's text writes that text: written straight out.
            Stored::Read(v) if plain => v.fmt(f),
            _ => f.pad(&self.shown(T::to_string)),
        }
    }
}

/// The key of the JSON object that stands for a malformed stored value.
const MARKER: &str = "malformed";

/// JSON: the value as usual, or `{"malformed": "<stored text>"}`.
impl<T: serde::Serialize> serde::Serialize for Stored<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Stored::Read(v) => v.serialize(s),
            Stored::Malformed(m) => {
                MARKED.with(|n| n.set(n.get() + 1));
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(MARKER, &m.raw)?;
                map.end()
            }
        }
    }
}

thread_local! {
    /// Malformed values serialized on this thread so far: what [`malformed_in`] counts.
    static MARKED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many malformed stored values an answer holds (shown marked): a face tells its reader the answer is
/// incomplete by them. Counted as the answer serializes (to nowhere), each [`Stored::Malformed`] counting itself:
/// building the answer's whole JSON tree to look for the marks cost a trace of a donor a sixth of its time. An
/// answer holds its [`Stored`] values as such (a `serde_json::Value` made from one beforehand would not count).
pub fn malformed_in(answer: &impl serde::Serialize) -> usize {
    // Every malformed value is made by `Malformed::new`: a process that has met none needs no pass.
    if MET.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        return 0;
    }
    MARKED.with(|n| n.set(0));
    match serde_json::to_writer(std::io::sink(), answer) {
        Ok(()) => MARKED.with(std::cell::Cell::get),
        Err(_) => 0,
    }
}

/// What a stored field's text is read as.
pub trait FromStored: Sized {
    const WHAT: &'static str;
    fn from_stored(s: &str) -> Option<Self>;
    /// What NULL reads as: malformed, unless the field is optional.
    fn from_null() -> Option<Self> {
        None
    }
}

/// An optional field: NULL is "none", anything else must read as `T`.
impl<T: FromStored> FromStored for Option<T> {
    const WHAT: &'static str = T::WHAT;
    fn from_stored(s: &str) -> Option<Self> {
        T::from_stored(s).map(Some)
    }
    fn from_null() -> Option<Self> {
        Some(None)
    }
}

impl FromStored for DateTime<Utc> {
    const WHAT: &'static str = "timestamp";
    fn from_stored(s: &str) -> Option<Self> {
        time::from_db(s)
    }
}

impl FromStored for NaiveDate {
    const WHAT: &'static str = "date";
    fn from_stored(s: &str) -> Option<Self> {
        time::parse_date(s).ok()
    }
}

impl FromStored for Id {
    const WHAT: &'static str = "identifier";
    fn from_stored(s: &str) -> Option<Self> {
        Id::from_data(s)
    }
}

macro_rules! stored_codes {
    ($($t:ty),+) => {$(
        impl FromStored for $t {
            const WHAT: &'static str = "code";
            fn from_stored(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }
    )+};
}
stored_codes!(Sex, Cohort, Consent, UnitKind, QcResult, ScreeningKind, TestResult);

/// A NULL where a value belongs is malformed too (an optional field reads as `Stored<Option<T>>`).
impl<T: FromStored> FromSql for Stored<T> {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let parsed = match v {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).ok().and_then(T::from_stored),
            ValueRef::Null => T::from_null(),
            _ => None,
        };
        Ok(parsed.map_or_else(|| Stored::malformed(Malformed::new(T::WHAT, raw_text(v))), Stored::Read))
    }
}

/// A stored value as text, whatever its type, for showing it marked.
fn raw_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!("blob of {} bytes", b.len()),
    }
}

/// A field read as stored (a malformed value kept, never an error).
pub fn stored<T: FromStored>(r: &Row, i: usize) -> rusqlite::Result<Stored<T>> {
    r.get(i)
}

/// What a record is looked up by: its identifier, or the stored text of one that is malformed (a record whose
/// own identifier no reader can parse is still found, listed and traced).
pub trait Key {
    fn key(&self) -> &str;
}

impl Key for Id {
    fn key(&self) -> &str {
        self.data()
    }
}

impl Key for Stored<Id> {
    fn key(&self) -> &str {
        match self {
            Stored::Read(id) => id.data(),
            Stored::Malformed(m) => &m.raw,
        }
    }
}

/// A list of keys bound as one parameter, a JSON array read back with `json_each`: `col IN (SELECT value FROM
/// json_each(?1))` seeks the column's index once per key, so a set of records is read in one statement whatever
/// its size (the engine bounds the number of `?` parameters, not the length of one).
pub fn key_list<'a>(keys: impl IntoIterator<Item = &'a str>) -> String {
    serde_json::to_string(&keys.into_iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value read is shown as its own text, padded when asked; a malformed one is marked, padded alike.
    #[test]
    fn stored_values_show_as_their_text() {
        let read: Stored<TestResult> = Stored::Read(TestResult::Negative);
        assert_eq!(format!("{read}"), "negative");
        assert_eq!(format!("[{read:<10}]"), "[negative  ]");
        assert_eq!(format!("[{read:>10}]"), "[  negative]");
        assert_eq!(format!("[{read:.3}]"), "[neg]");
        let bad: Stored<TestResult> = Stored::malformed(Malformed::new("code", "maybe".into()));
        assert_eq!(format!("{bad}"), "⚠ malformed \"maybe\"");
        assert_eq!(format!("[{bad:<22}]"), "[⚠ malformed \"maybe\"   ]");
    }
}
