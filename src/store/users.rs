//! Users and their roles, signatures of signed acts, and the bank's stored policy.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::sql::ts;
use super::Row;
use super::{Result, StoreError, Tx};
use crate::core::access::Role;
use crate::time::to_db;

/// A user as the faces show them (the password hash stays in the store).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub name: String,
    pub roles: Vec<Role>,
    pub disabled: bool,
    /// Failed sign-ins in a row.
    pub failed_attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// Roles as stored: their names, space-separated, sorted.
pub(crate) fn roles_text(roles: &[Role]) -> String {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" ")
}

fn parse_roles(s: &str) -> Result<Vec<Role>> {
    s.split_whitespace()
        .map(|r| r.parse::<Role>().map_err(|e| StoreError::Corrupt(format!("users.roles: {e}"))))
        .collect()
}

const COLUMNS: &str = "id, roles, disabled, failed_attempts, created_at, password_hash";

fn from_row(r: &Row) -> rusqlite::Result<(User, String, String)> {
    Ok((
        User {
            name: r.get(0)?,
            roles: Vec::new(),
            disabled: r.get::<_, i64>(2)? != 0,
            failed_attempts: r.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
            created_at: ts(r, 4)?,
        },
        r.get(1)?,
        r.get(5)?,
    ))
}

fn finish((mut user, roles, hash): (User, String, String)) -> Result<(User, String)> {
    user.roles = parse_roles(&roles)?;
    Ok((user, hash))
}

/// Whether the bank has any user (a file of a schema before users has none: it runs in set-up mode).
pub(crate) fn any(c: &Tx) -> Result<bool> {
    Ok(c.has_table("users")? && c.query_row("SELECT EXISTS (SELECT 1 FROM users)", (), |r| r.get(0))?)
}

/// A user and their password hash.
pub(crate) fn user(c: &Tx, name: &str) -> Result<Option<(User, String)>> {
    let row = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([name], from_row)
        .optional()?;
    row.map(finish).transpose()
}

pub(crate) fn users(c: &Tx) -> Result<Vec<User>> {
    let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY id"))?;
    let rows = stmt.query_map((), from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(|r| finish(r).map(|(u, _)| u)).collect()
}

pub(crate) fn insert_user(c: &Tx, name: &str, roles: &[Role], hash: &str, at: DateTime<Utc>) -> Result<()> {
    c.execute(
        "INSERT INTO users (id, roles, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, roles_text(roles), hash, to_db(at)],
    )?;
    Ok(())
}

pub(crate) fn set_password_hash(c: &Tx, name: &str, hash: &str) -> Result<()> {
    c.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![name, hash])?;
    Ok(())
}

pub(crate) fn set_roles(c: &Tx, name: &str, roles: &[Role]) -> Result<()> {
    c.execute("UPDATE users SET roles = ?2 WHERE id = ?1", params![name, roles_text(roles)])?;
    Ok(())
}

pub(crate) fn set_disabled(c: &Tx, name: &str, disabled: bool) -> Result<()> {
    c.execute("UPDATE users SET disabled = ?2 WHERE id = ?1", params![name, i64::from(disabled)])?;
    Ok(())
}

pub(crate) fn set_failed_attempts(c: &Tx, name: &str, n: u32) -> Result<()> {
    c.execute("UPDATE users SET failed_attempts = ?2 WHERE id = ?1", params![name, i64::from(n)])?;
    Ok(())
}

/// A signature of the latest audit entry of `entity`/`entity_id` (the act just recorded in this transaction).
pub(crate) fn insert_signature(
    c: &Tx,
    signer: &str,
    meaning: &str,
    entity: &str,
    entity_id: &str,
    at: DateTime<Utc>,
) -> Result<i64> {
    let (seq, hash): (i64, String) = c
        .query_row(
            "SELECT seq, hash FROM audit_log WHERE entity = ?1 AND entity_id = ?2 ORDER BY seq DESC LIMIT 1",
            [entity, entity_id],
            |r| Ok((r.get(0)?, super::audit::hash_hex(r.get_ref(1)?))),
        )
        .optional()?
        .ok_or_else(|| StoreError::Corrupt(format!("no audit entry of {entity} {entity_id} to sign")))?;
    c.execute(
        "INSERT INTO signatures (signer, meaning, entity, entity_id, audit_seq, entry_hash, signed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![signer, meaning, entity, entity_id, seq, hash, to_db(at)],
    )?;
    Ok(c.last_insert_rowid()?)
}

/// A signature as the faces show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signature {
    pub id: i64,
    pub signer: String,
    pub meaning: String,
    pub entity: String,
    pub entity_id: String,
    pub audit_seq: i64,
    pub signed_at: DateTime<Utc>,
}

/// The signatures of a record.
pub(crate) fn signatures_of(c: &Tx, entity_id: &str) -> Result<Vec<Signature>> {
    let mut stmt = c.prepare(
        "SELECT id, signer, meaning, entity, entity_id, audit_seq, signed_at FROM signatures
         WHERE entity_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([entity_id], |r| {
        Ok(Signature {
            id: r.get(0)?,
            signer: r.get(1)?,
            meaning: r.get(2)?,
            entity: r.get(3)?,
            entity_id: r.get(4)?,
            audit_seq: r.get(5)?,
            signed_at: ts(r, 6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Who made a batch and who entered its QC results, with what they did (from the audit trail, which records who
/// did every act).
pub(crate) fn batch_workers(c: &Tx, batch: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = c.prepare(
        "SELECT a.actor, CASE WHEN a.entity = 'batches' THEN 'made'
                              ELSE 'entered QC ' || COALESCE(q.test, '?') || ' of' END
         FROM audit_log a LEFT JOIN qc_results q ON a.entity = 'qc_results' AND q.id = CAST(a.entity_id AS INTEGER)
         WHERE a.subject = ?1 AND ((a.entity = 'batches' AND a.action = 'make-batch') OR a.entity = 'qc_results')
         ORDER BY a.seq",
    )?;
    let rows = stmt.query_map([batch], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The policy in force (the newest version), as TOML; None when the bank never stored one.
pub(crate) fn policy(c: &Tx) -> Result<Option<(i64, String)>> {
    if !c.has_table("policies")? {
        return Ok(None);
    }
    Ok(c.query_row("SELECT id, toml FROM policies ORDER BY id DESC LIMIT 1", (), |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub(crate) fn insert_policy(c: &Tx, toml: &str, at: DateTime<Utc>) -> Result<i64> {
    c.execute("INSERT INTO policies (toml, set_at) VALUES (?1, ?2)", params![toml, to_db(at)])?;
    Ok(c.last_insert_rowid()?)
}
