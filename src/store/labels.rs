//! Label prints: every print and reprint of a label, with who asked for it and why.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{Result, Tx};
use crate::core::ids::Id;
use crate::time::to_db;

/// A print of one record's label, as recorded.
pub(crate) struct NewPrint<'a> {
    pub entity: &'a Id,
    pub target: &'a str,
    pub copies: u32,
    pub reprint: bool,
    pub reason: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

pub(crate) fn printed_before(c: &Tx, entity: &Id) -> Result<bool> {
    Ok(c.query_row("SELECT 1 FROM label_prints WHERE entity_id = ?1 LIMIT 1", [entity.data()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Records a ZPL print; returns its row id.
pub(crate) fn insert_print(c: &Tx, p: &NewPrint) -> Result<i64> {
    c.execute(
        "INSERT INTO label_prints (entity_id, format, target, copies, reprint, reason, at, recorded_at)
         VALUES (?1, 'zpl', ?2, ?3, ?4, ?5, ?6, ?7)",
        params![p.entity.data(), p.target, p.copies, p.reprint as i64, p.reason, to_db(p.at), to_db(p.recorded_at)],
    )?;
    Ok(c.last_insert_rowid())
}
