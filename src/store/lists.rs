//! The queries behind the bench's lists: searches and filters over whole tables, a page at a time by keyset
//! (`id > last shown`, on the primary key, so a page costs the same on the first row as on the millionth).
//! They return identifiers; the records themselves are read by the usual per-record queries.

use chrono::NaiveDate;
use rusqlite::params;

use super::{Key, Result, Stored, Tx};
use crate::core::ids::Id;

/// Identifiers as stored: one no reader can parse is kept (and listed, marked), never dropped.
fn ids(c: &Tx, sql: &str, p: impl super::engine::Args) -> Result<Vec<Stored<Id>>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(p, |r| super::sql::stored(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `text` as a LIKE pattern matching it anywhere, its wildcards taken literally.
fn contains(text: &str) -> String {
    let escaped: String =
        text.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("%{escaped}%")
}

/// The bound above every stored code that starts with a prefix: codes are capitals and digits, all below `~`,
/// so `prefix <= id < prefix~` is a range on the primary key's index.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}~")
}

/// The records coded by identifier that a list pages through by code prefix.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Coded {
    Donors,
    Recipients,
}

/// Records of `table` whose stored code starts with `prefix` (compact form, capitals), after `after`, in code
/// order.
pub(crate) fn by_code(
    c: &Tx,
    table: Coded,
    prefix: &str,
    after: Option<&Stored<Id>>,
    limit: usize,
) -> Result<Vec<Stored<Id>>> {
    let sql = match table {
        Coded::Donors => "SELECT id FROM donors WHERE id > ?1 AND id >= ?2 AND id < ?3 ORDER BY id LIMIT ?4",
        Coded::Recipients => "SELECT id FROM recipients WHERE id > ?1 AND id >= ?2 AND id < ?3 ORDER BY id LIMIT ?4",
    };
    ids(c, sql, params![after.map_or("", Key::key), prefix, prefix_end(prefix), limit as i64])
}

/// Recipients whose stored code starts with `prefix` or whose indication contains `text` (any case), after
/// `after`, in code order.
pub(crate) fn recipients_matching(
    c: &Tx,
    prefix: &str,
    text: &str,
    after: Option<&Stored<Id>>,
    limit: usize,
) -> Result<Vec<Stored<Id>>> {
    ids(
        c,
        "SELECT id FROM recipients WHERE id > ?1 AND ((id >= ?2 AND id < ?3) OR indication LIKE ?4 ESCAPE '\\')
         ORDER BY id LIMIT ?5",
        params![after.map_or("", Key::key), prefix, prefix_end(prefix), contains(text), limit as i64],
    )
}

/// Batches in quarantine (not released, discarded or recalled), after `after`, in code order: a batch's code
/// starts with its donation number (facility, year, sequence), so this is the order the donations came in.
pub(crate) fn batches_in_quarantine(c: &Tx, after: Option<&Stored<Id>>, limit: usize) -> Result<Vec<Stored<Id>>> {
    ids(
        c,
        &format!("SELECT id FROM batches WHERE id > ?1 AND {QUARANTINED} ORDER BY id LIMIT ?2"),
        params![after.map_or("", Key::key), limit as i64],
    )
}

/// How many batches are in quarantine.
pub(crate) fn batches_in_quarantine_count(c: &Tx) -> Result<usize> {
    let n: i64 = c.query_row(&format!("SELECT count(*) FROM batches WHERE {QUARANTINED}"), (), |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

const QUARANTINED: &str = "released_at IS NULL AND discarded_at IS NULL AND recalled_at IS NULL";

/// Which doses on the shelf a filter may hold. The core decides each unit's status; this only narrows the
/// rows read to those that can have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf {
    /// Every dose on the shelf.
    All,
    /// Batch not released.
    NotReleased,
    /// Batch released and not past its expiry on the day.
    ReleasedInDate(NaiveDate),
    /// Past its expiry on the day.
    PastExpiry(NaiveDate),
}

/// Doses on the shelf (not dispensed, discarded or recalled) that `shelf` admits, after `after`, in code order.
pub(crate) fn units_on_shelf(
    c: &Tx,
    shelf: Shelf,
    after: Option<&Stored<Id>>,
    limit: usize,
) -> Result<Vec<Stored<Id>>> {
    // Every form binds ?3, the day, null where the filter needs none (typed, so that a server can prepare it).
    let (narrow, day) = match shelf {
        Shelf::All => ("CAST(?3 AS TEXT) IS NULL", None),
        Shelf::NotReleased => ("CAST(?3 AS TEXT) IS NULL AND b.released_at IS NULL", None),
        Shelf::ReleasedInDate(d) => ("b.released_at IS NOT NULL AND b.expires_on >= ?3", Some(d)),
        Shelf::PastExpiry(d) => ("b.expires_on < ?3", Some(d)),
    };
    ids(
        c,
        &format!(
            "SELECT u.id FROM units u JOIN batches b ON b.id = u.batch_id LEFT JOIN dispenses d ON d.unit_id = u.id
             WHERE u.id > ?1 AND u.kind = 'dose' AND d.id IS NULL AND u.discarded_at IS NULL
               AND u.recalled_at IS NULL AND {narrow}
             ORDER BY u.id LIMIT ?2"
        ),
        params![after.map_or("", Key::key), limit as i64, day.map(|d| d.to_string())],
    )
}

/// A recall recorded before: when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierRecall {
    pub at: String,
    pub reason: String,
}

/// Recalls already recorded with the same selection: by donor, by batch, or by the same collection window.
pub(crate) fn recalls_like(
    c: &Tx,
    selector: &str,
    subject: Option<&Id>,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<Vec<EarlierRecall>> {
    let mut stmt = c.prepare_cached(
        "SELECT at, reason FROM recalls WHERE selector = ?1
           AND (CAST(?2 AS TEXT) IS NULL OR donor_id = ?2 OR batch_id = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR (from_date = ?3 AND to_date = ?4))
         ORDER BY at",
    )?;
    let rows = stmt.query_map(
        params![selector, subject.map(Id::data), window.map(|w| w.0.to_string()), window.map(|w| w.1.to_string())],
        |r| Ok(EarlierRecall { at: r.get(0)?, reason: r.get(1)? }),
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
