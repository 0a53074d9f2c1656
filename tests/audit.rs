//! Tampering with a table or the audit log by hand (as with the sqlite3 shell) is caught by `audit verify`.

mod common;

use common::{days_ago, Bench};

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
    let mut c = b.outside();
    let din = &donation[..13];
    c.execute("UPDATE donations SET mass_g = 999 WHERE id = $1", &[din]).unwrap();
    verify_fails(&b, &format!("donations {din} differs"));
    let _ = donor;
}

#[test]
fn a_row_written_outside_is_named() {
    let (b, donor, _) = banked();
    let mut c = b.outside();
    c.execute(
        "INSERT INTO deferrals (donor_id, reason, starts_on, until, permanent, recorded_at)
         VALUES ($1, 'x', '2020-01-01', '2020-02-01', 0, '2020-01-01T00:00:00Z')",
        &[&donor[..7]],
    )
    .unwrap();
    verify_fails(&b, "has no audit entry");
}

#[test]
fn the_audit_log_refuses_update_and_delete() {
    let (b, _, _) = banked();
    let mut c = b.outside();
    assert!(c.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1", &[]).is_err());
    assert!(c.execute("DELETE FROM audit_log WHERE seq = 1", &[]).is_err());
    assert!(c.execute("DELETE FROM donors", &[]).is_err(), "records are never deleted");
}

#[test]
fn an_altered_audit_entry_is_named() {
    let (b, _, _) = banked();
    let mut c = b.outside();
    // Someone who drops the trigger can rewrite history; the hash chain still tells.
    c.drop_trigger("audit_log_no_update", "audit_log");
    c.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", &[]).unwrap();
    verify_fails(&b, "audit entry 3");
}

#[test]
fn a_forged_entry_for_a_record_that_cannot_exist_is_named() {
    let (b, _, _) = banked();
    let mut c = b.outside();
    // An entry slipped in at the log's end for a deferral whose key is not a number.
    let hash = match c {
        common::Outside::Server(_) => "sha256(convert_to('forged', 'UTF8'))",
        common::Outside::File(_) => "randomblob(32)",
    };
    c.execute(
        &format!(
            "INSERT INTO audit_log (seq, at, recorded_at, actor, action, entity, entity_id, subject, after, hash)
             SELECT seq + 1, at, recorded_at, 'mallory', 'create', 'deferrals', 'x1', subject, '{{}}', {hash}
             FROM audit_log ORDER BY seq DESC LIMIT 1"
        ),
        &[],
    )
    .unwrap();
    verify_fails(&b, "deferrals x1");
}

#[test]
fn a_deleted_audit_entry_is_named() {
    let (b, _, _) = banked();
    let mut c = b.outside();
    c.drop_trigger("audit_log_no_delete", "audit_log");
    c.execute("DELETE FROM audit_log WHERE seq = 4", &[]).unwrap();
    verify_fails(&b, "entries are missing");
}

#[test]
fn a_record_deleted_behind_the_programs_back_is_named() {
    let (b, _, donation) = banked();
    let day = days_ago(19);
    let made = b.json(&["batch", "make", &donation, "--product", "F0001", "--units", "1", "--at", &common::at(day, 9)]);
    let batch = made["id"].as_str().unwrap().to_string();
    b.ok(&["qc", "add", &batch, "--test", "appearance=pass", "--at", &common::at(day, 10)]);
    let mut c = b.outside();
    c.drop_trigger("qc_results_no_delete", "qc_results");
    c.execute("DELETE FROM qc_results", &[]).unwrap();
    verify_fails(&b, "qc_results 1 is in the audit log but missing from the database");
}

/// A batch of 3 units and its retained sample, made at once: one audit entry covers the four rows.
fn batch_of_units(b: &Bench, donation: &str) -> (String, Vec<String>) {
    let day = days_ago(19);
    let made = b.json(&["batch", "make", donation, "--product", "F0001", "--units", "3", "--at", &common::at(day, 9)]);
    let batch = made["id"].as_str().unwrap().to_string();
    let mut c = b.outside();
    let units = c.texts("SELECT id FROM units WHERE batch_id = $1 ORDER BY id", &[&batch[..18]]);
    (batch, units)
}

#[test]
fn a_batch_s_units_are_one_entry_and_each_is_checked_against_it() {
    let (b, _, donation) = banked();
    let before = b.audit_len();
    let (batch, units) = batch_of_units(&b, &donation);
    assert_eq!(units.len(), 4, "three doses and the retained sample");
    assert_eq!(b.audit_len(), before + 2, "the batch's entry and one entry for its units");
    // A unit changed after the batch was made is compared with its own, newer entry.
    let shown: Vec<String> = b.json(&["batch", "show", &batch])["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    b.ok(&["locate", &shown[0], "freezer 2"]);
    assert!(b.ok(&["audit", "verify"]).contains("intact"));
    let mut c = b.outside();
    let (located, other) = (&shown[0][..20], &shown[1][..20]);
    c.execute("UPDATE units SET location = 'freezer 9' WHERE id = $1", &[other]).unwrap();
    verify_fails(&b, &format!("units {other} differs from its last audit entry"));
    c.execute("UPDATE units SET location = NULL WHERE id = $1", &[other]).unwrap();
    c.execute("UPDATE units SET location = 'freezer 9' WHERE id = $1", &[located]).unwrap();
    verify_fails(&b, &format!("units {located} differs from its last audit entry"));
}

#[test]
fn a_unit_slipped_into_a_batch_after_its_entry_is_named() {
    let (b, _, donation) = banked();
    let (batch, _) = batch_of_units(&b, &donation);
    let mut c = b.outside();
    let slipped = format!("{}Z9", &batch[..18]);
    c.execute("INSERT INTO units (id, batch_id, kind) VALUES ($1, $2, 'dose')", &[&slipped, &batch[..18]]).unwrap();
    verify_fails(&b, &format!("units {slipped} has no audit entry"));
}

#[test]
fn a_unit_of_a_batch_entry_deleted_behind_the_programs_back_is_named() {
    let (b, _, donation) = banked();
    let (_, units) = batch_of_units(&b, &donation);
    let mut c = b.outside();
    c.drop_trigger("units_no_delete", "units");
    c.execute("DELETE FROM units WHERE id = $1", &[&units[0]]).unwrap();
    verify_fails(&b, &format!("units {} is in the audit log but missing from the database", units[0]));
}

#[test]
fn a_dropped_trigger_is_named_by_verify() {
    let (b, _, _) = banked();
    b.outside().drop_trigger("units_no_delete", "units");
    let out = b.run(&["verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "verify must fail: {stdout}");
    assert!(stdout.contains("units_no_delete"), "the trigger is named: {stdout}");
}

#[test]
fn a_bench_login_on_a_server_cannot_undo_what_guards_the_history() {
    // A file has no logins: whoever can write it can do anything, which `verify` then names (the tests above).
    if !common::pg::store_is_server() {
        return;
    }
    let (b, donor, _) = banked();
    // The bench's own login, as schema.pg.grants.sql leaves it (the owner made the bank).
    let mut bench = common::Outside::open(&b.db);
    for sql in [
        "DROP TRIGGER audit_log_no_update ON audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM donors",
        "TRUNCATE donors CASCADE",
        "ALTER TABLE donors ADD COLUMN x text",
        "UPDATE stoolbank_schema SET version = 13",
    ] {
        let refused = bench.execute(sql, &[]).expect_err(sql);
        assert!(refused.contains("must be owner") || refused.contains("permission denied"), "{sql}: {refused}");
    }
    // And it works the bank: the donor was registered, screened and gave, as that login.
    assert!(b.ok(&["donor", "show", &donor]).contains(&donor[..7]));
    assert!(!b.ok(&["verify"]).contains("login"), "a bench's login is what it should be");
    // `verify` as the owner's login passes, with a warning that benches should not use it.
    let mut b = b;
    let owner = b.server.as_ref().map(|s| s.lock().expect("server").url()).expect("on a server");
    b.db = owner.into();
    assert!(b.ok(&["verify"]).contains("! login: this login owns the bank's tables"));
}
