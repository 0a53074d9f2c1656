//! A stored value no reader can parse (only a file written by another program can hold one: input is
//! validated) is never a dead end: lists, shows, traces and recall dry runs show the record with that field
//! marked, every other record as usual, and exit 8 to tell a script the answer holds unreadable values.

mod common;

use common::{days_ago, Bench};
use rusqlite::Connection;

/// Writes into the bank as another program could: its CHECK constraints ignored.
fn plant(b: &Bench, sql: &str) {
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch(&format!("PRAGMA ignore_check_constraints = ON; {sql}")).unwrap();
}

/// Runs a read that must answer whole, marked, with exit 8; returns stdout.
fn marked(b: &Bench, args: &[&str]) -> String {
    let out = b.run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(8), "{args:?}: {stdout}{stderr}");
    assert!(stderr.contains("no reader can parse") && stderr.contains("stoolbank verify"), "{stderr}");
    stdout
}

#[test]
fn a_list_shows_every_record_and_marks_the_unreadable_field() {
    let b = Bench::new();
    let day = days_ago(20);
    let bad = b.screened_donor(day);
    let good = b.screened_donor(day);
    plant(&b, &format!("UPDATE donors SET birth_date = '2024-13-45' WHERE id = '{}'", &bad[..7]));
    let text = marked(&b, &["donor", "list"]);
    assert!(text.contains(&format!("{bad}  F  ⚠ malformed \"2024-13-45\"")), "{text}");
    assert!(text.lines().any(|l| l.starts_with(&good) && l.contains("eligible")), "{text}");
    let json = marked(&b, &["--json", "donor", "list"]);
    let all: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["birth_date"], serde_json::json!({"malformed": "2024-13-45"}));
    // `donor show` too: the record, its status marked with the value it cannot be judged on.
    let text = marked(&b, &["donor", "show", &bad]);
    assert!(text.contains("born ⚠ malformed \"2024-13-45\""), "{text}");
    // verify keeps naming it.
    let out = b.run(&["verify"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2024-13-45"));
}

#[test]
fn a_trace_and_a_recall_dry_run_never_drop_a_unit_whose_values_cannot_be_read() {
    let b = Bench::new();
    let day = days_ago(20);
    let donor = b.screened_donor(day - chrono::Duration::days(1));
    let donation = b.donation(&donor, day);
    let (batch, units) = b.batch(&donation, day, 3);
    // One unit's kind is an unknown code, another's recall time a negative year, a third's own identifier is
    // not one this program can read (with a terminal escape in it).
    plant(
        &b,
        &format!(
            "UPDATE units SET kind = 'dosage' WHERE id = '{}';
             UPDATE units SET recalled_at = '-0001-06-01T00:00:00Z' WHERE id = '{}';
             UPDATE units SET id = 'XX' || char(27) || '[2Kgarbage-unit' WHERE id = '{}';",
            &units[0][..20],
            &units[1][..20],
            &units[2][..20]
        ),
    );
    let trace = marked(&b, &["trace", &batch]);
    assert!(trace.contains("⚠ malformed \"dosage\""), "{trace}");
    // The unit whose recall time cannot be read: its status, derived from it, is marked with it.
    assert!(trace.contains("⚠ malformed \"-0001-06-01T00:00:00Z\""), "{trace}");
    assert!(trace.contains("⚠ malformed \"XX\\u{1b}[2Kgarbage-unit\""), "escaped, never obeyed: {trace}");
    assert!(!trace.contains('\x1b'), "{trace}");
    let json = marked(&b, &["--json", "trace", &batch]);
    let t: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(t["units"].as_array().unwrap().len(), 4, "three doses and the retained sample: {t}");

    let recall = marked(&b, &["--json", "recall", "--batch", &batch, "--reason", "pathogen found"]);
    let r: serde_json::Value = serde_json::from_str(&recall).unwrap();
    let listed: Vec<String> = r["units"].as_array().unwrap().iter().map(|u| u["id"].to_string()).collect();
    assert_eq!(listed.len(), 3, "every dose, readable or not: {listed:?}");
    assert!(listed.iter().any(|u| u.contains("malformed") && u.contains("garbage-unit")), "{listed:?}");
    assert_eq!(r["in_stock"], 3, "units that cannot be read count on the shelf, to be found and held: {r}");
    // Applying it is refused, naming the value: no unit is left on the shelf unseen.
    let (code, err) = b.fail(&["recall", "--batch", &batch, "--reason", "pathogen found", "--apply"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("dosage") && err.contains("stoolbank verify"), "{err}");
}

#[test]
fn a_show_of_a_batch_marks_its_unreadable_expiry_and_cannot_judge_release() {
    let b = Bench::new();
    let day = days_ago(20);
    let donor = b.screened_donor(day - chrono::Duration::days(1));
    let donation = b.donation(&donor, day);
    let (batch, _) = b.batch(&donation, day, 2);
    plant(&b, &format!("UPDATE batches SET expires_on = '2024-13-45' WHERE id = '{}'", &batch[..batch.len() - 1]));
    let text = marked(&b, &["batch", "show", &batch]);
    assert!(text.contains("expires ⚠ malformed \"2024-13-45\""), "{text}");
    assert!(text.contains("cannot be judged: ⚠ malformed \"2024-13-45\""), "{text}");
    let (code, err) = b.fail(&["batch", "release", &batch]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("2024-13-45"), "{err}");
}
