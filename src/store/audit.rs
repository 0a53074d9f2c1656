//! The audit trail: every change appends an entry in the same transaction, hash-chained (SHA-256) to the one
//! before. `verify` walks the chain and compares every record with the state its last entry recorded, so a row
//! edited behind the program's back is named.
//!
//! Two entry formats share one chain, told apart by the stored hash's type (and named in the hashed text, so
//! that neither passes as the other):
//! - format 1 (written before migration 0008): the hash and the previous entry's hash as 64 hex digits, rows as
//!   whole canonical JSON objects. These entries verify exactly as they always did.
//!   On a PostgreSQL server (whose `hash` is `bytea`), a format-1 entry copied there from a file (`migrate --to`)
//!   holds its hash as the 32 bytes its hex digits spell and keeps `prev_hash` as hex text: there an entry is of
//!   format 1 exactly when `prev_hash` is not NULL (the first format-1 entry's is the genesis, 64 zeros, never
//!   NULL), and it is checked on its hash re-written as hex, as on a file.
//! - format 2: the hash as its 32 bytes, the previous hash not stored again (the chain holds it), rows as compact
//!   canonical JSON: keys sorted, without the key column (the entry names the record) and without NULL columns (a
//!   column the entry does not name is NULL). Rows made together (a batch's units, a screening's results) are one
//!   entry whose `entity_id` names the group (`batch_id=G…`) and whose `after` maps each row's key to its state;
//!   `verify` checks every row against it. The hashed text embeds the payloads as stored, so checking the chain
//!   hashes bytes without parsing them.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::schema_check::LogValues;
use super::Row;
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
    "identity_keys",
    "identity_viewers",
    "identity_key_slots",
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
    "identity_keys",
    "identity_viewers",
    "identity_key_slots",
];

/// Identity rows are audited by a digest keyed with the bank secret only, so that the audit log never discloses
/// a name, not even to someone trying candidates; so are the identity key slots and viewers' wrapped keys, so that
/// the log never keeps a slot erased or a wrapping under a password since changed.
const DIGEST_ONLY: &[&str] = &["donor_identities", "recipient_identities", "identity_viewers", "identity_key_slots"];

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

/// Whether `entity_id` names a group of `table`'s rows rather than one row.
fn is_group_id(table: &str, entity_id: &str) -> bool {
    group_column(table).and_then(|c| entity_id.strip_prefix(c)).is_some_and(|rest| rest.starts_with('='))
}

/// A key bound with its column's type, so that the primary key is used; None when no row can have it (an
/// integer key that is not a number: a file would compare and find nothing, a server would refuse the text).
fn key_value(table: &str, id: &str) -> Option<rusqlite::types::Value> {
    if !INTEGER_KEYS.contains(&table) {
        return Some(id.to_string().into());
    }
    id.parse::<i64>().ok().map(Into::into)
}

/// Whether `table` holds a row keyed `id` (`exists` selects by the key).
fn key_exists(exists: &mut super::engine::Stmt, table: &str, id: &str) -> Result<bool> {
    match key_value(table, id) {
        Some(key) => Ok(exists.exists([key])?),
        None => Ok(false),
    }
}

/// A table's columns as a `SELECT *` returns them, and the order an entry writes them in (by name).
struct Layout {
    table: &'static str,
    names: Vec<String>,
    /// Each name as a JSON key (`"name":`), written once for every row.
    keys: Vec<String>,
    by_name: Vec<usize>,
    key: usize,
    group: Option<(&'static str, usize)>,
}

impl Layout {
    fn of(stmt: &super::engine::Stmt, table: &'static str) -> Layout {
        let names: Vec<String> = stmt.column_names();
        let keys = names.iter().map(|n| format!("{}:", Value::from(n.as_str()))).collect();
        let mut by_name: Vec<usize> = (0..names.len()).collect();
        by_name.sort_by(|a, b| names[*a].cmp(&names[*b]));
        let position = |column: &str| names.iter().position(|n| n == column);
        let key = position(key_column(table)).unwrap_or(usize::MAX);
        let group = group_column(table).and_then(|c| Some((c, position(c)?)));
        Layout { table, names, keys, by_name, key, group }
    }

    /// What `verify` compares of a row.
    fn read(&self, conn: &Tx, r: &Row) -> Result<RowNow> {
        let id = lossy(r.get_ref(self.key)?);
        let (state, member) = self.states(conn, r, self.group.is_some())?;
        let group = match self.group {
            Some((column, i)) => group_id(column, &lossy(r.get_ref(i)?)),
            None => id.clone(),
        };
        Ok(RowNow { id, group, state, member })
    }

    /// The row as a format-2 entry holds it: compact canonical JSON, or for an identity table the keyed digest
    /// of the whole row (made as format 1 made it, so that both formats compare alike).
    fn state(&self, conn: &Tx, r: &Row) -> Result<String> {
        Ok(self.states(conn, r, false)?.0)
    }

    /// The state in a group entry: without the group column (the entry names it).
    fn member_state(&self, conn: &Tx, r: &Row) -> Result<String> {
        let (state, member) = self.states(conn, r, true)?;
        Ok(member.unwrap_or(state))
    }

    /// The state, and with `member` the state in a group entry too, both written in one pass over the columns.
    fn states(&self, conn: &Tx, r: &Row, member: bool) -> Result<(String, Option<String>)> {
        if DIGEST_ONLY.contains(&self.table) {
            let mut row = Map::new();
            for (i, name) in self.names.iter().enumerate() {
                row.insert(name.clone(), json_of(r.get_ref(i)?));
            }
            let digest = conn.identity_digest(&canonical(Value::Object(row)))?;
            let digest = canonical(serde_json::from_str(&digest)?);
            return Ok((digest.clone(), member.then_some(digest)));
        }
        let group = self.group.filter(|_| member).map(|(_, i)| i);
        let mut state = Vec::with_capacity(256);
        let mut in_group = member.then(|| Vec::with_capacity(256));
        state.push(b'{');
        if let Some(m) = &mut in_group {
            m.push(b'{');
        }
        for &i in &self.by_name {
            let v = r.get_ref(i)?;
            if i == self.key || matches!(v, ValueRef::Null) {
                continue;
            }
            if state.len() > 1 {
                state.push(b',');
            }
            let start = state.len();
            state.extend_from_slice(self.keys[i].as_bytes());
            if self.table == "users" && self.names[i] == "password_hash" {
                // The password hash never enters the audit trail: its SHA-256 does, which tells a changed hash
                // and verifies the row, but tests no guessed password (the argon2 salt is inside what it digests).
                let digest = hex::encode(Sha256::digest(lossy(v).as_bytes()));
                serde_json::to_writer(&mut state, &format!("sha256:{digest}"))?;
            } else {
                write_json(&mut state, v)?;
            }
            if let Some(m) = in_group.as_mut().filter(|_| Some(i) != group) {
                if m.len() > 1 {
                    m.push(b',');
                }
                m.extend_from_slice(&state[start..]);
            }
        }
        let text = |mut bytes: Vec<u8>| {
            bytes.push(b'}');
            String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        Ok((text(state)?, in_group.map(text).transpose()?))
    }
}

/// A column's value as JSON, written as `json_of(v).to_string()` writes it, without building the value.
fn write_json(out: &mut Vec<u8>, v: ValueRef) -> Result<()> {
    use std::io::Write as _;
    match v {
        ValueRef::Integer(n) => write!(out, "{n}").map_err(|e| StoreError::Corrupt(e.to_string()))?,
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(text) => serde_json::to_writer(out, text)?,
            Err(_) => serde_json::to_writer(out, &json_of(v))?,
        },
        other => serde_json::to_writer(out, &json_of(other))?,
    }
    Ok(())
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
        // Bytes that are not text (written behind the program's back) equal no value it recorded, not even the
        // text their lossy reading gives.
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(text) => Value::from(text),
            Err(_) => serde_json::json!({ "bytes-not-text": hex::encode(t) }),
        },
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
    let Some(key) = key_value(table, id) else { return Ok(None) };
    let mut rows = stmt.query([key])?;
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
    /// format 2 adds `"format":2`, so that no entry of one format can pass for one of the other. The text is
    /// written once into one buffer (strings escaped as `serde_json` escapes them, no JSON values built) and hashed
    /// in one call.
    fn digest(&self) -> [u8; 32] {
        use std::io::Write as _;
        let payloads = self.after.map_or(0, str::len) + self.before.map_or(0, str::len);
        let mut h = HashText(Vec::with_capacity(payloads + 512));
        h.raw("{\"action\":");
        h.string(self.action);
        h.raw(",\"actor\":");
        h.string(self.actor);
        h.raw(",\"after\":");
        h.raw(self.after.unwrap_or("null"));
        h.raw(",\"at\":");
        h.string(self.at);
        h.raw(",\"before\":");
        h.raw(self.before.unwrap_or("null"));
        h.raw(",\"entity\":");
        h.string(self.entity);
        h.raw(",\"entity_id\":");
        h.string(self.entity_id);
        if self.format != 1 {
            let _ = write!(h, ",\"format\":{}", self.format);
        }
        h.raw(",\"prev_hash\":");
        h.string(self.prev_hash);
        h.raw(",\"recorded_at\":");
        h.string(self.recorded_at);
        let _ = write!(h, ",\"seq\":{}", self.seq);
        h.raw(",\"subject\":");
        h.string(self.subject);
        h.raw("}");
        Sha256::digest(&h.0).into()
    }
}

/// The text an entry's hash covers, written once and hashed in one call.
struct HashText(Vec<u8>);

impl HashText {
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    /// A JSON string, escaped as `serde_json` escapes it (most need no escaping: copied as they are).
    fn string(&mut self, text: &str) {
        if text.bytes().any(|c| c < 0x20 || c == b'"' || c == b'\\') {
            // Writing to a vector cannot fail.
            let _ = serde_json::to_writer(&mut self.0, text);
        } else {
            self.0.push(b'"');
            self.0.extend_from_slice(text.as_bytes());
            self.0.push(b'"');
        }
    }
}

impl std::io::Write for HashText {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
            rows.insert(lossy(r.get_ref(layout.key)?), layout.member_state(conn, r)?);
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
    conn.appended(entry.seq);
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
    /// A format-1 hash on a server: its 64 hex digits as the 32 bytes they spell.
    HexBytes(&'r [u8]),
}

impl<'r> StoredEntry<'r> {
    /// The program writes text in the text columns and a hash of the format's type, so anything else is tampering.
    fn read(r: &'r Row, seq: i64, on_server: bool) -> Result<StoredEntry<'r>> {
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
        let stored_prev = text(10)?;
        let hash = match r.get_ref(11)? {
            ValueRef::Blob(b) if on_server && stored_prev.is_some() => StoredHash::HexBytes(b),
            ValueRef::Blob(b) => StoredHash::Bytes(b),
            _ => StoredHash::Hex(required(11)?),
        };
        let format = match hash {
            StoredHash::Hex(_) | StoredHash::HexBytes(_) => 1,
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
            stored_prev,
            hash,
        })
    }

    /// Whether the entry hashes to its stored hash, chained to `prev`.
    fn holds(&self, prev: &str) -> bool {
        let fields = Hashed { prev_hash: prev, ..self.fields };
        match self.hash {
            StoredHash::Bytes(stored) => self.stored_prev.is_none() && fields.digest().as_slice() == stored,
            StoredHash::Hex(_) | StoredHash::HexBytes(_) => {
                let stored = self.hash_hex();
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
        let mut hex = String::new();
        self.write_hash_hex(&mut hex);
        hex
    }

    /// The stored hash as hex, in place of `out`'s text (the chain walk reuses one buffer).
    fn write_hash_hex(&self, out: &mut String) {
        out.clear();
        match self.hash {
            StoredHash::Hex(h) => out.push_str(h),
            StoredHash::Bytes(b) | StoredHash::HexBytes(b) => {
                let mut hex = [0u8; 64];
                match hex::encode_to_slice(b, &mut hex) {
                    Ok(()) => out.push_str(std::str::from_utf8(&hex).unwrap_or_default()),
                    // Not 32 bytes: tampered (its digest cannot match), written out all the same.
                    Err(_) => out.push_str(&hex::encode(b)),
                }
            }
        }
    }
}

fn reparsed(text: Option<&str>) -> Option<String> {
    text.and_then(parse_json).map(canonical)
}

/// The columns of an entry for reading, from a query aliased `a`: as stored (which tell its format), then the
/// previous hash, for a format-2 entry the entry before's (as hex text, whatever its format; on a server every
/// hash is bytes, a format-1 one included).
fn entry_columns(conn: &Tx) -> String {
    let previous = if conn.on_server() {
        "encode(p.hash, 'hex')"
    } else {
        "CASE typeof(p.hash) WHEN 'blob' THEN lower(hex(p.hash)) ELSE p.hash END"
    };
    format!(
        "a.seq, a.at, a.recorded_at, a.actor, a.action, a.entity, a.entity_id, a.subject, a.before, a.after, \
         a.prev_hash, a.hash, coalesce(a.prev_hash, (SELECT {previous} FROM audit_log p WHERE p.seq = a.seq - 1))"
    )
}

/// Whether the entry aliased `alias` is of format 2: its hash stored as bytes on a file; on a server (where every
/// hash is bytes), no previous hash stored.
fn format_2(conn: &Tx, alias: &str) -> String {
    if conn.on_server() {
        format!("{alias}.prev_hash IS NULL")
    } else {
        format!("typeof({alias}.hash) = 'blob'")
    }
}

/// An audit entry as stored, for reading.
fn entry_from_row(r: &Row, on_server: bool) -> Result<Entry> {
    let seq: i64 = r.get(0)?;
    let stored = StoredEntry::read(r, seq, on_server)?;
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
        prev_hash: hash_hex(r.get_ref(12)?),
        hash: stored.hash_hex(),
    })
}

/// The newest entries about a record: two indexed lookups (`subject`, `entity_id`) united, rather than an OR that
/// scans the whole log.
pub(super) const LOG_OF_RECORD: &str = "SELECT * FROM audit_log WHERE subject = ?1
     UNION SELECT * FROM audit_log WHERE entity_id = ?1 ORDER BY seq DESC LIMIT ?2";

/// The log, newest last; filtered to entries whose record or subject is `id` when given.
pub(crate) fn log(conn: &Tx, id: Option<&str>, limit: usize) -> Result<Vec<Entry>> {
    let columns = entry_columns(conn);
    let limit = limit as i64;
    let mut stmt;
    let mut rows = if let Some(id) = id {
        stmt = conn.prepare(&format!("SELECT {columns} FROM ({LOG_OF_RECORD}) AS a ORDER BY seq"))?;
        stmt.query(params![id, limit])?
    } else {
        stmt = conn.prepare(&format!(
            "SELECT {columns} FROM (SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?1) AS a ORDER BY seq"
        ))?;
        stmt.query([limit])?
    };
    let mut entries = Vec::new();
    while let Some(r) = rows.next()? {
        entries.push(entry_from_row(r, conn.on_server())?);
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
/// the records the log knows of that the tables lack. Every pass streams (each table in key order beside the log's
/// last entries in the same order, the log by its indexes), so memory stays flat however large the bank grows.
pub(crate) fn verify(conn: &Tx) -> Result<Verification> {
    verify_reading(conn, None)
}

/// [`verify`], checking the log's timestamps too as its walk reads every entry (for the values pass).
pub(crate) fn verify_with_log_values(conn: &Tx) -> Result<(Verification, LogValues)> {
    let mut values = LogValues::default();
    Ok((verify_reading(conn, Some(&mut values))?, values))
}

fn verify_reading(conn: &Tx, values: Option<&mut LogValues>) -> Result<Verification> {
    let mut v = Verification::default();
    walk_chain(conn, 0, GENESIS, &mut v, values)?;
    let mut records = Records::new(conn)?;
    let mut missing = Vec::new();
    for table in records.held.clone() {
        records.table(table, &mut v, &mut missing)?;
        if let Some(column) = group_column(table) {
            records.groups_present(table, column, &mut missing)?;
        }
    }
    // Named after the records that differ, in the log's (entity, entity_id) order (a stable sort keeps a group's
    // members in the order its entries name them).
    missing.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    for (_, _, what) in missing {
        v.found(what);
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
    walk_chain(conn, seq, hash, &mut v, None)?;
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
fn walk_chain(
    conn: &Tx,
    from: i64,
    prev: &str,
    v: &mut Verification,
    mut values: Option<&mut LogValues>,
) -> Result<()> {
    let mut stmt = conn.prepare(&format!("SELECT {STORED_COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq"))?;
    let mut rows = stmt.stream([from])?;
    let mut prev = prev.to_string();
    let mut expected_seq = from + 1;
    let mut chain_broken = false;
    // Format 1 ended at schema version 8: an entry of format 1 after one of format 2 is forged (a swap of formats).
    let mut format_2_seen = false;
    while let Some(r) = rows.next()? {
        v.entries += 1;
        let seq: i64 = r.get(0)?;
        if let Some(values) = values.as_deref_mut() {
            values.check(seq, r.get_ref(1)?, r.get_ref(2)?);
        }
        let e = match StoredEntry::read(r, seq, conn.on_server()) {
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
            } else if f.format == 1 && format_2_seen {
                Some(format!("audit entry {seq} is of format 1 after an entry of format 2: forged (format 1 ended at schema version 8)"))
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
        format_2_seen |= e.fields.format == 2;
        e.write_hash_hex(&mut prev);
    }
    Ok(())
}

/// The newest entry about a record: its sequence number, `after`, and whether it is of format 2.
type LastEntry = (i64, Option<String>, bool);

/// A record the log names that its table lacks: the table, the entry's `entity_id` (raw, for the log's order) and
/// the finding.
type Missing = (&'static str, Vec<u8>, String);

/// A record's newest entry as the merged pass reads it: the key as the log orders it (the `entity_id` cast to an
/// integer for integer-keyed tables, else 0; then its bytes), and the entry.
struct Logged {
    n: i64,
    id: Vec<u8>,
    entry: LastEntry,
}

/// The newest entries of one table's records, checked to come in the order the merge relies on.
struct Newest<'s> {
    rows: super::engine::Rows<'s>,
    table: &'static str,
    /// The key read last.
    last: Option<(i64, Vec<u8>)>,
}

impl Newest<'_> {
    fn next(&mut self) -> Result<Option<Logged>> {
        let Some(r) = self.rows.next()? else { return Ok(None) };
        let after = bytes(r.get_ref(3)?)?.map(text_of);
        let e = Logged {
            n: r.get(0)?,
            id: bytes(r.get_ref(1)?)?.unwrap_or_default().to_vec(),
            entry: (r.get(2)?, after, r.get(4)?),
        };
        // Out of order, records would be named falsely: refused instead.
        if self.last.as_ref().is_some_and(|(n, id)| (*n, id.as_slice()) >= (e.n, e.id.as_slice())) {
            return Err(StoreError::Corrupt(format!(
                "the audit log's entries of {} were read out of order",
                self.table
            )));
        }
        let last = self.last.get_or_insert_with(Default::default);
        last.0 = e.n;
        last.1.clear();
        last.1.extend_from_slice(&e.id);
        Ok(Some(e))
    }
}

/// A text or blob value's bytes (None for NULL).
fn bytes(v: ValueRef<'_>) -> Result<Option<&[u8]>> {
    Ok(v.as_bytes_or_null().map_err(rusqlite::Error::from)?)
}

/// Records against their last entries.
struct Records<'c> {
    conn: &'c Tx<'c>,
    /// The audited tables the file holds (a file of an older schema lacks the later ones; a table dropped is
    /// named by the schema check).
    held: Vec<&'static str>,
    last: super::engine::Stmt<'c>,
    /// The group whose newest entry was looked up last (table, `entity_id`, the entry's sequence number): a
    /// group's rows are read one after another, so its entry is looked up once for all of them.
    last_group: Option<(&'static str, String, Option<i64>)>,
    /// The group entry read last (its sequence number and members).
    group: Option<(i64, std::collections::HashMap<String, String>)>,
}

impl<'c> Records<'c> {
    fn new(conn: &'c Tx<'c>) -> Result<Records<'c>> {
        let names = conn.tables()?;
        let held = TABLES.iter().copied().filter(|t| names.iter().any(|n| n == t)).collect();
        // One lookup down the (entity, entity_id) index: its last row is the newest entry.
        let last = conn.prepare(&format!(
            "SELECT seq, after, {} FROM audit_log
             WHERE entity = ?1 AND entity_id = ?2 ORDER BY seq DESC LIMIT 1",
            format_2(conn, "audit_log")
        ))?;
        Ok(Records { conn, held, last, last_group: None, group: None })
    }

    /// The newest entry whose `entity_id` is `entity_id`, looked up.
    fn lookup(&mut self, table: &str, entity_id: &str) -> Result<Option<LastEntry>> {
        Ok(self
            .last
            .query_row(params![table, entity_id], |r| {
                let after = r.get_ref(1)?.as_bytes_or_null()?.map(text_of);
                Ok((r.get(0)?, after, r.get(2)?))
            })
            .optional()?)
    }

    /// Every row of `table` against its last entry, and every record the log names there (a group aside) against
    /// the table: one pass over the rows in key order merged with one over the records' newest entries in the
    /// same order, rather than one lookup per record. Integer keys are ordered as numbers on both sides (the log's
    /// text keys cast, through `SQLite`'s sorter, which spills to disk past its cache). A row out of that order (a
    /// text key that is not UTF-8) has its entry looked up, and a logged record no row met is looked up in the table.
    fn table(&mut self, table: &'static str, v: &mut Verification, missing: &mut Vec<Missing>) -> Result<()> {
        let conn = self.conn;
        let integer = INTEGER_KEYS.contains(&table);
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {}", key_column(table)))?;
        let layout = Layout::of(&stmt, table);
        let (n, order) = if integer { ("CAST(entity_id AS INTEGER)", "n, entity_id") } else { ("0", "entity_id") };
        // A group's entries are read by `group_entry` and `groups_present`, not here (filtered on the index).
        let groups = group_column(table)
            .map(|c| format!("AND NOT (entity_id >= '{c}=' AND entity_id < '{c}>')"))
            .unwrap_or_default();
        // The keys and newest sequence numbers in order (from the index, sorted when cast), then each entry read.
        // `SQLite` keeps the subquery's order through the CROSS JOIN; a server keeps only an order it is given.
        let outer = match (conn.on_server(), integer) {
            (false, _) => "",
            (true, true) => "ORDER BY l.n, l.entity_id",
            (true, false) => "ORDER BY l.entity_id",
        };
        let mut newest = conn.prepare(&format!(
            "SELECT l.n, l.entity_id, a.seq, a.after, {}
             FROM (SELECT {n} AS n, entity_id, max(seq) AS seq FROM audit_log WHERE entity = ?1 {groups}
                   GROUP BY entity_id ORDER BY {order}) AS l
             CROSS JOIN audit_log AS a ON a.seq = l.seq {outer}",
            format_2(conn, "a")
        ))?;
        let mut log = Newest { rows: newest.stream([table])?, table, last: None };
        let mut next = log.next()?;
        let mut previous: Option<(i64, String)> = None;
        let mut rows = stmt.stream(())?;
        while let Some(r) = rows.next()? {
            let row = layout.read(conn, r)?;
            // An integer table's key that is not an integer (its schema changed) is not in the log's order.
            let (n, ordered) = match r.get_ref(layout.key)? {
                ValueRef::Integer(n) if integer => (n, true),
                _ => (0, !integer),
            };
            let in_order =
                ordered && previous.as_ref().is_none_or(|(pn, pid)| (*pn, pid.as_bytes()) < (n, row.id.as_bytes()));
            let own = if in_order {
                while let Some(e) = next.take_if(|e| (e.n, e.id.as_slice()) < (n, row.id.as_bytes())) {
                    self.unmatched(table, &e.id, missing)?;
                    next = log.next()?;
                }
                match next.take_if(|e| e.n == n && e.id == row.id.as_bytes()) {
                    Some(e) => {
                        next = log.next()?;
                        Some(e.entry)
                    }
                    None => None,
                }
            } else {
                self.lookup(table, &row.id)?
            };
            self.compare(table, &row, own, v)?;
            if in_order {
                // The cursor has passed every key up to this one: a row below it is looked up.
                previous = Some((n, row.id));
            }
        }
        while let Some(e) = next {
            self.unmatched(table, &e.id, missing)?;
            next = log.next()?;
        }
        Ok(())
    }

    /// A record the log names that no row met in the merged pass: named missing unless its table holds it.
    fn unmatched(&mut self, table: &'static str, entity_id: &[u8], missing: &mut Vec<Missing>) -> Result<()> {
        let id = String::from_utf8_lossy(entity_id);
        let mut exists =
            self.conn.prepare_cached(&format!("SELECT 1 FROM {table} WHERE {} = ?1", key_column(table)))?;
        if !key_exists(&mut exists, table, &id)? {
            missing.push((
                table,
                entity_id.to_vec(),
                format!("{table} {id} is in the audit log but missing from the database"),
            ));
        }
        Ok(())
    }

    /// Each record a group entry names must be in its table: the group's rows are read through the group column's
    /// index, and only a member not among them is looked up by its key.
    fn groups_present(&mut self, table: &'static str, column: &str, missing: &mut Vec<Missing>) -> Result<()> {
        let conn = self.conn;
        let key = key_column(table);
        // Every `entity_id` that starts `column=`, in the log's order; a group's entries one after another.
        let mut entries = conn.prepare(
            "SELECT entity_id, after FROM audit_log WHERE entity = ?1 AND entity_id >= ?2 AND entity_id < ?3
             ORDER BY entity_id",
        )?;
        let mut rows_of = conn.prepare(&format!("SELECT {key} FROM {table} WHERE {column} = ?1"))?;
        let mut exists = conn.prepare_cached(&format!("SELECT 1 FROM {table} WHERE {key} = ?1"))?;
        let mut log = entries.stream(params![table, format!("{column}="), format!("{column}>")])?;
        let mut group: Option<(Vec<u8>, Vec<String>)> = None;
        loop {
            let r = log.next()?;
            let entity_id = match r {
                Some(r) => Some(bytes(r.get_ref(0)?)?.unwrap_or_default()),
                None => None,
            };
            if group.as_ref().is_some_and(|(g, _)| Some(g.as_slice()) != entity_id) {
                let (g, members) = group.take().unwrap_or_default();
                let name = String::from_utf8_lossy(&g);
                let value = name.split_once('=').map_or("", |(_, v)| v);
                let held = rows_of
                    .query_map([value], |r| Ok(lossy(r.get_ref(0)?)))?
                    .collect::<rusqlite::Result<std::collections::HashSet<_>>>()?;
                for id in members.iter().filter(|id| !held.contains(*id)) {
                    if !key_exists(&mut exists, table, id)? {
                        missing.push((
                            table,
                            g.clone(),
                            format!("{table} {id} is in the audit log but missing from the database"),
                        ));
                    }
                }
            }
            let (Some(r), Some(entity_id)) = (r, entity_id) else { break };
            let (_, members) = group.get_or_insert_with(|| (entity_id.to_vec(), Vec::new()));
            members.extend(group_keys(&lossy(r.get_ref(1)?)));
        }
        Ok(())
    }

    /// One record against its last entry: its own newest entry (`own`), or its group's when newer.
    fn compare(
        &mut self,
        table: &'static str,
        row: &RowNow,
        own: Option<LastEntry>,
        v: &mut Verification,
    ) -> Result<()> {
        v.records += 1;
        let (id, state) = (row.id.as_str(), row.state.as_str());
        let group = if row.group == id { None } else { self.group_entry(table, &row.group)? };
        let recorded: Option<Option<Cow<str>>> = match (own, group) {
            // A group entry: the record's state is its member, which leaves out the group column the entry names.
            (own, Some(seq)) if own.as_ref().is_none_or(|o| o.0 < seq) => {
                let member = self.group.as_ref().filter(|(s, _)| *s == seq).and_then(|(_, m)| m.get(id));
                // Text as the row's is canonical: when equal, so are both parsed; else compared canonical.
                member.map(|m| match row.member.as_ref() {
                    Some(now) if now == m => Some(Cow::Borrowed(state)),
                    _ => serde_json::from_str(m).ok().map(|m| Cow::Owned(canonical(m))),
                })
            }
            (None, _) => None,
            (Some((_, Some(after), false)), _) => Some(parse_json(&after).map(|a| Cow::Owned(compacted(table, a)))),
            (Some((_, after, _)), _) => Some(after.map(Cow::Owned)),
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

    /// The sequence number of group `entity_id`'s newest entry, its members parsed once for all the group's rows.
    fn group_entry(&mut self, table: &'static str, entity_id: &str) -> Result<Option<i64>> {
        if let Some((t, g, seq)) = &self.last_group {
            if *t == table && g == entity_id {
                return Ok(*seq);
            }
        }
        let found = self.lookup(table, entity_id)?;
        let seq = found.as_ref().map(|e| e.0);
        if let Some((seq, after, _)) = found {
            self.member(seq, after.as_deref());
        }
        self.last_group = Some((table, entity_id.to_string(), seq));
        Ok(seq)
    }

    /// Reads group entry `seq`'s members, unless it was the last one read: each member's text as stored.
    fn member(&mut self, seq: i64, after: Option<&str>) {
        if self.group.as_ref().is_none_or(|(s, _)| *s != seq) {
            let members = after.and_then(group_members).unwrap_or_default();
            self.group = Some((seq, members));
        }
    }

    /// Each record an entry names, against its last entry (or named missing).
    fn touched(&mut self, table: &str, entity_id: &str, v: &mut Verification) -> Result<()> {
        let Some(table) = self.held.iter().copied().find(|t| *t == table) else { return Ok(()) };
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(&format!("SELECT * FROM {table} WHERE {} = ?1", key_column(table)))?;
        let layout = Layout::of(&stmt, table);
        for id in self.members(table, entity_id)? {
            let row = match key_value(table, &id) {
                Some(key) => stmt.query([key])?.next()?.map(|r| layout.read(conn, r)).transpose()?,
                None => None,
            };
            match row {
                Some(row) => {
                    let own = self.lookup(table, &row.id)?;
                    self.compare(table, &row, own, v)?;
                }
                None => v.found(format!("{table} {id} is in the audit log but missing from the database")),
            }
        }
        Ok(())
    }

    /// The records an entry's `entity_id` names: the record itself, or the members of the group entries it names.
    fn members(&self, table: &str, entity_id: &str) -> Result<Vec<String>> {
        if !is_group_id(table, entity_id) {
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
    if !conn.has_table("signatures")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT s.id, s.meaning, s.entity, s.entity_id, s.signer, s.audit_seq, s.entry_hash,
                a.entity, a.entity_id, a.actor, a.hash
         FROM signatures s LEFT JOIN audit_log a ON a.seq = s.audit_seq ORDER BY s.id",
    )?;
    let mut rows = stmt.stream(())?;
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

/// Bytes as text, invalid UTF-8 replaced (checked first the fast way: stored text is valid).
fn text_of(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// A group entry's members (`{"key":{…},…}`) by key, each value's text as stored (for a key named twice its last
/// value, as `serde_json` keeps), without parsing the values. None unless the whole payload is valid JSON and an
/// object whose keys need no unescaping.
fn object_members(after: &str) -> Option<std::collections::BTreeMap<&str, &RawValue>> {
    serde_json::from_str(after).ok()
}

/// The members of a group entry by key, as stored, or as parsed and written canonical when the payload's keys
/// need unescaping.
fn group_members(after: &str) -> Option<std::collections::HashMap<String, String>> {
    match object_members(after) {
        Some(members) => Some(members.into_iter().map(|(k, v)| (k.to_owned(), v.get().to_owned())).collect()),
        None => match parse_json(after) {
            Some(Value::Object(m)) => Some(m.into_iter().map(|(k, v)| (k, canonical(v))).collect()),
            _ => None,
        },
    }
}

/// The keys of a group entry, in order and once each, as `serde_json`'s map holds them.
fn group_keys(after: &str) -> Vec<String> {
    match object_members(after) {
        Some(members) => members.into_keys().map(str::to_owned).collect(),
        None => match parse_json(after) {
            Some(Value::Object(m)) => m.into_iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        },
    }
}

/// A stored key as text, whatever bytes it holds (tampered bytes are named elsewhere, not a reason to stop).
pub(super) fn lossy(v: ValueRef) -> String {
    match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => text_of(t),
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
        let digest = crate::store::secret::IdentityDigest::default();
        let tx = Tx::new(crate::store::Conn::Lite(&t), &digest);
        let before = row_state(&tx, "settings", "facility").unwrap();
        tx.execute("UPDATE settings SET value = 'G1518' WHERE key = 'facility'", ()).unwrap();
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
            .query_map((), |r| r.get(0))
            .unwrap()
            .map(std::result::Result::unwrap)
            .collect();
        assert_eq!(formats, ["text", "text", "blob"]);
        t.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
            .unwrap();
        let v = verify(&tx).unwrap();
        assert_eq!(v.findings[0].what, "audit entry 1 (set-setting settings facility) was altered");
    }

    /// The merged pass reads integer keys in the log's order on both sides: ids across digit lengths (9, 10, 99,
    /// 100, …) verify, and a deleted record, a deleted group member and a row without an entry are each named, the
    /// missing ones in the log's (`entity`, `entity_id`) order.
    #[test]
    fn integer_keys_across_digit_lengths_merge_with_the_log() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&mut conn).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
        let t = conn.transaction().unwrap();
        let digest = crate::store::secret::IdentityDigest::default();
        let tx = Tx::new(crate::store::Conn::Lite(&t), &digest);
        fn change<'a>(action: &'a str, table: &'a str, id: &'a str) -> Change<'a> {
            let now = chrono::Utc::now();
            Change { actor: "tester", action, table, id, subject: "D000001", at: now, recorded_at: now, before: None }
        }
        for n in 1..=120 {
            let id = n.to_string();
            tx.execute(
                "INSERT INTO screenings (id, donor_id, kind, date, recorded_at)
                 VALUES (?1, 'D000001', 'blood', '2026-01-01', '2026-01-01T00:00:00Z')",
                [n],
            )
            .unwrap();
            record(&tx, change("screen", "screenings", &id)).unwrap();
            for test in ["hav", "hbv"] {
                tx.execute(
                    "INSERT INTO screening_results (screening_id, test, result) VALUES (?1, ?2, 'negative')",
                    params![n, test],
                )
                .unwrap();
            }
            record_group(&tx, change("record-results", "screening_results", &id)).unwrap();
        }
        let v = verify(&tx).unwrap();
        assert_eq!((v.records, v.findings), (360, vec![]), "120 screenings and their 240 results verify");
        t.execute_batch(
            "DROP TRIGGER screenings_no_delete; DROP TRIGGER screening_results_no_delete;
             DELETE FROM screenings WHERE id IN (10, 100);
             DELETE FROM screening_results WHERE screening_id = 7 AND test = 'hbv';
             INSERT INTO screenings (id, donor_id, kind, date, recorded_at)
             VALUES (121, 'D000001', 'blood', '2026-01-01', '2026-01-01T00:00:00Z');",
        )
        .unwrap();
        let found: Vec<String> = verify(&tx).unwrap().findings.into_iter().map(|f| f.what).collect();
        assert_eq!(
            found,
            [
                "screenings 121 has no audit entry: written outside stoolbank",
                "screening_results 14 is in the audit log but missing from the database",
                "screenings 10 is in the audit log but missing from the database",
                "screenings 100 is in the audit log but missing from the database",
            ]
        );
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
        let tables: Vec<String> = stmt.query_map((), |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
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
