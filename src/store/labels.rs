//! Label prints and label verification: the print log (`label_prints`, append-only) and a unit's
//! `label_verified_at`, which a print of the unit's label clears (a new label needs its own verification).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{Result, Tx};
use crate::core::ids::Id;
use crate::time::to_db;

/// One print of one label, as recorded.
pub(crate) struct Print<'a> {
    pub entity: &'a Id,
    pub target: &'a str,
    pub copies: u32,
    pub reprint: bool,
    pub reason: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// Whether any label of `entity` (a donation, batch or unit identifier) has been printed.
pub(crate) fn printed_before(c: &Tx, entity: &Id) -> Result<bool> {
    Ok(c.query_row("SELECT 1 FROM label_prints WHERE entity_id = ?1 LIMIT 1", [entity.data()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Records a print (always ZPL: previews are not prints); returns its row id.
pub(crate) fn insert_print(c: &Tx, p: &Print) -> Result<i64> {
    c.execute(
        "INSERT INTO label_prints (entity_id, format, target, copies, reprint, reason, at, recorded_at)
         VALUES (?1, 'zpl', ?2, ?3, ?4, ?5, ?6, ?7)",
        params![p.entity.data(), p.target, p.copies, i64::from(p.reprint), p.reason, to_db(p.at), to_db(p.recorded_at)],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// A label claimed for printing and not yet closed: its row and when it was claimed.
pub(crate) struct OpenClaim {
    pub id: i64,
    pub claimed_at: DateTime<Utc>,
}

/// The open claim on `entity`'s label, if a bench is printing it.
pub(crate) fn open_claim(c: &Tx, entity: &Id) -> Result<Option<OpenClaim>> {
    Ok(c.query_row(
        "SELECT id, claimed_at FROM label_claims WHERE entity_id = ?1 AND closed_at IS NULL",
        [entity.data()],
        |r| Ok(OpenClaim { id: r.get(0)?, claimed_at: super::sql::ts(r, 1)? }),
    )
    .optional()?)
}

/// Claims `entity`'s label for a print to `target`; returns the claim's row id. The unique index on open claims
/// refuses a second one.
pub(crate) fn insert_claim(c: &Tx, entity: &Id, target: &str, reprint: bool, at: DateTime<Utc>) -> Result<i64> {
    c.execute(
        "INSERT INTO label_claims (entity_id, target, reprint, claimed_at) VALUES (?1, ?2, ?3, ?4)",
        params![entity.data(), target, i64::from(reprint), to_db(at)],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// Closes a claim with what became of it (printed, failed and why, abandoned).
pub(crate) fn close_claim(c: &Tx, claim: i64, outcome: &str, at: DateTime<Utc>) -> Result<()> {
    c.execute(
        "UPDATE label_claims SET outcome = ?2, closed_at = ?3 WHERE id = ?1 AND closed_at IS NULL",
        params![claim, outcome, to_db(at)],
    )?;
    Ok(())
}

/// Marks a unit's printed label as scanned back and matched.
pub(crate) fn set_verified(c: &Tx, unit: &Id, at: DateTime<Utc>) -> Result<()> {
    c.execute("UPDATE units SET label_verified_at = ?2 WHERE id = ?1", params![unit.data(), to_db(at)])?;
    Ok(())
}

/// Clears a unit's verification (its label was printed again); false when it was not verified.
pub(crate) fn clear_verified(c: &Tx, unit: &Id) -> Result<bool> {
    let n = c.execute(
        "UPDATE units SET label_verified_at = NULL WHERE id = ?1 AND label_verified_at IS NOT NULL",
        [unit.data()],
    )?;
    Ok(n > 0)
}
