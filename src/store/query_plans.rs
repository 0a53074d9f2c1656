//! The interactive queries, checked on a seeded bank: each reshaped query returns exactly what the query it
//! replaced returned, and none of them walks a table that grows with the bank (no bare `SCAN` in its plan).

use chrono::{Days, NaiveDate};
use rusqlite::types::Value;

use super::{audit, batches, donors, followups, recalls, recipients, settings, Key, Store, Stored};
use crate::app::{Bank, DueVisit, RecallSelector};
use crate::core::config::{BenchPrefs, Config};
use crate::core::ids::Id;
use crate::demo::{create_scaled, Scale};
use crate::time::local_day;

/// The queries as they were before issue 13 reshaped them.
const OLD_RECALL_DAYS: &str = "SELECT DISTINCT r.at FROM recalls r
     WHERE r.donor_id = ?1
        OR r.batch_id IN (SELECT b.id FROM batches b JOIN donations d ON d.id = b.donation_id WHERE d.donor_id = ?1)
        OR EXISTS (SELECT 1 FROM units u JOIN batches b ON b.id = u.batch_id JOIN donations d ON d.id = b.donation_id
                   WHERE u.recall_id = r.id AND d.donor_id = ?1)
     ORDER BY r.at";
const OLD_LOG_OF_RECORD: &str =
    "SELECT * FROM audit_log WHERE subject = ?1 OR entity_id = ?1 ORDER BY seq DESC LIMIT ?2";
const OLD_NEXT_DONOR: &str = "SELECT COALESCE(MAX(CAST(substr(id, 2) AS INTEGER)), 0) + 1 FROM donors";
const OLD_NEXT_RECIPIENT: &str = "SELECT COALESCE(MAX(CAST(substr(id, 2) AS INTEGER)), 0) + 1 FROM recipients";
const OLD_COUNTS: &str = "SELECT (SELECT count(*) FROM donors), (SELECT count(*) FROM donations),
        (SELECT count(*) FROM batches),
        (SELECT count(*) FROM batches WHERE released_at IS NULL AND discarded_at IS NULL AND recalled_at IS NULL
           AND expires_on >= ?1),
        (SELECT count(*) FROM units u WHERE u.kind = 'dose' AND u.discarded_at IS NULL AND u.recalled_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM dispenses d WHERE d.unit_id = u.id)
           AND (SELECT b.expires_on FROM batches b WHERE b.id = u.batch_id) >= ?1),
        (SELECT count(*) FROM dispenses), (SELECT count(*) FROM recipients), (SELECT count(*) FROM recalls)";
/// A demo bank with the three kinds of recall (donor, batch, and a collection window), so that every branch of
/// the eligibility's recall lookup has rows to find.
fn seeded() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    let scale = Scale { seed: 11, donors: 12, days: 400, ..Scale::DEMO };
    create_scaled(
        &path,
        &dir.path().join("bank.key"),
        BenchPrefs::default(),
        "test",
        scale,
        crate::time::now(),
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();
    let mut bank = Bank::open(&path, BenchPrefs::default(), "test").unwrap();
    let now = bank.now();
    let to = local_day(now) - Days::new(60);
    let window = RecallSelector::CollectionWindow { from: to - Days::new(200), to };
    bank.recall(&window, "contaminated reagent lot", true, false, now).unwrap();
    drop(bank);
    let store = Store::open(&path).unwrap();
    (dir, store)
}

fn rows(store: &mut Store, sql: &str, params: &[Value]) -> Vec<Vec<Value>> {
    store
        .read(|tx| {
            let super::Conn::Lite(conn) = tx.conn() else { unreachable!("a file") };
            let mut stmt = conn.prepare(sql)?;
            let width = stmt.column_count();
            // A plan is asked with its parameters unbound: NULL stands for each.
            let nulls = vec![Value::Null; stmt.parameter_count()];
            let params = if params.is_empty() { &nulls[..] } else { params };
            let found = stmt
                .query_map(rusqlite::params_from_iter(params), |r| (0..width).map(|i| r.get(i)).collect())?
                .collect::<rusqlite::Result<Vec<Vec<Value>>>>()?;
            Ok::<_, super::StoreError>(found)
        })
        .unwrap()
}

fn column(store: &mut Store, sql: &str) -> Vec<Value> {
    rows(store, sql, &[]).into_iter().map(|mut r| r.remove(0)).collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

#[test]
fn reshaped_queries_answer_as_the_old_ones_did() {
    let (_dir, mut store) = seeded();
    let recalled: Vec<Value> = column(&mut store, "SELECT DISTINCT recall_id FROM units WHERE recall_id IS NOT NULL");
    assert!(!recalled.is_empty(), "the seeded bank holds unit recalls");

    let donor_ids = column(&mut store, "SELECT id FROM donors ORDER BY id");
    let mut recalled_donors = 0;
    for d in &donor_ids {
        let old = rows(&mut store, OLD_RECALL_DAYS, std::slice::from_ref(d));
        assert_eq!(rows(&mut store, donors::RECALL_DAYS, std::slice::from_ref(d)), old, "recall days of {d:?}");
        recalled_donors += usize::from(!old.is_empty());
    }
    assert!(recalled_donors >= 1, "some donors were recalled");

    // Every record the log names, each at a few page sizes.
    let subjects = column(&mut store, "SELECT DISTINCT entity_id FROM audit_log UNION SELECT subject FROM audit_log");
    for id in subjects.iter().step_by(7) {
        for limit in [1, 5, 1000] {
            let p = [id.clone(), Value::Integer(limit)];
            assert_eq!(rows(&mut store, audit::LOG_OF_RECORD, &p), rows(&mut store, OLD_LOG_OF_RECORD, &p), "{id:?}");
        }
    }

    assert_eq!(column(&mut store, donors::NEXT_DONOR), column(&mut store, OLD_NEXT_DONOR));
    assert_eq!(column(&mut store, recipients::NEXT_RECIPIENT), column(&mut store, OLD_NEXT_RECIPIENT));

    // Trace and recall: the set reads give each record's rows as the per-record reads did, in the same order.
    let donations: Vec<Id> = column(&mut store, "SELECT id FROM donations ORDER BY id")
        .into_iter()
        .map(|v| match v {
            Value::Text(t) => Id::from_data(&t).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    store
        .read(|tx| {
            for chunk in donations.chunks(37) {
                let keys = || chunk.iter().map(Id::data);
                let mut one_by_one = Vec::new();
                let mut rows = Vec::new();
                for d in chunk {
                    one_by_one.extend(batches::batches_of_donation(tx, d)?);
                    rows.extend(batches::donation(tx, d)?);
                }
                assert_eq!(batches::batches_of_donations(tx, keys())?, one_by_one);
                assert_eq!(batches::donations_by_id(tx, keys())?, rows);
                let batch_ids: Vec<&Stored<Id>> = one_by_one.iter().map(|b| &b.id).collect();
                let mut units = Vec::new();
                for b in &batch_ids {
                    units.extend(batches::units_of_batch(tx, *b)?);
                }
                let mut together = Vec::new();
                batches::each_unit_of_batches(tx, batch_ids.iter().map(|b| b.key()), |u| together.push(u))?;
                batches::in_division_order(&mut together);
                assert_eq!(together, units);
                let given: std::collections::BTreeMap<&str, &Stored<Id>> = units
                    .iter()
                    .filter_map(|u| u.dispense.as_ref().map(|d| (d.recipient.key(), &d.recipient)))
                    .collect();
                let mut rows = Vec::new();
                for r in given.values() {
                    rows.extend(recipients::recipient(tx, *r)?);
                }
                assert_eq!(recipients::recipients_by_id(tx, given.keys().copied())?, rows);
            }
            Ok::<_, super::StoreError>(())
        })
        .unwrap();

    // The donor list and a trace judge their donors on facts read for all of them at once, as one by one.
    let donor_ids: Vec<Id> = column(&mut store, "SELECT id FROM donors ORDER BY id")
        .into_iter()
        .map(|v| match v {
            Value::Text(t) => Id::from_data(&t).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    let (mut screened, mut deferred) = (0, 0);
    store
        .read(|tx| {
            for chunk in donor_ids.chunks(5) {
                let keys = || chunk.iter().map(Id::data);
                for day in (0..3000).step_by(60).map(|d| NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + Days::new(d)) {
                    let from = day - Days::new(60);
                    let mut together = donors::screenings_between_of(tx, keys(), from, day)?;
                    for d in chunk {
                        let one = donors::screenings_between(tx, d, from, day)?;
                        screened += one.len();
                        assert_eq!(together.remove(d.data()).unwrap_or_default(), one, "{d} on {day}");
                    }
                }
                let mut together = donors::deferrals_of(tx, keys())?;
                for d in chunk {
                    let one = donors::deferrals(tx, d)?;
                    deferred += one.len();
                    assert_eq!(together.remove(d.data()).unwrap_or_default(), one, "{d}");
                }
            }
            Ok::<_, super::StoreError>(())
        })
        .unwrap();
    assert!(screened > 100 && deferred >= 5, "{screened} screenings and {deferred} deferrals compared");

    let today = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for day in (0..3000).step_by(90).map(|d| today + Days::new(d)) {
        let p = [text(&day.to_string())];
        assert_eq!(rows(&mut store, settings::COUNTS, &p), rows(&mut store, OLD_COUNTS, &p), "counts on {day}");
    }
}

/// `followup due` as it was before issue 13: every dispense and every visit read, and each course's visits found
/// by walking every visit of the bank.
fn old_followups_due(store: &mut Store, by: NaiveDate, config: &Config) -> Vec<DueVisit> {
    use crate::core::followup::{self, Session};
    use std::collections::HashMap;
    store
        .read(|tx| {
            // Every dispense and every visit in force (all of them belong to treated recipients).
            let (mut dispenses, mut visits) = (Vec::new(), Vec::new());
            followups::each_treated(tx, |h| {
                dispenses.extend(h.dispenses);
                visits.extend(h.visits);
                Ok::<_, super::StoreError>(())
            })?;
            let mut by_recipient: HashMap<&Id, Vec<&followups::DispenseRow>> = HashMap::new();
            for d in &dispenses {
                by_recipient.entry(&d.recipient).or_default().push(d);
            }
            let mut out = Vec::new();
            for (rid, ds) in by_recipient {
                let Some(r) = recipients::recipient(tx, rid)? else { continue };
                let sessions: Vec<Session> =
                    ds.iter().map(|d| Session { dispense: d.id, day: local_day(d.at) }).collect();
                for c in followup::courses(&config.followup, &sessions) {
                    let recorded: Vec<_> =
                        visits.iter().filter(|v| c.includes(v.course)).map(|v| v.timepoint).collect();
                    for d in followup::due(&config.followup, c.start, &recorded, by) {
                        out.push(DueVisit {
                            recipient: rid.clone(),
                            indication: r.indication.clone(),
                            timepoint: d.window.timepoint,
                            due: d.window.due,
                            window_from: d.window.from,
                            window_to: d.window.to,
                            overdue_days: d.overdue_days,
                        });
                    }
                }
            }
            // The old list sorted by due day and recipient only; ties (two time points due the same day) came
            // in no set order, so they are compared in the new list's order.
            out.sort_by(|a, b| (a.due, a.recipient.data(), a.timepoint).cmp(&(b.due, b.recipient.data(), b.timepoint)));
            Ok::<_, super::StoreError>(out)
        })
        .unwrap()
}

#[test]
fn the_follow_up_work_list_answers_as_the_old_walk_did_and_pages() {
    let (dir, mut store) = seeded();
    let mut bank = Bank::open(&dir.path().join("bank.db"), BenchPrefs::default(), "test").unwrap();
    let config = bank.config().clone();
    let visits: Vec<Value> = column(&mut store, "SELECT count(*) FROM followups");
    assert_ne!(visits, vec![Value::Integer(0)], "the seeded bank holds follow-up visits");
    let today = local_day(bank.now());
    let mut longest = 0;
    for by in [today - Days::new(200), today, today + Days::new(400), today + Days::new(2200)] {
        let new = bank.followups_due(by).unwrap();
        assert_eq!(new, old_followups_due(&mut store, by, &config), "due by {by}");
        longest = longest.max(new.len());
        // Page by page, the same list.
        let mut paged = Vec::new();
        loop {
            let page = bank.followups_due_page(by, paged.last(), 7).unwrap();
            let end = page.len() < 7;
            paged.extend(page);
            if end {
                break;
            }
        }
        assert_eq!(paged, new, "paged, due by {by}");
    }
    assert!(longest > 20, "the list has pages to turn ({longest} visits)");
}

#[test]
fn interactive_queries_use_an_index() {
    // Planned without statistics, as for tables of unknown size: on a small bank the planner may rightly read a
    // table of three recalls whole, but an index must be there for when it grows.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(&dir.path().join("bank.db")).unwrap();
    let queries = [
        ("eligibility: recall days", donors::RECALL_DAYS.to_string()),
        ("audit log of a record", audit::LOG_OF_RECORD.to_string()),
        ("next donor number", donors::NEXT_DONOR.to_string()),
        ("next recipient number", recipients::NEXT_RECIPIENT.to_string()),
        ("home counts", settings::COUNTS.to_string()),
        // The work list's page (`store::lists`), served by the partial index `batches_quarantined`.
        (
            "quarantine list",
            "SELECT id FROM batches WHERE id > ?1 AND released_at IS NULL AND discarded_at IS NULL
               AND recalled_at IS NULL ORDER BY id LIMIT ?2"
                .to_string(),
        ),
        // One recipient's dispenses and visits (`store::followups`, read by every follow-up and adverse event).
        (
            "dispenses of a recipient",
            "SELECT p.id FROM dispenses p WHERE p.recipient_id = ?1 ORDER BY p.at".to_string(),
        ),
        // Eligibility's facts (`app::donors::eligibility_facts`): the validity window, a deferral's lifting screen.
        ("eligibility: screenings of the window", donors::screenings_between_sql()),
        ("eligibility: the screening lifting a deferral", donors::screenings_after_sql()),
        ("donor list, trace: deferrals of donors", donors::deferrals_of_sql()),
        ("donor list, trace: screenings of the window of donors", donors::screenings_between_of_sql()),
        ("follow-up work list", followups::DISPENSES_WITH_VISITS.to_string()),
        // Trace and recall read each kind of record of their answer in one statement, the keys bound as one JSON
        // array (`sql::key_list`): a seek per key, the list itself the only thing scanned.
        ("trace, recall: donations by identifier", batches::donations_by_id_sql()),
        ("trace, recall: batches by identifier", batches::batches_by_id_sql()),
        ("trace: batches of donations", batches::batches_of_donations_sql()),
        ("trace, recall: units of batches", batches::units_of_batches_sql()),
        ("trace, recall: recipients by identifier", recipients::recipients_by_id_sql()),
        ("trace: recall contacts of recipients", recalls::CONTACTS_OF_RECIPIENTS.to_string()),
        ("recall by window: donations whose time is unreadable", recalls::BATCHES_OF_UNREADABLE_TIMES.to_string()),
        ("follow-ups of a recipient", "SELECT id FROM followups WHERE recipient_id = ?1 ORDER BY date".to_string()),
    ];
    for (what, sql) in queries {
        assert_eq!(whole_scans(&mut store, &sql), Vec::<String>::new(), "{what} walks a whole table:\n{sql}");
    }
    // The check catches the shapes issue 13 replaced (reading a column that `dispenses_recipient` does not cover, as
    // the old statement did: the covering index alone would be walked whole, which no plan says as a bare SCAN).
    let old_of_recipient =
        "SELECT p.id, p.route FROM dispenses p WHERE ?1 IS NULL OR p.recipient_id = ?1 ORDER BY p.at";
    for old in [OLD_RECALL_DAYS, OLD_COUNTS, old_of_recipient] {
        assert!(!whole_scans(&mut store, old).is_empty(), "{old}");
    }
}

/// The plan's steps that read a whole table (a bare `SCAN`, not through an index, not a constant row, subquery or
/// table-valued function such as `json_each` over a bound list).
fn whole_scans(store: &mut Store, sql: &str) -> Vec<String> {
    rows(store, &format!("EXPLAIN QUERY PLAN {sql}"), &[])
        .into_iter()
        .filter_map(|row| match &row[3] {
            Value::Text(detail) => Some(detail.clone()),
            _ => None,
        })
        .filter(|d| {
            d.strip_prefix("SCAN ").is_some_and(|t| {
                !d.contains(" USING ")
                    && !t.starts_with("CONSTANT ROW")
                    && !t.starts_with("(subquery")
                    && !t.contains(" VIRTUAL TABLE")
            })
        })
        .collect()
}
