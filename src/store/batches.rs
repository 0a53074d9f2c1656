//! Donations, their batches and units, and QC results.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use rusqlite::types::ValueRef;

use super::sql::{key_list, stored};
use super::Row;
use super::{Key, Malformed, Result, Stored, Tx};
use crate::core::ids::Id;
use crate::core::model::{BatchStatus, QcResult, UnitKind, UnitStatus};
use crate::core::rules::QcFact;
use crate::core::state::{batch_status, unit_status, UnitFacts};
use crate::time::{local_day, to_db};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Donation {
    pub id: Stored<Id>,
    pub donor: Stored<Id>,
    pub collected_at: Stored<DateTime<Utc>>,
    pub received_at: Stored<Option<DateTime<Utc>>>,
    pub mass_g: Option<f64>,
    pub bristol: Option<u8>,
}

/// A donation to record.
pub(crate) struct Collection<'a> {
    pub id: &'a Id,
    pub donor: &'a Id,
    pub collected_at: DateTime<Utc>,
    pub received_at: Option<DateTime<Utc>>,
    pub mass_g: Option<f64>,
    pub bristol: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    pub id: Stored<Id>,
    pub donation: Stored<Id>,
    pub product: String,
    pub prepared_at: Stored<DateTime<Utc>>,
    pub volume_ml: Option<f64>,
    pub expires_on: Stored<NaiveDate>,
    pub released_at: Stored<Option<DateTime<Utc>>>,
    pub discarded_at: Stored<Option<DateTime<Utc>>>,
    pub discard_reason: Option<String>,
    pub recalled_at: Stored<Option<DateTime<Utc>>>,
}

/// A batch to record (in quarantine).
pub(crate) struct Preparation<'a> {
    pub id: &'a Id,
    pub donation: &'a Id,
    pub product: &'a str,
    pub prepared_at: DateTime<Utc>,
    pub volume_ml: Option<f64>,
    pub expires_on: NaiveDate,
}

impl Batch {
    /// The batch's status as of `at` (marked when a fact it derives from is malformed).
    pub fn status(&self, at: DateTime<Utc>) -> Stored<BatchStatus> {
        let status = || {
            let (released, discarded, recalled) =
                (self.released_at.value()?, self.discarded_at.value()?, self.recalled_at.value()?);
            Ok(batch_status(released, discarded, recalled, self.expires_on.value()?, at, local_day(at)))
        };
        status().into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dispense {
    pub unit: Stored<Id>,
    pub recipient: Stored<Id>,
    pub route: String,
    pub at: Stored<DateTime<Utc>>,
    pub clinician: Option<String>,
}

/// A unit with what its status derives from (its batch's release and expiry, its dispense).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unit {
    pub id: Stored<Id>,
    pub batch: Stored<Id>,
    pub kind: Stored<UnitKind>,
    pub location: Option<String>,
    pub released_at: Stored<Option<DateTime<Utc>>>,
    pub discarded_at: Stored<Option<DateTime<Utc>>>,
    pub recalled_at: Stored<Option<DateTime<Utc>>>,
    pub label_verified_at: Stored<Option<DateTime<Utc>>>,
    pub expires_on: Stored<NaiveDate>,
    pub dispense: Option<Dispense>,
}

impl Unit {
    /// What the unit's status derives from; a malformed one among them is an error (no status is guessed).
    pub fn facts(&self) -> std::result::Result<UnitFacts, Malformed> {
        Ok(UnitFacts {
            kind: self.kind.value()?,
            released_at: self.released_at.value()?,
            discarded_at: self.discarded_at.value()?,
            recalled_at: self.recalled_at.value()?,
            dispensed_at: self.dispense.as_ref().map(|d| d.at.value()).transpose()?,
            expires_on: self.expires_on.value()?,
        })
    }

    /// The unit's status as of `at` (marked when a fact it derives from is malformed).
    pub fn status(&self, at: DateTime<Utc>) -> Stored<UnitStatus> {
        self.facts().map(|f| unit_status(&f, at, local_day(at))).into()
    }

    /// Whether it is a dose (a unit whose kind is malformed counts as one: it is never left out of a recall).
    pub fn is_dose(&self) -> bool {
        self.kind.ok().is_none_or(|k| *k == UnitKind::Dose)
    }
}

pub(crate) fn next_din_seq(c: &Tx, year: i32) -> Result<u32> {
    Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM donations WHERE year = ?1", [year.rem_euclid(100)], |r| {
        r.get(0)
    })?)
}

pub(crate) fn insert_donation(c: &Tx, d: &Collection, year: i32, seq: u32, recorded_at: DateTime<Utc>) -> Result<()> {
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

fn donation_from_row(r: &Row) -> rusqlite::Result<Donation> {
    Ok(Donation {
        id: stored(r, 0)?,
        donor: stored(r, 1)?,
        collected_at: stored(r, 2)?,
        received_at: stored(r, 3)?,
        mass_g: r.get(4)?,
        bristol: r.get(5)?,
    })
}

pub(crate) fn donation(c: &Tx, donation: &(impl Key + ?Sized)) -> Result<Option<Donation>> {
    Ok(c.query_row(
        &format!("SELECT {DONATION_COLUMNS} FROM donations WHERE id = ?1"),
        [donation.key()],
        donation_from_row,
    )
    .optional()?)
}

pub(crate) fn donations_of_donor(c: &Tx, donor: &(impl Key + ?Sized)) -> Result<Vec<Donation>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {DONATION_COLUMNS} FROM donations WHERE donor_id = ?1 ORDER BY collected_at, id"
    ))?;
    let rows = stmt.query_map([donor.key()], donation_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Donations by identifier, in identifier order (one statement for a set: `sql::key_list`).
pub(crate) fn donations_by_id_sql() -> String {
    format!("SELECT {DONATION_COLUMNS} FROM donations WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id")
}

pub(crate) fn donations_by_id<'a>(c: &Tx, ids: impl IntoIterator<Item = &'a str>) -> Result<Vec<Donation>> {
    let mut stmt = c.prepare_cached(&donations_by_id_sql())?;
    let rows = stmt.query_map([key_list(ids)], donation_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn insert_batch(c: &Tx, b: &Preparation, recorded_at: DateTime<Utc>) -> Result<()> {
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

fn batch_from_row(r: &Row) -> rusqlite::Result<Batch> {
    Ok(Batch {
        id: stored(r, 0)?,
        donation: stored(r, 1)?,
        product: r.get(2)?,
        prepared_at: stored(r, 3)?,
        volume_ml: r.get(4)?,
        expires_on: stored(r, 5)?,
        released_at: stored(r, 6)?,
        discarded_at: stored(r, 7)?,
        discard_reason: r.get(8)?,
        recalled_at: stored(r, 9)?,
    })
}

pub(crate) fn batch(c: &Tx, batch: &(impl Key + ?Sized)) -> Result<Option<Batch>> {
    Ok(c.query_row(&format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id = ?1"), [batch.key()], batch_from_row)
        .optional()?)
}

pub(crate) fn batches_of_donation(c: &Tx, donation: &(impl Key + ?Sized)) -> Result<Vec<Batch>> {
    let mut stmt =
        c.prepare_cached(&format!("SELECT {BATCH_COLUMNS} FROM batches WHERE donation_id = ?1 ORDER BY id"))?;
    let rows = stmt.query_map([donation.key()], batch_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Batches by identifier, in identifier order.
pub(crate) fn batches_by_id_sql() -> String {
    format!("SELECT {BATCH_COLUMNS} FROM batches WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id")
}

pub(crate) fn batches_by_id<'a>(c: &Tx, ids: impl IntoIterator<Item = &'a str>) -> Result<Vec<Batch>> {
    let mut stmt = c.prepare_cached(&batches_by_id_sql())?;
    let rows = stmt.query_map([key_list(ids)], batch_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The batches of a set of donations, by donation then identifier (each donation's as `batches_of_donation`).
pub(crate) fn batches_of_donations_sql() -> String {
    format!(
        "SELECT {BATCH_COLUMNS} FROM batches WHERE donation_id IN (SELECT value FROM json_each(?1))
         ORDER BY donation_id, id"
    )
}

pub(crate) fn batches_of_donations<'a>(c: &Tx, donations: impl IntoIterator<Item = &'a str>) -> Result<Vec<Batch>> {
    let mut stmt = c.prepare_cached(&batches_of_donations_sql())?;
    let rows = stmt.query_map([key_list(donations)], batch_from_row)?;
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

fn unit_from_row(r: &Row) -> rusqlite::Result<Unit> {
    let unit: Stored<Id> = stored(r, 0)?;
    // A dispense is there when its row is (its recipient is NOT NULL in the schema), whatever its values read as.
    let dispense = match r.get_ref(9)? {
        ValueRef::Null => None,
        _ => Some(Dispense {
            unit: unit.clone(),
            recipient: stored(r, 9)?,
            route: r.get(10)?,
            at: stored(r, 11)?,
            clinician: r.get(12)?,
        }),
    };
    Ok(Unit {
        id: unit,
        batch: stored(r, 1)?,
        kind: stored(r, 2)?,
        location: r.get(3)?,
        released_at: stored(r, 4)?,
        discarded_at: stored(r, 5)?,
        recalled_at: stored(r, 6)?,
        label_verified_at: stored(r, 7)?,
        expires_on: stored(r, 8)?,
        dispense,
    })
}

pub(crate) fn unit(c: &Tx, unit: &(impl Key + ?Sized)) -> Result<Option<Unit>> {
    Ok(c.query_row(&format!("{UNIT_SELECT} WHERE u.id = ?1"), [unit.key()], unit_from_row).optional()?)
}

/// All units of a batch: doses in division order, then the retained sample.
pub(crate) fn units_of_batch(c: &Tx, batch: &(impl Key + ?Sized)) -> Result<Vec<Unit>> {
    let mut stmt = c.prepare_cached(&format!(
        "{UNIT_SELECT} WHERE u.batch_id = ?1 ORDER BY u.kind, substr(u.id, 20, 1), substr(u.id, 19, 1)"
    ))?;
    let rows = stmt.query_map([batch.key()], unit_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// All units of a set of batches, in no particular order.
pub(crate) fn units_of_batches_sql() -> String {
    format!("{UNIT_SELECT} WHERE u.batch_id IN (SELECT value FROM json_each(?1))")
}

/// Each unit of a set of batches, handed to `each` as it is read, in no particular order: the caller keys or
/// orders them ([`in_division_order`]). Neither `SQLite`'s sort of the wide rows (a third of the statement's
/// work for a donor of fifty batches) nor a list of them all (copied whole each time it grew) is made.
pub(crate) fn each_unit_of_batches<'a>(
    c: &Tx,
    batches: impl IntoIterator<Item = &'a str>,
    mut each: impl FnMut(Unit),
) -> Result<()> {
    let mut stmt = c.prepare_cached(&units_of_batches_sql())?;
    let mut rows = stmt.query([key_list(batches)])?;
    while let Some(r) = rows.next()? {
        each(unit_from_row(r)?);
    }
    Ok(())
}

/// Units by batch, each batch's in `units_of_batch` order.
pub(crate) fn in_division_order(units: &mut [Unit]) {
    units.sort_by(|a, b| batch_order(a).cmp(&batch_order(b)));
}

/// What `ORDER BY u.batch_id, u.kind, substr(u.id, 20, 1), substr(u.id, 19, 1)` compares, on the stored texts:
/// the batch, the kind (doses before the retained sample), then the division's digit and letter (A0…Z0, A1…).
fn batch_order(u: &Unit) -> (&str, &str, Option<char>, Option<char>) {
    let kind = match &u.kind {
        Stored::Read(k) => k.as_str(),
        Stored::Malformed(m) => &m.raw,
    };
    let id = u.id.key();
    (u.batch.key(), kind, id.chars().nth(19), id.chars().nth(18))
}

/// Units dispensed to a recipient, in the order they were given.
pub(crate) fn units_of_recipient(c: &Tx, recipient: &(impl Key + ?Sized)) -> Result<Vec<Unit>> {
    let mut stmt = c.prepare_cached(&format!("{UNIT_SELECT} WHERE d.recipient_id = ?1 ORDER BY d.at, u.id"))?;
    let rows = stmt.query_map([recipient.key()], unit_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Doses on the shelf (not dispensed, discarded or recalled), by expiry then identifier, a page at a time.
pub(crate) fn units_in_stock(c: &Tx, after: Option<&Stored<Id>>, limit: usize) -> Result<Vec<Unit>> {
    let mut stmt = c.prepare_cached(&format!(
        "{UNIT_SELECT} WHERE u.kind = 'dose' AND d.id IS NULL AND u.discarded_at IS NULL AND u.recalled_at IS NULL
           AND u.id > ?1 ORDER BY u.id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after.map_or("", Key::key), limit as i64], unit_from_row)?;
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
    Ok(c.last_insert_rowid()?)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QcRow {
    pub test: String,
    pub result: Stored<QcResult>,
    pub value: Option<String>,
    pub at: Stored<DateTime<Utc>>,
    #[serde(skip)]
    pub id: i64,
}

impl QcRow {
    pub fn fact(&self) -> std::result::Result<QcFact, Malformed> {
        Ok(QcFact { id: self.id, test: self.test.clone(), result: self.result.value()?, at: self.at.value()? })
    }
}

pub(crate) fn qc_of_batch(c: &Tx, batch: &Id) -> Result<Vec<QcRow>> {
    let mut stmt =
        c.prepare_cached("SELECT id, test, result, value, at FROM qc_results WHERE batch_id = ?1 ORDER BY at, id")?;
    let rows = stmt.query_map([batch.data()], |r| {
        Ok(QcRow { id: r.get(0)?, test: r.get(1)?, result: stored(r, 2)?, value: r.get(3)?, at: stored(r, 4)? })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units ordered in Rust come in the order `SQLite`'s `ORDER BY` gave them: across digits of the division
    /// code, the retained sample last, a malformed kind or identifier where its stored text sorts.
    #[test]
    fn units_come_in_the_order_sql_gave_them() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let batch = "G151726000001F0001";
        let ids = ["B1", "A0", "00", "Z0", "A1", "B0", "A", "ÄX", "A2"].map(|d| format!("{batch}{d}"));
        let kinds = ["dose", "dose", "retained", "dose", "dose", "dose", "dose", "bad kind", "dose"];
        let mut units: Vec<Unit> = ids
            .iter()
            .zip(kinds)
            .map(|(id, kind)| {
                fn stored<T>(raw: &str) -> Stored<T> {
                    Stored::malformed(Malformed::new("test", raw.into()))
                }
                Unit {
                    id: Id::from_data(id).map_or_else(|| stored(id), Stored::Read),
                    batch: Id::from_data(batch).map_or_else(|| stored(batch), Stored::Read),
                    kind: kind.parse().map_or_else(|_| stored(kind), Stored::Read),
                    location: None,
                    released_at: Stored::Read(None),
                    discarded_at: Stored::Read(None),
                    recalled_at: Stored::Read(None),
                    label_verified_at: Stored::Read(None),
                    expires_on: Stored::Read(NaiveDate::MIN),
                    dispense: None,
                }
            })
            .collect();
        let values = ids.iter().zip(kinds).map(|(i, k)| format!("('{i}', '{k}')")).collect::<Vec<_>>().join(", ");
        let mut stmt = db
            .prepare(&format!(
                "SELECT column1 FROM (VALUES {values})
                 ORDER BY column2, substr(column1, 20, 1), substr(column1, 19, 1)"
            ))
            .unwrap();
        let by_sql: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
        in_division_order(&mut units);
        assert_eq!(units.iter().map(|u| u.id.key().to_string()).collect::<Vec<_>>(), by_sql);
    }
}
