//! Copying a whole bank to another database (`migrate --to`): a file's bank into an empty PostgreSQL database, or
//! a server's bank into a new file. The source is read in one snapshot and must verify first (a copy never
//! launders a tampered bank). Every table its schema holds is copied, parents before the tables whose foreign
//! keys name them, each row with its keys as they are; then one audit entry on the target records the copy,
//! chained to the source's last entry, and the target is verified before it is kept: a server's in the one
//! transaction that made its schema (a failure leaves the database empty), a file's under a temporary name that
//! becomes the target only once complete and verified.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::ToSql;
use serde::Serialize;

use super::engine::{Server, Stmt};
use super::migrate::LATEST_VERSION;
use super::{audit, backup, checkpoint, schema_check, server, settings, Engine, Result, Store, StoreError, Tx};

/// Rows per INSERT: few round trips to a server, few parameters per statement (well under both engines' limits).
const BATCH_ROWS: usize = 100;
const BATCH_PARAMS: usize = 2_000;

/// The server's marker table, made with its row by the schema itself (a file keeps the same in its header).
const MARKER: &str = "stoolbank_schema";

/// A copy made and verified.
#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    /// The source and the target as shown (a server's address without its password).
    pub from: String,
    pub to: String,
    /// Rows copied, by table.
    pub tables: BTreeMap<String, i64>,
    pub rows: i64,
    /// The source's last audit entry, and the copy's own entry on the target, chained to it.
    pub head_seq: i64,
    pub head_hash: String,
    pub copy_seq: i64,
    /// The temporary file a placed copy left beside it (its removal failed): the copy is whole under its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leftover: Option<PathBuf>,
}

/// Who copies, when, the bank key file (to check the identity rows' digests on the target), and where progress
/// goes (rows copied, rows in all).
pub(crate) struct Copying<'a> {
    pub actor: &'a str,
    pub now: DateTime<Utc>,
    pub key_file: Option<&'a Path>,
    pub progress: &'a mut dyn FnMut(u64, u64),
}

impl Store {
    /// Copies this bank to `target` (an empty server database, or a file that does not exist yet), verified there.
    pub(crate) fn copy_bank(&mut self, target: &Path, mut how: Copying) -> Result<Copied> {
        if let Some(found) = self.read_only.filter(|v| *v < LATEST_VERSION) {
            return Err(StoreError::OlderSchema { path: self.path.clone(), found, known: LATEST_VERSION });
        }
        // A file named as it is found from anywhere; a server by its address without password.
        let from = if self.on_server() { self.path.display().to_string() } else { absolute(&self.path) };
        let mut dest = Target::open(target)?;
        if let Some(key) = how.key_file {
            dest.store.use_key_file(key, false);
        }
        let copied = self.read(|src| dest.fill(src, &from, &mut how));
        dest.finish(copied)
    }
}

/// The bank being made: a server's database, or a file under its temporary name.
struct Target {
    store: Store,
    /// A file's temporary name and the name it gets once verified; None on a server.
    file: Option<(PathBuf, PathBuf)>,
    shown: String,
}

impl Target {
    fn open(target: &Path) -> Result<Target> {
        if let Some(address) = server::address(target) {
            let target = Target { store: connect_empty(address)?, file: None, shown: server::shown(address) };
            // Told at once, before the source is verified (and again inside the transaction that fills it).
            target.refuse_tables()?;
            return Ok(target);
        }
        let shown = absolute(target);
        if let Some(there) = backup::existing(target) {
            return Err(StoreError::Io(format!(
                "{}: already exists; a bank is copied only to a new file",
                there.display()
            )));
        }
        let name = target.file_name().ok_or_else(|| StoreError::Io(format!("{shown}: not a file name")))?;
        let mut temporary = std::ffi::OsString::from(".");
        temporary.push(name);
        temporary.push(".copying");
        // One name per target, made exclusively: two copies to one target cannot share it, and what a crash left
        // (perhaps a whole committed bank, its journal beside it) is found by the next copy, never overwritten.
        let temporary = target.with_file_name(temporary);
        let interrupted = |f: &Path| {
            StoreError::Io(format!("{}: left by an interrupted copy; remove it after checking", f.display()))
        };
        if let Some(left) = backup::existing(&temporary) {
            return Err(interrupted(&left));
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&temporary) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(interrupted(&temporary)),
            Err(e) => return Err(StoreError::Io(format!("{}: {e}", temporary.display()))),
        }
        // Removed again if it cannot be made a bank.
        let store = Store::open_or_create(&temporary).inspect_err(|_| remove_partial(&temporary))?;
        Ok(Target { store, file: Some((temporary, target.to_path_buf())), shown })
    }

    /// The write transaction every row goes in (on a server, with the schema, into a database found empty).
    fn begin(&self) -> Result<()> {
        match &self.store.engine {
            Engine::Lite(conn) => Ok(conn.execute_batch("BEGIN IMMEDIATE")?),
            Engine::Server(server) => {
                server.begin(true)?;
                self.refuse_tables()?;
                server.batch(server::SCHEMA)
            }
        }
    }

    /// A server database holding any table is no target.
    fn refuse_tables(&self) -> Result<()> {
        let sql = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()";
        let tables: i64 = self.store.tx().query_row(sql, (), |r| r.get(0))?;
        if tables > 0 {
            return Err(StoreError::Io(format!(
                "{}: the database holds {tables} tables; a bank is copied only into an empty database (never over one)",
                self.shown
            )));
        }
        Ok(())
    }

    fn fill(&self, src: &Tx, from: &str, how: &mut Copying) -> Result<Copied> {
        refuse_unsound(src, from)?;
        self.begin()?;
        let dst = self.store.tx();
        let tables = ordered_tables(src)?;
        let mut made: Vec<String> = dst.tables()?.into_iter().filter(|t| t != MARKER).collect();
        let mut held = tables.clone();
        made.sort();
        held.sort();
        if made != held {
            return Err(StoreError::Corrupt(format!(
                "the source's tables ({}) differ from the schema this program makes ({})",
                held.join(", "),
                made.join(", ")
            )));
        }
        let mut total = 0u64;
        for table in &tables {
            let n: i64 = src.query_row(&format!("SELECT count(*) FROM {table}"), (), |r| r.get(0))?;
            total += u64::try_from(n).unwrap_or(0);
        }
        let mut done = 0u64;
        (how.progress)(0, total);
        let mut counts = BTreeMap::new();
        for table in &tables {
            let n = copy_table(src, &dst, table, &mut |rows| {
                done += rows;
                (how.progress)(done, total);
            })?;
            counts.insert(table.clone(), n);
        }
        let (head_seq, head_hash) = checkpoint::head(src)?;
        let rows = counts.values().sum();
        let what = serde_json::json!({
            "from": from, "to": self.shown, "head_seq": head_seq, "head_hash": head_hash, "rows": counts,
        });
        record_copy(&dst, how.actor, how.now, &head_hash, what)?;
        // After the copy's own entry, so that the server's next number is past every row, that entry included.
        if dst.on_server() {
            identities_past_copied(&dst)?;
        }
        let (copy_seq, _) = checkpoint::head(&dst)?;
        self.check(&dst, &counts)?;
        Ok(Copied {
            from: from.to_string(),
            to: self.shown.clone(),
            tables: counts,
            rows,
            head_seq,
            head_hash,
            copy_seq,
            leftover: None,
        })
    }

    /// The copy as `verify` checks a bank (its schema, its audit chain and every record against it), and every
    /// table holding the rows copied (the log one more: the copy's entry).
    fn check(&self, dst: &Tx, counts: &BTreeMap<String, i64>) -> Result<()> {
        let mut problems = if dst.on_server() {
            schema_check::server_trigger_differences(dst)?
        } else {
            schema_check::differences(dst)?
        };
        let audit = audit::verify(dst)?;
        problems.extend(audit.findings.into_iter().map(|f| f.what));
        if audit.identity_unchecked > 0 {
            problems.push(unchecked(audit.identity_unchecked));
        }
        for (table, copied) in counts {
            let held: i64 = dst.query_row(&format!("SELECT count(*) FROM {table}"), (), |r| r.get(0))?;
            let expected = copied + i64::from(table == "audit_log");
            if held != expected {
                problems.push(format!("{table} holds {held} rows, {expected} expected"));
            }
        }
        match problems.first() {
            None => Ok(()),
            Some(first) => Err(StoreError::Tampered(format!(
                "{}: the copy does not verify, so it was not kept: {first}{}",
                self.shown,
                more(problems.len())
            ))),
        }
    }

    /// Keeps the copy if it was made and verified; otherwise leaves nothing behind (a server's database empty, no
    /// file).
    fn finish(self, copied: Result<Copied>) -> Result<Copied> {
        let Target { store, file, shown } = self;
        let Some((temporary, target)) = file else {
            let Engine::Server(server) = &store.engine else { return copied };
            return match copied {
                Ok(c) => server.end(true).map(|()| c),
                Err(e) => {
                    // Nothing to end when the source was refused before the transaction began.
                    let _ = server.end(false);
                    Err(e)
                }
            };
        };
        let kept = match &store.engine {
            Engine::Lite(conn) => {
                let kept = copied.and_then(|c| {
                    conn.execute_batch("COMMIT")?;
                    // One file, with no journal beside it to lose on the way to other media.
                    conn.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
                    Ok(c)
                });
                if kept.is_err() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                kept
            }
            Engine::Server(_) => copied,
        };
        drop(store);
        let placed = kept.and_then(|c| place(&temporary, &target, &shown).map(|leftover| Copied { leftover, ..c }));
        if placed.is_err() {
            remove_partial(&temporary);
        }
        placed
    }
}

/// Refuses a source that `verify` would not pass: on a file `SQLite`'s integrity and foreign-key checks, its
/// schema, its stored values and its audit trail; on a server its foreign keys, schema and audit trail. Identity
/// rows that cannot be checked (no bank key, or another) refuse it too: a copy is only made of a bank verified
/// whole.
fn refuse_unsound(src: &Tx, from: &str) -> Result<()> {
    let (mut problems, audit) = if src.on_server() {
        let mut problems = settings::foreign_key_check(src)?;
        problems.extend(schema_check::server_trigger_differences(src)?);
        (problems, audit::verify(src)?)
    } else {
        let mut problems = settings::integrity_check(src)?;
        problems.extend(settings::foreign_key_check(src)?);
        problems.extend(schema_check::differences(src)?);
        let (audit, log_values) = audit::verify_with_log_values(src)?;
        problems.extend(schema_check::unreadable_values(src, Some(log_values))?);
        (problems, audit)
    };
    problems.extend(audit.findings.into_iter().map(|f| f.what));
    if let Some(first) = problems.first() {
        return Err(StoreError::Tampered(format!(
            "{from}: does not verify, so it is not copied: {first}{}; `stoolbank verify` lists everything",
            more(problems.len())
        )));
    }
    if audit.identity_unchecked > 0 {
        return Err(StoreError::Io(format!("{from}: {}, so it is not copied", unchecked(audit.identity_unchecked))));
    }
    Ok(())
}

/// Identity rows a check could not compare with their entries.
fn unchecked(rows: i64) -> String {
    format!(
        "{rows} identity rows cannot be checked without the bank key they were digested with (STOOLBANK_KEY or \
         --key); a copy needs the bank key"
    )
}

fn more(problems: usize) -> String {
    if problems > 1 {
        format!(" (and {} more)", problems - 1)
    } else {
        String::new()
    }
}

/// The source's tables as its schema lists them (the server's marker aside, which the schema makes with its row),
/// each after the tables its foreign keys name.
fn ordered_tables(src: &Tx) -> Result<Vec<String>> {
    let names: Vec<String> = src.tables()?.into_iter().filter(|t| t != MARKER).collect();
    let parents_sql = if src.on_server() {
        "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND conrelid = to_regclass(?1)"
    } else {
        "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)"
    };
    let mut parents = BTreeMap::new();
    for table in &names {
        let of: Vec<String> = src
            .prepare_cached(parents_sql)?
            .query_map([table.as_str()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        // A table's rows that name its own earlier rows (a correction's `supersedes`) come in key order.
        parents.insert(table.clone(), of.into_iter().filter(|p| p != table).collect::<Vec<_>>());
    }
    let mut ordered: Vec<String> = Vec::with_capacity(names.len());
    while ordered.len() < names.len() {
        let ready: Vec<String> = names
            .iter()
            .filter(|t| !ordered.contains(t))
            .filter(|t| parents[*t].iter().all(|p| ordered.contains(p) || !names.contains(p)))
            .cloned()
            .collect();
        if ready.is_empty() {
            let left: Vec<&str> = names.iter().filter(|t| !ordered.contains(t)).map(String::as_str).collect();
            return Err(StoreError::Corrupt(format!("the foreign keys of {} form a cycle", left.join(", "))));
        }
        ordered.extend(ready);
    }
    Ok(ordered)
}

/// A table's primary key columns, in the key's order (none for a table without one).
fn key_columns(src: &Tx, table: &str) -> Result<Vec<String>> {
    let sql = if src.on_server() {
        "SELECT a.attname::text FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = to_regclass(?1) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)"
    } else {
        "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk"
    };
    Ok(src.prepare(sql)?.query_map([table], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}

/// The order rows are read in: a file's insertion order (its rowid, the key of every integer-keyed table); a
/// server's primary key.
fn order_of(src: &Tx, key: &[String]) -> String {
    if !src.on_server() {
        return "rowid".into();
    }
    if key.is_empty() {
        return "1".into();
    }
    key.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
}

/// A row as messages name it: its key's values (or its place in the table, for a table without a key).
fn row_key(r: &super::engine::Row, key: &[usize], n: i64) -> Result<String> {
    if key.is_empty() {
        return Ok(format!("row {n}"));
    }
    let mut parts = Vec::with_capacity(key.len());
    for &i in key {
        parts.push(match r.get_ref(i)? {
            ValueRef::Null => "NULL".to_string(),
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(f) => f.to_string(),
            ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
        });
    }
    Ok(format!("key {}", parts.join("/")))
}

/// Copies one table's rows, streamed from the source and written in batches of one prepared INSERT; returns
/// how many.
fn copy_table(src: &Tx, dst: &Tx, table: &str, progress: &mut dyn FnMut(u64)) -> Result<i64> {
    let key = key_columns(src, table)?;
    let mut read = src.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY {}", order_of(src, &key)))?;
    let columns = read.column_names();
    // The target's columns are the schema's: a source table with another column list is not copied into it.
    let made = dst.prepare(&format!("SELECT * FROM \"{table}\" LIMIT 0"))?.column_names();
    let (mut found, mut want) = (columns.clone(), made);
    found.sort();
    want.sort();
    if found != want {
        return Err(StoreError::Io(format!(
            "{table}: the source's columns ({}) differ from those of the schema this program makes ({}); nothing was \
             copied",
            found.join(", "),
            want.join(", ")
        )));
    }
    let key: Vec<usize> = key.iter().filter_map(|k| columns.iter().position(|c| c == k)).collect();
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let width = columns.len();
    // The audit log's hash column and its previous-hash column: a format-1 entry's hash changes form between
    // the engines (see `audit.rs`).
    let hash = (table == "audit_log")
        .then(|| Some((columns.iter().position(|c| c == "prev_hash")?, columns.iter().position(|c| c == "hash")?)))
        .flatten();
    let per = (BATCH_PARAMS / width.max(1)).clamp(1, BATCH_ROWS);
    let insert = |rows: usize| {
        let tuples: Vec<String> = (0..rows)
            .map(|r| {
                let marks: Vec<String> = (1..=width).map(|c| format!("?{}", r * width + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        format!("INSERT INTO \"{table}\" ({}) VALUES {}", quoted.join(", "), tuples.join(", "))
    };
    let to_server = dst.on_server();
    let mut full = dst.prepare(&insert(per))?;
    let mut values: Vec<Held> = Vec::with_capacity(per * width);
    // The first row of the batch being gathered, to name when the target refuses it.
    let mut first = String::new();
    let mut copied = 0i64;
    let mut rows = read.stream(())?;
    while let Some(r) = rows.next()? {
        // Named only where a message needs it: the first row of a batch, a row refused.
        if values.is_empty() {
            first = row_key(r, &key, copied + 1)?;
        }
        for (i, column) in columns.iter().enumerate() {
            let v = r.get_ref(i)?;
            let rehashed = match hash {
                Some((prev, h)) if h == i => hash_for(v, !matches!(r.get_ref(prev)?, ValueRef::Null), to_server),
                _ => Ok(None),
            };
            let value = match rehashed.map(|h| h.or_else(|| held(v, to_server))) {
                Ok(Some(value)) => value,
                Ok(None) => {
                    let at = row_key(r, &key, copied + 1)?;
                    return Err(StoreError::Corrupt(format!(
                        "{table} {at}: column {column} holds bytes that are not text"
                    )));
                }
                Err(what) => {
                    return Err(StoreError::Corrupt(format!("{table} {}: {what}", row_key(r, &key, copied + 1)?)))
                }
            };
            values.push(value);
        }
        copied += 1;
        if values.len() == per * width {
            execute(&mut full, &values, table, &first)?;
            values.clear();
            progress(per as u64);
        }
    }
    if !values.is_empty() {
        let rest = values.len() / width;
        execute(&mut dst.prepare(&insert(rest))?, &values, table, &first)?;
        progress(rest as u64);
    }
    Ok(copied)
}

/// A value read from the source, bound once into the INSERT that writes it.
enum Held {
    /// To a file: any other value as read.
    Kept(Value),
    /// To a file: a text's bytes unchanged, valid UTF-8 or not (`SQLite` copies them as it binds them).
    Bytes(Vec<u8>),
    /// To a server: handed over to the statement's parameters as it binds them (never copied a second time).
    Moved(RefCell<Option<Value>>),
}

/// The value to bind on the target, or None for text a server cannot hold (bytes that are not UTF-8, or a NUL).
fn held(v: ValueRef, to_server: bool) -> Option<Held> {
    let value = match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) if to_server => {
            Value::Text(std::str::from_utf8(t).ok().filter(|t| !t.contains('\0'))?.to_string())
        }
        ValueRef::Text(t) => return Some(Held::Bytes(t.to_vec())),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    };
    Some(if to_server { Held::Moved(RefCell::new(Some(value))) } else { Held::Kept(value) })
}

impl ToSql for Held {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Held::Kept(v) => v.to_sql(),
            Held::Bytes(b) => Ok(ToSqlOutput::Borrowed(ValueRef::Text(b))),
            Held::Moved(v) => v
                .borrow_mut()
                .take()
                .map(ToSqlOutput::Owned)
                .ok_or_else(|| rusqlite::Error::ToSqlConversionFailure("a copied value was bound twice".into())),
        }
    }
}

/// Writes one batch; a refusal names the table and the batch's first row.
fn execute(stmt: &mut Stmt, values: &[Held], table: &str, first: &str) -> Result<()> {
    let args: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
    stmt.execute(args.as_slice()).map_err(|e| {
        StoreError::Io(format!("{table}: the rows from {first} on could not be written: {}", StoreError::from(e)))
    })?;
    Ok(())
}

/// An audit entry's hash in the form the target holds it: a format-1 entry's 64 hex digits become the 32 bytes
/// they spell on a server (whose column is bytes), and the bytes of a server's format-1 entry (one with a
/// previous hash) become hex text again in a file; None when it is copied as it is.
fn hash_for(v: ValueRef, format_1: bool, to_server: bool) -> std::result::Result<Option<Held>, &'static str> {
    match v {
        ValueRef::Text(digits) if to_server => {
            let bytes = std::str::from_utf8(digits)
                .ok()
                .filter(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
                .and_then(|h| hex::decode(h).ok())
                .ok_or("a format-1 hash that is not 64 lowercase hex digits")?;
            Ok(Some(Held::Moved(RefCell::new(Some(Value::Blob(bytes))))))
        }
        ValueRef::Blob(b) if format_1 && !to_server => Ok(Some(Held::Kept(Value::Text(hex::encode(b))))),
        _ => Ok(None),
    }
}

/// Sets every identity column's sequence past the highest key copied, so that the next row the server numbers
/// does not collide with a copied one.
fn identities_past_copied(dst: &Tx) -> Result<()> {
    let columns: Vec<(String, String)> = dst
        .prepare(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY 1",
        )?
        .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (table, column) in columns {
        dst.prepare(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
             coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
        ))?
        .query_row((), |_| Ok(()))?;
    }
    Ok(())
}

/// A connection to a server database that need not hold a bank yet (the target of a copy, which checks it is
/// empty inside the transaction that fills it).
fn connect_empty(address: &str) -> Result<Store> {
    let (client, path) = server::client(address, std::time::Duration::from_secs(10))?;
    let mut store = Store::on(Engine::Server(Box::new(Server::new(client))), path, None);
    store.address = Some(address.to_string());
    Ok(store)
}

/// A copy's audit entry (on the target, and in the source's trail): `what` says where from or to, and the head
/// copied (`head_hash`, which names the entry).
pub(crate) fn record_copy(
    tx: &Tx,
    actor: &str,
    now: DateTime<Utc>,
    head_hash: &str,
    what: serde_json::Value,
) -> Result<()> {
    let change = audit::Change {
        actor,
        action: "copy",
        table: "copies",
        id: head_hash,
        subject: "",
        at: now,
        recorded_at: now,
        before: None,
    };
    audit::record_event(tx, change, what)?;
    Ok(())
}

/// Puts the verified copy at `target` without ever replacing a file there: linked under its name (which fails if
/// one appeared meanwhile), then the temporary name removed; on a file system without links, renamed. Returns the
/// temporary name when the copy is in place but that name could not be removed.
fn place(temporary: &Path, target: &Path, shown: &str) -> Result<Option<PathBuf>> {
    let io = |e: std::io::Error| StoreError::Io(format!("{shown}: {e}"));
    std::fs::File::open(temporary).and_then(|f| f.sync_all()).map_err(io)?;
    let mut leftover = None;
    match std::fs::hard_link(temporary, target) {
        // The copy is whole under its name: a temporary name that stays is only to be removed.
        Ok(()) => leftover = std::fs::remove_file(temporary).err().map(|_| temporary.to_path_buf()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::Io(format!("{shown}: appeared while the copy was made; the copy was not kept")));
        }
        Err(_) if !target.exists() => std::fs::rename(temporary, target).map_err(io)?,
        Err(e) => return Err(io(e)),
    }
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Best effort, as for the `-wal`'s entry: some file systems cannot sync a directory.
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(leftover)
}

/// Removes what a copy that failed wrote under its temporary name: it never held a verified bank.
fn remove_partial(temporary: &Path) {
    for file in backup::with_journals(temporary) {
        let _ = std::fs::remove_file(file);
    }
}

/// A file's path as it is found from anywhere: its directory resolved, its name as given (it may not exist yet).
fn absolute(file: &Path) -> String {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (std::fs::canonicalize(dir), file.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name).display().to_string(),
        _ => file.display().to_string(),
    }
}
