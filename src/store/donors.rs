//! Donors, their identity (kept apart), screenings, results and deferrals.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use crypto_box::{PublicKey, SecretKey};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::identity_keys;
use super::sql::{day, stored, text, ts};
use super::Row;
use super::{Key, Malformed, Result, StoreError, Stored, Tx};
use crate::core::ids::Id;
use crate::core::model::{ScreeningKind, Sex, TestResult};
use crate::core::rules::{DeferralFact, DonorFacts, ScreeningFact};
use crate::time::to_db;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Donor {
    pub id: Stored<Id>,
    pub sex: Stored<Sex>,
    pub birth_date: Stored<NaiveDate>,
    pub registered_at: Stored<DateTime<Utc>>,
}

/// Identity: stored sealed, read only by users allowed to see it, and every read audited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub national_id: Option<String>,
}

impl Identity {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.phone.is_none() && self.national_id.is_none()
    }
}

pub(super) const NEXT_DONOR: &str =
    "SELECT COALESCE((SELECT CAST(substr(id, 2) AS INTEGER) FROM donors ORDER BY id DESC LIMIT 1), 0) + 1";

/// Codes are fixed-width (`D000042`), so the last one in primary-key order is the highest: one seek, however
/// many donors the bank holds.
pub(crate) fn next_donor_seq(c: &Tx) -> Result<u32> {
    Ok(c.query_row(NEXT_DONOR, (), |r| r.get(0))?)
}

pub(crate) fn insert_donor(c: &Tx, id: &Id, sex: Sex, birth_date: NaiveDate, at: DateTime<Utc>) -> Result<()> {
    c.execute(
        "INSERT INTO donors (id, sex, birth_date, registered_at) VALUES (?1, ?2, ?3, ?4)",
        params![id.data(), sex.as_str(), birth_date.to_string(), to_db(at)],
    )?;
    Ok(())
}

/// Sealed identities are padded to a multiple of this many bytes, so that their size tells little of a name's.
const SEALED_BLOCK: usize = 64;

/// An identity sealed to the bank's identity public key: its fields as JSON, padded with spaces.
pub(crate) fn seal_identity(public: &PublicKey, i: &Identity) -> Result<Vec<u8>> {
    let mut plain = Zeroizing::new(serde_json::to_vec(i)?);
    let padded = plain.len().div_ceil(SEALED_BLOCK) * SEALED_BLOCK;
    plain.resize(padded, b' ');
    identity_keys::seal(public, &plain)
}

/// The identity a sealed row holds, opened with the bank's identity private key. A row that does not open names
/// only its row, never any content.
pub(crate) fn open_identity(secret: &SecretKey, table: &str, row: i64, sealed: &[u8]) -> Result<Identity> {
    let corrupt = || StoreError::Corrupt(format!("{table} {row} does not open with the bank's identity key"));
    let plain = identity_keys::open(secret, sealed).ok_or_else(corrupt)?;
    serde_json::from_slice(&plain).map_err(|_| corrupt())
}

/// The column naming the person in an identity table (`donor_identities` or `recipient_identities`).
fn owner_column(table: &str) -> &'static str {
    if table == "donor_identities" {
        "donor_id"
    } else {
        "recipient_id"
    }
}

/// Inserts a sealed identity row for a donor or recipient, superseding their previous one; returns its row id.
pub(crate) fn insert_identity(c: &Tx, table: &str, owner: &Id, sealed: &[u8], at: DateTime<Utc>) -> Result<i64> {
    let owner_col = owner_column(table);
    let previous: Option<i64> = c
        .query_row(&format!("SELECT MAX(id) FROM {table} WHERE {owner_col} = ?1"), [owner.data()], |r| r.get(0))
        .optional()?
        .flatten();
    c.execute(
        &format!("INSERT INTO {table} ({owner_col}, sealed, recorded_at, supersedes) VALUES (?1, ?2, ?3, ?4)"),
        params![owner.data(), sealed, to_db(at), previous],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// The current identity row (the one no other supersedes) of a person, still sealed: its row id and bytes.
pub(crate) fn sealed_identity(c: &Tx, table: &str, owner: &Id) -> Result<Option<(i64, Vec<u8>)>> {
    let owner_col = owner_column(table);
    Ok(c.query_row(
        &format!(
            "SELECT id, sealed FROM {table} WHERE {owner_col} = ?1 AND sealed IS NOT NULL ORDER BY id DESC LIMIT 1"
        ),
        [owner.data()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?)
}

fn donor_from_row(r: &Row) -> rusqlite::Result<Donor> {
    Ok(Donor { id: stored(r, 0)?, sex: stored(r, 1)?, birth_date: stored(r, 2)?, registered_at: stored(r, 3)? })
}

pub(crate) fn donor(c: &Tx, donor: &(impl Key + ?Sized)) -> Result<Option<Donor>> {
    Ok(c.query_row(
        "SELECT id, sex, birth_date, registered_at FROM donors WHERE id = ?1",
        [donor.key()],
        donor_from_row,
    )
    .optional()?)
}

/// Donors in code order, a page at a time (`after` is the last code of the previous page).
pub(crate) fn donors_page(c: &Tx, after: Option<&Stored<Id>>, limit: usize) -> Result<Vec<Donor>> {
    let mut stmt =
        c.prepare_cached("SELECT id, sex, birth_date, registered_at FROM donors WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = stmt.query_map(params![after.map_or("", Key::key), limit as i64], donor_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inserts a screening; `supersedes` names the screening it corrects.
pub(crate) fn insert_screening(
    c: &Tx,
    donor: &Id,
    kind: ScreeningKind,
    date: NaiveDate,
    supersedes: Option<i64>,
    at: DateTime<Utc>,
) -> Result<i64> {
    c.execute(
        "INSERT INTO screenings (donor_id, kind, date, supersedes, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![donor.data(), kind.as_str(), date.to_string(), supersedes, to_db(at)],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// A screening's donor and kind, and the screening that already corrects it, if any.
pub(crate) fn screening_owner(c: &Tx, id: i64) -> Result<Option<(Id, ScreeningKind, Option<i64>)>> {
    Ok(c.query_row(
        "SELECT s.donor_id, s.kind, (SELECT n.id FROM screenings n WHERE n.supersedes = s.id)
         FROM screenings s WHERE s.id = ?1",
        [id],
        |r| Ok((super::sql::id(r, 0)?, text(r, 1)?, r.get(2)?)),
    )
    .optional()?)
}

pub(crate) fn insert_result(c: &Tx, screening: i64, test: &str, result: TestResult) -> Result<i64> {
    c.execute(
        "INSERT INTO screening_results (screening_id, test, result) VALUES (?1, ?2, ?3)",
        params![screening, test, result.as_str()],
    )?;
    Ok(c.last_insert_rowid()?)
}

pub(crate) struct NewDeferral<'a> {
    pub donor: &'a Id,
    pub reason: &'a str,
    pub starts_on: NaiveDate,
    pub until: Option<NaiveDate>,
    pub permanent: bool,
    pub screening: Option<i64>,
    /// A recall's deferral, open-ended until lifted.
    pub recall: Option<i64>,
    /// A safety signal's deferral (the adverse event), open-ended until lifted.
    pub adverse_event: Option<i64>,
    pub recorded_at: DateTime<Utc>,
}

pub(crate) fn insert_deferral(c: &Tx, d: &NewDeferral) -> Result<i64> {
    c.execute(
        "INSERT INTO deferrals
           (donor_id, reason, starts_on, until, permanent, screening_id, recall_id, adverse_event_id, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            d.donor.data(),
            d.reason,
            d.starts_on.to_string(),
            d.until.map(|u| u.to_string()),
            // Stored open-ended; the lift (deferral_lifts) ends it.
            i64::from(d.permanent || d.recall.is_some() || d.adverse_event.is_some()),
            d.screening,
            d.recall,
            d.adverse_event,
            to_db(d.recorded_at)
        ],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// Lifts a recall's deferral from `lifted_on`.
pub(crate) fn insert_lift(
    c: &Tx,
    deferral: i64,
    lifted_on: NaiveDate,
    reason: &str,
    recorded_at: DateTime<Utc>,
) -> Result<i64> {
    c.execute(
        "INSERT INTO deferral_lifts (deferral_id, lifted_on, reason, recorded_at) VALUES (?1, ?2, ?3, ?4)",
        params![deferral, lifted_on.to_string(), reason, to_db(recorded_at)],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// A donor's screenings not superseded by a correction, with their results, oldest first, among those `which`
/// keeps (a condition on `s`, its parameters from ?2).
fn screenings_where(which: &str) -> String {
    screenings_of("s.donor_id = ?1", which)
}

/// The same for the donors `donors` selects (a condition on `s.donor_id`), the donor's code in column 5, in donor
/// order. Results come in test order, the result's id in column 6: along the `(screening_id, test)` index, so SQL
/// sorts nothing and a read can stop at the first screening it wants; [`each_screening`] puts them back in the
/// order they were recorded.
fn screenings_of(donors: &str, which: &str) -> String {
    format!(
        "SELECT s.id, s.kind, s.date, r.test, r.result, s.donor_id, r.id
         FROM screenings s LEFT JOIN screening_results r ON r.screening_id = s.id
         WHERE {donors} AND {which} AND NOT EXISTS (SELECT 1 FROM screenings n WHERE n.supersedes = s.id)
         ORDER BY s.donor_id, s.date, s.id, r.test"
    )
}

/// Reads the rows of a [`screenings_of`] query screening by screening: `head` makes a screening from its first
/// row, `result` reads a row's result (a screening without any has one row, its result NULL), and `done` takes
/// each screening with its results in the order they were recorded, and says whether to read on.
fn each_screening<S, R>(
    mut rows: super::engine::Rows,
    head: impl Fn(&Row) -> rusqlite::Result<S>,
    result: impl Fn(&Row) -> rusqlite::Result<R>,
    mut done: impl FnMut(S, Vec<(String, R)>) -> bool,
) -> Result<()> {
    /// The screening being read: its id, what `head` made of it, and its results so far with their ids.
    struct Reading<S, R>(i64, S, Vec<(i64, String, R)>);
    let mut finish = |Reading(_, s, mut results): Reading<S, R>| {
        results.sort_unstable_by_key(|r| r.0);
        done(s, results.into_iter().map(|(_, test, r)| (test, r)).collect())
    };
    let mut reading: Option<Reading<S, R>> = None;
    while let Some(r) = rows.next()? {
        let sid: i64 = r.get(0)?;
        if reading.as_ref().is_none_or(|s| s.0 != sid) {
            if reading.take().is_some_and(|s| !finish(s)) {
                return Ok(());
            }
            reading = Some(Reading(sid, head(r)?, Vec::new()));
        }
        if let (Some(rid), Some(Reading(_, _, results))) = (r.get::<_, Option<i64>>(6)?, reading.as_mut()) {
            results.push((rid, r.get(3)?, result(r)?));
        }
    }
    if let Some(s) = reading {
        finish(s);
    }
    Ok(())
}

fn screening_fact(r: &Row) -> rusqlite::Result<ScreeningFact> {
    Ok(ScreeningFact { id: r.get(0)?, kind: text(r, 1)?, date: day(r, 2)?, results: Vec::new() })
}

/// Screenings from the rows of a [`screenings_of`] query, read until the end or until a screening that `enough`
/// accepts, which is the last one returned.
fn collect_screenings(
    rows: super::engine::Rows,
    enough: impl Fn(&ScreeningFact) -> bool,
) -> Result<Vec<ScreeningFact>> {
    let mut out: Vec<ScreeningFact> = Vec::new();
    each_screening(
        rows,
        screening_fact,
        |r| text(r, 4),
        |mut s, results| {
            s.results = results;
            let more = !enough(&s);
            out.push(s);
            more
        },
    )?;
    Ok(out)
}

/// A screening with each field as stored, for showing it (the rules read [`ScreeningFact`]s).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredScreening {
    pub id: i64,
    pub kind: Stored<ScreeningKind>,
    pub date: Stored<NaiveDate>,
    pub results: Vec<(String, Stored<TestResult>)>,
}

impl StoredScreening {
    /// The screening as the rules read it, or its first malformed field.
    pub fn fact(&self) -> std::result::Result<ScreeningFact, Malformed> {
        Ok(ScreeningFact { id: self.id, kind: self.kind.value()?, date: self.date.value()?, results: self.results()? })
    }

    /// The results as the rules read them, or the first malformed one.
    pub fn results(&self) -> std::result::Result<Vec<(String, TestResult)>, Malformed> {
        self.results.iter().map(|(t, r)| Ok((t.clone(), r.value()?))).collect()
    }
}

/// Every screening of a donor (those not superseded by a correction) as stored, oldest first: one whose values
/// cannot be read is listed with them marked, never an error that empties the list.
pub(crate) fn stored_screenings(c: &Tx, donor: &Id) -> Result<Vec<StoredScreening>> {
    let mut stmt = c.prepare_cached(&screenings_where("TRUE"))?;
    let mut out: Vec<StoredScreening> = Vec::new();
    each_screening(
        stmt.query([donor.data()])?,
        |r| Ok(StoredScreening { id: r.get(0)?, kind: stored(r, 1)?, date: stored(r, 2)?, results: Vec::new() }),
        |r| stored(r, 4),
        |s, results| {
            out.push(StoredScreening { results, ..s });
            true
        },
    )?;
    Ok(out)
}

/// Every screening of a donor (those not superseded by a correction), with their results, oldest first.
pub(crate) fn screenings(c: &Tx, donor: &Id) -> Result<Vec<ScreeningFact>> {
    let mut stmt = c.prepare_cached(&screenings_where("TRUE"))?;
    let all = collect_screenings(stmt.query([donor.data()])?, |_| false)?;
    Ok(all)
}

pub(super) fn screenings_between_sql() -> String {
    screenings_where("s.date BETWEEN ?2 AND ?3")
}

/// A donor's screenings dated within [from, to] (a seek on `screenings_donor`).
pub(crate) fn screenings_between(c: &Tx, donor: &Id, from: NaiveDate, to: NaiveDate) -> Result<Vec<ScreeningFact>> {
    let mut stmt = c.prepare_cached(&screenings_between_sql())?;
    let found = collect_screenings(stmt.query(params![donor.data(), from.to_string(), to.to_string()])?, |_| false)?;
    Ok(found)
}

pub(super) fn screenings_between_of_sql() -> String {
    screenings_of("s.donor_id IN (SELECT value FROM json_each(?1))", "s.date BETWEEN ?2 AND ?3")
}

/// The screenings dated within [from, to] of each of `donors` (codes as stored), by donor: one statement, a seek
/// on `screenings_donor` per donor.
pub(crate) fn screenings_between_of<'a>(
    c: &Tx,
    donors: impl IntoIterator<Item = &'a str>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<String, Vec<ScreeningFact>>> {
    let mut stmt = c.prepare_cached(&screenings_between_of_sql())?;
    let rows = stmt.query(params![super::sql::key_list(donors), from.to_string(), to.to_string()])?;
    let mut out: BTreeMap<String, Vec<ScreeningFact>> = BTreeMap::new();
    each_screening(
        rows,
        |r| Ok((r.get::<_, String>(5)?, screening_fact(r)?)),
        |r| text(r, 4),
        |(donor, s), results| {
            out.entry(donor).or_default().push(ScreeningFact { results, ..s });
            true
        },
    )?;
    Ok(out)
}

pub(super) fn screenings_after_sql() -> String {
    screenings_where("s.kind = ?2 AND s.date >= ?3 AND (s.date, s.id) > (?3, ?4)")
}

/// The first screening of `kind` after `after` (its date and id) that `wanted` accepts: read one screening at a
/// time from the donor's index, stopping there.
pub(crate) fn first_screening_after(
    c: &Tx,
    donor: &Id,
    kind: ScreeningKind,
    after: (NaiveDate, i64),
    wanted: impl Fn(&ScreeningFact) -> bool,
) -> Result<Option<ScreeningFact>> {
    let mut stmt = c.prepare_cached(&screenings_after_sql())?;
    let rows = stmt.query(params![donor.data(), kind.as_str(), after.0.to_string(), after.1])?;
    Ok(collect_screenings(rows, &wanted)?.pop().filter(|s| wanted(s)))
}

/// A deferral with each field as stored, for showing it (the rules read [`DeferralFact`]s).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDeferral {
    pub id: i64,
    pub starts_on: Stored<NaiveDate>,
    pub until: Stored<Option<NaiveDate>>,
    pub permanent: bool,
    pub reason: String,
    pub screening: Option<(i64, Stored<ScreeningKind>)>,
    pub recall: Option<i64>,
    pub adverse_event: Option<i64>,
    pub lifted_on: Stored<Option<NaiveDate>>,
}

impl StoredDeferral {
    /// The deferral as the rules read it, or its first malformed field.
    pub fn fact(&self) -> std::result::Result<DeferralFact, Malformed> {
        Ok(DeferralFact {
            id: self.id,
            starts_on: self.starts_on.value()?,
            until: self.until.value()?,
            permanent: self.permanent,
            reason: self.reason.clone(),
            screening: self
                .screening
                .as_ref()
                .map(|(sid, kind)| Ok::<_, Malformed>((*sid, kind.value()?)))
                .transpose()?,
            recall: self.recall,
            adverse_event: self.adverse_event,
            lifted_on: self.lifted_on.value()?,
        })
    }

    /// A recall's or safety signal's deferral: it ends when lifted.
    pub fn until_lifted(&self) -> bool {
        self.recall.is_some() || self.adverse_event.is_some()
    }
}

/// A donor's deferrals as stored, in order: one whose values cannot be read is listed with them marked.
pub(crate) fn stored_deferrals(c: &Tx, donor: &Id) -> Result<Vec<StoredDeferral>> {
    let mut stmt = c.prepare_cached(&deferrals_where("d.donor_id = ?1"))?;
    let rows = stmt.query_map([donor.data()], deferral_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The deferrals of the donors `donors` selects (a condition on `d.donor_id`), the donor's code in column 10, in
/// donor order.
fn deferrals_where(donors: &str) -> String {
    format!(
        "SELECT d.id, d.starts_on, d.until, d.permanent, d.reason, d.screening_id, s.kind, d.recall_id, l.lifted_on,
                d.adverse_event_id, d.donor_id
         FROM deferrals d LEFT JOIN screenings s ON s.id = d.screening_id
              LEFT JOIN deferral_lifts l ON l.deferral_id = d.id
         WHERE {donors}
           -- a deferral caused by a result that was since corrected no longer stands
           AND NOT EXISTS (SELECT 1 FROM screenings n WHERE n.supersedes = d.screening_id)
         ORDER BY d.donor_id, d.starts_on, d.id"
    )
}

pub(super) fn deferrals_of_sql() -> String {
    deferrals_where("d.donor_id IN (SELECT value FROM json_each(?1))")
}

/// The deferrals of each of `donors` (codes as stored) as the rules read them, by donor: one statement.
pub(crate) fn deferrals_of<'a>(
    c: &Tx,
    donors: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, Vec<DeferralFact>>> {
    let mut stmt = c.prepare_cached(&deferrals_of_sql())?;
    let mut rows = stmt.query([super::sql::key_list(donors)])?;
    let mut out: BTreeMap<String, Vec<DeferralFact>> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let fact = deferral_from_row(r)?.fact()?;
        out.entry(r.get(10)?).or_default().push(fact);
    }
    Ok(out)
}

fn deferral_from_row(r: &Row) -> rusqlite::Result<StoredDeferral> {
    {
        let screening = match r.get::<_, Option<i64>>(5)? {
            Some(sid) => Some((sid, stored(r, 6)?)),
            None => None,
        };
        let recall: Option<i64> = r.get(7)?;
        let adverse_event: Option<i64> = r.get(9)?;
        Ok(StoredDeferral {
            id: r.get(0)?,
            starts_on: stored(r, 1)?,
            until: stored(r, 2)?,
            // A recall's or safety signal's deferral is stored open-ended, but ends when lifted.
            permanent: r.get::<_, i64>(3)? != 0 && recall.is_none() && adverse_event.is_none(),
            reason: r.get(4)?,
            screening,
            recall,
            adverse_event,
            lifted_on: stored(r, 8)?,
        })
    }
}

/// A donor's deferrals as the rules read them (a malformed value among them is an error).
pub(crate) fn deferrals(c: &Tx, donor: &Id) -> Result<Vec<DeferralFact>> {
    let all = stored_deferrals(c, donor)?;
    Ok(all.iter().map(StoredDeferral::fact).collect::<std::result::Result<_, _>>()?)
}

pub(super) const RECALL_DAYS: &str = "SELECT r.at FROM recalls r WHERE r.donor_id = ?1
     UNION
     SELECT r.at FROM donations d JOIN batches b ON b.donation_id = d.id JOIN recalls r ON r.batch_id = b.id
     WHERE d.donor_id = ?1
     UNION
     SELECT r.at FROM donations d JOIN batches b ON b.donation_id = d.id JOIN units u ON u.batch_id = b.id
          JOIN recalls r ON r.id = u.recall_id
     WHERE d.donor_id = ?1
     ORDER BY 1";

/// Days on which a recall named the donor, or one of the donor's batches, or a collection window holding one
/// of the donor's donations. Three indexed lookups from the donor's own records (a UNION, not an OR over every
/// recall), so the donor list's eligibility costs the same per page however many recalls the bank holds.
pub(crate) fn recall_days(c: &Tx, donor: &Id) -> Result<Vec<DateTime<Utc>>> {
    let mut stmt = c.prepare_cached(RECALL_DAYS)?;
    let rows = stmt.query_map([donor.data()], |r| ts(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Everything the eligibility and release rules read about a donor (a malformed value among them is an error:
/// no rule is judged on a fact that cannot be read).
pub(crate) fn facts(c: &Tx, d: &Donor) -> Result<DonorFacts> {
    let id = d.id.get()?;
    Ok(DonorFacts {
        birth_date: Some(d.birth_date.value()?),
        screenings: screenings(c, id)?,
        deferrals: deferrals(c, id)?,
        recalls: recall_days(c, id)?.into_iter().map(crate::time::local_day).collect(),
    })
}
