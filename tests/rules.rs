//! Every release, dispense and eligibility rule refuses what it must (exit code 3, the rule named on one
//! line of stderr) and changes nothing when it refuses.

mod common;

use chrono::Duration;
use common::{at, days_ago, Bench};

fn d(n: i64) -> Duration {
    Duration::days(n)
}

/// A donation 190 days ago (so its six months' shelf life has run out today) from a donor screened 5 days
/// before; its batch has passed QC.
fn quarantined_batch(b: &Bench) -> (String, String, Vec<String>, chrono::NaiveDate) {
    let day = days_ago(190);
    let donor = b.screened_donor(day - d(5));
    let donation = b.donation(&donor, day);
    let (batch, units) = b.batch(&donation, day, 3);
    (donor, batch, units, day)
}

#[test]
fn release_rules_refuse() {
    let b = Bench::new();
    let (donor, batch, units, day) = quarantined_batch(&b);
    let release_at = at(day + d(40), 10);
    let release = |b: &Bench, rule: &str| {
        b.refused(rule, &["batch", "release", &batch, "--at", &release_at]);
    };

    // 2: no screening after the donation yet.
    release(&b, "release.2-screening-after");
    // A deferral between the two screenings (5).
    b.ok(&[
        "donor",
        "defer",
        &donor,
        "--reason",
        "travel",
        "--until",
        &(day + d(20)).to_string(),
        "--at",
        &at(day + d(10), 9),
    ]);
    b.screen_clean(&donor, day + d(30));
    release(&b, "release.5-no-intervening-event");

    // 1: the bank shortens the screening validity retroactively: the screening 5 days before no longer counts.
    b.set_policy("screening_validity_days = 3\n");
    release(&b, "release.1-screening-before");
    b.set_policy("");

    // 6: a discarded batch is never released.
    let (_, batch2, _, day2) = quarantined_batch(&b);
    b.ok(&["batch", "discard", &batch2, "--reason", "bag leaked", "--at", &at(day2 + d(1), 9)]);
    b.refused("release.6-batch-state", &["batch", "release", &batch2, "--at", &at(day2 + d(2), 9)]);
    let _ = units;
}

#[test]
fn donation_day_processing_and_qc_rules_refuse() {
    let b = Bench::new();
    let day = days_ago(90);

    // 3: no donation-day questionnaire for the day of collection.
    let donor = b.screened_donor(day - d(3));
    let donation = b.ok(&["donation", "add", &donor, "--collected-at", &at(day, 8)]);
    let (batch, _) = b.batch(&donation, day, 2);
    b.screen_clean(&donor, day + d(20));
    b.refused("release.3-donation-day-questionnaire", &["batch", "release", &batch, "--at", &at(day + d(21), 9)]);

    // 3: processing began more than six hours after collection.
    let donor = b.screened_donor(day - d(3));
    let donation = b.donation(&donor, day);
    let late = b.json(&["batch", "make", &donation, "--product", "F0002", "--units", "2", "--at", &at(day, 15)]);
    let late = late["id"].as_str().unwrap().to_string();
    for t in ["appearance", "viable-count", "pathogen-screen"] {
        b.ok(&["qc", "add", &late, "--test", &format!("{t}=pass"), "--at", &at(day + d(1), 9)]);
    }
    b.screen_clean(&donor, day + d(20));
    b.refused("release.3-processing-time", &["batch", "release", &late, "--at", &at(day + d(21), 9)]);

    // 4: a QC test failed (a later pass would supersede it).
    let donor = b.screened_donor(day - d(3));
    let donation = b.donation(&donor, day);
    let made = b.json(&["batch", "make", &donation, "--product", "F0001", "--units", "2", "--at", &at(day, 9)]);
    let batch = made["id"].as_str().unwrap().to_string();
    b.ok(&["qc", "add", &batch, "--test", "appearance=pass", "--at", &at(day, 12)]);
    b.ok(&["qc", "add", &batch, "--test", "viable-count=pass", "--at", &at(day, 12)]);
    b.ok(&["qc", "add", &batch, "--test", "pathogen-screen=fail", "--at", &at(day, 12)]);
    b.screen_clean(&donor, day + d(20));
    let err = b.refused("release.4-qc", &["batch", "release", &batch, "--at", &at(day + d(21), 9)]);
    assert!(err.contains("pathogen-screen"), "{err}");
    b.ok(&["qc", "add", &batch, "--test", "pathogen-screen=pass", "--value", "re-test", "--at", &at(day + d(2), 9)]);
    b.ok(&["batch", "release", &batch, "--at", &at(day + d(21), 9)]);
    // ... and a released batch is not released twice.
    b.refused("release.6-batch-state", &["batch", "release", &batch, "--at", &at(day + d(22), 9)]);
}

#[test]
fn label_verification_rule_refuses_when_configured() {
    let b = Bench::new();
    let (donor, batch, _, day) = quarantined_batch(&b);
    b.screen_clean(&donor, day + d(20));
    b.set_policy("require_label_verification = true\n");
    b.refused("release.7-labels-verified", &["batch", "release", &batch, "--at", &at(day + d(21), 9)]);
}

#[test]
fn dispense_rules_refuse() {
    let b = Bench::new();
    let (donor, batch, units, day) = quarantined_batch(&b);
    let r = b.ok(&["recipient", "add", "--sex", "F", "--birth-date", "1970-05-05", "--indication", "rCDI"]);
    let when = at(day + d(25), 10);
    let dispense = |unit: &str, when: &str| {
        vec!["dispense", unit, "--recipient", &r, "--route", "colonoscopy", "--at", when]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let refused = |rule: &str, args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        b.refused(rule, &a);
    };

    refused("dispense.not-released", dispense(&units[0], &when));
    b.screen_clean(&donor, day + d(20));
    b.ok(&["batch", "release", &batch, "--at", &at(day + d(21), 9)]);
    // Released after the dispense time: still quarantined at that moment.
    refused("dispense.not-released", dispense(&units[0], &at(day + d(21), 8)));
    b.ok(&dispense(&units[0], &when).iter().map(String::as_str).collect::<Vec<_>>());
    refused("dispense.already-dispensed", dispense(&units[0], &at(day + d(26), 10)));

    // The retained sample is never dispensed.
    let shown = b.json(&["batch", "show", &batch]);
    let retained = shown["retained_sample"]["id"].as_str().unwrap().to_string();
    refused("dispense.retained-sample", dispense(&retained, &when));

    // Six months' shelf life: expired today.
    refused("dispense.expired", dispense(&units[1], &at(days_ago(0), 0)));

    // Recalled stock.
    b.ok(&["recall", "--batch", &batch, "--reason", "sterility", "--apply", "--at", &at(day + d(27), 9)]);
    refused("dispense.recalled", dispense(&units[1], &at(day + d(28), 9)));

    // Discarded stock.
    let (donor2, batch2, units2, day2) = quarantined_batch(&b);
    b.screen_clean(&donor2, day2 + d(20));
    b.ok(&["batch", "release", &batch2, "--at", &at(day2 + d(21), 9)]);
    b.ok(&["batch", "discard", &batch2, "--reason", "freezer failure", "--at", &at(day2 + d(22), 9)]);
    refused("dispense.discarded", dispense(&units2[0], &at(day2 + d(23), 9)));
}

#[test]
fn eligibility_rules_refuse_donations() {
    let b = Bench::new();
    let day = days_ago(30);
    // Never screened.
    let donor = b.ok(&["donor", "add", "--sex", "M", "--birth-date", "1992-01-01"]);
    b.refused("eligibility.screening", &["donation", "add", &donor, "--collected-at", &at(day, 8)]);
    // Screened too long ago.
    b.screen_clean(&donor, day - d(61));
    b.refused("eligibility.screening", &["donation", "add", &donor, "--collected-at", &at(day, 8)]);
    // A positive result defers until a negative re-screen of that panel.
    b.screen_clean(&donor, day - d(10));
    let pos = (day - d(5)).to_string();
    b.ok(&[
        "donor",
        "screen",
        &donor,
        "--kind",
        "stool",
        "--date",
        &pos,
        "--all-negative",
        "--test",
        "norovirus=positive",
    ]);
    b.refused("eligibility.not-deferred", &["donation", "add", &donor, "--collected-at", &at(day, 8)]);
    b.ok(&["donor", "screen", &donor, "--kind", "stool", "--date", &(day - d(2)).to_string(), "--all-negative"]);
    b.ok(&["donation", "add", &donor, "--collected-at", &at(day, 8)]);
    // A dated deferral, then a permanent one.
    b.ok(&[
        "donor",
        "defer",
        &donor,
        "--reason",
        "tattoo",
        "--until",
        &(day + d(20)).to_string(),
        "--at",
        &at(day + d(1), 9),
    ]);
    b.refused("eligibility.not-deferred", &["donation", "add", &donor, "--collected-at", &at(day + d(2), 8)]);
    let blood = (day + d(3)).to_string();
    b.ok(&["donor", "screen", &donor, "--kind", "blood", "--date", &blood, "--all-negative", "--test", "hiv=positive"]);
    let shown = b.json(&["donor", "show", &donor]);
    assert_eq!(shown["eligibility"]["permanent"], true, "{shown}");
    // Too old to donate.
    let old = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1960-01-01"]);
    b.screen_clean(&old, day - d(1));
    b.refused("eligibility.age", &["donation", "add", &old, "--collected-at", &at(day, 8)]);
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let b = Bench::new();
    let day = days_ago(10);
    let donor = b.screened_donor(day);
    let before = b.audit_len();
    let (code, err) =
        b.fail(&["donor", "screen", &donor, "--kind", "stool", "--date", &day.to_string(), "--test", "ebola=positive"]);
    assert_eq!(code, 2);
    assert!(err.contains("c-difficile") && err.contains("ebola"), "unknown test names the valid list: {err}");
    let (_, err) =
        b.fail(&["donor", "screen", &donor, "--kind", "urine", "--date", &day.to_string(), "--all-negative"]);
    assert!(err.contains("questionnaire, blood, stool, donation-day"), "{err}");
    let (_, err) = b.fail(&["recipient", "add", "--sex", "F", "--birth-date", "1970-01-01", "--indication", "flu"]);
    assert!(err.contains("rCDI"), "{err}");
    let (_, err) = b.fail(&["donation", "add", &donor, "--collected-at", "tomorrow-ish"]);
    assert!(err.contains("RFC 3339"), "{err}");
    // A mis-keyed identifier is caught by its check character, never matched to another record.
    let mut typo = donor.clone().into_bytes();
    typo[6] = if typo[6] == b'1' { b'2' } else { b'1' };
    let (code, err) = b.fail(&["donor", "show", std::str::from_utf8(&typo).unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("check character"), "{err}");
    let (code, err) = b.fail(&["trace", "D9999990"]);
    assert!(code == 2 || code == 4, "{err}");
    assert_eq!(b.audit_len(), before);
}

#[test]
fn a_mis_keyed_result_is_corrected_by_a_superseding_screening() {
    let b = Bench::new();
    let day = days_ago(20);
    let donor = b.screened_donor(day);
    let stool = (day + d(1)).to_string();
    // A technician keys salmonella positive by mistake: the donor is deferred.
    let sid = b.ok(&[
        "donor",
        "screen",
        &donor,
        "--kind",
        "stool",
        "--date",
        &stool,
        "--all-negative",
        "--test",
        "salmonella=positive",
    ]);
    assert_eq!(b.json(&["donor", "show", &donor])["status"], "deferred");
    let fixed =
        b.ok(&["donor", "screen", &donor, "--kind", "stool", "--date", &stool, "--all-negative", "--corrects", &sid]);
    let shown = b.json(&["donor", "show", &donor]);
    assert_eq!(shown["status"], "eligible", "the deferral the mis-keyed result caused no longer stands: {shown}");
    // Nothing was overwritten: both screenings are on record, and the correction is audited as one.
    let log = b.json(&["audit", "log", &donor]);
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "correct-screening" && e["entity_id"] == fixed.as_str()));
    // A screening is corrected once, by its own donor, with the same panel.
    let (code, err) =
        b.fail(&["donor", "screen", &donor, "--kind", "stool", "--date", &stool, "--all-negative", "--corrects", &sid]);
    assert_eq!(code, 2);
    assert!(err.contains("already corrected"), "{err}");
    let (_, err) = b.fail(&[
        "donor",
        "screen",
        &donor,
        "--kind",
        "blood",
        "--date",
        &stool,
        "--all-negative",
        "--corrects",
        &fixed,
    ]);
    assert!(err.contains("not a blood screening"), "{err}");
    let other = b.screened_donor(day);
    let (_, err) = b.fail(&[
        "donor",
        "screen",
        &other,
        "--kind",
        "stool",
        "--date",
        &stool,
        "--all-negative",
        "--corrects",
        &fixed,
    ]);
    assert!(err.contains("is of donor"), "{err}");
}

#[test]
fn a_missing_screening_is_not_found_and_a_second_discard_is_refused() {
    let b = Bench::new();
    let (_, batch, _, day) = quarantined_batch(&b);
    let donor = b.screened_donor(day);
    let (code, err) = b.fail(&[
        "donor",
        "screen",
        &donor,
        "--kind",
        "stool",
        "--date",
        &day.to_string(),
        "--all-negative",
        "--corrects",
        "999999",
    ]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("no screening 999999"), "{err}");
    b.ok(&["batch", "discard", &batch, "--reason", "bag leaked", "--at", &at(day + d(1), 9)]);
    let err = b.refused("discard.once", &["batch", "discard", &batch, "--reason", "again", "--at", &at(day + d(2), 9)]);
    assert!(err.contains("already discarded"), "{err}");
}

/// Two benches (processes) correct the same mis-keyed screening at once: one correction stands, the other is
/// refused, and the screening is superseded once.
#[test]
fn racing_corrections_of_one_screening_leave_one() {
    let b = Bench::new();
    let day = days_ago(20);
    let donor = b.screened_donor(day);
    let date = (day + d(1)).to_string();
    let sid = b.ok(&[
        "donor",
        "screen",
        &donor,
        "--kind",
        "stool",
        "--date",
        &date,
        "--all-negative",
        "--test",
        "esbl=positive",
    ]);
    let args = ["donor", "screen", &donor, "--kind", "stool", "--date", &date, "--all-negative", "--corrects", &sid];
    let benches: Vec<_> = (0..6)
        .map(|_| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"));
            cmd.arg("--db").arg(&b.db).arg("--as").arg("tester").args(args);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let outcomes: Vec<_> = benches.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let won = outcomes.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "exactly one correction stands");
    for lost in outcomes.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&lost.stderr);
        assert!(err.contains("already corrected"), "{err}");
    }
    let mut c = b.outside();
    assert_eq!(c.count("SELECT count(*) FROM screenings WHERE CAST(supersedes AS TEXT) = $1", &[&sid]), 1);
    // The schema holds it too, whatever writes the bank.
    let err = c
        .execute(
            "INSERT INTO screenings (donor_id, kind, date, recorded_at, supersedes)
             SELECT donor_id, kind, date, recorded_at, supersedes FROM screenings WHERE CAST(supersedes AS TEXT) = $1",
            &[&sid],
        )
        .unwrap_err();
    assert!(err.to_lowercase().contains("unique"), "{err}");
}

/// The donation-day questionnaire and the donation are one intake: refused for an ineligible donor, it
/// records neither, however often it is retried.
#[test]
fn a_refused_intake_records_nothing() {
    use stoolbank::app::{NewDonation, ScreeningInput};
    let dir = tempfile::tempdir().unwrap();
    let (db, _server) = common::new_db(&dir);
    let mut bank = common::bank_at(&db, common::utc("2026-03-01T12:00:00Z"));
    let donor = bank
        .register_donor(
            stoolbank::app::NewDonor {
                sex: stoolbank::core::model::Sex::F,
                birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                identity: Default::default(),
            },
            common::utc("2026-03-01T09:00:00Z"),
        )
        .unwrap()
        .id
        .into_value()
        .unwrap();
    let before = common::table_counts(&db);
    let intake = || NewDonation {
        donor: donor.clone(),
        collected_at: common::utc("2026-03-01T08:00:00Z"),
        received_at: None,
        mass_g: Some(120.0),
        bristol: Some(4),
    };
    let all_no = ScreeningInput { all_negative: true, tests: Vec::new() };
    for _ in 0..2 {
        let err = bank.intake_donation(intake(), &all_no).unwrap_err();
        assert!(err.to_string().contains("eligibility.screening"), "never screened: {err}");
    }
    assert_eq!(common::table_counts(&db), before, "no screening, no donation, no audit entry");
}

/// "In the future" is judged by the bank's clock (here fixed in 2026), for every kind of time a person enters.
#[test]
fn future_times_are_refused_by_the_banks_clock() {
    use stoolbank::app::{NewDonation, NewDonor, NewRecipient, ScreeningInput};
    use stoolbank::core::model::{Consent, ScreeningKind, Sex};
    let dir = tempfile::tempdir().unwrap();
    let (db, _server) = common::new_db(&dir);
    let now = common::utc("2026-03-01T12:00:00Z");
    let mut bank = common::bank_at(&db, now);
    let later = now + Duration::hours(1);
    let tomorrow = chrono::NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
    let born = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    let in_future = |e: stoolbank::app::AppError, what: &str| {
        let msg = e.to_string();
        assert!(msg.contains(what) && msg.contains("is in the future"), "{what}: {msg}");
    };
    let e = bank.register_donor(NewDonor { sex: Sex::F, birth_date: tomorrow, identity: Default::default() }, now);
    in_future(e.unwrap_err(), "birth date");
    let new_recipient = |birth_date| NewRecipient {
        sex: Sex::M,
        birth_date,
        indication: "rCDI".into(),
        consent: Consent::Signed,
        cohort: None,
        identity: Default::default(),
    };
    in_future(bank.register_recipient(new_recipient(tomorrow), now).unwrap_err(), "birth date");
    let recipient = bank.register_recipient(new_recipient(born), now).unwrap().id.into_value().unwrap();
    let donor = bank.register_donor(NewDonor { sex: Sex::F, birth_date: born, identity: Default::default() }, now);
    let donor = donor.unwrap().id.into_value().unwrap();
    let clean = ScreeningInput { all_negative: true, tests: Vec::new() };
    let e = bank.record_screening(&donor, ScreeningKind::Stool, tomorrow, &clean, now);
    in_future(e.unwrap_err(), "screening date");
    let screened = chrono::NaiveDate::from_ymd_opt(2026, 2, 20).unwrap();
    for kind in ScreeningKind::DONOR_PANELS {
        bank.record_screening(&donor, kind, screened, &clean, now).unwrap();
    }
    let donation = |collected_at, received_at| NewDonation {
        donor: donor.clone(),
        collected_at,
        received_at,
        mass_g: Some(120.0),
        bristol: Some(4),
    };
    in_future(bank.add_donation(donation(later, None)).unwrap_err(), "collection time");
    let early = now - Duration::hours(3);
    in_future(bank.add_donation(donation(early, Some(later))).unwrap_err(), "reception time");
    in_future(bank.intake_donation(donation(later, None), &clean).unwrap_err(), "collection time");
    let din = bank.intake_donation(donation(early, Some(now)), &clean).unwrap().donation.unwrap();
    in_future(bank.make_batch(din.id.get().unwrap(), "F0001", 2, None, later).unwrap_err(), "processing time");
    let batch = bank.make_batch(din.id.get().unwrap(), "F0001", 2, None, now).unwrap();
    in_future(
        bank.add_qc(batch.id.get().unwrap(), "appearance", "pass".parse().unwrap(), None, later).unwrap_err(),
        "QC time",
    );
    in_future(bank.release_batch(batch.id.get().unwrap(), later).unwrap_err(), "release time");
    in_future(bank.discard_batch(batch.id.get().unwrap(), "dropped", later).unwrap_err(), "discard time");
    let unit = batch.units[0].id.get().unwrap();
    in_future(bank.dispense(unit, &recipient, "colonoscopy", None, later).unwrap_err(), "dispense time");
    // Within the tolerated clock skew is not the future.
    bank.add_qc(batch.id.get().unwrap(), "appearance", "pass".parse().unwrap(), None, now + Duration::minutes(5))
        .unwrap();
}

/// A "yes" on the donation-day questionnaire is a safety fact: the intake keeps the answers and the deferral they
/// cause, and records no donation (before, the whole intake rolled back and the donor stayed eligible).
#[test]
fn a_yes_at_intake_is_kept_and_defers_the_donor_without_a_donation() {
    use stoolbank::app::{NewDonation, NewDonor, ScreeningInput};
    use stoolbank::core::model::{ScreeningKind, Sex, TestResult};
    let dir = tempfile::tempdir().unwrap();
    let (db, _server) = common::new_db(&dir);
    let now = common::utc("2026-03-01T12:00:00Z");
    let mut bank = common::bank_at(&db, now);
    let birth_date = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    let donor = bank
        .register_donor(NewDonor { sex: Sex::F, birth_date, identity: Default::default() }, now)
        .unwrap()
        .id
        .into_value()
        .unwrap();
    let clean = ScreeningInput { all_negative: true, tests: Vec::new() };
    let screened = chrono::NaiveDate::from_ymd_opt(2026, 2, 20).unwrap();
    for kind in ScreeningKind::DONOR_PANELS {
        bank.record_screening(&donor, kind, screened, &clean, now).unwrap();
    }
    let before = common::table_counts(&db);
    let count = |counts: &[(String, i64)], table: &str| counts.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
    let yes = ScreeningInput { all_negative: true, tests: vec![("symptoms".into(), TestResult::Positive)] };
    let collected_at = common::utc("2026-03-01T08:00:00Z");
    let new =
        NewDonation { donor: donor.clone(), collected_at, received_at: None, mass_g: Some(120.0), bristol: Some(4) };
    let intake = bank.intake_donation(new, &yes).unwrap();
    assert!(intake.donation.is_none(), "no donation from a donor who answered yes");
    assert!(intake.screening.deferral.is_some(), "the yes defers the donor");
    assert_eq!(intake.screening.abnormal.len(), 1);
    let after = common::table_counts(&db);
    assert_eq!(count(&after, "donations"), count(&before, "donations"));
    assert_eq!(count(&after, "screenings"), count(&before, "screenings").map(|n| n + 1));
    assert_eq!(count(&after, "deferrals"), count(&before, "deferrals").map(|n| n + 1));
    let view = bank.donor_view(&donor, now).unwrap();
    assert_ne!(view.status.ok(), Some(&stoolbank::core::model::DonorStatus::Eligible), "the donor is deferred");
}
