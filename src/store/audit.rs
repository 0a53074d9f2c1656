//! The audit trail: every change appends an entry in the same transaction, hash-chained (SHA-256) to the one
//! before. `verify` walks the chain and compares every record with the state its last entry recorded, so a row
//! edited behind the program's back is named.
//!
//! Two entry formats share one chain, told apart by the stored hash's type (and named in the hashed text, so
//! that neither passes as the other):
//! - format 1 (written before migration 0008): the hash and the previous entry's hash as 64 hex digits, rows as
//!   whole canonical JSON objects. These entries verify exactly as they always did.
//! - format 2: the hash as its 32 bytes, the previous hash not stored again (the chain holds it), rows as compact
//!   canonical JSON: keys sorted, without the key column (the entry names the record) and without NULL columns (a
//!   column the entry does not name is NULL). Rows made together (a batch's units, a screening's results) are one
//!   entry whose `entity_id` names the group (`batch_id=G…`) and whose `after` maps each row's key to its state;
//!   `verify` checks every row against it. The hashed text embeds the payloads as stored, so checking the chain
//!   hashes bytes without parsing them.

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

/// Tables whose rows made together are audited in one entry, with the column that groups them.
const GROUPED: &[(&str, &str)] = &[("units", "batch_id"), ("screening_results", "screening_id")];

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The entry format this program writes.
const FORMAT: u8 = 2;

fn key_column(table: &str) -> &'static str {
    if table == "settings" {
        "key"
    } else {
        "id"
    }
}

fn group_column(table: &str) -> Option<&'static str> {
    GROUPED.iter().find(|(t, _)| *t == table).map(|(_, c)| *c)
}

/// The `entity_id` of the entry recording the rows of a group: `batch_id=G…` (no row's key holds a `=`).
fn group_id(column: &str, value: &str) -> String {
    format!("{column}={value}")
}

/// A key bound with its column's type, so that the primary key is used.
fn key_value(table: &str, id: &str) -> rusqlite::types::Value {
    match id.parse::<i64>() {
        Ok(n) if INTEGER_KEYS.contains(&table) => n.into(),
        _ => id.to_string().into(),
    }
}

/// A table's columns as a `SELECT *` returns them, and the order an entry writes them in (by name).
struct Layout {
    table: &'static str,
    names: Vec<String>,
    by_name: Vec<usize>,
    key: usize,
    group: Option<(&'static str, usize)>,
}

impl Layout {
    fn of(stmt: &rusqlite::Statement, table: &'static str) -> Layout {
        let names: Vec<String> = stmt.column_names().map(ToString::to_string).collect();
        let mut by_name: Vec<usize> = (0..names.len()).collect();
        by_name.sort_by(|a, b| names[*a].cmp(&names[*b]));
        let position = |column: &str| names.iter().position(|n| n == column);
        let key = position(key_column(table)).unwrap_or(usize::MAX);
        let group = group_column(table).and_then(|c| Some((c, position(c)?)));
        Layout { table, names, by_name, key, group }
    }

    /// What `verify` compares of a row.
    fn read(&self, conn: &Tx, r: &rusqlite::Row) -> Result<RowNow> {
        let id = lossy(r.get_ref(self.key)?);
        let (group, member) = match self.group {
            Some((column, i)) => (group_id(column, &lossy(r.get_ref(i)?)), Some(self.state_in(conn, r, true)?)),
            None => (id.clone(), None),
        };
        Ok(RowNow { state: self.state(conn, r)?, id, group, member })
    }

    /// The row as a format-2 entry holds it: compact canonical JSON, or for an identity table the keyed digest
    /// of the whole row (made as format 1 made it, so that both formats compare alike).
    fn state(&self, conn: &Tx, r: &rusqlite::Row) -> Result<String> {
        self.state_in(conn, r, false)
    }

    /// The state, and in a group entry without the group column (the entry names it).
    fn state_in(&self, conn: &Tx, r: &rusqlite::Row, in_group: bool) -> Result<String> {
        let group = self.group.filter(|_| in_group).map(|(_, i)| i);
        if DIGEST_ONLY.contains(&self.table) {
            let mut row = Map::new();
            for (i, name) in self.names.iter().enumerate() {
                row.insert(name.clone(), json_of(r.get_ref(i)?));
            }
            let digest: String =
                conn.query_row("SELECT stoolbank_identity_digest(?1)", [canonical(Value::Object(row))], |r| r.get(0))?;
            return Ok(canonical(serde_json::from_str(&digest)?));
        }
        let mut s = String::from("{");
        for &i in &self.by_name {
            let v = r.get_ref(i)?;
            if i == self.key || Some(i) == group || matches!(v, ValueRef::Null) {
                continue;
            }
            if s.len() > 1 {
                s.push(',');
            }
            s.push_str(&Value::from(self.names[i].as_str()).to_string());
            s.push(':');
            if self.table == "users" && self.names[i] == "password_hash" {
                // The password hash never enters the audit trail: its SHA-256 does, which tells a changed hash
                // and verifies the row, but tests no guessed password (the argon2 salt is inside what it digests).
                let digest = hex::encode(Sha256::digest(lossy(v).as_bytes()));
                s.push_str(&Value::from(format!("sha256:{digest}")).to_string());
                continue;
            }
            s.push_str(&json_of(v).to_string());
        }
        s.push('}');
        Ok(s)
    }
}

/// A row as it is now, for `verify`.
struct RowNow {
    id: String,
    /// The `entity_id` of a group entry that may record it (else its key again).
    group: String,
    state: String,
    /// Its state as a group entry's member (without the group column), for a grouped table.
    member: Option<String>,
}

fn json_of(v: ValueRef) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::from(n),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::from(hex::encode(b)),
    }
}

/// A format-1 row in the compact form, to compare with a row's state now.
fn compacted(table: &str, v: Value) -> String {
    match v {
        Value::Object(m) if !DIGEST_ONLY.contains(&table) => {
            canonical(Value::Object(m.into_iter().filter(|(k, v)| k != key_column(table) && !v.is_null()).collect()))
        }
        other => canonical(other),
    }
}

/// The audited table named `table`, as the static name the layouts keep.
fn audited(table: &str) -> Option<&'static str> {
    TABLES.iter().find(|t| **t == table).copied()
}

/// The row's state as text (see [`Layout::state`]), None when the table does not hold it.
fn row_text(conn: &Tx, table: &str, id: &str) -> Result<Option<String>> {
    let table = audited(table).ok_or_else(|| StoreError::Corrupt(format!("{table} is not an audited table")))?;
    let mut stmt = conn.prepare_cached(&format!("SELECT * FROM {table} WHERE {} = ?1", key_column(table)))?;
    let layout = Layout::of(&stmt, table);
    let mut rows = stmt.query([key_value(table, id)])?;
    rows.next()?.map(|r| layout.state(conn, r)).transpose()
}

/// The row's state (compact: keys sorted, without its key and NULL columns), or its digest for identity tables.
pub(crate) fn row_state(conn: &Tx, table: &str, id: &str) -> Result<Option<Value>> {
    Ok(row_text(conn, table, id)?.map(|t| serde_json::from_str(&t)).transpose()?)
}

/// An identity row can be checked against its entry only under the key its digest was made with.
fn digest_comparable(recorded: &str, current: &str) -> bool {
    let key = |text: &str| parse_json(text).and_then(|v| v.get("key").and_then(Value::as_str).map(str::to_owned));
    matches!((key(recorded), key(current)), (Some(a), Some(b)) if a == b)
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
    /// 1 or 2 (see the module's documentation).
    pub format: u8,
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

/// An entry's fields as its hash covers them, the payloads as text.
struct Hashed<'a> {
    format: u8,
    seq: i64,
    at: &'a str,
    recorded_at: &'a str,
    actor: &'a str,
    action: &'a str,
    entity: &'a str,
    entity_id: &'a str,
    subject: &'a str,
    before: Option<&'a str>,
    after: Option<&'a str>,
    prev_hash: &'a str,
}

impl Hashed<'_> {
    /// SHA-256 of the entry as one canonical JSON object (compact, keys sorted), the payloads embedded as given;
    /// format 2 adds `"format":2`, so that no entry of one format can pass for one of the other.
    fn digest(&self) -> [u8; 32] {
        let q = |s: &str| Value::from(s).to_string();
        let format = if self.format == 1 { String::new() } else { format!(",\"format\":{}", self.format) };
        let text = format!(
            "{{\"action\":{},\"actor\":{},\"after\":{},\"at\":{},\"before\":{},\"entity\":{},\"entity_id\":{}{format},\
             \"prev_hash\":{},\"recorded_at\":{},\"seq\":{},\"subject\":{}}}",
            q(self.action),
            q(self.actor),
            self.after.unwrap_or("null"),
            q(self.at),
            self.before.unwrap_or("null"),
            q(self.entity),
            q(self.entity_id),
            q(self.prev_hash),
            q(self.recorded_at),
            self.seq,
            q(self.subject),
        );
        Sha256::digest(text.as_bytes()).into()
    }
}

/// Appends the audit entry of a change already written in this transaction (reads the row's new state).
pub(crate) fn record(conn: &Tx, c: Change) -> Result<()> {
    let after = row_text(conn, c.table, c.id)?;
    append(conn, c.id, c, after)
}

/// Appends one entry for every row of `c.table` whose group column (`GROUPED`) is `c.id`, all written in this
/// transaction (a batch's units, a screening's results): `after` maps each row's key to its state.
pub(crate) fn record_group(conn: &Tx, c: Change) -> Result<()> {
    let table = audited(c.table).ok_or_else(|| StoreError::Corrupt(format!("{} is not an audited table", c.table)))?;
    let column =
        group_column(table).ok_or_else(|| StoreError::Corrupt(format!("{table} rows are not audited in groups")))?;
    let mut rows = std::collections::BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(&format!("SELECT * FROM {table} WHERE {column} = ?1"))?;
        let layout = Layout::of(&stmt, table);
        let mut found = stmt.query([c.id])?;
        while let Some(r) = found.next()? {
            rows.insert(lossy(r.get_ref(layout.key)?), layout.state_in(conn, r, true)?);
        }
    }
    let members: Vec<String> = rows.iter().map(|(id, state)| format!("{}:{state}", Value::from(id.as_str()))).collect();
    let after = format!("{{{}}}", members.join(","));
    append(conn, &group_id(column, c.id), c, Some(after))
}

/// Appends an entry for an event that leaves no row behind (a backup taken, a restore), `after` saying what.
pub(crate) fn record_event(conn: &Tx, c: Change, after: Value) -> Result<()> {
    append(conn, c.id, c, Some(canonical(after)))
}

fn append(conn: &Tx, entity_id: &str, c: Change, after: Option<String>) -> Result<()> {
    let (prev_seq, prev_hash) = super::checkpoint::head(conn)?;
    let (at, recorded_at) = (time::to_db(c.at), time::to_db(c.recorded_at));
    let before = c.before.map(canonical);
    let entry = Hashed {
        format: FORMAT,
        seq: prev_seq + 1,
        at: &at,
        recorded_at: &recorded_at,
        actor: c.actor,
        action: c.action,
        entity: c.table,
        entity_id,
        subject: c.subject,
        before: before.as_deref(),
        after: after.as_deref(),
        prev_hash: &prev_hash,
    };
    // The previous hash is not stored again: the entry before holds it.
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        entry.seq,
        at,
        recorded_at,
        c.actor,
        c.action,
        c.table,
        entity_id,
        c.subject,
        before,
        after,
        entry.digest().as_slice()
    ])?;
    Ok(())
}

fn parse_json(s: &str) -> Option<Value> {
    serde_json::from_str(s).ok()
}

/// A stored hash as hex: format 1 stores the text, format 2 the bytes.
pub(super) fn hash_hex(v: ValueRef) -> String {
    match v {
        ValueRef::Blob(b) => hex::encode(b),
        ValueRef::Null => GENESIS.to_string(),
        other => lossy(other),
    }
}

/// The columns of an entry as stored, in the order [`StoredEntry::read`] expects.
const STORED_COLUMNS: &str =
    "seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after, prev_hash, hash";

/// An entry's columns as stored, borrowed from its row.
struct StoredEntry<'r> {
    fields: Hashed<'r>,
    stored_prev: Option<&'r str>,
    hash: StoredHash<'r>,
}

enum StoredHash<'r> {
    Hex(&'r str),
    Bytes(&'r [u8]),
}

impl<'r> StoredEntry<'r> {
    /// The program writes text in the text columns and a hash of the format's type, so anything else is tampering.
    fn read(r: &'r rusqlite::Row, seq: i64) -> Result<StoredEntry<'r>> {
        let column = |i: usize| STORED_COLUMNS.split(", ").nth(i).unwrap_or("?");
        let text = |i: usize| -> Result<Option<&'r str>> {
            match r.get_ref(i)? {
                ValueRef::Null => Ok(None),
                ValueRef::Text(t) => std::str::from_utf8(t).map(Some).map_err(|_| {
                    StoreError::Tampered(format!(
                        "audit entry {seq} holds bytes that are not text in its {} column: written outside stoolbank",
                        column(i)
                    ))
                }),
                _ => Err(StoreError::Tampered(format!(
                    "audit entry {seq} holds a value that is not text in its {} column: written outside stoolbank",
                    column(i)
                ))),
            }
        };
        let required = |i: usize| -> Result<&'r str> { Ok(text(i)?.unwrap_or_default()) };
        let hash = match r.get_ref(11)? {
            ValueRef::Blob(b) => StoredHash::Bytes(b),
            _ => StoredHash::Hex(required(11)?),
        };
        let format = match hash {
            StoredHash::Hex(_) => 1,
            StoredHash::Bytes(_) => 2,
        };
        Ok(StoredEntry {
            fields: Hashed {
                format,
                seq,
                at: required(1)?,
                recorded_at: required(2)?,
                actor: required(3)?,
                action: required(4)?,
                entity: required(5)?,
                entity_id: required(6)?,
                subject: required(7)?,
                before: text(8)?,
                after: text(9)?,
                prev_hash: "",
            },
            stored_prev: text(10)?,
            hash,
        })
    }

    /// Whether the entry hashes to its stored hash, chained to `prev`.
    fn holds(&self, prev: &str) -> bool {
        let fields = Hashed { prev_hash: prev, ..self.fields };
        match self.hash {
            StoredHash::Bytes(stored) => self.stored_prev.is_none() && fields.digest().as_slice() == stored,
            StoredHash::Hex(stored) => {
                if hex::encode(fields.digest()) == stored {
                    return true;
                }
                // Format 1 hashed the payloads parsed and written canonically: equal to the stored text for every
                // entry this program wrote, but the stored text is not required to be canonical.
                let (before, after) = (reparsed(fields.before), reparsed(fields.after));
                let fields = Hashed { before: before.as_deref(), after: after.as_deref(), ..fields };
                hex::encode(fields.digest()) == stored
            }
        }
    }

    fn hash_hex(&self) -> String {
        match self.hash {
            StoredHash::Hex(h) => h.to_string(),
            StoredHash::Bytes(b) => hex::encode(b),
        }
    }
}

fn reparsed(text: Option<&str>) -> Option<String> {
    text.and_then(parse_json).map(canonical)
}

/// The columns of an entry for reading, from a query aliased `a`: a format-2 entry's previous hash is the
/// entry before's (as hex text, whatever its format).
const ENTRY_COLUMNS: &str = "a.seq, a.at, a.recorded_at, a.actor, a.action, a.entity, a.entity_id, a.subject, \
     a.before, a.after, coalesce(a.prev_hash, (SELECT CASE typeof(p.hash) WHEN 'blob' THEN lower(hex(p.hash)) \
     ELSE p.hash END FROM audit_log p WHERE p.seq = a.seq - 1)), a.hash";

/// An audit entry as stored, for reading.
fn entry_from_row(r: &rusqlite::Row) -> Result<Entry> {
    let seq: i64 = r.get(0)?;
    let stored = StoredEntry::read(r, seq)?;
    let f = &stored.fields;
    Ok(Entry {
        seq,
        format: f.format,
        at: f.at.into(),
        recorded_at: f.recorded_at.into(),
        actor: f.actor.into(),
        action: f.action.into(),
        entity: f.entity.into(),
        entity_id: f.entity_id.into(),
        subject: f.subject.into(),
        before: f.before.and_then(parse_json),
        after: f.after.and_then(parse_json),
        prev_hash: hash_hex(r.get_ref(10)?),
        hash: stored.hash_hex(),
    })
}

/// The newest entries about a record: two indexed lookups (`subject`, `entity_id`) united, rather than an OR that
/// scans the whole log.
pub(super) const LOG_OF_RECORD: &str = "SELECT * FROM audit_log WHERE subject = ?1
     UNION SELECT * FROM audit_log WHERE entity_id = ?1 ORDER BY seq DESC LIMIT ?2";

/// The log, newest last; filtered to entries whose record or subject is `id` when given.
pub(crate) fn log(conn: &Tx, id: Option<&str>, limit: usize) -> Result<Vec<Entry>> {
    let sql = match id {
        Some(_) => format!("SELECT {ENTRY_COLUMNS} FROM ({LOG_OF_RECORD}) AS a ORDER BY seq"),
        None => format!(
            "SELECT {ENTRY_COLUMNS} FROM (SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?2) AS a ORDER BY seq"
        ),
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

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub entries: i64,
    pub records: i64,
    /// Identity rows whose digest was made under another bank key than the one at hand (or none): not checked.
    pub identity_unchecked: i64,
    /// An incremental check: only the entries after this one (a signed checkpoint) and the records they wrote.
    pub since: Option<i64>,
    pub findings: Vec<Finding>,
}

impl Verification {
    fn found(&mut self, what: String) {
        self.findings.push(Finding { what });
    }
}

/// Walks the whole hash chain, compares every record with the state its last audit entry recorded, and names
/// the records the log knows of that the tables lack. Every pass streams (the tables in storage order, the log
/// by its indexes), so memory stays flat however large the bank grows.
pub(crate) fn verify(conn: &Tx) -> Result<Verification> {
    let mut v = Verification::default();
    walk_chain(conn, 0, GENESIS, &mut v)?;
    let mut records = Records::new(conn)?;
    for table in records.held.clone() {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}"))?;
        let layout = Layout::of(&stmt, table);
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            records.compare(table, &layout.read(conn, r)?, &mut v)?;
        }
    }
    let mut known = conn.prepare("SELECT DISTINCT entity, entity_id FROM audit_log ORDER BY entity, entity_id")?;
    let mut pairs = known.query([])?;
    while let Some(r) = pairs.next()? {
        records.present(&lossy(r.get_ref(0)?), &lossy(r.get_ref(1)?), &mut v)?;
    }
    for what in verify_signatures(conn)? {
        v.found(what.what);
    }
    Ok(v)
}

/// Checks what was written after a signed checkpoint of entry `seq` whose hash was `hash`: that entry still has
/// that hash, every later entry chains to it, and every record a later entry wrote matches its last entry (or
/// is named missing). Entries up to the checkpoint are not hashed again, nor records no later entry wrote.
pub(crate) fn verify_since(conn: &Tx, seq: i64, hash: &str) -> Result<Verification> {
    let mut v = Verification { since: Some(seq), ..Verification::default() };
    let stored: Option<String> = conn
        .query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| Ok(hash_hex(r.get_ref(0)?)))
        .optional()?;
    match stored {
        None if seq > 0 => v.found(format!("entry {seq} is missing, though the checkpoint vouches for it")),
        Some(h) if h != hash => {
            v.found(format!("entry {seq}'s hash differs from the checkpoint's: the chain was rewritten"));
        }
        _ => {}
    }
    walk_chain(conn, seq, hash, &mut v)?;
    let mut records = Records::new(conn)?;
    let mut touched =
        conn.prepare("SELECT DISTINCT entity, entity_id FROM audit_log WHERE seq > ?1 ORDER BY entity, entity_id")?;
    let mut pairs = touched.query([seq])?;
    while let Some(r) = pairs.next()? {
        records.touched(&lossy(r.get_ref(0)?), &lossy(r.get_ref(1)?), &mut v)?;
    }
    Ok(v)
}

/// Walks the chain from the entry after `from`, whose hash is `prev`.
fn walk_chain(conn: &Tx, from: i64, prev: &str, v: &mut Verification) -> Result<()> {
    let mut stmt = conn.prepare(&format!("SELECT {STORED_COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq"))?;
    let mut rows = stmt.query([from])?;
    let mut prev = prev.to_string();
    let mut expected_seq = from + 1;
    let mut chain_broken = false;
    while let Some(r) = rows.next()? {
        v.entries += 1;
        let seq: i64 = r.get(0)?;
        let e = match StoredEntry::read(r, seq) {
            Err(StoreError::Tampered(what)) => {
                v.found(what);
                chain_broken = true;
                continue;
            }
            other => other?,
        };
        if !chain_broken {
            let f = &e.fields;
            let problem = if seq != expected_seq {
                Some(format!("audit entry {seq} follows {}: entries are missing", expected_seq - 1))
            } else if f.format == 1 && e.stored_prev != Some(prev.as_str()) {
                Some(format!("audit entry {seq} does not chain to entry {}", seq - 1))
            } else if !e.holds(&prev) {
                Some(format!("audit entry {seq} ({} {} {}) was altered", f.action, f.entity, f.entity_id))
            } else {
                None
            };
            if let Some(what) = problem {
                v.found(what);
                chain_broken = true;
            }
        }
        expected_seq = seq + 1;
        prev = e.hash_hex();
    }
    Ok(())
}

/// The newest entry about a record: its sequence number, `entity_id`, `after`, and whether it is of format 2.
type LastEntry = (i64, String, Option<String>, bool);

/// Records against their last entries.
struct Records<'c> {
    conn: &'c Tx<'c>,
    /// The audited tables the file holds (a file of an older schema lacks the later ones; a table dropped is
    /// named by the schema check).
    held: Vec<&'static str>,
    last: rusqlite::Statement<'c>,
    /// The group entry read last (its sequence number and members).
    group: Option<(i64, std::collections::HashMap<String, String>)>,
}

impl<'c> Records<'c> {
    fn new(conn: &'c Tx<'c>) -> Result<Records<'c>> {
        let names = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let held = TABLES.iter().copied().filter(|t| names.iter().any(|n| n == t)).collect();
        // One lookup down the (entity, entity_id) index: its last row is the newest entry.
        let last = conn.prepare(
            "SELECT seq, entity_id, after, typeof(hash) = 'blob' FROM audit_log
             WHERE entity = ?1 AND entity_id = ?2 ORDER BY seq DESC LIMIT 1",
        )?;
        Ok(Records { conn, held, last, group: None })
    }

    /// One record against its last entry.
    fn compare(&mut self, table: &str, row: &RowNow, v: &mut Verification) -> Result<()> {
        v.records += 1;
        let (id, state) = (row.id.as_str(), row.state.as_str());
        // The record's own entries and its group's: the newest of them holds its state.
        let mut newest = |entity_id: &str| -> Result<Option<LastEntry>> {
            Ok(self
                .last
                .query_row(params![table, entity_id], |r| {
                    let after = r.get_ref(2)?.as_bytes_or_null()?.map(|b| String::from_utf8_lossy(b).into_owned());
                    Ok((r.get(0)?, lossy(r.get_ref(1)?), after, r.get(3)?))
                })
                .optional()?)
        };
        let own = newest(id)?;
        let last = if row.group == id {
            own
        } else {
            match (own, newest(&row.group)?) {
                (Some(a), Some(b)) => Some(if a.0 > b.0 { a } else { b }),
                (a, b) => a.or(b),
            }
        };
        let recorded = match last {
            None => None,
            // A group entry: the record's state is its member, which leaves out the group column the entry names.
            Some((seq, entity_id, after, _)) if entity_id != id => {
                let member = self.member(seq, after.as_deref(), id);
                member.map(|m| Some(if Some(&m) == row.member.as_ref() { state.to_string() } else { m }))
            }
            Some((_, _, Some(after), false)) => Some(parse_json(&after).map(|a| compacted(table, a))),
            Some((_, _, after, _)) => Some(after),
        };
        match recorded {
            None => v.found(format!("{table} {id} has no audit entry: written outside stoolbank")),
            Some(r) if DIGEST_ONLY.contains(&table) && !r.as_deref().is_some_and(|r| digest_comparable(r, state)) => {
                v.identity_unchecked += 1;
            }
            Some(r) if r.as_deref() != Some(state) => {
                v.found(format!("{table} {id} differs from its last audit entry: changed outside stoolbank"));
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Member `id` of group entry `seq` (canonical), the entry's payload parsed once for all its members: the
    /// tables are read in storage order, where a group's rows follow one another.
    fn member(&mut self, seq: i64, after: Option<&str>, id: &str) -> Option<String> {
        if self.group.as_ref().is_none_or(|(s, _)| *s != seq) {
            let members = match after.and_then(parse_json) {
                Some(Value::Object(m)) => m.into_iter().map(|(k, v)| (k, canonical(v))).collect(),
                _ => std::collections::HashMap::new(),
            };
            self.group = Some((seq, members));
        }
        self.group.as_ref().and_then(|(_, m)| m.get(id).cloned())
    }

    /// Each record an entry names (itself, or a group's members) must be in its table.
    fn present(&mut self, table: &str, entity_id: &str, v: &mut Verification) -> Result<()> {
        let Some(table) = self.held.iter().copied().find(|t| *t == table) else { return Ok(()) };
        let conn = self.conn;
        let mut exists = conn.prepare_cached(&format!("SELECT 1 FROM {table} WHERE {} = ?1", key_column(table)))?;
        for id in self.members(table, entity_id)? {
            if !exists.exists([key_value(table, &id)])? {
                v.found(format!("{table} {id} is in the audit log but missing from the database"));
            }
        }
        Ok(())
    }

    /// Each record an entry names, against its last entry (or named missing).
    fn touched(&mut self, table: &str, entity_id: &str, v: &mut Verification) -> Result<()> {
        let Some(table) = self.held.iter().copied().find(|t| *t == table) else { return Ok(()) };
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(&format!("SELECT * FROM {table} WHERE {} = ?1", key_column(table)))?;
        let layout = Layout::of(&stmt, table);
        for id in self.members(table, entity_id)? {
            let row = stmt.query([key_value(table, &id)])?.next()?.map(|r| layout.read(conn, r)).transpose()?;
            match row {
                Some(row) => self.compare(table, &row, v)?,
                None => v.found(format!("{table} {id} is in the audit log but missing from the database")),
            }
        }
        Ok(())
    }

    /// The records an entry's `entity_id` names: the record itself, or the members of the group entries it names.
    fn members(&self, table: &str, entity_id: &str) -> Result<Vec<String>> {
        let grouped =
            group_column(table).and_then(|c| entity_id.strip_prefix(c)).is_some_and(|rest| rest.starts_with('='));
        if !grouped {
            return Ok(vec![entity_id.to_string()]);
        }
        let mut stmt = self.conn.prepare_cached("SELECT after FROM audit_log WHERE entity = ?1 AND entity_id = ?2")?;
        let mut rows = stmt.query([table, entity_id])?;
        let mut ids = Vec::new();
        while let Some(r) = rows.next()? {
            if let Some(Value::Object(m)) = parse_json(&lossy(r.get_ref(0)?)) {
                ids.extend(m.into_iter().map(|(k, _)| k));
            }
        }
        Ok(ids)
    }
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
        let entry = [text(7)?, text(8)?, text(9)?, hash_hex(r.get_ref(10)?)];
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
        let before = canonical(row(&[
            ("released_at", Value::Null),
            ("id", "G151726000042F0001".into()),
            ("volume_ml", 50.5.into()),
        ]));
        let after = canonical(row(&[
            ("released_at", "2026-03-01T09:30:00Z".into()),
            ("id", "G151726000042F0001".into()),
            ("volume_ml", 50.5.into()),
        ]));
        let prev = "ab".repeat(32);
        let e = Hashed {
            format: 1,
            seq: 7,
            at: "2026-03-01T09:30:00Z",
            recorded_at: "2026-03-01T09:31:05Z",
            actor: "tech-a",
            action: "release-batch",
            entity: "batches",
            entity_id: "G151726000042F0001",
            subject: "G151726000042F0001",
            before: Some(&before),
            after: Some(&after),
            prev_hash: &prev,
        };
        // Independently: SHA-256 of Python's `json.dumps(entry, sort_keys=True, separators=(",", ":"))`.
        assert_eq!(hex::encode(e.digest()), "23653f13cecd53278a878fe64864eb193597e06aec8b1398375926e112887f07");
    }

    /// The format-2 companion: a group entry (a batch's units: members without the key and the group column),
    /// payloads compact, `"format":2` in the hashed text.
    #[test]
    fn the_format_2_entry_hash_is_a_known_answer() {
        let after = r#"{"G151726000042F000100":{"kind":"retained","location":"freezer 2 / rack B"},"G151726000042F0001A0":{"kind":"dose"}}"#;
        let prev = "cd".repeat(32);
        let e = Hashed {
            format: 2,
            seq: 8,
            at: "2026-03-01T09:30:00Z",
            recorded_at: "2026-03-01T09:31:05Z",
            actor: "tech-a",
            action: "create-units",
            entity: "units",
            entity_id: "batch_id=G151726000042F0001",
            subject: "G151726000042F0001",
            before: None,
            after: Some(after),
            prev_hash: &prev,
        };
        // Independently: Python's `json.dumps({"format": 2, "seq": 8, …, "before": None, "after": {…}}, sort_keys=True,
        // separators=(",", ":"))`, hashed.
        assert_eq!(hex::encode(e.digest()), "fccf734d5a97476f66278383508beef321e78b0611f146dd33bedb0ad78f372c");
        assert_eq!(canonical(serde_json::from_str(after).unwrap()), after, "the payload is canonical");
    }

    /// A bank written in format 1 (before migration 0008) keeps verifying after the upgrade, with format-2
    /// entries appended to its chain; an altered format-1 entry is still named.
    #[test]
    fn a_format_1_chain_verifies_after_the_upgrade() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate_to(&mut conn, 7).unwrap();
        let at = "2026-01-01T00:00:00Z";
        let mut prev = GENESIS.to_string();
        for (seq, value) in [(1, "X0001"), (2, "G1517")] {
            conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('facility', ?1)", [value]).unwrap();
            // As format 1 wrote it: the whole row, hex hashes, the previous hash stored again.
            let after = format!(r#"{{"key":"facility","value":"{value}"}}"#);
            let entry = Hashed {
                format: 1,
                seq,
                at,
                recorded_at: at,
                actor: "tester",
                action: "set-setting",
                entity: "settings",
                entity_id: "facility",
                subject: "facility",
                before: None,
                after: Some(&after),
                prev_hash: &prev,
            };
            let hash = hex::encode(entry.digest());
            conn.execute(
                "INSERT INTO audit_log VALUES (?1, ?2, ?2, 'tester', 'set-setting', 'settings', 'facility', 'facility',
                                               NULL, ?3, ?4, ?5)",
                params![seq, at, after, prev, hash],
            )
            .unwrap();
            prev = hash;
        }
        super::super::migrate::migrate(&mut conn).unwrap();
        let t = conn.transaction().unwrap();
        let tx = Tx(&t);
        let before = row_state(&tx, "settings", "facility").unwrap();
        tx.execute("UPDATE settings SET value = 'G1518' WHERE key = 'facility'", []).unwrap();
        let now = chrono::Utc::now();
        let change = Change {
            actor: "tester",
            action: "set-setting",
            table: "settings",
            id: "facility",
            subject: "facility",
            at: now,
            recorded_at: now,
            before,
        };
        record(&tx, change).unwrap();
        let v = verify(&tx).unwrap();
        assert_eq!((v.entries, v.findings.clone()), (3, vec![]), "both formats in one chain verify");
        let formats: Vec<String> = tx
            .prepare("SELECT typeof(hash) FROM audit_log ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(std::result::Result::unwrap)
            .collect();
        assert_eq!(formats, ["text", "text", "blob"]);
        tx.0.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
            .unwrap();
        let v = verify(&tx).unwrap();
        assert_eq!(v.findings[0].what, "audit entry 1 (set-setting settings facility) was altered");
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
