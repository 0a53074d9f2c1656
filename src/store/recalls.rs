//! Recall selection and the record of a recall. Each selection is one indexed query, so a recall over years of
//! data comes back in milliseconds.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};

use super::sql::stored;
use super::{Result, Stored, Tx};
use crate::core::ids::Id;
use crate::time::to_db;

// Batch identifiers are read as stored: a malformed one is still selected (and shown marked), never an error
// that would stop the recall's answer for every well-formed batch beside it.
fn ids(c: &Tx, sql: &str, p: impl super::engine::Args) -> Result<Vec<Stored<Id>>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(p, |r| stored(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Batches of a donor's donations collected at or after `from` (UTC). A donation whose collection time cannot be
/// read may be within, so its batches are selected too: a recall never misses a unit because a time is malformed.
pub(crate) fn batches_of_donor_since(c: &Tx, donor: &Id, from: Option<DateTime<Utc>>) -> Result<Vec<Stored<Id>>> {
    let mut stmt = c.prepare_cached(
        "SELECT b.id, d.collected_at FROM donations d JOIN batches b ON b.donation_id = d.id
         WHERE d.donor_id = ?1 ORDER BY d.collected_at, b.id",
    )?;
    let rows = stmt.query_map([donor.data()], |r| Ok((stored::<Id>(r, 0)?, stored::<DateTime<Utc>>(r, 1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (batch, collected) = row?;
        if from.is_none_or(|from| collected.ok().is_none_or(|c| *c >= from)) {
            out.push(batch);
        }
    }
    Ok(out)
}

/// Batches of donations collected in [from, to) (UTC), across donors. The window is a range of the stored text,
/// which holds for times in the form stoolbank writes; a donation whose time is in another form (found through a
/// partial index, empty in a sound bank) is selected too when that time cannot be read or falls in the window,
/// after the others: a recall never misses a unit because a time is malformed.
pub(crate) fn batches_collected_between(c: &Tx, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<Stored<Id>>> {
    let mut out = ids(
        c,
        "SELECT b.id FROM donations d JOIN batches b ON b.donation_id = d.id
         WHERE d.collected_at >= ?1 AND d.collected_at < ?2 ORDER BY d.collected_at, b.id",
        params![to_db(from), to_db(to)],
    )?;
    let mut stmt = c.prepare_cached(BATCHES_OF_UNREADABLE_TIMES)?;
    let rows = stmt.query_map((), |r| Ok((stored::<Id>(r, 0)?, stored::<DateTime<Utc>>(r, 1)?)))?;
    for row in rows {
        let (batch, collected) = row?;
        if collected.ok().is_none_or(|t| (from..to).contains(t)) && !out.contains(&batch) {
            out.push(batch);
        }
    }
    Ok(out)
}

/// The batches of donations whose collection time is not in the form stoolbank writes: the partial index
/// `donations_time_unreadable` (the same expression) finds them without reading the others.
pub(crate) const BATCHES_OF_UNREADABLE_TIMES: &str = "SELECT b.id, d.collected_at
     FROM donations d INDEXED BY donations_time_unreadable JOIN batches b ON b.donation_id = d.id
     WHERE strftime('%Y-%m-%dT%H:%M:%SZ', d.collected_at) IS NOT d.collected_at ORDER BY d.id, b.id";

pub(crate) struct NewRecall<'a> {
    pub reason: &'a str,
    pub selector: &'a str,
    pub donor: Option<&'a Id>,
    pub batch: Option<&'a Id>,
    pub from_date: Option<String>,
    pub to_date: Option<String>,
    pub at: DateTime<Utc>,
    pub answer: &'a serde_json::Value,
    pub recorded_at: DateTime<Utc>,
}

pub(crate) fn insert_recall(c: &Tx, r: &NewRecall) -> Result<i64> {
    c.execute(
        "INSERT INTO recalls (reason, selector, donor_id, batch_id, from_date, to_date, at, answer, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            r.reason,
            r.selector,
            r.donor.map(Id::data),
            r.batch.map(Id::data),
            r.from_date,
            r.to_date,
            to_db(r.at),
            r.answer.to_string(),
            to_db(r.recorded_at)
        ],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// Recalls applied earlier with the same selector (kind, donor, batch, dates): (record, when, answer).
pub(crate) fn recalls_like(c: &Tx, r: &NewRecall) -> Result<Vec<(i64, DateTime<Utc>, serde_json::Value)>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, at, answer FROM recalls WHERE selector = ?1 AND donor_id IS ?2 AND batch_id IS ?3
           AND from_date IS ?4 AND to_date IS ?5 ORDER BY id",
    )?;
    let rows = stmt.query_map(
        params![r.selector, r.donor.map(Id::data), r.batch.map(Id::data), r.from_date, r.to_date],
        |row| {
            let answer: String = row.get(2)?;
            Ok((row.get(0)?, super::sql::ts(row, 1)?, serde_json::from_str(&answer).unwrap_or_default()))
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A recall as recorded: what it selected and when.
pub(crate) struct RecallRow {
    pub reason: String,
    pub selector: String,
    pub donor: Option<Id>,
    pub batch: Option<Id>,
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    pub at: DateTime<Utc>,
    pub answer: serde_json::Value,
}

pub(crate) fn recall(c: &Tx, id: i64) -> Result<Option<RecallRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT reason, selector, donor_id, batch_id, from_date, to_date, at, answer FROM recalls WHERE id = ?1",
    )?;
    let row = stmt
        .query_row([id], |r| {
            let opt_id = |i| r.get::<_, Option<super::sql::StoredId>>(i).map(|x| x.map(|s| s.0));
            let opt_day = |i| r.get::<_, Option<super::sql::Day>>(i).map(|x| x.map(|d| d.0));
            let answer: String = r.get(7)?;
            Ok(RecallRow {
                reason: r.get(0)?,
                selector: r.get(1)?,
                donor: opt_id(2)?,
                batch: opt_id(3)?,
                from_date: opt_day(4)?,
                to_date: opt_day(5)?,
                at: super::sql::ts(r, 6)?,
                answer: serde_json::from_str(&answer).unwrap_or_default(),
            })
        })
        .optional()?;
    Ok(row)
}

/// Replaces a recall's answer (when a dispense it should have named is recorded later).
pub(crate) fn set_answer(c: &Tx, id: i64, answer: &serde_json::Value) -> Result<()> {
    c.execute("UPDATE recalls SET answer = ?2 WHERE id = ?1", params![id, answer.to_string()])?;
    Ok(())
}

/// The recall that took a unit off the shelf, if any.
pub(crate) fn recall_of_unit(c: &Tx, unit: &Id) -> Result<Option<i64>> {
    Ok(c.query_row("SELECT recall_id FROM units WHERE id = ?1", [unit.data()], |r| r.get(0)).optional()?.flatten())
}

/// A recipient to contact about a recall (read as stored: a malformed value is shown marked, the contact kept).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecallContact {
    pub recall: i64,
    pub unit: Stored<Id>,
    pub reason: String,
    pub recorded_at: Stored<DateTime<Utc>>,
}

pub(crate) fn insert_contact(c: &Tx, recipient: &Id, contact: &RecallContact) -> Result<i64> {
    c.execute(
        "INSERT INTO recall_contacts (recall_id, recipient_id, unit_id, reason, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            contact.recall,
            recipient.data(),
            contact.unit.get()?.data(),
            contact.reason,
            to_db(contact.recorded_at.value()?)
        ],
    )?;
    Ok(c.last_insert_rowid()?)
}

pub(crate) fn contacts_of_recipient(c: &Tx, recipient: &(impl super::Key + ?Sized)) -> Result<Vec<RecallContact>> {
    let mut stmt = c.prepare_cached(
        "SELECT recall_id, unit_id, reason, recorded_at FROM recall_contacts WHERE recipient_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([recipient.key()], |r| {
        Ok(RecallContact { recall: r.get(0)?, unit: stored(r, 1)?, reason: r.get(2)?, recorded_at: stored(r, 3)? })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The recall contacts of a set of recipients: (recipient as stored, contact), by recipient then record.
pub(crate) const CONTACTS_OF_RECIPIENTS: &str = "SELECT recipient_id, recall_id, unit_id, reason, recorded_at
     FROM recall_contacts WHERE recipient_id IN (SELECT value FROM json_each(?1)) ORDER BY recipient_id, id";

pub(crate) fn contacts_of_recipients<'a>(
    c: &Tx,
    recipients: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<(String, RecallContact)>> {
    let mut stmt = c.prepare_cached(CONTACTS_OF_RECIPIENTS)?;
    let rows = stmt.query_map([super::sql::key_list(recipients)], |r| {
        Ok((
            r.get(0)?,
            RecallContact { recall: r.get(1)?, unit: stored(r, 2)?, reason: r.get(3)?, recorded_at: stored(r, 4)? },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
