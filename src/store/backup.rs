//! Online backups and safe restores of the database file, and the files `SQLite` keeps beside it (`-wal`, `-shm`).
//! Nothing is deleted: a restore moves the bank it replaces, and any leftover journal, aside under a dated name.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::{Result, Store, StoreError};

/// A file beside the database: the database's name with `suffix` appended.
fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(db.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// The write-ahead log `SQLite` keeps beside a database in WAL mode.
pub fn wal_path(db: &Path) -> PathBuf {
    beside(db, "-wal")
}

/// The shared-memory index `SQLite` keeps beside a database in WAL mode.
fn shm_path(db: &Path) -> PathBuf {
    beside(db, "-shm")
}

/// A database file and every file `SQLite` may keep beside it (its `-wal`, rollback `-journal` and `-shm`).
pub(super) fn with_journals(db: &Path) -> [PathBuf; 4] {
    [db.to_path_buf(), wal_path(db), beside(db, "-journal"), shm_path(db)]
}

/// The first of a database and the files beside it that exists: a copy made there would meet another bank's
/// pages or journal.
pub(super) fn existing(db: &Path) -> Option<PathBuf> {
    with_journals(db).into_iter().find(|f| f.symlink_metadata().is_ok())
}

/// Makes the directory entry of the `-wal` durable before anything is committed into it. `SQLite` syncs the
/// directory at a `-wal`'s first sync but ignores a failure (some file systems cannot sync a directory): commits
/// acknowledged into that `-wal` could then vanish with its entry at a power loss, for as long as an open bench
/// keeps the `-wal` from its closing checkpoint. A `-wal` a reader left may never have been synced, so this is
/// done at every writable open. A file system that cannot sync directories at all says so (EINVAL, ENOTSUP),
/// and is left as `SQLite` leaves it.
pub(super) fn sync_wal_entry(db: &Path) -> Result<()> {
    if !wal_path(db).exists() {
        return Ok(());
    }
    let dir = db.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if !matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported) => {
            Err(StoreError::DiskFailure {
                path: dir.into(),
                what: format!(
                    "cannot make the new write-ahead log's directory entry durable ({e}); nothing was written"
                ),
            })
        }
        _ => Ok(()),
    }
}

/// Left beside a database that `verify` found damaged: while it is there, the bank refuses writes.
fn damaged_marker(db: &Path) -> PathBuf {
    beside(db, ".damaged")
}

pub(super) fn refuse_if_damaged(db: &Path) -> Result<()> {
    match std::fs::read_to_string(damaged_marker(db)) {
        Ok(why) => Err(StoreError::Damaged { path: db.into(), why: why.trim().to_string() }),
        Err(_) => Ok(()),
    }
}

/// Records (or, when `damage` is None, clears) that `SQLite`'s integrity check fails on this file. A bank on
/// read-only media cannot carry the mark; nothing can be written there anyway.
pub fn mark_damaged(db: &Path, damage: Option<&str>) {
    let marker = damaged_marker(db);
    let _ = match damage {
        Some(first) => {
            let first = first.split_whitespace().collect::<Vec<_>>().join(" ");
            std::fs::write(marker, format!("SQLite's integrity check fails ({first})\n"))
        }
        None if marker.exists() => std::fs::remove_file(marker),
        None => Ok(()),
    };
}

impl Store {
    /// Runs `f` in one read transaction on a file of any schema version this program knows, even one older than
    /// its reads understand: for the checks that compare a file with its own version's schema and its audit
    /// chain (verify, a backup checked before it is restored).
    pub(crate) fn inspect<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&super::Tx) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        // A server bank is always of this program's schema version: its read is the same.
        let Some(conn) = self.lite().ok() else { return self.read(f) };
        let _tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Deferred)
            .map_err(StoreError::from)?;
        f(&super::Tx::new(super::Conn::Lite(conn), &self.digest))
    }

    /// A consistent copy of the whole database at `dest` (a new file), taken in one read transaction: in WAL
    /// mode benches keep writing meanwhile, and the copy is the state of one moment.
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        copy_to(self.lite()?, dest)
    }
}

/// A consistent copy of the database open on `conn` at `dest` (a new file), flushed to disk.
fn copy_to(conn: &Connection, dest: &Path) -> Result<()> {
    if let Some(there) = existing(dest) {
        return Err(StoreError::Io(format!("{}: already exists; give a new file", there.display())));
    }
    super::create_private(dest)?;
    let mut out = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
        .map_err(|source| StoreError::Open { path: dest.into(), source })?;
    {
        let copy = Backup::new(conn, &mut out)?;
        // All pages in one step: one read transaction, so a concurrent commit cannot restart the copy.
        copy.step(-1)?;
    }
    // A single file (no `-wal` to lose on the way to other media), flushed to disk.
    out.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    drop(out);
    std::fs::File::open(dest).and_then(|f| f.sync_all()).map_err(|e| StoreError::Io(e.to_string()))
}

/// What a restore moved aside (never deleted).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub replaced: Vec<PathBuf>,
}

/// Puts the (already checked) backup at `target`. Refuses while another program has the target open. The
/// target's exclusive lock is taken for the check and held until the backup is in place: a bench starting
/// meanwhile waits, then sees the restored bank (no file is swapped under it). The bank replaced is copied
/// aside first, and a leftover `-wal` beside it is kept aside as it was.
pub(crate) fn restore(backup: &Store, target: &Path, stamp: &str) -> Result<Restored> {
    let io = |p: &Path, e: std::io::Error| StoreError::Io(format!("{}: {e}", p.display()));
    let aside = |p: &Path| beside(p, &format!(".replaced-{stamp}"));
    let mut replaced = Vec::new();
    // Kept first, as it was: opening the target reads it.
    let wal = wal_path(target);
    if wal.exists() {
        std::fs::copy(&wal, aside(&wal)).map_err(|e| io(&wal, e))?;
        replaced.push(aside(&wal));
    }
    let locked = match lock_exclusively(target) {
        Ok(locked) => locked,
        Err(e) => {
            for f in &replaced {
                drop(std::fs::remove_file(f));
            }
            return Err(e);
        }
    };
    if let Some(mut conn) = locked {
        copy_to(&conn, &aside(target))?;
        replaced.insert(0, aside(target));
        Backup::new(backup.lite()?, &mut conn)?.step(-1)?;
    } else {
        // No bank there, or a damaged or foreign file (moved aside whole, since `SQLite` cannot copy it).
        if target.exists() {
            std::fs::rename(target, aside(target)).map_err(|e| io(target, e))?;
            replaced.insert(0, aside(target));
        }
        for file in [wal, shm_path(target)].iter().filter(|f| f.exists()) {
            std::fs::remove_file(file).map_err(|e| io(file, e))?;
        }
        backup.backup_to(target)?;
    }
    mark_damaged(target, None);
    Ok(Restored { replaced })
}

/// The target open with its exclusive lock held (until the connection closes), or None when there is no
/// `SQLite` database there to lock. A bank in use by another program holds it in WAL mode, and the exclusive
/// lock needs every other connection closed.
fn lock_exclusively(target: &Path) -> Result<Option<Connection>> {
    if !target.exists() {
        return Ok(None);
    }
    let in_use =
        || StoreError::Io(format!("{}: in use by another program; close it before restoring", target.display()));
    let conn = Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|source| StoreError::Open { path: target.into(), source })?;
    match conn
        .query_row("PRAGMA locking_mode = EXCLUSIVE", [], |_| Ok(()))
        .and_then(|()| conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;"))
    {
        Ok(()) => Ok(Some(conn)),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) =>
        {
            Err(in_use())
        }
        Err(_) => Ok(None),
    }
}
