//! Tampering with a table or the audit log by hand (as with the sqlite3 shell) is caught by `audit verify`.

mod common;

use common::{days_ago, Bench};
use rusqlite::Connection;

fn verify_fails(b: &Bench, expect: &str) {
    let out = b.run(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "verify must fail: {stdout} {stderr}");
    assert!(stdout.contains(expect) || stderr.contains(expect), "expected `{expect}` in: {stdout} / {stderr}");
}

fn banked() -> (Bench, String, String) {
    let b = Bench::new();
    let day = days_ago(20);
    let donor = b.screened_donor(day - chrono::Duration::days(1));
    let donation = b.donation(&donor, day);
    (b, donor, donation)
}

#[test]
fn a_clean_bank_verifies() {
    let (b, _, _) = banked();
    assert!(b.ok(&["audit", "verify"]).contains("intact"));
}

#[test]
fn an_edited_record_is_named() {
    let (b, donor, donation) = banked();
    let c = Connection::open(&b.db).unwrap();
    let din = &donation[..13];
    c.execute("UPDATE donations SET mass_g = 999 WHERE id = ?1", [din]).unwrap();
    verify_fails(&b, &format!("donations {din} differs"));
    let _ = donor;
}

#[test]
fn a_row_written_outside_is_named() {
    let (b, donor, _) = banked();
    let c = Connection::open(&b.db).unwrap();
    c.execute(
        "INSERT INTO deferrals (donor_id, reason, starts_on, until, permanent, recorded_at)
         VALUES (?1, 'x', '2020-01-01', '2020-02-01', 0, '2020-01-01T00:00:00Z')",
        [&donor[..7]],
    )
    .unwrap();
    verify_fails(&b, "has no audit entry");
}

#[test]
fn the_audit_log_refuses_update_and_delete() {
    let (b, _, _) = banked();
    let c = Connection::open(&b.db).unwrap();
    assert!(c.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", []).is_err());
    assert!(c.execute("DELETE FROM audit_log WHERE seq = 1", []).is_err());
    assert!(c.execute("DELETE FROM donors", []).is_err(), "records are never deleted");
}

#[test]
fn an_altered_audit_entry_is_named() {
    let (b, _, _) = banked();
    let c = Connection::open(&b.db).unwrap();
    // Someone who drops the trigger can rewrite history; the hash chain still tells.
    c.execute_batch("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'mallory' WHERE seq = 3;").unwrap();
    verify_fails(&b, "audit entry 3");
}

#[test]
fn a_deleted_audit_entry_is_named() {
    let (b, _, _) = banked();
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 4;").unwrap();
    verify_fails(&b, "entries are missing");
}

#[test]
fn a_record_deleted_behind_the_programs_back_is_named() {
    let (b, _, donation) = banked();
    let day = days_ago(19);
    let made = b.json(&["batch", "make", &donation, "--product", "F0001", "--units", "1", "--at", &common::at(day, 9)]);
    let batch = made["id"].as_str().unwrap().to_string();
    b.ok(&["qc", "add", &batch, "--test", "appearance=pass", "--at", &common::at(day, 10)]);
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch("DROP TRIGGER qc_results_no_delete; DELETE FROM qc_results;").unwrap();
    verify_fails(&b, "qc_results 1 is in the audit log but missing from the database");
}
