//! Donations, their batches and units, and QC results.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::sql::{day, id, opt_ts, text, ts};
use super::{Result, Tx};
use crate::core::ids::Id;
use crate::core::model::{QcResult, UnitKind};
use crate::core::rules::QcFact;
use crate::core::state::UnitFacts;
use crate::time::to_db;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Donation {
    pub id: Id,
    pub donor: Id,
    pub collected_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub mass_g: Option<f64>,
    pub bristol: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    pub id: Id,
    pub donation: Id,
    pub product: String,
    pub prepared_at: DateTime<Utc>,
    pub volume_ml: Option<f64>,
    pub expires_on: NaiveDate,
    pub released_at: Option<DateTime<Utc>>,
    pub discarded_at: Option<DateTime<Utc>>,
    pub discard_reason: Option<String>,
    pub recalled_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dispense {
    pub unit: Id,
    pub recipient: Id,
    pub route: String,
    pub at: DateTime<Utc>,
    pub clinician: Option<String>,
}

/// A unit with what its status derives from (its batch's release and expiry, its dispense).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unit {
    pub id: Id,
    pub batch: Id,
    pub kind: UnitKind,
    pub location: Option<String>,
    pub released_at: Option<DateTime<Utc>>,
    pub discarded_at: Option<DateTime<Utc>>,
    pub recalled_at: Option<DateTime<Utc>>,
    pub label_verified_at: Option<DateTime<Utc>>,
    pub expires_on: NaiveDate,
    pub dispense: Option<Dispense>,
}

impl Unit {
    pub fn facts(&self) -> UnitFacts {
        UnitFacts {
            kind: self.kind,
            released_at: self.released_at,
            discarded_at: self.discarded_at,
            recalled_at: self.recalled_at,
            dispensed_at: self.dispense.as_ref().map(|d| d.at),
            expires_on: self.expires_on,
        }
    }
}

pub(crate) fn next_din_seq(c: &Tx, year: i32) -> Result<u32> {
    Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM donations WHERE year = ?1", [year.rem_euclid(100)], |r| {
        r.get(0)
    })?)
}

pub(crate) fn insert_donation(c: &Tx, d: &Donation, year: i32, seq: u32, recorded_at: DateTime<Utc>) -> Result<()> {
    c.execute(
        "INSERT INTO donations (id, donor_id, year, seq, collected_at, received_at, mass_g, bristol, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            d.id.data(),
            d.donor.data(),
            year.rem_euclid(100),
            seq,
            to_db(d.collected_at),
            d.received_at.map(to_db),
            d.mass_g,
            d.bristol,
            to_db(recorded_at)
        ],
    )?;
    Ok(())
}

const DONATION_COLUMNS: &str = "id, donor_id, collected_at, received_at, mass_g, bristol";

fn donation_from_row(r: &rusqlite::Row) -> rusqlite::Result<Donation> {
    Ok(Donation {
        id: id(r, 0)?,
        donor: id(r, 1)?,
        collected_at: ts(r, 2)?,
        received_at: opt_ts(r, 3)?,
        mass_g: r.get(4)?,
        bristol: r.get(5)?,
    })
}

pub(crate) fn donation(c: &Tx, donation: &Id) -> Result<Option<Donation>> {
    Ok(c.query_row(
        &format!("SELECT {DONATION_COLUMNS} FROM donations WHERE id = ?1"),
        [donation.data()],
        donation_from_row,
    )
    .optional()?)
}

pub(crate) fn donations_of_donor(c: &Tx, donor: &Id) -> Result<Vec<Donation>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {DONATION_COLUMNS} FROM donations WHERE donor_id = ?1 ORDER BY collected_at, id"
    ))?;
    let rows = stmt.query_map([donor.data()], donation_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn insert_batch(c: &Tx, b: &Batch, recorded_at: DateTime<Utc>) -> Result<()> {
    c.execute(
        "INSERT INTO batches (id, donation_id, product, prepared_at, volume_ml, expires_on, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            b.id.data(),
            b.donation.data(),
            b.product,
            to_db(b.prepared_at),
            b.volume_ml,
            b.expires_on.to_string(),
            to_db(recorded_at)
        ],
    )?;
    Ok(())
}

pub(crate) fn insert_unit(c: &Tx, unit: &Id, batch: &Id, kind: UnitKind) -> Result<()> {
    c.execute(
        "INSERT INTO units (id, batch_id, kind) VALUES (?1, ?2, ?3)",
        params![unit.data(), batch.data(), kind.as_str()],
    )?;
    Ok(())
}

const BATCH_COLUMNS: &str =
    "id, donation_id, product, prepared_at, volume_ml, expires_on, released_at, discarded_at, discard_reason, recalled_at";

fn batch_from_row(r: &rusqlite::Row) -> rusqlite::Result<Batch> {
    Ok(Batch {
        id: id(r, 0)?,
        donation: id(r, 1)?,
        product: r.get(2)?,
        prepared_at: ts(r, 3)?,
        volume_ml: r.get(4)?,
        expires_on: day(r, 5)?,
        released_at: opt_ts(r, 6)?,
        discarded_at: opt_ts(r, 7)?,
        discard_reason: r.get(8)?,
        recalled_at: opt_ts(r, 9)?,
    })
}

pub(crate) fn batch(c: &Tx, batch: &Id) -> Result<Option<Batch>> {
    Ok(c.query_row(&format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?1"), [batch.data()], batch_from_row)
        .optional()?)
}

pub(crate) fn batches_of_donation(c: &Tx, donation: &Id) -> Result<Vec<Batch>> {
    let mut stmt =
        c.prepare_cached(&format!("SELECT {BATCH_COLUMNS} FROM batches WHERE donation_id = ?1 ORDER BY id"))?;
    let rows = stmt.query_map([donation.data()], batch_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn set_batch_released(c: &Tx, batch: &Id, at: DateTime<Utc>) -> Result<()> {
    c.execute("UPDATE batches SET released_at = ?2 WHERE id = ?1", params![batch.data(), to_db(at)])?;
    Ok(())
}

pub(crate) fn set_batch_discarded(c: &Tx, batch: &Id, at: DateTime<Utc>, reason: &str) -> Result<()> {
    c.execute(
        "UPDATE batches SET discarded_at = ?2, discard_reason = ?3 WHERE id = ?1",
        params![batch.data(), to_db(at), reason],
    )?;
    Ok(())
}

pub(crate) fn set_batch_recalled(c: &Tx, batch: &Id, at: DateTime<Utc>) -> Result<()> {
    c.execute("UPDATE batches SET recalled_at = ?2 WHERE id = ?1", params![batch.data(), to_db(at)])?;
    Ok(())
}

pub(crate) fn set_unit_discarded(c: &Tx, unit: &Id, at: DateTime<Utc>) -> Result<()> {
    c.execute("UPDATE units SET discarded_at = ?2 WHERE id = ?1", params![unit.data(), to_db(at)])?;
    Ok(())
}

pub(crate) fn set_unit_recalled(c: &Tx, unit: &Id, at: DateTime<Utc>, recall: i64) -> Result<()> {
    c.execute(
        "UPDATE units SET recalled_at = ?2, recall_id = ?3 WHERE id = ?1",
        params![unit.data(), to_db(at), recall],
    )?;
    Ok(())
}

pub(crate) fn set_unit_location(c: &Tx, unit: &Id, location: &str) -> Result<()> {
    c.execute("UPDATE units SET location = ?2 WHERE id = ?1", params![unit.data(), location])?;
    Ok(())
}

const UNIT_SELECT: &str = "SELECT u.id, u.batch_id, u.kind, u.location, b.released_at, u.discarded_at, u.recalled_at,
        u.label_verified_at, b.expires_on, d.recipient_id, d.route, d.at, d.clinician
     FROM units u JOIN batches b ON b.id = u.batch_id LEFT JOIN dispenses d ON d.unit_id = u.id";

fn unit_from_row(r: &rusqlite::Row) -> rusqlite::Result<Unit> {
    let unit = id(r, 0)?;
    let dispense = match r.get::<_, Option<String>>(9)? {
        Some(_) => Some(Dispense {
            unit: unit.clone(),
            recipient: id(r, 9)?,
            route: r.get(10)?,
            at: ts(r, 11)?,
            clinician: r.get(12)?,
        }),
        None => None,
    };
    Ok(Unit {
        id: unit,
        batch: id(r, 1)?,
        kind: text(r, 2)?,
        location: r.get(3)?,
        released_at: opt_ts(r, 4)?,
        discarded_at: opt_ts(r, 5)?,
        recalled_at: opt_ts(r, 6)?,
        label_verified_at: opt_ts(r, 7)?,
        expires_on: day(r, 8)?,
        dispense,
    })
}

pub(crate) fn unit(c: &Tx, unit: &Id) -> Result<Option<Unit>> {
    Ok(c.query_row(&format!("{UNIT_SELECT} WHERE u.id = ?1"), [unit.data()], unit_from_row).optional()?)
}

/// All units of a batch: doses in division order, then the retained sample.
pub(crate) fn units_of_batch(c: &Tx, batch: &Id) -> Result<Vec<Unit>> {
    let mut stmt = c.prepare_cached(&format!(
        "{UNIT_SELECT} WHERE u.batch_id = ?1 ORDER BY u.kind, substr(u.id, 20, 1), substr(u.id, 19, 1)"
    ))?;
    let rows = stmt.query_map([batch.data()], unit_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Units dispensed to a recipient, in the order they were given.
pub(crate) fn units_of_recipient(c: &Tx, recipient: &Id) -> Result<Vec<Unit>> {
    let mut stmt = c.prepare_cached(&format!("{UNIT_SELECT} WHERE d.recipient_id = ?1 ORDER BY d.at, u.id"))?;
    let rows = stmt.query_map([recipient.data()], unit_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Doses on the shelf (not dispensed, discarded or recalled), by expiry then identifier, a page at a time.
pub(crate) fn units_in_stock(c: &Tx, after: Option<&Id>, limit: usize) -> Result<Vec<Unit>> {
    let mut stmt = c.prepare_cached(&format!(
        "{UNIT_SELECT} WHERE u.kind = 'dose' AND d.id IS NULL AND u.discarded_at IS NULL AND u.recalled_at IS NULL
           AND u.id > ?1 ORDER BY u.id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after.map_or("", Id::data), limit as i64], unit_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn insert_qc(
    c: &Tx,
    batch: &Id,
    test: &str,
    result: QcResult,
    value: Option<&str>,
    at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
) -> Result<i64> {
    c.execute(
        "INSERT INTO qc_results (batch_id, test, result, value, at, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![batch.data(), test, result.as_str(), value, to_db(at), to_db(recorded_at)],
    )?;
    Ok(c.last_insert_rowid())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QcRow {
    pub test: String,
    pub result: QcResult,
    pub value: Option<String>,
    pub at: DateTime<Utc>,
    #[serde(skip)]
    pub id: i64,
}

impl QcRow {
    pub fn fact(&self) -> QcFact {
        QcFact { id: self.id, test: self.test.clone(), result: self.result, at: self.at }
    }
}

pub(crate) fn qc_of_batch(c: &Tx, batch: &Id) -> Result<Vec<QcRow>> {
    let mut stmt =
        c.prepare_cached("SELECT id, test, result, value, at FROM qc_results WHERE batch_id = ?1 ORDER BY at, id")?;
    let rows = stmt.query_map([batch.data()], |r| {
        Ok(QcRow { id: r.get(0)?, test: r.get(1)?, result: text(r, 2)?, value: r.get(3)?, at: ts(r, 4)? })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
