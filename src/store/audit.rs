//! The audit trail: every change appends an entry in the same transaction, hash-chained (SHA-256) to the one
//! before. `verify` walks the chain and compares every record with the state its last entry recorded, so a row
//! edited behind the program's back is named.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Result, StoreError, Tx};
use crate::time;

/// Every audited table, with the column that identifies a row.
pub(crate) const TABLES: &[&str] = &[
    "settings",
    "donors",
    "donor_identities",
    "screenings",
    "screening_results",
    "deferrals",
    "deferral_lifts",
    "donations",
    "batches",
    "recalls",
    "recall_contacts",
    "units",
    "qc_results",
    "recipients",
    "recipient_identities",
    "dispenses",
    "label_prints",
    "study_records",
    "followups",
    "adverse_events",
    "label_claims",
    "users",
    "signatures",
    "policies",
];

/// Tables keyed by an INTEGER PRIMARY KEY (the others by text identifiers).
const INTEGER_KEYS: &[&str] = &[
    "donor_identities",
    "screenings",
    "screening_results",
    "deferrals",
    "deferral_lifts",
    "recalls",
    "recall_contacts",
    "qc_results",
    "recipient_identities",
    "dispenses",
    "label_prints",
    "study_records",
    "followups",
    "adverse_events",
    "label_claims",
    "signatures",
    "policies",
];

/// Identity rows are audited by a digest keyed with the bank secret only, so that the audit log never discloses
/// a name, not even to someone trying candidates.
const DIGEST_ONLY: &[&str] = &["donor_identities", "recipient_identities"];

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn key_column(table: &str) -> &'static str {
    if table == "settings" {
        "key"
    } else {
        "id"
    }
}

/// The row as canonical JSON (keys sorted), or its digest for identity tables.
pub(crate) fn row_state(conn: &Tx, table: &str, id: &str) -> Result<Option<Value>> {
    debug_assert!(TABLES.contains(&table));
    let sql = format!("SELECT * FROM {table} WHERE {} = ?1", key_column(table));
    let mut stmt = conn.prepare_cached(&sql)?;
    let names: Vec<String> = stmt.column_names().map(ToString::to_string).collect();
    // Bind the key with its column's type so that the primary-key index is used.
    let key: rusqlite::types::Value = match id.parse::<i64>() {
        Ok(n) if INTEGER_KEYS.contains(&table) => n.into(),
        _ => id.to_string().into(),
    };
    let row = stmt.query_row([key], |r| row_to_json(r, &names)).optional()?;
    row.map(|v| state_of(conn, table, v)).transpose()
}

fn state_of(conn: &Tx, table: &str, mut row: Value) -> Result<Value> {
    if table == "users" {
        // The password hash never enters the audit trail: its SHA-256 does, which tells a changed hash and
        // verifies the row, but tests no guessed password (the argon2 salt is inside the hash it digests).
        if let Some(h) = row.get_mut("password_hash") {
            let digest = hex::encode(Sha256::digest(h.as_str().unwrap_or_default().as_bytes()));
            *h = Value::from(format!("sha256:{digest}"));
        }
        return Ok(row);
    }
    if !DIGEST_ONLY.contains(&table) {
        return Ok(row);
    }
    let digest: String = conn.query_row("SELECT stoolbank_identity_digest(?1)", [canonical(row)], |r| r.get(0))?;
    Ok(serde_json::from_str(&digest)?)
}

/// An identity row can be checked against its entry only under the key its digest was made with.
fn digest_comparable(recorded: Option<&Value>, current: Option<&Value>) -> bool {
    let key = |v: Option<&Value>| v.and_then(|v| v.get("key")).and_then(Value::as_str).map(str::to_owned);
    matches!((key(recorded), key(current)), (Some(a), Some(b)) if a == b)
}

fn row_to_json(r: &rusqlite::Row, names: &[String]) -> rusqlite::Result<Value> {
    let mut map = Map::new();
    for (i, name) in names.iter().enumerate() {
        let v = match r.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::from(n),
            ValueRef::Real(f) => Value::from(f),
            ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::from(hex::encode(b)),
        };
        map.insert(name.clone(), v);
    }
    Ok(Value::Object(map))
}

/// What a change is: who did what to which record, and when it happened.
pub(crate) struct Change<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub table: &'a str,
    pub id: &'a str,
    /// The identifier the change concerns, for filtering the log by record.
    pub subject: &'a str,
    pub at: DateTime<Utc>,
    /// When the change was recorded (the bank's clock).
    pub recorded_at: DateTime<Utc>,
    /// The row before the change (None for an insert).
    pub before: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub at: String,
    pub recorded_at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub subject: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub prev_hash: String,
    pub hash: String,
}

/// The text that is hashed: compact JSON with every object's keys in sorted order, whether or not some
/// dependency turns on `serde_json`'s `preserve_order` (which would otherwise keep insertion order).
fn canonical(mut v: Value) -> String {
    v.sort_all_objects();
    v.to_string()
}

fn entry_hash(e: &Entry) -> String {
    let fields = serde_json::json!({
        "seq": e.seq, "at": e.at, "recorded_at": e.recorded_at, "actor": e.actor, "action": e.action,
        "entity": e.entity, "entity_id": e.entity_id, "subject": e.subject, "before": e.before,
        "after": e.after, "prev_hash": e.prev_hash,
    });
    hex::encode(Sha256::digest(canonical(fields).as_bytes()))
}

/// Appends the audit entry of a change already written in this transaction (reads the row's new state).
pub(crate) fn record(conn: &Tx, c: Change) -> Result<()> {
    let after = row_state(conn, c.table, c.id)?;
    append(conn, c, after)
}

/// Appends an entry for an event that leaves no row behind (a backup taken, a restore), `after` saying what.
pub(crate) fn record_event(conn: &Tx, c: Change, after: Value) -> Result<()> {
    append(conn, c, Some(after))
}

fn append(conn: &Tx, c: Change, after: Option<Value>) -> Result<()> {
    let last: Option<(i64, String)> = conn
        .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_string()));
    let mut e = Entry {
        seq: prev_seq + 1,
        at: time::to_db(c.at),
        recorded_at: time::to_db(c.recorded_at),
        actor: c.actor.to_string(),
        action: c.action.to_string(),
        entity: c.table.to_string(),
        entity_id: c.id.to_string(),
        subject: c.subject.to_string(),
        before: c.before,
        after,
        prev_hash,
        hash: String::new(),
    };
    e.hash = entry_hash(&e);
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after,
                                prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        e.seq,
        e.at,
        e.recorded_at,
        e.actor,
        e.action,
        e.entity,
        e.entity_id,
        e.subject,
        e.before.as_ref().map(Value::to_string),
        e.after.as_ref().map(Value::to_string),
        e.prev_hash,
        e.hash
    ])?;
    Ok(())
}

fn parse_json(s: &str) -> Option<Value> {
    serde_json::from_str(s).ok()
}

/// An audit entry as stored. The program writes only text there, so bytes that are not UTF-8 are tampering.
fn entry_from_row(r: &rusqlite::Row) -> Result<Entry> {
    let seq: i64 = r.get(0)?;
    let text = |i: usize| -> Result<String> {
        match r.get_ref(i)? {
            ValueRef::Text(t) => String::from_utf8(t.to_vec()).map_err(|_| {
                StoreError::Tampered(format!(
                    "audit entry {seq} holds bytes that are not text in its {} column: written outside stoolbank",
                    ENTRY_COLUMNS.split(", ").nth(i).unwrap_or("?")
                ))
            }),
            _ => Ok(r.get(i)?),
        }
    };
    let json = |i: usize| -> Result<Option<Value>> {
        Ok(match r.get_ref(i)? {
            ValueRef::Null => None,
            _ => parse_json(&text(i)?),
        })
    };
    Ok(Entry {
        seq,
        at: text(1)?,
        recorded_at: text(2)?,
        actor: text(3)?,
        action: text(4)?,
        entity: text(5)?,
        entity_id: text(6)?,
        subject: text(7)?,
        before: json(8)?,
        after: json(9)?,
        prev_hash: text(10)?,
        hash: text(11)?,
    })
}

const ENTRY_COLUMNS: &str =
    "seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after, prev_hash, hash";

/// The newest entries about a record: two indexed lookups (`subject`, `entity_id`) united, rather than an OR that
/// scans the whole log.
pub(super) const LOG_OF_RECORD: &str = "SELECT * FROM audit_log WHERE subject = ?1
     UNION SELECT * FROM audit_log WHERE entity_id = ?1 ORDER BY seq DESC LIMIT ?2";

/// The log, newest last; filtered to entries whose record or subject is `id` when given.
pub(crate) fn log(conn: &Tx, id: Option<&str>, limit: usize) -> Result<Vec<Entry>> {
    let sql = match id {
        Some(_) => format!("SELECT {ENTRY_COLUMNS} FROM ({LOG_OF_RECORD}) ORDER BY seq"),
        None => {
            format!("SELECT {ENTRY_COLUMNS} FROM (SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?2) ORDER BY seq")
        }
    };
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![id.unwrap_or(""), limit as i64])?;
    let mut entries = Vec::new();
    while let Some(r) = rows.next()? {
        entries.push(entry_from_row(r)?);
    }
    Ok(entries)
}

/// A discrepancy `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub what: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub entries: i64,
    pub records: i64,
    /// Identity rows whose digest was made under another bank key than the one at hand (or none): not checked.
    pub identity_unchecked: i64,
    pub findings: Vec<Finding>,
}

/// Walks the hash chain, then compares every record with the state its last audit entry recorded. Both passes
/// stream through indexes, so memory stays flat however large the bank grows.
pub(crate) fn verify(conn: &Tx) -> Result<Verification> {
    let mut findings = Vec::new();
    let mut stmt = conn.prepare(&format!("SELECT {ENTRY_COLUMNS} FROM audit_log ORDER BY seq"))?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 1;
    let mut entries = 0;
    let mut chain_broken = false;
    while let Some(r) = rows.next()? {
        entries += 1;
        let e = match entry_from_row(r) {
            Err(StoreError::Tampered(what)) => {
                findings.push(Finding { what });
                chain_broken = true;
                continue;
            }
            other => other?,
        };
        if !chain_broken {
            let problem = if e.seq != expected_seq {
                Some(format!("audit entry {} follows {}: entries are missing", e.seq, expected_seq - 1))
            } else if e.prev_hash != prev {
                Some(format!("audit entry {} does not chain to entry {}", e.seq, e.seq - 1))
            } else if entry_hash(&e) != e.hash {
                Some(format!("audit entry {} ({} {} {}) was altered", e.seq, e.action, e.entity, e.entity_id))
            } else {
                None
            };
            if let Some(what) = problem {
                findings.push(Finding { what });
                chain_broken = true;
            }
        }
        expected_seq = e.seq + 1;
        prev = e.hash;
    }
    let mut last_state =
        conn.prepare("SELECT after FROM audit_log WHERE entity = ?1 AND entity_id = ?2 ORDER BY seq DESC LIMIT 1")?;
    let mut records = 0;
    let mut identity_unchecked = 0;
    // A file of an older schema lacks the later tables (a table dropped is named by the schema check).
    let held = |table: &str| -> Result<bool> {
        Ok(conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| {
            r.get::<_, i64>(0)
        })? > 0)
    };
    for table in TABLES {
        if !held(table)? {
            continue;
        }
        let key = key_column(table);
        let mut stmt = conn.prepare(&format!("SELECT CAST({key} AS TEXT) FROM {table} ORDER BY {key}"))?;
        let mut ids = stmt.query([])?;
        while let Some(r) = ids.next()? {
            let id = lossy(r.get_ref(0)?);
            records += 1;
            let recorded: Option<Option<String>> = last_state
                .query_row([*table, id.as_str()], |r| {
                    Ok(r.get_ref(0)?.as_bytes_or_null()?.map(|b| String::from_utf8_lossy(b).into_owned()))
                })
                .optional()?;
            let recorded = recorded.map(|after| after.and_then(|a| serde_json::from_str::<Value>(&a).ok()));
            let current = row_state(conn, table, &id)?;
            match recorded {
                None => findings
                    .push(Finding { what: format!("{table} {id} has no audit entry: written outside stoolbank") }),
                Some(after) if DIGEST_ONLY.contains(table) && !digest_comparable(after.as_ref(), current.as_ref()) => {
                    identity_unchecked += 1;
                }
                Some(after) if after != current => findings.push(Finding {
                    what: format!("{table} {id} differs from its last audit entry: changed outside stoolbank"),
                }),
                Some(_) => {}
            }
        }
    }
    findings.extend(verify_signatures(conn)?);
    // Records the log knows of that the tables no longer hold.
    let mut known = conn.prepare("SELECT DISTINCT entity, entity_id FROM audit_log ORDER BY entity, entity_id")?;
    let mut pairs = known.query([])?;
    while let Some(r) = pairs.next()? {
        let (table, id) = (lossy(r.get_ref(0)?), lossy(r.get_ref(1)?));
        if TABLES.contains(&table.as_str()) && held(&table)? && row_state(conn, &table, &id)?.is_none() {
            findings.push(Finding { what: format!("{table} {id} is in the audit log but missing from the database") });
        }
    }
    Ok(Verification { entries, records, identity_unchecked, findings })
}

/// Every signature against the audit entry it signs: the same record, signer and entry hash. A signature row moved
/// to another record (or its entry rewritten) no longer matches.
fn verify_signatures(conn: &Tx) -> Result<Vec<Finding>> {
    let held: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'signatures'", [], |r| {
            r.get(0)
        })?;
    if held == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT s.id, s.meaning, s.entity, s.entity_id, s.signer, s.audit_seq, s.entry_hash,
                a.entity, a.entity_id, a.actor, a.hash
         FROM signatures s LEFT JOIN audit_log a ON a.seq = s.audit_seq ORDER BY s.id",
    )?;
    let mut rows = stmt.query([])?;
    let mut findings = Vec::new();
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> rusqlite::Result<String> { Ok(lossy(r.get_ref(i)?)) };
        let (id, meaning, seq) = (text(0)?, text(1)?, text(5)?);
        let signed = [text(2)?, text(3)?, text(4)?, text(6)?];
        let entry = [text(7)?, text(8)?, text(9)?, text(10)?];
        if signed != entry {
            findings.push(Finding {
                what: format!(
                    "signature {id} (\"{meaning}\" by {}) does not match audit entry {seq}: it signs another record \
                     or its entry was changed",
                    signed[2]
                ),
            });
        }
    }
    Ok(findings)
}

/// A stored key as text, whatever bytes it holds (tampered bytes are named elsewhere, not a reason to stop).
pub(super) fn lossy(v: ValueRef) -> String {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => String::new(),
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    /// A fixed entry hashes to a fixed digest: the chain of every bank ever written depends on this text, so no
    /// dependency upgrade or feature may change it.
    #[test]
    fn the_entry_hash_is_a_known_answer() {
        let row =
            |pairs: &[(&str, Value)]| Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
        let e = Entry {
            seq: 7,
            at: "2026-03-01T09:30:00Z".into(),
            recorded_at: "2026-03-01T09:31:05Z".into(),
            actor: "tech-a".into(),
            action: "release-batch".into(),
            entity: "batches".into(),
            entity_id: "G151726000042F0001".into(),
            subject: "G151726000042F0001".into(),
            before: Some(row(&[
                ("released_at", Value::Null),
                ("id", "G151726000042F0001".into()),
                ("volume_ml", 50.5.into()),
            ])),
            after: Some(row(&[
                ("released_at", "2026-03-01T09:30:00Z".into()),
                ("id", "G151726000042F0001".into()),
                ("volume_ml", 50.5.into()),
            ])),
            prev_hash: "ab".repeat(32),
            hash: String::new(),
        };
        // Independently: SHA-256 of Python's `json.dumps(entry, sort_keys=True, separators=(",", ":"))`.
        assert_eq!(entry_hash(&e), "23653f13cecd53278a878fe64864eb193597e06aec8b1398375926e112887f07");
    }

    /// Every table of the schema is audited with the column that identifies its rows (the audit log itself
    /// aside), so no record can be written that `verify` does not compare.
    #[test]
    fn every_table_is_known_to_the_audit_chain() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&mut conn).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        let tables: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
        for table in tables.iter().filter(|t| *t != "audit_log") {
            assert!(TABLES.contains(&table.as_str()), "table {table} is not in the audit chain's TABLES");
            let (key_type, pk): (String, i64) = conn
                .query_row(
                    "SELECT type, pk FROM pragma_table_info(?1) WHERE name = ?2",
                    [table.as_str(), key_column(table)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap_or_else(|e| panic!("{table} has no column {}: {e}", key_column(table)));
            assert_eq!(pk, 1, "{table}.{} is its primary key", key_column(table));
            assert_eq!(INTEGER_KEYS.contains(&table.as_str()), key_type == "INTEGER", "{table}: INTEGER_KEYS");
        }
        for table in TABLES {
            assert!(tables.iter().any(|t| t == table), "TABLES names {table}, which the schema does not hold");
        }
    }
}
