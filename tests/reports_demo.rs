//! The demo bank carries follow-ups and adverse events, so a newcomer sees full reports.

mod common;

use common::Bench;

#[test]
fn the_demo_bank_fills_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let b = Bench::on(dir, db).signed_in("qm", "stoolbank-demo");
    b.ok(&["demo"]);
    let outcomes = b.json(&["report", "outcomes"]);
    let rows = outcomes["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["timepoint"] == "3m" && r["n"].as_u64() > Some(10)), "{outcomes}");
    assert!(rows.iter().any(|r| r["out_of_window"].as_u64() > Some(0)), "some visits are flagged late");
    assert!(rows.iter().any(|r| r["lost"].as_u64() > Some(0)));
    let safety = b.json(&["report", "safety"]);
    assert!(safety["events"].as_u64() > Some(10) && safety["serious"].as_u64() >= Some(1), "{safety}");
    let donors = b.json(&["report", "donors"]);
    assert!(donors["donors"].as_array().unwrap().len() > 5);
    assert!(b.json(&["followup", "due"])["due"].as_array().is_some_and(|d| !d.is_empty()));
    b.ok(&["audit", "verify"]);
}
