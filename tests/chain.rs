//! The whole chain end to end through the binary, on a real `SQLite` file: donor → screening → donation → batch →
//! QC → release → dispense → trace both ways → recall names exactly the affected recipients.

mod common;

use common::{at, days_ago, ids, Bench};

#[test]
fn donor_to_recipient_and_back_then_recall() {
    let b = Bench::new();
    let d0 = days_ago(120);
    let d1 = days_ago(110);

    let alice = b.screened_donor(d0);
    let bob = b.screened_donor(d0);
    let don_a = b.donation(&alice, d1);
    let don_b = b.donation(&bob, d1 + chrono::Duration::days(2));
    assert!(don_a.starts_with("G1517"), "DIN carries the facility: {don_a}");
    let (batch_a, units_a) = b.batch(&don_a, d1, 3);
    let (batch_b, units_b) = b.batch(&don_b, d1 + chrono::Duration::days(2), 2);
    assert_eq!(units_a.len(), 3);

    let shown = b.json(&["batch", "show", &batch_a]);
    assert_eq!(shown["status"], "quarantined");
    assert_eq!(shown["qc_required"].as_array().unwrap().len(), 3);
    assert_eq!(shown["qc_missing"].as_array().unwrap().len(), 0);

    // The sandwich: no release until the donor re-tests negative after the donation.
    let release_at = at(d1 + chrono::Duration::days(31), 10);
    b.refused("release.2-screening-after", &["batch", "release", &batch_a, "--at", &release_at]);
    b.screen_clean(&alice, d1 + chrono::Duration::days(30));
    b.screen_clean(&bob, d1 + chrono::Duration::days(30));
    assert_eq!(b.ok(&["batch", "release", &batch_a, "--at", &release_at]), batch_a);
    b.ok(&["batch", "release", &batch_b, "--at", &release_at]);

    let r1 = b.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1950-01-01", "--indication", "rCDI"]);
    let r2 = b.ok(&["recipient", "add", "--sex", "F", "--birth-date", "1980-01-01", "--indication", "UC"]);
    let r3 = b.ok(&[
        "recipient",
        "add",
        "--sex",
        "F",
        "--birth-date",
        "2010-01-01",
        "--indication",
        "CD",
        "--consent",
        "data-use",
    ]);
    let when = at(d1 + chrono::Duration::days(35), 11);
    b.ok(&["dispense", &units_a[0], "--recipient", &r1, "--route", "colonoscopy", "--at", &when]);
    b.ok(&["dispense", &units_a[1], "--recipient", &r2, "--route", "tet-colonic", "--at", &when]);
    b.ok(&["dispense", &units_b[0], "--recipient", &r3, "--route", "enema", "--at", &when]);

    // Forward from the donor: both of her recipients, none of Bob's.
    let t = b.json(&["trace", &alice]);
    assert_eq!(t["root"]["kind"], "donor");
    assert_eq!(ids(&t, "recipients"), sorted(&[&r1, &r2]));
    assert_eq!(ids(&t, "donations"), vec![don_a.clone()]);
    assert_eq!(ids(&t, "batches"), vec![batch_a.clone()]);
    // Statuses are as of a moment: eligible when she was screened, not any more today.
    assert_eq!(b.json(&["trace", &alice, "--at", &when])["donors"][0]["status"], "eligible");
    assert_eq!(t["donors"][0]["status"], "not-eligible");
    let unit0 = t["units"].as_array().unwrap().iter().find(|u| u["id"] == units_a[0].as_str()).unwrap();
    assert_eq!(unit0["recipient"], r1.as_str());
    assert!(unit0["dispensed_at"].is_string());
    let unit2 = t["units"].as_array().unwrap().iter().find(|u| u["id"] == units_a[2].as_str()).unwrap();
    assert!(unit2["recipient"].is_null() && unit2["dispensed_at"].is_null());
    assert_eq!(unit2["status"], "released");

    // Backward from a recipient: to the donor, through exactly one unit.
    let t = b.json(&["trace", &r3]);
    assert_eq!(ids(&t, "donors"), vec![bob.clone()]);
    assert_eq!(ids(&t, "units"), vec![units_b[0].clone()]);
    // From a unit, both ways.
    let t = b.json(&["trace", &units_a[1]]);
    assert_eq!(ids(&t, "donors"), vec![alice.clone()]);
    assert_eq!(ids(&t, "recipients"), vec![r2.clone()]);

    // Alice donates again after her clean re-test; that batch waits in quarantine.
    let d2 = d1 + chrono::Duration::days(32);
    let don_a2 = b.donation(&alice, d2);
    let (batch_a2, units_a2) = b.batch(&don_a2, d2, 2);

    // Then she tests positive. By default a recall reaches back to her last clean screening (DOMAIN.md):
    // only the material collected since.
    let positive_on = (d2 + chrono::Duration::days(5)).to_string();
    b.ok(&[
        "donor",
        "screen",
        &alice,
        "--kind",
        "stool",
        "--date",
        &positive_on,
        "--all-negative",
        "--test",
        "esbl=positive",
    ]);
    assert_eq!(b.json(&["donor", "show", &alice])["status"], "deferred");
    let default = b.json(&["recall", "--donor", &alice, "--reason", "ESBL positive"]);
    assert_eq!(ids(&default, "batches"), vec![batch_a2.clone()]);
    assert_eq!(ids(&default, "units"), sorted(&[&units_a2[0], &units_a2[1]]));
    assert!(ids(&default, "recipients").is_empty());

    // The investigator looks back further: the dry run changes nothing and names exactly her recipients.
    let before = b.audit_len();
    let from = d1.to_string();
    let dry = b.json(&["recall", "--donor", &alice, "--from", &from, "--reason", "ESBL positive"]);
    assert_eq!(ids(&dry, "recipients"), sorted(&[&r1, &r2]));
    assert_eq!(ids(&dry, "batches"), sorted(&[&batch_a, &batch_a2]));
    assert_eq!(ids(&dry, "units"), sorted(&[&units_a[0], &units_a[1], &units_a[2], &units_a2[0], &units_a2[1]]));
    let r1_entry = dry["recipients"].as_array().unwrap().iter().find(|r| r["id"] == r1.as_str()).unwrap();
    assert_eq!(r1_entry["units"][0], units_a[0].as_str());
    assert!(r1_entry["first_dispensed_at"].is_string());
    assert_eq!(b.audit_len(), before, "a recall without --apply changes nothing");
    assert_eq!(b.json(&["trace", &units_a[2]])["units"][0]["status"], "released");

    // Applied: the unit in stock is quarantined at once and can no longer be dispensed.
    let applied = b.json(&["recall", "--donor", &alice, "--from", &from, "--reason", "ESBL positive", "--apply"]);
    let stock = applied["units"].as_array().unwrap().iter().find(|u| u["id"] == units_a[2].as_str()).unwrap().clone();
    assert_eq!(stock["status"], "recalled");
    assert!(stock["recipient"].is_null());
    b.refused("dispense.recalled", &["dispense", &units_a[2], "--recipient", &r1, "--route", "enema"]);
    // Bob's material is untouched.
    assert_eq!(b.json(&["batch", "show", &batch_b])["status"], "released");

    // A retroactive rule: everything collected in a window, across donors.
    let day_b = (d1 + chrono::Duration::days(2)).to_string();
    let w = b.json(&["recall", "--collected-from", &day_b, "--collected-to", &day_b, "--reason", "new rule"]);
    assert_eq!(ids(&w, "recipients"), vec![r3.clone()]);
    assert_eq!(ids(&w, "batches"), vec![batch_b.clone()]);

    // A recall by batch.
    let r = b.json(&["recall", "--batch", &batch_b, "--reason", "sterility"]);
    assert_eq!(ids(&r, "recipients"), vec![r3]);

    assert!(b.ok(&["audit", "verify"]).contains("intact"));
    assert!(b.ok(&["verify"]).contains("✓ foreign keys"));
    let log = b.json(&["audit", "log", &batch_a]);
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for a in ["make-batch", "add-qc", "release-batch", "recall-batch"] {
        assert!(actions.contains(&a), "audit log of the batch has {a}: {actions:?}");
    }
    assert!(log.as_array().unwrap().iter().all(|e| e["actor"] == "tester"));
}

#[test]
fn demo_bank_is_consistent_and_traceable() {
    let b = Bench::new();
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .args(["--json", "--db"])
        .arg(&demo)
        .arg("demo")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(s["donors"].as_u64().unwrap() >= 24);
    assert!(s["dispensed"].as_u64().unwrap() > 0);
    assert!(s["discarded_batches"].as_u64().unwrap() > 0);
    assert_eq!(s["recalls"], 2);
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .arg("--db")
        .arg(&demo)
        .args(["--as", "qm", "verify"])
        .env("STOOLBANK_PASSWORD", "stoolbank-demo")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    // A second demo on the same file is refused rather than doubling the bank.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .arg("--db")
        .arg(&demo)
        .arg("demo")
        .output()
        .unwrap();
    assert!(!again.status.success());
    drop(b);
}

fn sorted(v: &[&String]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| (*s).clone()).collect();
    out.sort();
    out
}
