//! Reads never need the write lock: they answer while another bench holds a write transaction open, and a bank
//! on read-only media can be traced, recalled as a dry run and verified.

mod common;

use common::{days_ago, Bench};
use rusqlite::Connection;

/// A bank with a donor, a donation, a released batch and a dispensed unit.
fn stocked() -> (Bench, String, String) {
    let b = Bench::new();
    let day = days_ago(20);
    let donor = b.screened_donor(day - chrono::Duration::days(1));
    let donation = b.donation(&donor, day);
    let (batch, units) = b.batch(&donation, day, 2);
    b.screen_clean(&donor, days_ago(3));
    b.ok(&["batch", "release", &batch]);
    let r = b.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1970-01-01", "--indication", "rCDI"]);
    b.ok(&["dispense", &units[0], "--recipient", &r, "--route", "colonoscopy"]);
    (b, donor, units[0].clone())
}

fn reads(donor: &str, unit: &str) -> Vec<Vec<String>> {
    [
        vec!["trace", unit],
        vec!["trace", donor],
        vec!["donor", "show", donor],
        vec!["donor", "list"],
        vec!["recall", "--donor", donor, "--reason", "look-back"],
        vec!["audit", "log", "--limit", "5"],
        vec!["audit", "verify"],
        vec!["verify"],
        vec!["label", unit, "--format", "svg"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(String::from).collect())
    .collect()
}

#[test]
fn reads_answer_while_another_bench_holds_a_write_transaction() {
    let (b, donor, unit) = stocked();
    let writer = Connection::open(&b.db).unwrap();
    writer
        .execute_batch("BEGIN IMMEDIATE; UPDATE units SET location = 'F1/R2' WHERE id = (SELECT min(id) FROM units);")
        .unwrap();
    for args in reads(&donor, &unit) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        b.ok(&args);
    }
    // A write still waits for the lock and says so rather than losing anything.
    writer.execute_batch("ROLLBACK").unwrap();
    b.ok(&["locate", &unit, "F1/R1/B1/A1"]);
}

#[cfg(unix)]
#[test]
fn a_bank_on_read_only_media_can_be_traced_recalled_as_a_dry_run_and_verified() {
    use std::os::unix::fs::PermissionsExt;
    let (b, donor, unit) = stocked();
    let archive = b.dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    let copy = archive.join("bank.db");
    b.ok(&["backup", copy.to_str().unwrap()]);
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o555)).unwrap();
    let archived = Bench::on(tempfile::tempdir().unwrap(), copy.clone());
    for args in reads(&donor, &unit) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        archived.ok(&args);
    }
    let (code, err) = archived.fail(&["donor", "add", "--sex", "F", "--birth-date", "1990-01-01"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("read-only"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(&archive).unwrap().map(|e| e.unwrap().file_name()).collect();
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(leftovers.len(), 1, "reading writes nothing beside the archive: {leftovers:?}");
}
