//! Storage: every SQL statement of the program lives under this module. It opens the database (refusing
//! anything that is not a stoolbank file), applies the migrations of `schema.sql`, and returns domain types.

pub mod audit;
pub mod backup;
pub mod batches;
pub mod checkpoint;
pub mod donors;
pub mod exports;
pub mod followups;
pub(crate) mod labels;
pub mod lists;
mod migrate;
#[cfg(test)]
mod query_plans;
pub mod recalls;
pub mod recipients;
pub mod schema_check;
pub mod secret;
pub mod settings;
mod sql;
pub use sql::{malformed_in, Key, Malformed, Stored};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{CachedStatement, Connection, OpenFlags, Params, Row, Statement, Transaction, TransactionBehavior};

use migrate::LATEST_VERSION;

/// `PRAGMA application_id` of a stoolbank database: "STB1".
const APPLICATION_ID: i32 = 0x5354_4231;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: not a stoolbank database ({why}); refusing to open it")]
    NotStoolbank { path: PathBuf, why: String },
    #[error("{path}: schema version {found} is newer than this program knows ({known}); upgrade stoolbank")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("{path}: the database file is read-only; stoolbank needs to write (check its permissions)")]
    ReadOnly { path: PathBuf },
    #[error("{path}: no database here; create it with `stoolbank init` (or `stoolbank demo` for a demo bank)")]
    Missing { path: PathBuf },
    #[error("{path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    /// A migration that the bank's records do not allow: nothing was changed.
    #[error("cannot upgrade this bank's schema ({migration}); nothing was changed: {why}")]
    Upgrade { migration: &'static str, why: String },
    #[error("the database is busy (another bench is writing); try again")]
    Busy,
    #[error("database: {0}")]
    Sql(rusqlite::Error),
    #[error("the database holds a malformed value: {0}")]
    Corrupt(String),
    /// A stored value no reader can parse (only a file written by another program can hold one).
    #[error("the database holds a {0}; `stoolbank verify` names every such value")]
    Malformed(Malformed),
    /// Opened for reading only, with a schema older than the reads of this program understand.
    #[error("{path}: schema version {found} is older than this program reads ({known}); `stoolbank init` upgrades it")]
    OlderSchema { path: PathBuf, found: i64, known: i64 },
    /// Opened for reading only (a read command, or read-only media): nothing may be written through it.
    #[error("{path}: opened read-only{why}; nothing was written")]
    OpenedReadOnly { path: PathBuf, why: String },
    #[error("{0}")]
    Io(String),
    /// Evidence of tampering found while reading (not a malformed value a program could have written).
    #[error("tampering: {0}")]
    Tampered(String),
    /// `verify` found the file damaged; writes stay refused until it is repaired.
    #[error("{path}: {why}; writes are refused until it is repaired (restore a backup with `stoolbank restore`, then `stoolbank verify`)")]
    Damaged { path: PathBuf, why: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        // A stored value no reader can parse: say which, and where to find every other one.
        if let rusqlite::Error::FromSqlConversionFailure(_, _, why) = &e {
            return match why.downcast_ref::<Malformed>() {
                Some(m) => StoreError::Malformed(m.clone()),
                None => StoreError::Corrupt(format!("{why}; `stoolbank verify` names every such value")),
            };
        }
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sql(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// An open stoolbank database.
pub(crate) struct Store {
    conn: Connection,
    path: PathBuf,
    /// The schema version found at open, when opened read-only (writes refused); None when writable.
    read_only: Option<i64>,
}

impl Store {
    /// Opens an existing database, upgrading its schema if it is older than this program's.
    pub fn open(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing { path: path.into() });
        }
        Self::open_or_create(path)
    }

    /// Opens a database, creating it if it does not exist (`init`, `demo`).
    pub fn open_or_create(path: &Path) -> Result<Store> {
        let p = || path.to_path_buf();
        check_file(path)?;
        backup::refuse_if_damaged(path)?;
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
            .map_err(|source| StoreError::Open { path: p(), source })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        identify(&conn, path)?;
        // WAL lets two benches read while one writes; FULL makes each commit durable on power loss.
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| read_only_or(e, path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!("could not switch to WAL journal (got {mode})")));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        secret::register_identity_digest(&conn, None, false)?;
        let mut store = Store { conn, path: p(), read_only: None };
        migrate::migrate(&mut store.conn).map_err(|e| match e {
            StoreError::Sql(e) => read_only_or(e, path),
            other => other,
        })?;
        Ok(store)
    }

    /// Opens an existing database for reading only: no migration, no journal switch, no write lock, so a read
    /// never waits behind a writer and works on read-only files, folders and mounts.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing { path: path.into() });
        }
        check_header(path)?;
        let open = |uri: &str| -> Result<(Connection, i64)> {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
            let conn = Connection::open_with_flags(uri, flags)
                .map_err(|source| StoreError::Open { path: path.into(), source })?;
            conn.busy_timeout(Duration::from_secs(10))?;
            let version = identify(&conn, path)?;
            Ok((conn, version))
        };
        let uri = sqlite_uri(path);
        let (conn, version) = match open(&uri) {
            Ok(found) => found,
            // A WAL file needs its shared-memory index beside it; on read-only media it cannot be created. With
            // no `-wal` left there, the main file holds everything, and nobody can write it: read it as is.
            Err(StoreError::Open { .. } | StoreError::Sql(_) | StoreError::ReadOnly { .. })
                if !backup::wal_path(path).exists() =>
            {
                open(&format!("{uri}?immutable=1"))?
            }
            Err(e) => return Err(e),
        };
        conn.execute_batch("PRAGMA query_only = ON;")?;
        secret::register_identity_digest(&conn, None, false)?;
        Ok(Store { conn, path: path.into(), read_only: Some(version) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Digests identity rows with the bank secret in `key_file` from now on (created there at the first identity
    /// row when `create`); without a key they are withheld from the audit.
    pub fn use_key_file(&self, key_file: &Path, create: bool) -> Result<()> {
        Ok(secret::register_identity_digest(&self.conn, Some(key_file), create)?)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it returns Ok, rolled back otherwise.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if let Some(version) = self.read_only {
            let why = if version < LATEST_VERSION {
                format!(" with schema version {version}, older than this program's ({LATEST_VERSION}): `stoolbank init` upgrades it")
            } else {
                String::new()
            };
            return Err(StoreError::OpenedReadOnly { path: self.path.clone(), why }.into());
        }
        let tx = Tx(self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(StoreError::from)?);
        let out = f(&tx)?;
        tx.0.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs `f` in one read transaction, so that it sees one consistent state.
    pub fn read<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if let Some(found) = self.read_only.filter(|v| *v < migrate::READS_FROM) {
            return Err(StoreError::OlderSchema { path: self.path.clone(), found, known: LATEST_VERSION }.into());
        }
        let tx = Tx(self.conn.transaction_with_behavior(TransactionBehavior::Deferred).map_err(StoreError::from)?);
        f(&tx)
    }
}

/// One open transaction, handed by [`Store::read`] and [`Store::write`] to the operations, which pass it to the
/// store's functions. Its SQL methods are private to `store`, so that no statement is written anywhere else and
/// no caller depends on which database engine is underneath.
pub(crate) struct Tx<'c>(Transaction<'c>);

impl Tx<'_> {
    fn execute<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.0.execute(sql, params)
    }

    fn prepare(&self, sql: &str) -> rusqlite::Result<Statement<'_>> {
        self.0.prepare(sql)
    }

    fn prepare_cached(&self, sql: &str) -> rusqlite::Result<CachedStatement<'_>> {
        self.0.prepare_cached(sql)
    }

    fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> rusqlite::Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> rusqlite::Result<T> {
        self.0.query_row(sql, params, f)
    }

    fn last_insert_rowid(&self) -> i64 {
        self.0.last_insert_rowid()
    }
}

/// Refuses a file that is not a stoolbank database, or one newer than this program; returns its schema version.
fn identify(conn: &Connection, path: &Path) -> Result<i64> {
    let p = || path.to_path_buf();
    let open_err = |source| StoreError::Open { path: p(), source };
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(open_err)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(open_err)?;
    if app_id != APPLICATION_ID {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| StoreError::NotStoolbank { path: p(), why: e.to_string() })?;
        if app_id != 0 || tables > 0 || version != 0 {
            let why = format!("application_id {app_id:#x}, {tables} schema objects");
            return Err(StoreError::NotStoolbank { path: p(), why });
        }
    }
    if version > LATEST_VERSION {
        return Err(StoreError::TooNew { path: p(), found: version, known: LATEST_VERSION });
    }
    Ok(version)
}

/// An `SQLite` `file:` URI for a path (characters URIs reserve escaped).
fn sqlite_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'%' | b'?' | b'#' | 0x80.. => {
                let _ = write!(uri, "%{b:02X}");
            }
            _ => uri.push(*b as char),
        }
    }
    uri
}

fn read_only_or(e: rusqlite::Error, path: &Path) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
            StoreError::ReadOnly { path: path.into() }
        }
        _ => StoreError::from(e),
    }
}

/// Refuses read-only files and files that are not `SQLite` databases before `SQLite` touches them. Permission bits
/// are checked explicitly because root bypasses them, and a bench must not silently write a file meant to be
/// read-only.
fn check_file(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if meta.permissions().readonly() {
        return Err(StoreError::ReadOnly { path: path.into() });
    }
    check_header(path)
}

/// Refuses a non-empty file that is not an `SQLite` database.
fn check_header(path: &Path) -> Result<()> {
    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    if read.is_err() || &header != b"SQLite format 3\0" {
        return Err(StoreError::NotStoolbank { path: path.into(), why: "not an SQLite file".into() });
    }
    Ok(())
}

impl Drop for Store {
    /// `SQLite`'s advice for short-lived connections: `PRAGMA optimize` just before closing, which re-analyzes only
    /// the tables whose statistics are missing or stale, so the planner keeps choosing the indexes as the bank grows.
    fn drop(&mut self) {
        if self.read_only.is_none() {
            // Best effort: a failure here loses nothing but fresher statistics.
            let _ = self.conn.pragma_update(None, "analysis_limit", migrate::ANALYSIS_LIMIT);
            let _ = self.conn.execute_batch("PRAGMA optimize;");
        }
    }
}

impl Store {
    /// Durable commits (`synchronous=FULL`, the default) or, for bulk loading a fresh demo bank only, WAL's
    /// `NORMAL` (still consistent, but the last commits may be lost on power failure).
    pub fn set_durable(&self, durable: bool) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        Ok(())
    }
}
