//! Bank settings, existence checks and `SQLite`'s own integrity checks.

use chrono::NaiveDate;
use rusqlite::{params, OptionalExtension};

use super::{Result, Tx};
use crate::core::ids::{Id, IdKind};

pub(crate) fn get(c: &Tx, key: &str) -> Result<Option<String>> {
    Ok(c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
}

pub(crate) fn set(c: &Tx, key: &str, value: &str) -> Result<()> {
    c.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

pub(crate) fn donation_count(c: &Tx) -> Result<i64> {
    Ok(c.query_row("SELECT count(*) FROM donations", (), |r| r.get(0))?)
}

pub(crate) fn exists(c: &Tx, id: &Id) -> Result<bool> {
    let table = match id.kind() {
        IdKind::Donor => "donors",
        IdKind::Recipient => "recipients",
        IdKind::Donation => "donations",
        IdKind::Batch => "batches",
        IdKind::Unit => "units",
    };
    Ok(c.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1)"), [id.data()], |r| r.get(0))?)
}

/// `PRAGMA integrity_check`: empty when the file is sound.
pub(crate) fn integrity_check(c: &Tx) -> Result<Vec<String>> {
    let mut stmt = c.prepare("PRAGMA integrity_check")?;
    let rows: Vec<String> = stmt.query_map((), |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    // A page the disk failed to read is no verdict on the file (and makes the check report false damage
    // beside it): the check did not run whole, which is an error of the read.
    if let Some(code) = rows.iter().find_map(|r| unread_page(r)) {
        return Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None).into());
    }
    Ok(rows.into_iter().filter(|r| r != "ok").collect())
}

/// The I/O error code of an integrity-check row "… unable to get the page. error code=N".
fn unread_page(row: &str) -> Option<std::ffi::c_int> {
    let code = row.split("unable to get the page. error code=").nth(1)?;
    let code: std::ffi::c_int = code.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    (code & 0xff == rusqlite::ffi::SQLITE_IOERR).then_some(code)
}

/// On a server: whether this session's login owns the bank's tables (or is a superuser), and so could drop or
/// disable the triggers that keep history append-only (see `schema.pg.grants.sql`).
pub(crate) fn login_owns_bank(c: &Tx) -> Result<bool> {
    Ok(c.query_row(
        "SELECT pg_has_role(current_user, relowner, 'MEMBER') FROM pg_class WHERE oid = 'audit_log'::regclass",
        (),
        |r| r.get(0),
    )?)
}

/// `PRAGMA foreign_key_check`: each row that points at a missing parent.
pub(crate) fn foreign_key_check(c: &Tx) -> Result<Vec<String>> {
    if c.on_server() {
        return server_foreign_key_check(c);
    }
    let mut stmt = c.prepare("PRAGMA foreign_key_check")?;
    let rows = stmt.query_map((), |r| {
        Ok(format!(
            "{} row {} points at a missing {}",
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The same on a server, which enforces its foreign keys at each write but can be told not to (a superuser's
/// `session_replication_role`): each row whose key names no row of the table it points at.
fn server_foreign_key_check(c: &Tx) -> Result<Vec<String>> {
    let keys: Vec<(String, String, String, String)> = c
        .prepare_cached(
            "SELECT k.conrelid::regclass::text, a.attname::text, k.confrelid::regclass::text, f.attname::text
             FROM pg_constraint k
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
             JOIN pg_attribute f ON f.attrelid = k.confrelid AND f.attnum = k.confkey[1]
             WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace
             ORDER BY 1, 2",
        )?
        .query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut found = Vec::new();
    for (table, column, parent, key) in keys {
        // Names from the server's own catalog, not from input.
        let sql = format!(
            "SELECT c.{column}::text FROM {table} c WHERE c.{column} IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = c.{column}) ORDER BY 1"
        );
        for missing in c.prepare(&sql)?.query_map((), |r| r.get::<_, String>(0))? {
            found.push(format!("{table} row with {column} {} points at a missing {parent}", missing?));
        }
    }
    Ok(found)
}

/// Record counts for the bank's overview.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub donors: i64,
    pub donations: i64,
    pub batches: i64,
    pub batches_in_quarantine: i64,
    pub units_in_stock: i64,
    pub units_dispensed: i64,
    pub recipients: i64,
    pub recalls: i64,
}

/// Stock and quarantine are counted from the unexpired batches (`batches_expires`; CROSS JOIN keeps them the
/// outer loop), not by walking every unit ever made.
pub(super) const COUNTS: &str = "SELECT (SELECT count(*) FROM donors), (SELECT count(*) FROM donations),
        (SELECT count(*) FROM batches),
        (SELECT count(*) FROM batches WHERE released_at IS NULL AND discarded_at IS NULL AND recalled_at IS NULL
           AND expires_on >= ?1),
        (SELECT count(*) FROM batches b CROSS JOIN units u ON u.batch_id = b.id
         WHERE b.expires_on >= ?1 AND u.kind = 'dose' AND u.discarded_at IS NULL AND u.recalled_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM dispenses d WHERE d.unit_id = u.id)),
        (SELECT count(*) FROM dispenses), (SELECT count(*) FROM recipients), (SELECT count(*) FROM recalls)";

/// Record counts; units in stock are doses on the shelf on `today` and not yet expired.
pub(crate) fn counts(c: &Tx, today: NaiveDate) -> Result<Counts> {
    Ok(c.query_row(COUNTS, [today.to_string()], |r| {
        Ok(Counts {
            donors: r.get(0)?,
            donations: r.get(1)?,
            batches: r.get(2)?,
            batches_in_quarantine: r.get(3)?,
            units_in_stock: r.get(4)?,
            units_dispensed: r.get(5)?,
            recipients: r.get(6)?,
            recalls: r.get(7)?,
        })
    })?)
}

/// The most recent recall's selector (donor or batch), for showing a newcomer an example.
pub(crate) fn latest_recall_subject(c: &Tx) -> Result<Option<String>> {
    Ok(c.query_row("SELECT COALESCE(donor_id, batch_id) FROM recalls ORDER BY id DESC LIMIT 1", (), |r| r.get(0))
        .optional()?
        .flatten())
}

/// Some dispensed unit, for showing a newcomer a trace.
pub(crate) fn some_dispensed_unit(c: &Tx) -> Result<Option<String>> {
    Ok(c.query_row("SELECT unit_id FROM dispenses ORDER BY id LIMIT 1", (), |r| r.get(0)).optional()?)
}
