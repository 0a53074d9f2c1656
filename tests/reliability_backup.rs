//! Backups taken while another process writes are consistent; a restore checks the backup, refuses a bank in
//! use, and is not corrupted by a newer `-wal` left beside the target.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::{days_ago, Bench};
use rusqlite::Connection;

/// Every row of every table, as text, by table.
fn dump(db: &Path) -> Vec<(String, Vec<String>)> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let mut stmt = c.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid")).unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (t, rows)
        })
        .collect()
}

#[test]
fn a_backup_under_load_restores_to_the_same_records() {
    let b = Arc::new(Bench::new());
    let donor = b.screened_donor(days_ago(10));
    let (done, writes) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let writer = {
        let (b, done, writes) = (b.clone(), done.clone(), writes.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02", "--name", "Load"]);
                writes.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while writes.load(Ordering::SeqCst) < 3 {
        std::thread::yield_now();
    }
    let copy = b.dir.path().join("copy.db");
    let report = b.json(&["backup", copy.to_str().unwrap()]);
    let after_backup = writes.load(Ordering::SeqCst);
    while writes.load(Ordering::SeqCst) < after_backup + 3 {
        std::thread::yield_now();
    }
    done.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    // The copy is one moment of the bank: every record it holds is in the live bank unchanged, and its audit
    // chain is a prefix of the live one.
    let (copied, live) = (dump(&copy), dump(&b.db));
    for ((table, rows), (_, live_rows)) in copied.iter().zip(&live) {
        assert!(rows.len() <= live_rows.len(), "{table}");
        assert_eq!(rows[..], live_rows[..rows.len()], "{table}: the backup is not a moment of the bank");
    }
    let head = report["head_seq"].as_i64().unwrap();
    let audit = b.json(&["audit", "log", "--limit", "1000000"]);
    let entry = audit.as_array().unwrap().iter().find(|e| e["action"] == "backup").expect("the backup is audited");
    assert_eq!(entry["after"]["head_seq"].as_i64(), Some(head));
    // Restored elsewhere: checks, and holds every record of the backup (plus the restore's own entry).
    let target = b.dir.path().join("restored.db");
    let restored = Bench::on(tempfile::tempdir().unwrap(), target.clone());
    restored.ok(&["restore", copy.to_str().unwrap()]);
    restored.ok(&["verify"]);
    let back = dump(&target);
    for ((table, rows), (_, back_rows)) in copied.iter().zip(&back) {
        let extra = usize::from(table == "audit_log");
        assert_eq!(back_rows.len(), rows.len() + extra, "{table}");
        assert_eq!(rows[..], back_rows[..rows.len()], "{table}");
    }
    restored.ok(&["trace", &donor]);
}

#[test]
fn a_restore_is_not_corrupted_by_a_newer_wal_left_beside_the_target() {
    let b = Bench::new();
    let donor = b.screened_donor(days_ago(10));
    let copy = b.dir.path().join("old.db");
    b.ok(&["backup", copy.to_str().unwrap()]);
    // Newer writes that stay in the -wal while another bench keeps the bank open; that -wal is kept.
    let holder = Connection::open(&b.db).unwrap();
    holder.query_row("SELECT count(*) FROM donors", [], |r| r.get::<_, i64>(0)).unwrap();
    for _ in 0..3 {
        b.ok(&["donor", "add", "--sex", "M", "--birth-date", "1980-01-01"]);
    }
    let wal = b.dir.path().join("bank.db-wal");
    let kept = std::fs::read(&wal).unwrap();
    assert!(!kept.is_empty());
    // While the bank is open elsewhere, a restore is refused and changes nothing.
    let (code, err) = b.fail(&["restore", copy.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("in use"), "{err}");
    drop(holder);
    // Restoring by hand: the old file put back, the newer -wal left beside it.
    std::fs::copy(&copy, &b.db).unwrap();
    std::fs::write(&wal, &kept).unwrap();
    b.ok(&["restore", copy.to_str().unwrap()]);
    b.ok(&["verify"]);
    let donors = b.json(&["donor", "list"]);
    assert_eq!(donors.as_array().unwrap().len(), 1, "the restored bank is the backup: {donors}");
    b.ok(&["trace", &donor]);
    let aside: Vec<String> = std::fs::read_dir(b.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".replaced-"))
        .collect();
    assert!(aside.iter().any(|n| n.starts_with("bank.db-wal.replaced-")), "the -wal is kept aside: {aside:?}");
}

#[test]
fn a_backup_that_does_not_check_is_not_restored() {
    let b = Bench::new();
    b.screened_donor(days_ago(10));
    let copy = b.dir.path().join("copy.db");
    b.ok(&["backup", copy.to_str().unwrap()]);
    let c = Connection::open(&copy).unwrap();
    c.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 2;").unwrap();
    drop(c);
    let before = std::fs::read(&b.db).unwrap();
    let (code, err) = b.fail(&["restore", copy.to_str().unwrap()]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("does not check"), "{err}");
    assert_eq!(std::fs::read(&b.db).unwrap(), before, "the bank is untouched");
}

/// A bank as the first stoolbank left it: schema version 1 (only the first migration applied).
fn schema_v1_bank(db: &Path) {
    let c = Connection::open(db).unwrap();
    c.execute_batch(include_str!("../migrations/0001_initial.sql")).unwrap();
    c.execute_batch("PRAGMA user_version = 1; PRAGMA application_id = 1398030897;").unwrap();
}

#[test]
fn a_bank_and_a_backup_of_an_older_schema_verify_and_restore() {
    let b = Bench::new();
    let copy = b.dir.path().join("old.db");
    schema_v1_bank(&copy);
    // Read-only opens do not upgrade: the old file is checked against its own version's schema.
    let old = Bench::on(tempfile::tempdir().unwrap(), copy.clone());
    let out = old.ok(&["verify"]);
    assert!(out.contains("schema version 1, older than this program's ("), "{out}");
    assert!(out.contains("upgraded on the first write"), "{out}");
    // And restored, then upgraded like any bank.
    let target = b.dir.path().join("restored.db");
    let restored = Bench::on(tempfile::tempdir().unwrap(), target.clone());
    let out = restored.ok(&["restore", copy.to_str().unwrap()]);
    assert!(out.contains("schema version 1"), "{out}");
    let out = restored.ok(&["verify"]);
    assert!(!out.contains("older"), "the restored bank is upgraded: {out}");
    restored.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
}
