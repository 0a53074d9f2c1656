//! A stored value no reader can parse (only a file written by another program can hold one: input is
//! validated) is never a dead end: lists, shows, traces and recall dry runs show the record with that field
//! marked, every other record as usual, and exit 8 to tell a script the answer holds unreadable values.

mod common;

use common::{at, days_ago, table_counts, Bench};
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

/// A donor with two batches collected 40 and 38 days ago, both released after a clean re-screen 10 days ago, one
/// dose of each dispensed: returns (donor, good batch, bad batch, the good batch's recipient, the bad one's).
fn two_dispensed_batches(b: &Bench) -> (String, String, String, String, String) {
    let donor = b.screened_donor(days_ago(41));
    let (good, good_units) = b.batch(&b.donation(&donor, days_ago(40)), days_ago(40), 2);
    let (bad, bad_units) = b.batch(&b.donation(&donor, days_ago(38)), days_ago(38), 2);
    b.screen_clean(&donor, days_ago(10));
    b.ok(&["batch", "release", &good, "--at", &at(days_ago(9), 10)]);
    b.ok(&["batch", "release", &bad, "--at", &at(days_ago(9), 10)]);
    let r1 = b.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1950-01-01", "--indication", "rCDI"]);
    let r2 = b.ok(&["recipient", "add", "--sex", "F", "--birth-date", "1980-01-01", "--indication", "UC"]);
    let when = at(days_ago(8), 11);
    b.ok(&["dispense", &good_units[0], "--recipient", &r1, "--route", "colonoscopy", "--at", &when]);
    b.ok(&["dispense", &bad_units[0], "--recipient", &r2, "--route", "enema", "--at", &when]);
    (donor, good, bad, r1, r2)
}

/// Gives a batch an identifier no reader can parse, its units following it.
fn plant_batch_id(b: &Bench, batch: &str, garbage: &str) {
    let data = &batch[..batch.len() - 1];
    plant(
        b,
        &format!(
            "PRAGMA foreign_keys = OFF;
             UPDATE batches SET id = '{garbage}' WHERE id = '{data}';
             UPDATE units SET batch_id = '{garbage}' WHERE batch_id = '{data}';"
        ),
    );
}

/// A recall's answer names every batch (the unreadable one marked), every dose of them and every recipient.
fn assert_recall_names_all(r: &serde_json::Value, good: &str, r1: &str, r2: &str, garbage: &str) {
    let batches = r["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2, "{r}");
    assert!(batches.iter().any(|x| x["id"] == good), "{r}");
    assert!(batches.iter().any(|x| x["id"] == serde_json::json!({"malformed": garbage})), "{r}");
    assert_eq!(r["units"].as_array().unwrap().len(), 4, "both doses of both batches: {r}");
    let recipients: Vec<&str> = r["recipients"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert!(recipients.contains(&r1) && recipients.contains(&r2), "{r}");
    assert_eq!((r["dispensed"].as_u64(), r["in_stock"].as_u64()), (Some(2), Some(2)), "{r}");
}

#[test]
fn a_donor_or_window_recall_answers_past_a_batch_whose_identifier_cannot_be_read_and_apply_changes_nothing() {
    let b = Bench::new();
    let (donor, good, bad, r1, r2) = two_dispensed_batches(&b);
    let garbage = "XXgarbage-batch";
    plant_batch_id(&b, &bad, garbage);
    let from = days_ago(41).to_string();
    let to = days_ago(37).to_string();
    let by_donor = ["recall", "--donor", &donor, "--from", &from, "--reason", "pathogen found"];
    let by_window = ["recall", "--collected-from", &from, "--collected-to", &to, "--reason", "pathogen found"];
    for args in [&by_donor[..], &by_window[..]] {
        let json = marked(&b, &[&["--json"], args].concat());
        assert_recall_names_all(&serde_json::from_str(&json).unwrap(), &good, &r1, &r2, garbage);
        let text = marked(&b, args);
        assert!(text.contains(&format!("batch ⚠ malformed \"{garbage}\"")), "{text}");
        assert!(text.contains(&r1) && text.contains(&r2), "{text}");
        // Applying is refused, naming the value, and leaves every table as it was.
        let counts = table_counts(&b.db);
        let (code, err) = b.fail(&[args, &["--apply"]].concat());
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(garbage) && err.contains("stoolbank verify"), "{err}");
        assert_eq!(table_counts(&b.db), counts, "a refused recall changes nothing");
    }
}

#[test]
fn a_donor_recall_whose_look_back_cannot_be_judged_reaches_back_to_every_donation() {
    let b = Bench::new();
    let (donor, good, bad, r1, r2) = two_dispensed_batches(&b);
    // The latest screening (the clean re-screen the default look-back would start from) has an unreadable date.
    plant(&b, "UPDATE screenings SET date = '2024-13-45' WHERE id = (SELECT MAX(id) FROM screenings)");
    let args = ["recall", "--donor", &donor, "--reason", "pathogen found"];
    let json = marked(&b, &[&["--json"], &args[..]].concat());
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["look_back_unreadable"], serde_json::json!({"malformed": "2024-13-45"}), "{r}");
    assert_eq!(r["from"], serde_json::Value::Null, "the widest window: {r}");
    let batches: Vec<&str> = r["batches"].as_array().unwrap().iter().filter_map(|x| x["id"].as_str()).collect();
    assert_eq!(batches, [good.as_str(), bad.as_str()], "{r}");
    let recipients: Vec<&str> = r["recipients"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    assert_eq!(recipients.len(), 2, "{r}");
    assert!(recipients.contains(&r1.as_str()) && recipients.contains(&r2.as_str()), "{r}");
    let text = marked(&b, &args);
    assert!(text.contains("look-back cannot be judged on ⚠ malformed \"2024-13-45\""), "{text}");
    let counts = table_counts(&b.db);
    let (code, err) = b.fail(&[&args[..], &["--apply"]].concat());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("2024-13-45") && err.contains("stoolbank verify"), "{err}");
    assert_eq!(table_counts(&b.db), counts, "a refused recall changes nothing");
}

#[test]
fn a_donor_show_lists_every_screening_and_deferral_and_marks_the_unreadable_values() {
    let b = Bench::new();
    let donor = b.screened_donor(days_ago(20));
    b.ok(&["donor", "defer", &donor, "--reason", "travel", "--until", &days_ago(-30).to_string()]);
    b.ok(&["donor", "defer", &donor, "--reason", "tattoo", "--until", &days_ago(-60).to_string()]);
    plant(
        &b,
        "UPDATE screenings SET date = '2024-13-45' WHERE id = (SELECT MIN(id) FROM screenings);
         UPDATE screening_results SET result = 'maybe'
           WHERE id = (SELECT MIN(id) FROM screening_results WHERE screening_id = (SELECT MAX(id) FROM screenings));
         UPDATE deferrals SET starts_on = 'someday' WHERE reason = 'travel';",
    );
    let text = marked(&b, &["donor", "show", &donor]);
    assert!(text.contains("⚠ malformed \"2024-13-45\"  questionnaire complete, negative"), "{text}");
    assert!(text.lines().any(|l| l.contains("blood") && l.contains("complete, negative")), "{text}");
    assert!(text.lines().any(|l| l.contains("stool") && l.contains("⚠ malformed \"maybe\"")), "{text}");
    assert!(text.lines().any(|l| l.contains("tattoo") && l.contains("[in force]")), "{text}");
    let travel = text.lines().find(|l| l.contains("travel")).unwrap_or_default();
    assert!(travel.contains("⚠ malformed \"someday\"") && travel.contains("[may be in force]"), "{text}");
    let json = marked(&b, &["--json", "donor", "show", &donor]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let screenings = v["screenings"].as_array().unwrap();
    assert_eq!(screenings.len(), 3, "{v}");
    assert_eq!(screenings[0]["date"], serde_json::json!({"malformed": "2024-13-45"}), "{v}");
    assert_eq!(screenings[1]["complete"], true, "{v}");
    assert_eq!(screenings[2]["complete"], serde_json::json!({"malformed": "maybe"}), "{v}");
    let deferrals = v["deferrals"].as_array().unwrap();
    assert_eq!(deferrals.len(), 2, "{v}");
    let travel = deferrals.iter().find(|d| d["reason"] == "travel").unwrap();
    assert_eq!(travel["starts_on"], serde_json::json!({"malformed": "someday"}), "{v}");
    assert_eq!(travel["active"], serde_json::json!({"malformed": "someday"}), "{v}");
    let tattoo = deferrals.iter().find(|d| d["reason"] == "tattoo").unwrap();
    assert_eq!(tattoo["active"], true, "{v}");
}

#[test]
fn a_window_recall_includes_a_donation_whose_collection_time_cannot_be_read() {
    let b = Bench::new();
    let (_, good, bad, r1, r2) = two_dispensed_batches(&b);
    // The window holds only the good batch's collection day; the bad batch's time is damaged.
    let from = days_ago(41).to_string();
    let to = days_ago(39).to_string();
    let args = ["--json", "recall", "--collected-from", &from, "--collected-to", &to, "--reason", "pathogen found"];
    let names = |b: &Bench| {
        let out = b.run(&args);
        assert!(matches!(out.status.code(), Some(0 | 8)), "{out:?}");
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let batches: Vec<String> =
            r["batches"].as_array().unwrap().iter().filter_map(|x| Some(x["id"].as_str()?.to_string())).collect();
        let text = r["recipients"].to_string();
        (batches, text.contains(&r1), text.contains(&r2))
    };
    assert_eq!(names(&b), (vec![good.clone()], true, false), "a sound bank: the window's batch alone");
    let donation_of =
        |batch: &str| format!("(SELECT donation_id FROM batches WHERE id = '{}')", &batch[..batch.len() - 1]);
    // A time stoolbank did not write but can read, outside the window: still outside.
    plant(
        &b,
        &format!("UPDATE donations SET collected_at = '2001-01-01T10:00:00+00:00' WHERE id = {}", donation_of(&bad)),
    );
    assert_eq!(names(&b), (vec![good.clone()], true, false), "a readable time outside the window");
    // A time nobody can read may be inside the window: the recall names its batch and recipient too.
    plant(&b, &format!("UPDATE donations SET collected_at = '2024-13-45T10:00:00Z' WHERE id = {}", donation_of(&bad)));
    assert_eq!(names(&b), (vec![good, bad], true, true), "an unreadable time is included");
}
