//! Integrity operations: verify (file, schema, values, audit chain), signed checkpoints and their anchors,
//! online backups and safe restores.

use crate::core::access::Operation;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{views, AppError, Bank, Result};
use crate::core::config::BenchPrefs;
use crate::store::checkpoint::{self, Anchor};
use crate::store::secret::BankSecret;
use crate::store::{audit, backup, schema_check, settings, transfer, Store, StoreError};
use crate::time;

/// How long the record of a copy waits for the source's write lock (benches' writes take milliseconds).
const COPY_RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where an incremental `audit verify` starts: a signed checkpoint of that entry, or the newest verified one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Checkpoint(i64),
    LastVerified,
}

/// A backup taken (or restored) and checked.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub file: PathBuf,
    pub bytes: u64,
    /// The last audit entry the copy holds, and its hash.
    pub head_seq: i64,
    pub head_hash: String,
    /// What a restore moved aside (the bank it replaced, a leftover journal); never deleted.
    pub moved_aside: Vec<PathBuf>,
    /// The copy's schema is an older version than the program's (checked against its own).
    pub older_schema: Option<String>,
}

impl Bank {
    /// Opens an existing bank for reading only: never waits behind a writer, works on read-only media.
    pub fn open_read_only(path: &Path, bench: BenchPrefs, actor: &str) -> Result<Bank> {
        Bank::new(Store::open_read_only(path)?, bench, actor)
    }

    /// Identity rows are digested with the bank secret in `key_file` (created at first use when `create`), which
    /// also keeps the identity key while no identity viewer is enrolled; a bank opened for writing (`create`) has
    /// its identity readied (see `identity.rs`).
    pub fn use_key_file(&mut self, key_file: &Path, create: bool) -> Result<()> {
        self.store.use_key_file(key_file, create);
        self.use_identity_key_file(key_file, create)
    }

    /// `SQLite`'s integrity and foreign-key checks, the schema against the program's, stored values against the
    /// shapes the program writes, then the audit chain and records. A file failing `SQLite`'s check is marked
    /// damaged: writes stay refused until it verifies again.
    ///
    /// `SQLite`'s checks read every page on a second connection, in a thread of their own, while this one checks
    /// the rest: one wait for both (each reads a committed state of the file; a write between their starts is
    /// checked by one and not the other, as by two runs).
    pub fn verify(&mut self) -> Result<views::Integrity> {
        self.authorize(Operation::AuditVerify)?;
        let path = self.path().to_path_buf();
        if self.store.on_server() {
            return self.store.inspect(|tx| {
                Ok(views::Integrity {
                    integrity: Vec::new(),
                    foreign_keys: settings::foreign_key_check(tx)?,
                    schema: schema_check::server_trigger_differences(tx)?,
                    older_schema: None,
                    values: Vec::new(),
                    audit: audit::verify(tx)?,
                    left_to_server: Some(
                        "on a PostgreSQL server: its pages (data checksums, amcheck), and the shape of every value, \
                         which its schema's constraints check at each write"
                            .into(),
                    ),
                    owner_login: settings::login_owns_bank(tx)?.then(|| {
                        "this login owns the bank's tables (or is a superuser): it could drop or disable the \
                         triggers that keep history append-only; benches should use logins made as \
                         schema.pg.grants.sql describes"
                            .into()
                    }),
                })
            });
        }
        let (sqlite, v) = std::thread::scope(|s| {
            let sqlite = s.spawn(|| {
                Store::open_read_only(&path)?
                    .inspect(|tx| Ok::<_, AppError>((settings::integrity_check(tx)?, settings::foreign_key_check(tx)?)))
            });
            let v = self.store.inspect(|tx| {
                // The audit chain's walk checks the log's timestamps as it reads every entry.
                let (audit, log_values) = audit::verify_with_log_values(tx)?;
                Ok::<_, AppError>(views::Integrity {
                    integrity: Vec::new(),
                    foreign_keys: Vec::new(),
                    schema: schema_check::differences(tx)?,
                    older_schema: schema_check::older_schema(tx)?,
                    values: schema_check::unreadable_values(tx, Some(log_values))?,
                    audit,
                    left_to_server: None,
                    owner_login: None,
                })
            });
            (sqlite.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), v)
        });
        let (integrity, foreign_keys) = sqlite?;
        let v = views::Integrity { integrity, foreign_keys, ..v? };
        backup::mark_damaged(self.path(), v.integrity.first().map(String::as_str));
        Ok(v)
    }

    /// The audit chain and every record against it.
    pub fn audit_verify(&mut self) -> Result<audit::Verification> {
        self.audit_verify_against(None, None, None)
    }

    /// The audit chain and records, and with an anchor log, the chain against every signed checkpoint in it
    /// (signed by the bank key of `secret` when given). A full check that finds nothing, with the key and the log
    /// at hand, appends a verified checkpoint of the head to the log: an incremental check (`since`) starts from
    /// one, and checks only the entries after it and the records they wrote.
    pub fn audit_verify_against(
        &mut self,
        anchors: Option<&Path>,
        secret: Option<&BankSecret>,
        since: Option<Since>,
    ) -> Result<audit::Verification> {
        self.authorize(Operation::AuditVerify)?;
        let trusted = secret.map(|s| s.signing_key().verifying_key());
        if since.is_some() && trusted.is_none() {
            return Err(AppError::Invalid(
                "an incremental check (--since) needs the bank key, to trust the checkpoint it starts from".into(),
            ));
        }
        let (anchors_read, mut bad_lines) = match anchors {
            Some(log) => checkpoint::read(log)?,
            None => Default::default(),
        };
        let start = match (since, trusted) {
            (Some(since), Some(key)) => {
                let seq = match since {
                    Since::Checkpoint(seq) => Some(seq),
                    Since::LastVerified => None,
                };
                Some(checkpoint::start(&anchors_read, seq, key).ok_or_else(|| {
                    AppError::Invalid(match seq {
                        Some(seq) => {
                            format!("no checkpoint of entry {seq} signed by this bank's key in the anchor log")
                        }
                        None => "no checkpoint in the anchor log was signed by a full `audit verify` with this bank's \
                                 key: run one first"
                            .into(),
                    })
                })?)
            }
            _ => None,
        };
        // Anchors before the one an incremental check starts from were checked by the full check that signed it.
        let checked: Vec<Anchor> =
            anchors_read.into_iter().filter(|a| start.as_ref().is_none_or(|s| a.seq >= s.seq)).collect();
        let (mut v, head) = self.store.read(|tx| {
            let mut v = match &start {
                Some(a) => audit::verify_since(tx, a.seq, &a.hash)?,
                None => audit::verify(tx)?,
            };
            bad_lines.extend(checkpoint::check(tx, &checked, trusted)?);
            v.findings.extend(bad_lines.into_iter().map(|what| audit::Finding { what }));
            let (seq, hash) = checkpoint::head(tx)?;
            Ok::<_, AppError>((v, checkpoint::recorded_at(tx, seq)?.map(|at| (seq, hash, at))))
        })?;
        v.findings.dedup();
        if let (None, true, Some(log), Some(secret), Some((seq, hash, at))) =
            (&start, v.findings.is_empty(), anchors, secret, head)
        {
            checkpoint::append(log, &Anchor::sign(seq, &hash, &at, true, &secret.signing_key()))?;
        }
        Ok(v)
    }

    /// Signs the chain's head and appends it to the anchor log. Taken under the write lock, so that no entry
    /// being written meanwhile can carry an earlier time than the checkpoint that does not include it.
    pub fn checkpoint(&mut self, secret: &BankSecret, log: &Path) -> Result<Anchor> {
        self.authorize(Operation::AuditCheckpoint)?;
        let key = secret.signing_key();
        let now = self.now();
        let anchor = self.store.write(|tx| {
            let (seq, hash) = checkpoint::head(tx)?;
            Ok::<_, AppError>(Anchor::sign(seq, &hash, &time::to_db(now), false, &key))
        })?;
        checkpoint::append(log, &anchor)?;
        Ok(anchor)
    }

    /// An online, consistent copy at `dest`, checked (`SQLite`, schema, audit chain) and recorded in the trail.
    pub fn backup(&mut self, dest: &Path) -> Result<BackupReport> {
        self.authorize(Operation::Backup)?;
        self.store.backup_to(dest)?;
        let report = check_copy(dest)?;
        self.record_backup("backup", &report)?;
        Ok(report)
    }

    /// Copies the whole bank, audit trail included, to `target` (an empty PostgreSQL database, or a new file):
    /// read in one snapshot, refused unless it verifies, and the copy verified (identity digests with the bank key
    /// in `key_file`) and recorded in its own trail by this session's user before it is kept, then recorded in this
    /// bank's trail too (beside the read, as a sign-in is). A copy carries every
    /// record, identities and users included, into a bank of its own: only who may back up and restore a bank.
    pub fn copy_to(
        &mut self,
        target: &Path,
        key_file: Option<&Path>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<transfer::Copied> {
        self.authorize(Operation::Backup)?;
        self.authorize(Operation::Restore)?;
        let act = self.act();
        let how = transfer::Copying { actor: &act.actor, now: act.now, key_file, progress };
        let copied = self.store.copy_bank(target, how)?;
        self.record_copy(&copied).map_err(|e| {
            AppError::Store(StoreError::Io(format!(
                "{}: copied and verified, but the source's audit trail could not record the copy: {e}",
                copied.to
            )))
        })?;
        Ok(copied)
    }

    /// Records a copy made in the source's own trail (where it went, the head copied, the copy's entry there), as
    /// `backup` does: the source was only read, so beside that read when it was opened read-only.
    fn record_copy(&mut self, copied: &transfer::Copied) -> Result<()> {
        let act = self.act();
        let what = serde_json::json!({
            "to": copied.to, "head_seq": copied.head_seq, "head_hash": copied.head_hash,
            "copy_seq": copied.copy_seq, "rows": copied.rows,
        });
        let record = |tx: &crate::store::Tx| {
            Ok::<_, AppError>(transfer::record_copy(tx, &act.actor, act.now, &copied.head_hash, what.clone())?)
        };
        match self.store.write(record) {
            Err(AppError::Store(StoreError::OpenedReadOnly { .. })) => {
                Store::open_beside_read(&self.location(), COPY_RECORD_WAIT)?.write(record)
            }
            other => other,
        }
    }

    /// Records a backup taken or restored (the file, its size and the head of its chain) in the trail.
    fn record_backup(&mut self, action: &str, report: &BackupReport) -> Result<()> {
        let (actor, now) = (self.actor().to_string(), self.now());
        let what = serde_json::json!({
            "file": report.file, "bytes": report.bytes, "head_seq": report.head_seq, "head_hash": report.head_hash,
        });
        self.store.write(|tx| {
            let change = audit::Change {
                actor: &actor,
                action,
                table: "backups",
                id: &report.head_hash,
                subject: "",
                at: now,
                recorded_at: now,
                before: None,
            };
            Ok::<_, AppError>(audit::record_event(tx, change, what)?)
        })
    }
}

/// Brings a backup back at `target`, after checking it; refuses while the target is in use. The bank replaced
/// and any leftover journal beside it are moved aside; the restore is recorded in the restored bank's trail.
/// `current` is the bank at `target` as signed in to (an administrator restores a bank with users); the restored
/// bank is opened in the same session.
pub fn restore(
    file: &Path,
    target: &Path,
    bench: BenchPrefs,
    actor: &str,
    current: Option<Bank>,
) -> Result<(Bank, BackupReport)> {
    let current = match current {
        Some(bank) => Some(bank),
        None if target.exists() || crate::store::server_address(target).is_some() => {
            Some(Bank::open_read_only(target, bench.clone(), actor)?)
        }
        None => None,
    };
    // The bank is closed once its session is taken: the file is about to be replaced.
    let session = match current {
        Some(bank) => {
            bank.authorize(Operation::Restore)?;
            // A server's bank is restored with the server's own tools (pg_restore), not from a file copy.
            if bank.store.on_server() {
                return Err(StoreError::OnServer { path: bank.path().to_path_buf() }.into());
            }
            bank.session.clone()
        }
        None => super::Session::SetUp { name: actor.to_string() },
    };
    let mut report = check_copy(file)?;
    let source = Store::open_read_only(file)?;
    let restored = backup::restore(&source, target, &time::to_db(time::now()).replace(':', ""))?;
    drop(source);
    report.moved_aside = restored.replaced;
    let mut bank = Bank::open(target, bench, actor)?;
    bank.session = session;
    bank.record_backup("restore", &report)?;
    Ok((bank, report))
}

/// A copy must pass `SQLite`'s check, match the schema of its own version (an older one is upgraded on the first
/// write, as any bank) and hold an unbroken audit chain.
fn check_copy(file: &Path) -> Result<BackupReport> {
    let mut copy = Store::open_read_only(file)?;
    copy.inspect(|tx| {
        let mut problems = settings::integrity_check(tx)?;
        problems.extend(schema_check::differences(tx)?);
        problems.extend(audit::verify(tx)?.findings.into_iter().map(|f| f.what));
        if let Some(first) = problems.first() {
            let more = if problems.len() > 1 { format!(" (and {} more)", problems.len() - 1) } else { String::new() };
            return Err(AppError::Store(StoreError::Tampered(format!(
                "{}: the copy does not check: {first}{more}",
                file.display()
            ))));
        }
        let older_schema = schema_check::older_schema(tx)?;
        let (head_seq, head_hash) = checkpoint::head(tx)?;
        let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
        let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        Ok(BackupReport { file, bytes, head_seq, head_hash, moved_aside: Vec::new(), older_schema })
    })
}
