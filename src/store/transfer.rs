//! Copying a whole bank to another database (`migrate --to`): a file's bank into an empty PostgreSQL database, or
//! a server's bank into a new file. The source is read in one snapshot and must verify first (a copy never
//! launders a tampered bank). Every table its schema holds is copied, parents before the tables whose foreign
//! keys name them, each row with its keys as they are; then one audit entry on the target records the copy,
//! chained to the source's last entry, and the target is verified before it is kept: a server's in the one
//! transaction that made its schema (a failure leaves the database empty), a file's under a temporary name that
//! becomes the target only once complete and verified.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::types::{Value, ValueRef};
use rusqlite::ToSql;
use serde::Serialize;

use super::engine::{Server, Stmt};
use super::migrate::LATEST_VERSION;
use super::{audit, backup, checkpoint, schema_check, server, Engine, Result, Store, StoreError, Tx};

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
        let from = if self.on_server() {
            self.path.display().to_string()
        } else {
            std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone()).display().to_string()
        };
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
        let shown = target.display().to_string();
        if target.exists() || backup::wal_path(target).exists() {
            return Err(StoreError::Io(format!("{shown}: already exists; a bank is copied only to a new file")));
        }
        let name = target.file_name().ok_or_else(|| StoreError::Io(format!("{shown}: not a file name")))?;
        let mut temporary = std::ffi::OsString::from(".");
        temporary.push(name);
        temporary.push(format!(".copying-{}", std::process::id()));
        let temporary = target.with_file_name(temporary);
        if temporary.exists() {
            return Err(StoreError::Io(format!(
                "{}: left by an interrupted copy; remove it, then copy again",
                temporary.display()
            )));
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
        if dst.on_server() {
            identities_past_copied(&dst)?;
        }
        let (head_seq, head_hash) = checkpoint::head(src)?;
        let rows = counts.values().sum();
        let what = serde_json::json!({
            "from": from, "to": self.shown, "head_seq": head_seq, "head_hash": head_hash, "rows": counts,
        });
        let change = audit::Change {
            actor: how.actor,
            action: "copy",
            table: "copies",
            id: &head_hash,
            subject: "",
            at: how.now,
            recorded_at: how.now,
            before: None,
        };
        audit::record_event(&dst, change, what)?;
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
        problems.extend(audit::verify(dst)?.findings.into_iter().map(|f| f.what));
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
        let placed = kept.and_then(|c| place(&temporary, &target, &shown).map(|()| c));
        if placed.is_err() {
            remove_partial(&temporary);
        }
        placed
    }
}

/// Refuses a source whose schema or audit trail does not verify.
fn refuse_unsound(src: &Tx, from: &str) -> Result<()> {
    let mut problems =
        if src.on_server() { schema_check::server_trigger_differences(src)? } else { schema_check::differences(src)? };
    problems.extend(audit::verify(src)?.findings.into_iter().map(|f| f.what));
    match problems.first() {
        None => Ok(()),
        Some(first) => Err(StoreError::Tampered(format!(
            "{from}: does not verify, so it is not copied: {first}{}; `stoolbank verify` lists everything",
            more(problems.len())
        ))),
    }
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

/// The order rows are read in: a file's insertion order (its rowid, the key of every integer-keyed table); a
/// server's primary key.
fn order_of(src: &Tx, table: &str) -> Result<String> {
    if !src.on_server() {
        return Ok("rowid".into());
    }
    let key: Option<String> = src.query_row(
        "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY array_position(i.indkey::int2[], a.attnum))
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = to_regclass(?1) AND i.indisprimary",
        [table],
        |r| r.get(0),
    )?;
    Ok(key.unwrap_or_else(|| "1".into()))
}

/// Copies one table's rows, streamed from the source and written in batches of one prepared INSERT; returns
/// how many.
fn copy_table(src: &Tx, dst: &Tx, table: &str, progress: &mut dyn FnMut(u64)) -> Result<i64> {
    let mut read = src.prepare(&format!("SELECT * FROM \"{table}\" ORDER BY {}", order_of(src, table)?))?;
    let columns = read.column_names();
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
    let mut full = dst.prepare(&insert(per))?;
    let mut values: Vec<Value> = Vec::with_capacity(per * width);
    let mut copied = 0i64;
    let mut rows = read.stream(())?;
    while let Some(r) = rows.next()? {
        for i in 0..width {
            let v = r.get_ref(i)?;
            values.push(match hash {
                Some((prev, at)) if at == i => hash_for(v, !matches!(r.get_ref(prev)?, ValueRef::Null), dst, table)?,
                _ => owned(v),
            });
        }
        copied += 1;
        if values.len() == per * width {
            execute(&mut full, &values)?;
            values.clear();
            progress(per as u64);
        }
    }
    if !values.is_empty() {
        let rest = values.len() / width;
        execute(&mut dst.prepare(&insert(rest))?, &values)?;
        progress(rest as u64);
    }
    Ok(copied)
}

fn execute(stmt: &mut Stmt, values: &[Value]) -> Result<()> {
    let args: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
    stmt.execute(args.as_slice())?;
    Ok(())
}

/// An audit entry's hash in the form the target holds it: a format-1 entry's 64 hex digits become the 32 bytes
/// they spell on a server (whose column is bytes), and the bytes of a server's format-1 entry (one with a
/// previous hash) become hex text again in a file.
fn hash_for(v: ValueRef, format_1: bool, dst: &Tx, table: &str) -> Result<Value> {
    match v {
        ValueRef::Text(digits) if dst.on_server() => {
            let bytes = std::str::from_utf8(digits)
                .ok()
                .filter(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
                .and_then(|h| hex::decode(h).ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("{table}: a format-1 hash that is not 64 lowercase hex digits"))
                })?;
            Ok(Value::Blob(bytes))
        }
        ValueRef::Blob(b) if format_1 && !dst.on_server() => Ok(Value::Text(hex::encode(b))),
        other => Ok(owned(other)),
    }
}

fn owned(v: ValueRef) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
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

/// Puts the verified copy at `target` without ever replacing a file there: linked under its name (which fails if
/// one appeared meanwhile), then the temporary name removed; on a file system without links, renamed.
fn place(temporary: &Path, target: &Path, shown: &str) -> Result<()> {
    let io = |e: std::io::Error| StoreError::Io(format!("{shown}: {e}"));
    std::fs::File::open(temporary).and_then(|f| f.sync_all()).map_err(io)?;
    match std::fs::hard_link(temporary, target) {
        Ok(()) => std::fs::remove_file(temporary).map_err(io)?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::Io(format!("{shown}: appeared while the copy was made; the copy was not kept")));
        }
        Err(_) if !target.exists() => std::fs::rename(temporary, target).map_err(io)?,
        Err(e) => return Err(io(e)),
    }
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Best effort, as for the `-wal`'s entry: some file systems cannot sync a directory.
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

/// Removes what a copy that failed wrote under its temporary name: it never held a verified bank.
fn remove_partial(temporary: &Path) {
    let mut files = vec![temporary.to_path_buf(), backup::wal_path(temporary)];
    let mut shm = temporary.as_os_str().to_owned();
    shm.push("-shm");
    files.push(shm.into());
    for file in files {
        let _ = std::fs::remove_file(file);
    }
}
