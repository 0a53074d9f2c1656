//! Follow-up: the study record of each recipient, follow-up visits and adverse events, and the dispenses with
//! what the reports group them by (route, product, donor).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::recipients::Recipient;
use super::sql::{day, id, text, ts};
use super::Row;
use super::{Result, StoreError, Tx};
use crate::core::followup::{ExclusionGround, Outcome, Relatedness, Timepoint};
use crate::core::ids::Id;
use crate::time::to_db;

/// A dispense with the facts the clinical side groups by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DispenseRow {
    pub id: i64,
    pub unit: Id,
    pub recipient: Id,
    pub route: String,
    pub at: DateTime<Utc>,
    pub product: String,
    pub batch: Id,
    pub donor: Id,
    /// When the unit's donation was collected.
    pub collected_at: DateTime<Utc>,
}

/// Dispenses with what the reports group them by, read by [`dispense_from_row`].
const DISPENSES_SELECT: &str = "SELECT p.id, p.unit_id, p.recipient_id, p.route, p.at, b.product, b.id,
     d.donor_id, d.collected_at FROM dispenses p JOIN units u ON u.id = p.unit_id
     JOIN batches b ON b.id = u.batch_id JOIN donations d ON d.id = b.donation_id";

fn dispense_from_row(r: &Row) -> rusqlite::Result<DispenseRow> {
    Ok(DispenseRow {
        id: r.get(0)?,
        unit: id(r, 1)?,
        recipient: id(r, 2)?,
        route: r.get(3)?,
        at: ts(r, 4)?,
        product: r.get(5)?,
        batch: id(r, 6)?,
        donor: id(r, 7)?,
        collected_at: ts(r, 8)?,
    })
}

/// A recipient's dispenses, oldest first (the whole cohort is read by [`each_treated`]).
pub(crate) fn dispenses(c: &Tx, recipient: &Id) -> Result<Vec<DispenseRow>> {
    let mut stmt = c.prepare_cached(&format!("{DISPENSES_SELECT} WHERE p.recipient_id = ?1 ORDER BY p.at, p.id"))?;
    let rows = stmt.query_map([recipient.data()], dispense_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A dispense as the follow-up work list reads it: when, and the visits in force recorded against it (a visit
/// names a dispense of the course it follows).
#[derive(Debug, Clone, PartialEq)]
pub struct CourseDispense {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub visits: Vec<Timepoint>,
}

/// Every dispense in recipient order, then oldest first, with its recipient's indication and the time points of
/// the visits in force recorded against it: one pass along the covering index `dispenses_recipient`, a seek on
/// the covering `followups_course` for each.
pub(super) const DISPENSES_WITH_VISITS: &str = "SELECT p.recipient_id, r.indication, p.id, p.at,
        (SELECT group_concat(f.timepoint) FROM followups f WHERE f.course_id = p.id
           AND NOT EXISTS (SELECT 1 FROM followups g WHERE g.supersedes = f.id))
     FROM dispenses p JOIN recipients r ON r.id = p.recipient_id
     ORDER BY p.recipient_id, p.at, p.id";

/// Hands `each` every treated recipient in code order, with its indication and its dispenses oldest first
/// (holding one recipient's rows at a time, so memory stays flat however large the bank).
pub(crate) fn dispenses_by_recipient(c: &Tx, mut each: impl FnMut(Id, String, Vec<CourseDispense>)) -> Result<()> {
    let mut stmt = c.prepare_cached(DISPENSES_WITH_VISITS)?;
    let mut rows = stmt.stream(())?;
    let mut current: Option<(Id, String, Vec<CourseDispense>)> = None;
    while let Some(r) = rows.next()? {
        let recipient = id(r, 0)?;
        let visits = match r.get::<_, Option<String>>(4)? {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|t| t.parse::<Timepoint>().map_err(|e| StoreError::Corrupt(format!("follow-up time point: {e}"))))
                .collect::<Result<_>>()?,
        };
        let dispense = CourseDispense { id: r.get(2)?, at: ts(r, 3)?, visits };
        match &mut current {
            Some((rid, _, ds)) if *rid == recipient => ds.push(dispense),
            _ => {
                if let Some((rid, indication, ds)) = current.take() {
                    each(rid, indication, ds);
                }
                current = Some((recipient, r.get(1)?, vec![dispense]));
            }
        }
    }
    if let Some((rid, indication, ds)) = current {
        each(rid, indication, ds);
    }
    Ok(())
}

/// The study's record of a recipient; the latest row of a recipient is in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyRecord {
    pub id: i64,
    pub recipient: Id,
    pub diagnosis_date: Option<NaiveDate>,
    pub prior_therapies: Option<String>,
    pub exclusion: Option<ExclusionGround>,
    pub exclusion_reason: Option<String>,
    pub at: DateTime<Utc>,
}

pub(crate) fn insert_study_record(c: &Tx, s: &StudyRecord, recorded_at: DateTime<Utc>) -> Result<i64> {
    c.execute(
        "INSERT INTO study_records (recipient_id, diagnosis_date, prior_therapies, exclusion, exclusion_reason, at,
                                    recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            s.recipient.data(),
            s.diagnosis_date.map(|d| d.to_string()),
            s.prior_therapies,
            s.exclusion.map(ExclusionGround::as_str),
            s.exclusion_reason,
            to_db(s.at),
            to_db(recorded_at)
        ],
    )?;
    Ok(c.last_insert_rowid()?)
}

fn study_from_row(r: &Row) -> rusqlite::Result<StudyRecord> {
    Ok(StudyRecord {
        id: r.get(0)?,
        recipient: id(r, 1)?,
        diagnosis_date: r.get::<_, Option<super::sql::Day>>(2)?.map(|d| d.0),
        prior_therapies: r.get(3)?,
        exclusion: r.get::<_, Option<super::sql::Text<ExclusionGround>>>(4)?.map(|t| t.0),
        exclusion_reason: r.get(5)?,
        at: ts(r, 6)?,
    })
}

const STUDY_COLUMNS: &str = "id, recipient_id, diagnosis_date, prior_therapies, exclusion, exclusion_reason, at";

/// A recipient's study record in force (its latest row), if any.
pub(crate) fn study_record(c: &Tx, recipient: &Id) -> Result<Option<StudyRecord>> {
    Ok(c.query_row(
        &format!("SELECT {STUDY_COLUMNS} FROM study_records WHERE recipient_id = ?1 ORDER BY id DESC LIMIT 1"),
        [recipient.data()],
        study_from_row,
    )
    .optional()?)
}

/// A follow-up visit. `course` is the first dispense of the course it follows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Followup {
    pub id: i64,
    pub recipient: Id,
    pub course: i64,
    pub timepoint: Timepoint,
    pub date: NaiveDate,
    pub outcome: Outcome,
    pub scores: BTreeMap<String, f64>,
    pub recorded_at: DateTime<Utc>,
    pub supersedes: Option<i64>,
}

pub(crate) fn insert_followup(c: &Tx, f: &Followup) -> Result<i64> {
    let scores = serde_json::to_string(&f.scores).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    c.execute(
        "INSERT INTO followups (recipient_id, course_id, timepoint, date, outcome, scores, recorded_at, supersedes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            f.recipient.data(),
            f.course,
            f.timepoint.as_str(),
            f.date.to_string(),
            f.outcome.as_str(),
            scores,
            to_db(f.recorded_at),
            f.supersedes
        ],
    )?;
    Ok(c.last_insert_rowid()?)
}

fn followup_from_row(r: &Row) -> rusqlite::Result<Followup> {
    let scores: String = r.get(6)?;
    Ok(Followup {
        id: r.get(0)?,
        recipient: id(r, 1)?,
        course: r.get(2)?,
        timepoint: text(r, 3)?,
        date: day(r, 4)?,
        outcome: text(r, 5)?,
        scores: serde_json::from_str(&scores)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e)))?,
        recorded_at: ts(r, 7)?,
        supersedes: r.get(8)?,
    })
}

const FOLLOWUP_COLUMNS: &str = "id, recipient_id, course_id, timepoint, date, outcome, scores, recorded_at, supersedes";

/// A recipient's visits in force (not superseded by a correction), by date.
pub(crate) fn followups(c: &Tx, recipient: &Id) -> Result<Vec<Followup>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {FOLLOWUP_COLUMNS} FROM followups f WHERE recipient_id = ?1
         AND NOT EXISTS (SELECT 1 FROM followups g WHERE g.supersedes = f.id) ORDER BY date, id"
    ))?;
    let rows = stmt.query_map([recipient.data()], followup_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn followup(c: &Tx, followup: i64) -> Result<Option<(Followup, bool)>> {
    Ok(c.query_row(
        &format!(
            "SELECT {FOLLOWUP_COLUMNS}, EXISTS (SELECT 1 FROM followups g WHERE g.supersedes = f.id)
             FROM followups f WHERE id = ?1"
        ),
        [followup],
        |r| Ok((followup_from_row(r)?, r.get(9)?)),
    )
    .optional()?)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdverseEvent {
    pub id: i64,
    pub recipient: Id,
    pub onset: NaiveDate,
    pub term: String,
    pub grade: u8,
    pub serious: bool,
    pub relatedness: Relatedness,
    pub unit: Option<Id>,
    pub outcome: Option<String>,
    pub resolved_on: Option<NaiveDate>,
    pub recorded_at: DateTime<Utc>,
    pub supersedes: Option<i64>,
}

pub(crate) fn insert_adverse_event(c: &Tx, e: &AdverseEvent) -> Result<i64> {
    c.execute(
        "INSERT INTO adverse_events (recipient_id, onset, term, grade, serious, relatedness, unit_id, outcome,
                                     resolved_on, recorded_at, supersedes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.recipient.data(),
            e.onset.to_string(),
            e.term,
            e.grade,
            e.serious,
            e.relatedness.as_str(),
            e.unit.as_ref().map(Id::data),
            e.outcome,
            e.resolved_on.map(|d| d.to_string()),
            to_db(e.recorded_at),
            e.supersedes
        ],
    )?;
    Ok(c.last_insert_rowid()?)
}

fn event_from_row(r: &Row) -> rusqlite::Result<AdverseEvent> {
    Ok(AdverseEvent {
        id: r.get(0)?,
        recipient: id(r, 1)?,
        onset: day(r, 2)?,
        term: r.get(3)?,
        grade: r.get(4)?,
        serious: r.get(5)?,
        relatedness: text(r, 6)?,
        unit: r.get::<_, Option<super::sql::StoredId>>(7)?.map(|s| s.0),
        outcome: r.get(8)?,
        resolved_on: r.get::<_, Option<super::sql::Day>>(9)?.map(|d| d.0),
        recorded_at: ts(r, 10)?,
        supersedes: r.get(11)?,
    })
}

const EVENT_COLUMNS: &str = "id, recipient_id, onset, term, grade, serious, relatedness, unit_id, outcome, \
                             resolved_on, recorded_at, supersedes";

/// A recipient's adverse events in force (not superseded), by onset.
pub(crate) fn adverse_events(c: &Tx, recipient: &Id) -> Result<Vec<AdverseEvent>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM adverse_events e WHERE recipient_id = ?1
         AND NOT EXISTS (SELECT 1 FROM adverse_events g WHERE g.supersedes = e.id) ORDER BY onset, id"
    ))?;
    let rows = stmt.query_map([recipient.data()], event_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn adverse_event(c: &Tx, event: i64) -> Result<Option<(AdverseEvent, bool)>> {
    Ok(c.query_row(
        &format!(
            "SELECT {EVENT_COLUMNS}, EXISTS (SELECT 1 FROM adverse_events g WHERE g.supersedes = e.id)
             FROM adverse_events e WHERE id = ?1"
        ),
        [event],
        |r| Ok((event_from_row(r)?, r.get(12)?)),
    )
    .optional()?)
}

/// The rows of one statement in recipient order, taken one recipient at a time (each row with its recipient).
struct ByRecipient<T, I: Iterator<Item = rusqlite::Result<(String, T)>>>(std::iter::Peekable<I>);

impl<T, I: Iterator<Item = rusqlite::Result<(String, T)>>> ByRecipient<T, I> {
    fn new(rows: I) -> Self {
        ByRecipient(rows.peekable())
    }

    /// The recipient of the next row, if any.
    fn next_recipient(&mut self) -> Option<String> {
        self.0.peek().and_then(|r| r.as_ref().ok()).map(|(k, _)| k.clone())
    }

    /// The rows of `recipient`, passing over those of recipients before it.
    fn take(&mut self, recipient: &str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while let Some(row) = self.0.next_if(|r| r.as_ref().map_or(true, |(k, _)| k.as_str() <= recipient)) {
            let (k, v) = row?;
            if k == recipient {
                out.push(v);
            }
        }
        Ok(out)
    }
}

/// One treated recipient, as the reports read them.
pub(crate) struct History {
    pub recipient: Recipient,
    /// Oldest first.
    pub dispenses: Vec<DispenseRow>,
    /// The visits in force, by date.
    pub visits: Vec<Followup>,
    /// The study record in force.
    pub study: Option<StudyRecord>,
}

/// Hands `each` every treated recipient in code order with their history. Four statements walk their tables'
/// recipient indexes side by side (a merge on the recipient), so one recipient's rows are held at a time and a
/// report's memory stays flat however large the bank.
pub(crate) fn each_treated<E: From<StoreError>>(
    c: &Tx,
    mut each: impl FnMut(History) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let keyed = |r: &Row, key: usize| r.get::<_, String>(key);
    let mut d = c
        .prepare_cached(&format!("{DISPENSES_SELECT} ORDER BY p.recipient_id, p.at, p.id"))
        .map_err(StoreError::from)?;
    let mut dispenses =
        ByRecipient::new(d.stream_map((), |r| Ok((keyed(r, 2)?, dispense_from_row(r)?))).map_err(StoreError::from)?);
    let mut r = c.prepare_cached(&super::recipients::all_sql()).map_err(StoreError::from)?;
    let mut recipients = ByRecipient::new(
        r.stream_map((), |r| Ok((keyed(r, 0)?, super::recipients::from_row(r)?))).map_err(StoreError::from)?,
    );
    let mut f = c.prepare_cached(&format!(
        "SELECT {FOLLOWUP_COLUMNS} FROM followups f WHERE NOT EXISTS (SELECT 1 FROM followups g WHERE g.supersedes = f.id)
         ORDER BY recipient_id, date, id"
    ))
    .map_err(StoreError::from)?;
    let mut visits =
        ByRecipient::new(f.stream_map((), |r| Ok((keyed(r, 1)?, followup_from_row(r)?))).map_err(StoreError::from)?);
    let mut s = c
        .prepare_cached(&format!("SELECT {STUDY_COLUMNS} FROM study_records ORDER BY recipient_id, id"))
        .map_err(StoreError::from)?;
    let mut study =
        ByRecipient::new(s.stream_map((), |r| Ok((keyed(r, 1)?, study_from_row(r)?))).map_err(StoreError::from)?);
    while let Some(rid) = dispenses.next_recipient() {
        let dispenses = dispenses.take(&rid)?;
        // Every dispense names a recipient (a foreign key); a row that could not be read was an error above.
        let Some(recipient) = recipients.take(&rid)?.pop() else { continue };
        each(History { recipient, dispenses, visits: visits.take(&rid)?, study: study.take(&rid)?.pop() })?;
    }
    // A row that could not be read ends the walk with its error, not silently.
    dispenses.take("")?;
    Ok(())
}

/// Hands `each` every recipient with a dispense or an adverse event, in code order: when each of their
/// dispenses was given, and their adverse events in force by onset (a merge like [`each_treated`]'s).
pub(crate) fn each_exposed<E: From<StoreError>>(
    c: &Tx,
    mut each: impl FnMut(Vec<DateTime<Utc>>, Vec<AdverseEvent>) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut d = c
        .prepare_cached("SELECT recipient_id, at FROM dispenses ORDER BY recipient_id, at")
        .map_err(StoreError::from)?;
    let mut given =
        ByRecipient::new(d.stream_map((), |r| Ok((r.get::<_, String>(0)?, ts(r, 1)?))).map_err(StoreError::from)?);
    let mut e = c
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM adverse_events e
         WHERE NOT EXISTS (SELECT 1 FROM adverse_events g WHERE g.supersedes = e.id) ORDER BY recipient_id, onset, id"
        ))
        .map_err(StoreError::from)?;
    let mut events = ByRecipient::new(
        e.stream_map((), |r| Ok((r.get::<_, String>(1)?, event_from_row(r)?))).map_err(StoreError::from)?,
    );
    loop {
        let next = match (given.next_recipient(), events.next_recipient()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(k), None) | (None, Some(k)) => k,
            (None, None) => break,
        };
        each(given.take(&next)?, events.take(&next)?)?;
    }
    given.take("")?;
    events.take("")?;
    Ok(())
}
