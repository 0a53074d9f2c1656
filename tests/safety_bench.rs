//! Safety holes at the bench (issue 9) and time as input (issue 10): each refusal names what was wrong, and a
//! refused command changes nothing.

mod common;

use chrono::Duration;
use common::{at, days_ago, table_counts, Bench};

/// A refusal of input (exit 2) naming `needle`, with every table as it was.
fn invalid(b: &Bench, args: &[&str], needle: &str) -> String {
    let before = table_counts(&b.db);
    let (code, err) = b.fail(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?} should say {needle:?}: {err}");
    assert_eq!(table_counts(&b.db), before, "a refused command changes nothing");
    err
}

/// A released batch of `units` F0001 doses from a donor screened clean before and after the donation.
fn released(b: &Bench, units: usize) -> (String, String, Vec<String>) {
    let (d0, d1) = (days_ago(60), days_ago(50));
    let donor = b.screened_donor(d0);
    let din = b.donation(&donor, d1);
    let (batch, units) = b.batch(&din, d1, units);
    b.screen_clean(&donor, d1 + Duration::days(10));
    b.ok(&["batch", "release", &batch, "--at", &at(d1 + Duration::days(11), 10)]);
    (donor, batch, units)
}

fn recipient(b: &Bench) -> String {
    b.ok(&["recipient", "add", "--sex", "F", "--birth-date", "1970-01-01", "--indication", "rCDI"])
}

#[test]
fn a_test_named_twice_is_refused_and_the_positive_not_lost() {
    let b = Bench::new();
    let donor = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    let day = days_ago(1).to_string();
    let args = [
        "donor",
        "screen",
        &donor,
        "--kind",
        "blood",
        "--date",
        &day,
        "--test",
        "hiv=positive",
        "--test",
        "HIV=negative",
    ];
    invalid(&b, &args, "the test `hiv` is named twice");
}

#[test]
fn a_recall_by_donor_defers_the_donor_until_a_quality_manager_lifts_it() {
    let b = Bench::new();
    let (donor, _, _) = released(&b, 2);
    let applied = b.json(&["recall", "--donor", &donor, "--reason", "recipient infection", "--apply"]);
    let rid = applied["recall"].as_i64().unwrap();
    // Screened clean again: a recall's deferral is not lifted by a negative screen.
    b.screen_clean(&donor, days_ago(0));
    let shown = b.json(&["donor", "show", &donor]);
    assert_eq!(shown["status"], "deferred");
    let reason = shown["reason"].as_str().unwrap();
    assert!(reason.contains("until lifted by a quality manager"), "{reason}");
    assert!(reason.contains(&format!("recall {rid}: recipient infection")), "{reason}");
    let today = days_ago(0);
    b.ok(&["donor", "screen", &donor, "--kind", "donation-day", "--date", &today.to_string(), "--all-negative"]);
    let donate = ["donation", "add", &donor, "--collected-at", &at(today, 0), "--mass-g", "120"];
    b.refused("eligibility.not-deferred", &donate);

    let lifted = b.json(&["donor", "lift-deferral", &donor, "--reason", "investigation closed: not donor-related"]);
    assert_eq!(lifted.as_array().unwrap().len(), 1);
    assert_eq!(b.json(&["donor", "show", &donor])["status"], "eligible");
    let log = b.json(&["audit", "log", &donor]);
    assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "lift-deferral"), "the lift is audited");
    invalid(&b, &["donor", "lift-deferral", &donor, "--reason", "again"], "no deferral awaiting a lift");
}

#[test]
fn a_product_goes_only_by_its_routes() {
    let b = Bench::new();
    let (_, _, units) = released(&b, 1);
    let r = recipient(&b);
    let err = b.refused("dispense.route", &["dispense", &units[0], "--recipient", &r, "--route", "capsule"]);
    assert!(err.contains("colonoscopy, tet-colonic, enema"), "{err}");
    b.ok(&["dispense", &units[0], "--recipient", &r, "--route", "enema"]);
}

#[test]
fn the_same_collection_twice_is_refused() {
    let b = Bench::new();
    let donor = b.screened_donor(days_ago(5));
    let day = days_ago(2);
    let din = b.donation(&donor, day);
    let err = b.refused(
        "donation.not-duplicate",
        &["donation", "add", &donor, "--collected-at", &at(day, 8), "--mass-g", "90"],
    );
    assert!(err.contains(&din), "{err}");
}

#[test]
fn implausible_input_is_refused_naming_the_field_and_range() {
    let b = Bench::new();
    let add = |extra: &[&str]| {
        let mut a = vec!["donor", "add", "--sex", "F", "--birth-date"];
        a.extend_from_slice(extra);
        a.iter().map(std::string::ToString::to_string).collect::<Vec<_>>()
    };
    let args = add(&["1900-01-01"]);
    let err = invalid(&b, &args.iter().map(String::as_str).collect::<Vec<_>>(), "donor's age at registration");
    assert!(err.contains("16 to 70 years"), "{err}");
    let long = "x".repeat(5000);
    let args = add(&["1990-01-01", "--name", &long]);
    invalid(&b, &args.iter().map(String::as_str).collect::<Vec<_>>(), "the name is 5000 characters long");
    let args = add(&["1990-01-01", "--name", ""]);
    invalid(&b, &args.iter().map(String::as_str).collect::<Vec<_>>(), "the name is empty");

    let donor = b.screened_donor(days_ago(5));
    invalid(
        &b,
        &["donor", "screen", &donor, "--kind", "blood", "--date", "1980-01-01", "--all-negative"],
        "before the donor's birth on 1990-04-02",
    );
    let day = days_ago(1);
    b.ok(&["donor", "screen", &donor, "--kind", "donation-day", "--date", &day.to_string(), "--all-negative"]);
    let err = invalid(
        &b,
        &["donation", "add", &donor, "--collected-at", &at(day, 8), "--mass-g", "99999"],
        "the donation mass 99999 is out of range",
    );
    assert!(err.contains("1 to 1000 g"), "{err}");
}

#[test]
fn times_out_of_range_are_refused() {
    let b = Bench::new();
    let err =
        invalid(&b, &["--at=-0001-06-01", "donor", "add", "--sex", "F", "--birth-date", "1990-01-01"], "before 1900");
    assert!(err.contains("the --at time"), "{err}");
    invalid(&b, &["--at=-0001-06-01", "donor", "list"], "before 1900");
    // Safety acts take effect when recorded.
    let (donor, batch, units) = released(&b, 1);
    let future = at(days_ago(-400), 10);
    invalid(&b, &["recall", "--batch", &batch, "--reason", "x", "--apply", "--at", &future], "in the future");
    invalid(&b, &["donor", "defer", &donor, "--reason", "x", "--permanent", "--at", &future], "in the future");
    invalid(&b, &["batch", "discard", &batch, "--reason", "x", "--at", &future], "in the future");
    let r = recipient(&b);
    b.ok(&["dispense", &units[0], "--recipient", &r, "--route", "enema"]);
}

#[test]
fn policy_numbers_are_range_checked_at_load() {
    let b = Bench::new();
    let file = b.policy_file("processing_limit_minutes = 153722867280912\n");
    let (code, err) = b.fail(&["config", "set", &file]);
    assert_eq!(code, 2);
    assert!(err.contains("processing_limit_minutes = 153722867280912 is out of range; it must be 1 to 1440"), "{err}");
}

#[test]
fn a_repeated_identical_recall_needs_again() {
    let b = Bench::new();
    let (_, batch, _) = released(&b, 2);
    let first = b.json(&["recall", "--batch", &batch, "--reason", "sterility", "--apply"]);
    let rid = first["recall"].as_i64().unwrap();
    let err = b.refused("recall.not-repeated", &["recall", "--batch", &batch, "--reason", "sterility", "--apply"]);
    assert!(err.contains(&format!("recall {rid}")), "{err}");
    assert!(err.contains("--again"), "{err}");
    let again = b.json(&["recall", "--batch", &batch, "--reason", "sterility", "--apply", "--again"]);
    assert_ne!(again["recall"].as_i64().unwrap(), rid);
}

#[test]
fn a_back_dated_dispense_of_a_recalled_unit_must_be_stated_and_reaches_the_recall() {
    let b = Bench::new();
    let (_, batch, units) = released(&b, 2);
    let applied = b.json(&["recall", "--batch", &batch, "--reason", "sterility", "--apply"]);
    let rid = applied["recall"].as_i64().unwrap();
    assert!(applied["recipients"].as_array().unwrap().is_empty());
    let r = recipient(&b);
    let before_recall = at(days_ago(2), 9);
    let dispense = ["dispense", &units[0], "--recipient", &r, "--route", "enema", "--at", &before_recall];
    let err = b.refused("dispense.recalled-since", &dispense);
    assert!(err.contains("--happened --reason"), "{err}");

    let mut stated = dispense.to_vec();
    stated.extend_from_slice(&["--happened", "--reason", "paper record found: given before the recall"]);
    b.ok(&stated);
    let shown = b.json(&["recipient", "show", &r]);
    let contact = &shown["contact_for_recall"][0];
    assert_eq!(contact["recall"].as_i64(), Some(rid));
    assert_eq!(contact["unit"], units[0].as_str());
    assert!(b.ok(&["recipient", "show", &r]).contains(&format!("CONTACT for recall {rid}")));
    let traced = b.json(&["trace", &r]);
    assert_eq!(traced["recipients"][0]["contact_for_recall"][0]["recall"].as_i64(), Some(rid));
    // The recall's answer now names the recipient.
    let answer = b.outside().texts("SELECT answer FROM recalls WHERE CAST(id AS TEXT) = $1", &[&rid.to_string()]);
    let answer: serde_json::Value = serde_json::from_str(&answer[0]).unwrap();
    assert_eq!(answer["recipients"][0]["id"], r.as_str());
    b.ok(&["audit", "verify"]);
}

#[test]
fn trace_as_of_shows_only_what_existed_then() {
    let b = Bench::new();
    let (donor, batch, units) = released(&b, 2);
    let r = recipient(&b);
    b.ok(&["dispense", &units[0], "--recipient", &r, "--route", "enema", "--at", &at(days_ago(3), 9)]);
    // Before the batch was made: the donation is there, the batch is not.
    let early = at(days_ago(50), 8);
    let t = b.json(&["--at", &early, "trace", &donor]);
    assert_eq!(t["donations"].as_array().unwrap().len(), 1);
    assert!(t["batches"].as_array().unwrap().is_empty(), "{t}");
    assert!(t["donations"][0]["batches"].as_array().unwrap().is_empty(), "{t}");
    let (_, err) = b.fail(&["--at", &early, "trace", &batch]);
    assert!(err.contains("did not exist yet"), "{err}");
    // Before the dispense: no recipient yet.
    let t = b.json(&["--at", &at(days_ago(4), 9), "trace", &batch]);
    assert!(t["recipients"].as_array().unwrap().is_empty(), "{t}");
    assert!(t["units"].as_array().unwrap().iter().all(|u| u["recipient"].is_null()), "{t}");
    let t = b.json(&["trace", &batch]);
    assert_eq!(t["recipients"].as_array().unwrap().len(), 1);
}

#[test]
fn an_expired_unit_in_quarantine_says_expired_and_is_not_stock() {
    let b = Bench::new();
    b.set_policy("[[products]]\ncode = \"F0001\"\ndescription = \"short-lived\"\nshelf_life_days = 3\nstorage = \"frozen\"\nroutes = [\"enema\"]\n");
    let donor = b.screened_donor(days_ago(20));
    let din = b.donation(&donor, days_ago(10));
    let (batch, units) = b.batch(&din, days_ago(10), 2);
    assert_eq!(b.json(&["batch", "show", &batch])["status"], "expired");
    assert_eq!(b.json(&["trace", &units[0]])["units"][0]["status"], "expired");
    let overview = b.ok(&[]);
    assert!(overview.contains("(0 in quarantine), 0 units in stock"), "{overview}");
}

#[test]
fn a_donor_recall_without_from_lists_the_earlier_material_it_leaves_out() {
    let b = Bench::new();
    let (donor, batch, _) = released(&b, 2);
    // A later clean screening: the default look-back starts there, after the batch's donation.
    b.screen_clean(&donor, days_ago(5));
    let dry = b.json(&["recall", "--donor", &donor, "--reason", "ESBL positive"]);
    assert!(dry["batches"].as_array().unwrap().is_empty(), "{dry}");
    let earlier = &dry["earlier"];
    assert_eq!(earlier["covered_by_screening_of"], days_ago(5).to_string());
    assert_eq!(earlier["batches"][0]["id"], batch.as_str());
    assert_eq!(earlier["in_stock"], 2);
    let from = earlier["include_from"].as_str().unwrap().to_string();
    let text = b.ok(&["recall", "--donor", &donor, "--reason", "ESBL positive"]);
    assert!(text.contains(&format!("covered by the negative screening of {}", days_ago(5))), "{text}");
    assert!(text.contains(&format!("--donor {donor} --from {from}")), "{text}");
    let all = b.json(&["recall", "--donor", &donor, "--from", &from, "--reason", "ESBL positive"]);
    assert_eq!(all["batches"][0]["id"], batch.as_str());
    assert!(all.get("earlier").is_none(), "{all}");
}
