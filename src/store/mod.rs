//! Storage: every SQL statement of the program lives under this module. It opens the database (refusing
//! anything that is not a stoolbank file), applies the migrations of `schema.sql`, and returns domain types.

pub mod audit;
pub mod backup;
pub mod batches;
pub mod checkpoint;
pub mod donors;
mod engine;
pub(crate) use engine::Conn;
use engine::Server;
pub(crate) use engine::{Row, Tx};
pub mod exports;
pub mod followups;
pub(crate) mod identity_keys;
pub(crate) mod labels;
pub mod lists;
mod migrate;
#[cfg(test)]
mod query_plans;
pub mod recalls;
pub mod recipients;
pub mod schema_check;
pub mod secret;
mod server;
pub(crate) use server::address as server_address;
pub mod settings;
mod sql;
pub mod transfer;
pub use sql::{malformed_in, Key, Malformed, Stored};
pub mod users;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use migrate::LATEST_VERSION;

/// Prepared statements kept per connection: more than the program has, so none is prepared twice.
const STATEMENT_CACHE: usize = 256;

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
    /// What only a bank in a file has (its pages, a copy of the file) asked of a bank on a server.
    #[error("{path}: a bank on a PostgreSQL server has no file to do this with; use the server's own tools (pg_dump, pg_restore, VACUUM FULL)")]
    OnServer { path: PathBuf },
    #[error("{path}: cannot connect: {}", server_says(source))]
    Connect { path: PathBuf, source: postgres::Error },
    #[error("server: {}", server_says(.0))]
    Server(postgres::Error),
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
    /// The disk failed a call on the file (`SQLite` reports a read error of the disk as a malformed image, so
    /// that one names both causes).
    #[error("{path}: {what}; check the disk, then run `stoolbank verify`")]
    DiskFailure { path: PathBuf, what: String },
    /// Evidence of tampering found while reading (not a malformed value a program could have written).
    #[error("tampering: {0}")]
    Tampered(String),
    /// `verify` found the file damaged; writes stay refused until it is repaired.
    #[error("{path}: {why}; writes are refused until it is repaired (restore a backup with `stoolbank restore`, then `stoolbank verify`)")]
    Damaged { path: PathBuf, why: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        // A server's failure, carried in rusqlite's error by the engine's statements.
        let e = match e {
            rusqlite::Error::UserFunctionError(inner) => match inner.downcast::<postgres::Error>() {
                Ok(pg) => return StoreError::from(*pg),
                Err(inner) => rusqlite::Error::UserFunctionError(inner),
            },
            e => e,
        };
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

/// A server's error in its own words: its message, detail and SQLSTATE (`postgres::Error` alone says "db error").
fn server_says(e: &postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return std::error::Error::source(e).map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
    };
    let mut said = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        let _ = write!(said, "; {detail}");
    }
    said
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        use postgres::error::SqlState;
        match e.code() {
            Some(c)
                if [
                    SqlState::LOCK_NOT_AVAILABLE,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                ]
                .contains(c) =>
            {
                StoreError::Busy
            }
            _ => StoreError::Server(e),
        }
    }
}

impl StoreError {
    /// A disk failure (or damage) named with the database file, which `SQLite`'s own message leaves out; any other
    /// error as it is.
    pub fn on_file(self, path: &Path) -> StoreError {
        let (StoreError::Sql(e) | StoreError::Open { source: e, .. }) = &self else { return self };
        let what = match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::SystemIoFailure) => match e {
                rusqlite::Error::SqliteFailure(f, _) if is_read_error(f.extended_code) => "read error (disk I/O error)",
                _ => "disk I/O error",
            },
            Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
                "cannot be read (SQLite: database disk image is malformed; a read error of the disk is reported so too)"
            }
            _ => return self,
        };
        StoreError::DiskFailure { path: path.into(), what: what.into() }
    }
}

/// `SQLite`'s extended codes for a failed read: `IOERR_READ`, `IOERR_SHORT_READ`, `IOERR_CORRUPTFS` (EIO on read).
fn is_read_error(extended: std::ffi::c_int) -> bool {
    [rusqlite::ffi::SQLITE_IOERR_READ, rusqlite::ffi::SQLITE_IOERR_SHORT_READ, rusqlite::ffi::SQLITE_IOERR_CORRUPTFS]
        .contains(&extended)
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// An open stoolbank database.
pub(crate) struct Store {
    engine: Engine,
    /// The file, or for a server its address as shown (without a password or options).
    path: PathBuf,
    /// A server's address as given, to open the bank again by (a reader thread, a sign-in's record).
    address: Option<String>,
    /// The schema version found at open, when opened read-only (writes refused); None when writable.
    read_only: Option<i64>,
    /// Inside [`Store::begin_bulk`]: one open transaction holds many operations, each in its own savepoint.
    bulk: bool,
    /// What the audit trail holds of an identity row: its keyed digest.
    digest: secret::IdentityDigest,
    /// The audit entries this connection's committed writes appended, by number, not yet taken (a face tells
    /// its own changes from other benches' by them).
    appended: std::cell::RefCell<Vec<i64>>,
}

/// The database engine a store runs on.
enum Engine {
    Lite(Connection),
    Server(Box<Server>),
}

impl Store {
    /// Opens an existing database, upgrading its schema if it is older than this program's.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(address) = server::address(path) {
            return Self::connect(address, server::Opening::Existing, Duration::from_secs(10));
        }
        if !path.exists() {
            return Err(StoreError::Missing { path: path.into() });
        }
        Self::open_or_create(path)
    }

    /// Opens a database, creating it if it does not exist (`init`, `demo`).
    pub fn open_or_create(path: &Path) -> Result<Store> {
        if let Some(address) = server::address(path) {
            return Self::connect(address, server::Opening::Create, Duration::from_secs(10));
        }
        if !path.exists() {
            create_private(path)?;
        }
        let mut store = Self::open_writable(path, Duration::from_secs(10))?;
        migrate::migrate(store.lite_mut()?).map_err(|e| match e {
            StoreError::Sql(e) => read_only_or(e, path),
            other => other,
        })?;
        Ok(store)
    }

    /// Opens an existing database of this program's schema for one small write beside a read (a sign-in's
    /// record), waiting at most `wait` for the write lock: never an upgrade, which is a write command's to make.
    pub fn open_beside_read(path: &Path, wait: Duration) -> Result<Store> {
        if let Some(address) = server::address(path) {
            return Self::connect(address, server::Opening::Existing, wait);
        }
        let store = Self::open_writable(path, wait)?;
        let version: i64 = store.lite()?.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version < LATEST_VERSION {
            let why = format!(" with schema version {version}, older than this program's ({LATEST_VERSION})");
            return Err(StoreError::OpenedReadOnly { path: path.into(), why });
        }
        Ok(store)
    }

    /// A read-write connection with the bank's pragmas, its schema as found.
    fn open_writable(path: &Path, wait: Duration) -> Result<Store> {
        let p = || path.to_path_buf();
        check_file(path)?;
        backup::refuse_if_damaged(path)?;
        // No connection mutex: a `Connection` is never used by two threads at once (it is not `Sync`), and the
        // mutex costs a lock and unlock on every call, every value read included.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open { path: p(), source })?;
        conn.busy_timeout(wait)?;
        prepare_once(&conn)?;
        identify(&conn, path)?;
        // WAL lets two benches read while one writes; FULL makes each commit durable on power loss.
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| read_only_or(e, path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!("could not switch to WAL journal (got {mode})")));
        }
        backup::sync_wal_entry(path)?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        Ok(Store::on(Engine::Lite(conn), p(), None))
    }

    /// Opens an existing database for reading only: no migration, no journal switch, no write lock, so a read
    /// never waits behind a writer and works on read-only files, folders and mounts.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if let Some(address) = server::address(path) {
            return Self::connect(address, server::Opening::ReadOnly, Duration::from_secs(10));
        }
        if !path.exists() {
            return Err(StoreError::Missing { path: path.into() });
        }
        check_header(path)?;
        let open = |uri: &str| -> Result<(Connection, i64)> {
            // No connection mutex, as for a writable one.
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(uri, flags)
                .map_err(|source| StoreError::Open { path: path.into(), source })?;
            conn.busy_timeout(Duration::from_secs(10))?;
            prepare_once(&conn)?;
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
        Ok(Store::on(Engine::Lite(conn), path.into(), Some(version)))
    }

    fn on(engine: Engine, path: PathBuf, read_only: Option<i64>) -> Store {
        Store {
            engine,
            path,
            address: None,
            read_only,
            bulk: false,
            digest: secret::IdentityDigest::default(),
            appended: Default::default(),
        }
    }

    /// The `SQLite` connection, for what only a file has (its pragmas, its pages, a copy of it).
    fn lite(&self) -> Result<&Connection> {
        match &self.engine {
            Engine::Lite(c) => Ok(c),
            Engine::Server(_) => Err(StoreError::OnServer { path: self.path.clone() }),
        }
    }

    fn lite_mut(&mut self) -> Result<&mut Connection> {
        match &mut self.engine {
            Engine::Lite(c) => Ok(c),
            Engine::Server(_) => Err(StoreError::OnServer { path: self.path.clone() }),
        }
    }

    /// The store's connection as a transaction's statements see it.
    fn tx(&self) -> Tx<'_> {
        let conn = match &self.engine {
            Engine::Lite(c) => Conn::Lite(c),
            Engine::Server(s) => Conn::Server(s),
        };
        Tx::new(conn, &self.digest)
    }

    /// The bank as shown in messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opens this bank again: the file, or the server's address as given.
    pub fn location(&self) -> PathBuf {
        self.address.as_ref().map_or_else(|| self.path.clone(), PathBuf::from)
    }

    pub fn on_server(&self) -> bool {
        matches!(self.engine, Engine::Server(_))
    }

    /// Digests identity rows with the bank secret in `key_file` from now on (created there at the first identity
    /// row when `create`); without a key they are withheld from the audit.
    pub fn use_key_file(&mut self, key_file: &Path, create: bool) {
        self.digest = secret::IdentityDigest::keyed(key_file, create);
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it returns Ok, rolled back otherwise. Inside a
    /// bulk load, `f` runs in a savepoint of the load's transaction instead: released if Ok, rolled back (its
    /// writes and audit entries undone, the load's other operations kept) otherwise.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.writable()?;
        if self.bulk {
            // Savepoint statements prepared once, like every other: a load runs millions of them.
            let tx = self.tx();
            let run = |sql: &str| tx.execute(sql, ()).map_err(StoreError::from);
            run("SAVEPOINT operation")?;
            return match f(&tx) {
                Ok(out) => run("RELEASE operation").map(|_| out).map_err(E::from),
                Err(e) => {
                    run("ROLLBACK TO operation")?;
                    run("RELEASE operation")?;
                    Err(e)
                }
            };
        }
        match &self.engine {
            Engine::Lite(conn) => {
                let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
                    .map_err(StoreError::from)?;
                let op = self.tx();
                let out = f(&op)?;
                tx.commit().map_err(StoreError::from)?;
                self.note_appended(op.take_appended());
                Ok(out)
            }
            Engine::Server(server) => {
                server.begin(true)?;
                let op = self.tx();
                let out = f(&op);
                let ended = server.end(out.is_ok());
                let out = out?;
                ended?;
                self.note_appended(op.take_appended());
                Ok(out)
            }
        }
    }

    /// Keeps the entries a write appended, for [`Store::take_appended`]. Only a face that watches the bank takes
    /// them (at every message); for any other user of a long-lived connection the newest few are enough.
    fn note_appended(&self, seqs: Vec<i64>) {
        const KEPT: usize = 65_536;
        let mut appended = self.appended.borrow_mut();
        appended.extend(seqs);
        let over = appended.len().saturating_sub(KEPT);
        appended.drain(..over);
    }

    /// The audit entries this connection's writes appended since the last call, by number (a bulk load's are
    /// not counted: no face watches one).
    pub fn take_appended(&self) -> Vec<i64> {
        self.appended.take()
    }

    fn writable(&self) -> Result<()> {
        if let Some(version) = self.read_only {
            let why = if version < LATEST_VERSION {
                format!(" with schema version {version}, older than this program's ({LATEST_VERSION}): `stoolbank init` upgrades it")
            } else {
                String::new()
            };
            return Err(StoreError::OpenedReadOnly { path: self.path.clone(), why });
        }
        Ok(())
    }

    /// Starts a bulk load: one `BEGIN IMMEDIATE` transaction that the following operations share (each still in
    /// its own savepoint, through the same rules and audit chain) until [`Store::end_bulk`].
    pub fn begin_bulk(&mut self) -> Result<()> {
        self.writable()?;
        match &self.engine {
            Engine::Lite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Engine::Server(s) => s.begin(true)?,
        }
        self.bulk = true;
        Ok(())
    }

    /// Ends a bulk load: commits its transaction, or rolls it back whole.
    pub fn end_bulk(&mut self, commit: bool) -> Result<()> {
        self.bulk = false;
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        match &self.engine {
            Engine::Lite(c) => c.execute_batch(end)?,
            Engine::Server(s) => s.end(commit)?,
        }
        Ok(())
    }

    /// Runs `f`, one statement, without a transaction around it: a statement sees one consistent state by itself,
    /// and on a server this spares the BEGIN and the end (two round trips of three) of a read asked every second.
    pub fn read_one<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if self.bulk || self.read_only.is_some_and(|v| v < migrate::READS_FROM) {
            return self.read(f);
        }
        f(&self.tx())
    }

    /// Runs `f` in one read transaction, so that it sees one consistent state (inside a bulk load, the load's).
    pub fn read<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if let Some(found) = self.read_only.filter(|v| *v < migrate::READS_FROM) {
            return Err(StoreError::OlderSchema { path: self.path.clone(), found, known: LATEST_VERSION }.into());
        }
        match &self.engine {
            Engine::Lite(_) if self.bulk => f(&self.tx()),
            Engine::Lite(conn) => {
                let _tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Deferred)
                    .map_err(StoreError::from)?;
                f(&self.tx())
            }
            // On a server a failed statement spoils its whole transaction: a read inside a load has a savepoint.
            Engine::Server(server) if self.bulk => {
                server.batch("SAVEPOINT read")?;
                let out = f(&self.tx());
                server.batch(if out.is_ok() { "RELEASE read" } else { "ROLLBACK TO read; RELEASE read" })?;
                out
            }
            Engine::Server(server) => {
                server.begin(false)?;
                let out = f(&self.tx());
                server.end(false)?;
                out
            }
        }
    }
}

/// Every statement prepared once per connection and kept. Plans that do not depend on the values bound (`SQLite`'s
/// query planner stability guarantee): otherwise `SQLite` prepares a statement again whenever a parameter that it
/// compared with a partial index, a LIMIT or its statistics changes, which is nearly every time.
fn prepare_once(conn: &Connection) -> Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
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

/// Creates an empty file readable and writable by its owner only (0600): a bank holds health records, and
/// `SQLite` gives the `-wal` and `-shm` files beside it the database file's permissions.
pub(crate) fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        // Another bench created it meanwhile: it is theirs, made the same way.
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Io(format!("{}: {e}", path.display()))),
    }
}

/// Refuses a non-empty file that is not an `SQLite` database.
fn check_header(path: &Path) -> Result<()> {
    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    // A file too short for the header is no database; any other failure is the disk's, not the file's kind.
    match read {
        Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
            return Err(StoreError::DiskFailure { path: path.into(), what: format!("read error ({e})") });
        }
        _ => {}
    }
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
            if let Engine::Lite(conn) = &self.engine {
                let _ = conn.pragma_update(None, "analysis_limit", migrate::ANALYSIS_LIMIT);
                let _ = conn.execute_batch("PRAGMA optimize;");
            }
        }
    }
}

impl Store {
    /// Durable commits (`synchronous=FULL`, the default) or, for bulk loading a fresh demo bank only, WAL's
    /// `NORMAL` (still consistent, but the last commits may be lost on power failure).
    /// A loader also keeps more of the file in memory (256 MiB rather than `SQLite`'s 2 MiB): it inserts into
    /// every index of a file of gigabytes. Its savepoints' journals stay in memory rather than in temporary
    /// files, and the WAL is copied back into the file every 64 MiB rather than every 4 MiB, so that a page the
    /// load changes again and again is written back once.
    pub fn set_durable(&self, durable: bool) -> Result<()> {
        let Engine::Lite(conn) = &self.engine else { return Ok(()) };
        conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
        conn.pragma_update(None, "cache_size", if durable { -2_000 } else { -262_144 })?;
        conn.pragma_update(None, "temp_store", if durable { "DEFAULT" } else { "MEMORY" })?;
        conn.pragma_update(None, "wal_autocheckpoint", if durable { 1_000 } else { 16_000 })?;
        Ok(())
    }
}
