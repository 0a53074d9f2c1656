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
    Ok(c.last_insert_rowid())
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
