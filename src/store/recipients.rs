//! Recipients (patients) and the dispensing of units to them.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::sql::stored;
use super::Row;
use super::{Key, Result, Stored, Tx};
use crate::core::ids::Id;
use crate::core::model::{Cohort, Consent, Sex};
use crate::time::to_db;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recipient {
    pub id: Stored<Id>,
    pub sex: Stored<Sex>,
    pub birth_date: Stored<NaiveDate>,
    pub indication: String,
    pub cohort: Stored<Cohort>,
    pub consent: Stored<Consent>,
    pub registered_at: Stored<DateTime<Utc>>,
}

/// A recipient to register.
pub(crate) struct Registration<'a> {
    pub id: &'a Id,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub indication: &'a str,
    pub cohort: Cohort,
    pub consent: Consent,
    pub registered_at: DateTime<Utc>,
}

pub(super) const NEXT_RECIPIENT: &str =
    "SELECT COALESCE((SELECT CAST(substr(id, 2) AS INTEGER) FROM recipients ORDER BY id DESC LIMIT 1), 0) + 1";

/// Codes are fixed-width (`R000042`): the last in primary-key order is the highest, found in one seek.
pub(crate) fn next_recipient_seq(c: &Tx) -> Result<u32> {
    Ok(c.query_row(NEXT_RECIPIENT, (), |r| r.get(0))?)
}

pub(crate) fn insert_recipient(c: &Tx, r: &Registration) -> Result<()> {
    c.execute(
        "INSERT INTO recipients (id, sex, birth_date, indication, cohort, consent, registered_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            r.id.data(),
            r.sex.as_str(),
            r.birth_date.to_string(),
            r.indication,
            r.cohort.as_str(),
            r.consent.as_str(),
            to_db(r.registered_at)
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "id, sex, birth_date, indication, cohort, consent, registered_at";

pub(super) fn from_row(r: &Row) -> rusqlite::Result<Recipient> {
    Ok(Recipient {
        id: stored(r, 0)?,
        sex: stored(r, 1)?,
        birth_date: stored(r, 2)?,
        indication: r.get(3)?,
        cohort: stored(r, 4)?,
        consent: stored(r, 5)?,
        registered_at: stored(r, 6)?,
    })
}

pub(crate) fn recipient(c: &Tx, recipient: &(impl Key + ?Sized)) -> Result<Option<Recipient>> {
    Ok(c.query_row(&format!("SELECT {COLUMNS} FROM recipients WHERE id = ?1"), [recipient.key()], from_row)
        .optional()?)
}

/// Every recipient, in code order.
pub(super) fn all_sql() -> String {
    format!("SELECT {COLUMNS} FROM recipients ORDER BY id")
}

/// Recipients by identifier, in identifier order.
pub(crate) fn recipients_by_id_sql() -> String {
    format!("SELECT {COLUMNS} FROM recipients WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id")
}

pub(crate) fn recipients_by_id<'a>(c: &Tx, ids: impl IntoIterator<Item = &'a str>) -> Result<Vec<Recipient>> {
    let mut stmt = c.prepare_cached(&recipients_by_id_sql())?;
    let rows = stmt.query_map([super::sql::key_list(ids)], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn recipients_page(c: &Tx, after: Option<&Stored<Id>>, limit: usize) -> Result<Vec<Recipient>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {COLUMNS} FROM recipients WHERE id > ?1 ORDER BY id LIMIT ?2"))?;
    let rows = stmt.query_map(params![after.map_or("", Key::key), limit as i64], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) struct NewDispense<'a> {
    pub unit: &'a Id,
    pub recipient: &'a Id,
    pub route: &'a str,
    pub at: DateTime<Utc>,
    pub clinician: Option<&'a str>,
    pub recorded_at: DateTime<Utc>,
}

pub(crate) fn insert_dispense(c: &Tx, d: &NewDispense) -> Result<i64> {
    c.execute(
        "INSERT INTO dispenses (unit_id, recipient_id, route, at, clinician, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![d.unit.data(), d.recipient.data(), d.route, to_db(d.at), d.clinician, to_db(d.recorded_at)],
    )?;
    Ok(c.last_insert_rowid()?)
}
