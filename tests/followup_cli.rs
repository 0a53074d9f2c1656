//! Follow-up visits, study eligibility and adverse events through the binary: window edges, age 3 on the day of
//! the first FMT, loss to follow-up counted, corrections superseding, the safety signal, and bad input refused.

mod common;

use chrono::NaiveDate;
use common::{at, Bench};
use serde_json::Value;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A released batch of `n` units (prepared 2024-12-01, released 2025-01-02); returns (donor, units).
fn released_units(b: &Bench, n: usize) -> (String, Vec<String>) {
    let donor = b.screened_donor(d("2024-11-28"));
    let din = b.donation(&donor, d("2024-12-01"));
    let (batch, units) = b.batch(&din, d("2024-12-01"), n);
    b.screen_clean(&donor, d("2024-12-31"));
    b.ok(&["batch", "release", &batch, "--at", "2025-01-02"]);
    (donor, units)
}

/// A recipient given `unit` on `day` at 10:00.
fn treated(b: &Bench, birth: &str, indication: &str, unit: &str, day: &str) -> String {
    let r = b.ok(&["recipient", "add", "--sex", "F", "--birth-date", birth, "--indication", indication]);
    b.ok(&["dispense", unit, "--recipient", &r, "--route", "colonoscopy", "--at", &at(d(day), 10)]);
    r
}

fn visit(b: &Bench, r: &str, day: &str, outcome: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["--json", "followup", "add", r, "--at", day, "--timepoint", "3m", "--outcome", outcome];
    args.extend_from_slice(extra);
    let out = b.run(&args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_slice(&out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn row<'a>(report: &'a Value, group: &str, tp: &str) -> &'a Value {
    report["rows"].as_array().unwrap().iter().find(|r| r["group"] == group && r["timepoint"] == tp).unwrap()
}

#[test]
fn a_visit_on_each_side_of_each_window_edge_is_kept_and_only_outside_ones_are_flagged() {
    let b = Bench::new();
    let (_, units) = released_units(&b, 1);
    // First FMT 2025-01-10: the 3m visit is due 2025-04-10, window 2025-03-27 – 2025-04-24.
    let r = treated(&b, "1960-05-05", "rCDI", &units[0], "2025-01-10");
    let (v, warn) = visit(&b, &r, "2025-03-26", "remission", &["--score", "qol=70"]);
    assert_eq!(v["in_window"], false);
    assert!(warn.contains("outside its window 2025-03-27 – 2025-04-24"), "{warn}");
    assert_eq!(row(&b.json(&["report", "outcomes"]), "rCDI", "3m")["out_of_window"], 1);

    // A second 3m visit must say which one it corrects.
    let (code, err) =
        b.fail(&["followup", "add", &r, "--at", "2025-03-27", "--timepoint", "3m", "--outcome", "remission"]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("--corrects {}", v["id"])), "{err}");

    let mut last = v["id"].to_string();
    for (day, inside) in [("2025-03-27", true), ("2025-04-24", true), ("2025-04-25", false), ("2025-03-28", true)] {
        let (v, warn) = visit(&b, &r, day, "remission", &["--corrects", &last]);
        assert_eq!(v["in_window"], inside, "{day}");
        assert_eq!(warn.is_empty(), inside, "{day}: {warn}");
        last = v["id"].to_string();
    }
    // Corrected visits no longer count: one visit, in its window.
    let report = b.json(&["report", "outcomes"]);
    let m3 = row(&report, "rCDI", "3m");
    assert_eq!((m3["n"].as_u64(), m3["remission"].as_u64(), m3["out_of_window"].as_u64()), (Some(1), Some(1), Some(0)));
    let shown = b.json(&["followup", "show", &r]);
    assert_eq!(shown["followups"].as_array().unwrap().len(), 1);
    b.ok(&["audit", "verify"]);
}

#[test]
fn eligibility_needs_age_three_on_the_day_of_the_first_fmt() {
    let b = Bench::new();
    let (_, units) = released_units(&b, 3);
    let mut eligible = Vec::new();
    for (birth, unit) in [("2022-01-11", &units[0]), ("2022-01-10", &units[1]), ("2022-01-09", &units[2])] {
        let r = treated(&b, birth, "UC", unit, "2025-01-10");
        let v = b.json(&["followup", "show", &r]);
        eligible.push(v["eligibility"]["eligible"].as_bool().unwrap());
        if birth == "2022-01-11" {
            let reasons = v["eligibility"]["reasons"].to_string();
            assert!(reasons.contains("aged 2 on the first FMT (2025-01-10), under 3"), "{reasons}");
        }
    }
    assert_eq!(eligible, [false, true, true]);

    // An exclusion needs its reason and makes the recipient ineligible; lifting it restores eligibility.
    let r = treated(&b, "1970-01-01", "UC", &released_units(&b, 1).1[0], "2025-01-11");
    assert_eq!(b.run(&["followup", "study", &r, "--exclude", "incomplete-data"]).status.code(), Some(2));
    b.ok(&["followup", "study", &r, "--exclude", "severe-complication", "--reason", "toxic megacolon"]);
    let v = b.json(&["followup", "show", &r]);
    assert_eq!(v["eligibility"]["eligible"], false);
    assert!(v["eligibility"]["reasons"].to_string().contains("toxic megacolon"));
    b.ok(&["followup", "study", &r, "--include", "--diagnosis-date", "2019-03-01", "--prior-therapies", "美沙拉嗪"]);
    let v = b.json(&["followup", "show", &r]);
    assert_eq!(v["eligibility"]["eligible"], true);
    assert_eq!(v["study"]["prior_therapies"], "美沙拉嗪");
}

#[test]
fn loss_to_follow_up_is_counted_never_dropped() {
    let b = Bench::new();
    let (_, units) = released_units(&b, 3);
    let kept = treated(&b, "1960-01-01", "rCDI", &units[0], "2025-01-10");
    let lost = treated(&b, "1960-01-01", "rCDI", &units[1], "2025-01-10");
    let silent = treated(&b, "1960-01-01", "rCDI", &units[2], "2025-01-10");
    visit(&b, &kept, "2025-04-10", "remission", &[]);
    visit(&b, &lost, "2025-04-10", "lost", &[]);
    let report = b.json(&["report", "outcomes"]);
    let m3 = row(&report, "rCDI", "3m");
    // n counts the assessed only; the recorded loss and the window closed without a visit are both lost.
    assert_eq!(
        (m3["n"].as_u64(), m3["remission"].as_u64(), m3["lost"].as_u64(), m3["missing"].as_u64()),
        (Some(1), Some(1), Some(2), Some(1))
    );
    assert_eq!(m3["rate"], 1.0);
    // Before the window closed, the silent recipient was not yet lost.
    let early = b.json(&["--at", "2025-04-20", "report", "outcomes"]);
    assert_eq!(row(&early, "rCDI", "3m")["missing"], 0);

    // The work list names the silent recipient's overdue visit, and the later ones as they fall due.
    let due = b.json(&["followup", "due", "--by", "2025-04-25"]);
    let due = due["due"].as_array().unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        (&due[0]["recipient"], &due[0]["timepoint"], &due[0]["window_from"], &due[0]["window_to"]),
        (&Value::from(silent.clone()), &Value::from("3m"), &Value::from("2025-03-27"), &Value::from("2025-04-24"))
    );
    assert_eq!(due[0]["overdue_days"], 15);
    assert_eq!(b.json(&["followup", "due", "--by", "2025-03-26"])["due"].as_array().unwrap().len(), 0);
    let text = b.ok(&["followup", "due", "--by", "2025-04-25"]);
    assert!(text.contains(&silent) && text.contains("15 days overdue"), "{text}");
}

#[test]
fn a_serious_probably_related_event_is_a_safety_signal_naming_the_recall() {
    let b = Bench::new();
    let (donor, units) = released_units(&b, 2);
    let r = treated(&b, "1950-02-02", "rCDI", &units[0], "2025-01-10");
    let out = b.run(&[
        "ae",
        "add",
        &r,
        "--onset",
        "2025-01-12",
        "--term",
        "败血症 (sepsis)",
        "--grade",
        "4",
        "--serious",
        "yes",
        "--relatedness",
        "probable",
        "--unit",
        &units[0],
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("safety.serious-related-event"), "{err}");
    assert!(err.contains(&format!("stoolbank recall --donor {donor} --from 2024-12-01 --reason")), "{err}");
    // The named command is a working dry run that reaches the suspected unit.
    let dry = b.json(&["recall", "--donor", &donor, "--from", "2024-12-01", "--reason", "serious adverse event"]);
    assert!(dry.to_string().contains(&units[0]));
    // The signal defers the donor at once, until a quality manager lifts it.
    let signal_deferral = |b: &Bench| {
        let shown = b.json(&["donor", "show", &donor]);
        shown["deferrals"].as_array().unwrap().last().unwrap().clone()
    };
    let deferral = signal_deferral(&b);
    assert!(deferral["reason"].as_str().unwrap().starts_with("safety signal"), "{deferral}");
    assert_eq!((&deferral["until_lifted"], &deferral["active"]), (&Value::from(true), &Value::from(true)));
    b.ok(&["donor", "lift-deferral", &donor, "--reason", "re-tested negative, event unrelated on review"]);
    assert_eq!(signal_deferral(&b)["active"], false, "lifted by a quality manager");

    let out = b.run(&[
        "ae",
        "add",
        &r,
        "--onset",
        "2025-01-13",
        "--term",
        "bloating",
        "--grade",
        "1",
        "--serious",
        "no",
        "--relatedness",
        "possible",
    ]);
    assert!(out.status.success() && out.stderr.is_empty());
    // A unit the recipient did not receive is refused.
    let (code, err) = b.fail(&[
        "ae",
        "add",
        &r,
        "--onset",
        "2025-01-13",
        "--term",
        "fever",
        "--grade",
        "2",
        "--serious",
        "no",
        "--relatedness",
        "possible",
        "--unit",
        &units[1],
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("was not given to"), "{err}");

    let s = b.json(&["report", "safety"]);
    assert_eq!(
        (s["patients"].as_u64(), s["patients_with_ae"].as_u64(), s["events"].as_u64()),
        (Some(1), Some(1), Some(2))
    );
    assert_eq!((s["serious"].as_u64(), s["sessions"].as_u64()), (Some(1), Some(1)));
    assert_eq!((s["by_grade"]["4"].as_u64(), s["by_grade"]["1"].as_u64()), (Some(1), Some(1)));
    assert_eq!(
        (s["by_relatedness"]["probable"].as_u64(), s["by_relatedness"]["possible"].as_u64()),
        (Some(1), Some(1))
    );
    let shown = b.ok(&["followup", "show", &r]);
    assert!(shown.contains("败血症 (sepsis)"), "{shown}");
}

#[test]
fn bad_input_is_refused_by_name_and_changes_nothing() {
    let b = Bench::new();
    let (_, units) = released_units(&b, 1);
    let r = treated(&b, "1960-01-01", "rCDI", &units[0], "2025-01-10");
    let untreated = b.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1960-01-01", "--indication", "UC"]);
    let before = b.audit_len();
    // Exit code 2 and stderr naming what was wrong (clap's own messages span several lines).
    let add = |args: &[&str]| {
        let mut all = vec!["followup", "add"];
        all.extend_from_slice(args);
        let out = b.run(&all);
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let cases: [(&[&str], &str); 6] = [
        (&[&r, "--at", "2999-01-01", "--timepoint", "3m", "--outcome", "remission"], "in the future"),
        (&[&r, "--at", "2025-13-01", "--timepoint", "3m", "--outcome", "remission"], "is not a time"),
        (&[&r, "--at", "2025-04-10", "--timepoint", "2y", "--outcome", "remission"], "3m, 1y, 5y"),
        (&[&r, "--at", "2025-04-10", "--timepoint", "3m", "--outcome", "cured"], "no-response"),
        (
            &[&r, "--at", "2025-04-10", "--timepoint", "3m", "--outcome", "remission", "--score", "mayo=low"],
            "not a number",
        ),
        (&[&untreated, "--at", "2025-04-10", "--timepoint", "3m", "--outcome", "remission"], "no FMT on or before"),
    ];
    for (args, says) in cases {
        let (code, err) = add(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, err) = b.fail(&[
        "ae",
        "add",
        &r,
        "--onset",
        "2025-01-12",
        "--term",
        " ",
        "--grade",
        "2",
        "--serious",
        "no",
        "--relatedness",
        "possible",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("term"), "{err}");
    let (code, _) = add(&[]);
    assert_eq!(code, 2);
    let out = b.run(&[
        "ae",
        "add",
        &r,
        "--onset",
        "2025-01-12",
        "--term",
        "x",
        "--grade",
        "6",
        "--serious",
        "no",
        "--relatedness",
        "possible",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(b.audit_len(), before, "refused input changes nothing");
}

#[test]
fn windows_are_policy_and_a_bad_policy_is_refused_by_name() {
    let b = Bench::new();
    let (_, units) = released_units(&b, 1);
    let r = treated(&b, "1960-05-05", "rCDI", &units[0], "2025-01-10");
    // Due 2025-04-10; with a three-week window 2025-03-20 is inside.
    b.set_policy("[followup]\nwindow_3m = \"3w\"\n");
    let (v, warn) = visit(&b, &r, "2025-03-20", "remission", &[]);
    assert_eq!((v["in_window"].as_bool(), v["window"]["from"].as_str()), (Some(true), Some("2025-03-20")));
    assert!(warn.is_empty(), "{warn}");
    for (policy, says) in
        [("[followup]\nwindow_3m = \"3y\"\n", "`3y` is not a span"), ("[followup]\nwindow_1y = \"10m\"\n", "overlap")]
    {
        let out = b.run(&["config", "set", &b.policy_file(policy)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
    }
}
