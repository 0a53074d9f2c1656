//! Upgrading a bank whose records break a rule a migration adds is refused with the records named, and the
//! bank is left as it was.

mod common;

use common::{days_ago, Bench};

#[test]
fn a_screening_corrected_twice_blocks_the_upgrade_by_name() {
    let b = Bench::new();
    let donor = b.screened_donor(days_ago(3));
    let day = days_ago(3).to_string();
    let first = b.json(&["donor", "screen", &donor, "--kind", "blood", "--date", &day, "--test", "hiv=negative"]);
    let first = first["id"].as_i64().unwrap().to_string();
    let fix =
        b.json(&["donor", "screen", &donor, "--kind", "blood", "--date", &day, "--all-negative", "--corrects", &first]);
    let fix = fix["id"].as_i64().unwrap();
    // A bank of schema version 1, where a race let a second bench correct the same screening.
    let c = rusqlite::Connection::open(&b.db).unwrap();
    c.execute_batch(
        "DROP INDEX screenings_supersedes; CREATE INDEX screenings_supersedes ON screenings (supersedes);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    c.execute(
        "INSERT INTO screenings (donor_id, kind, date, recorded_at, supersedes) \
         SELECT donor_id, kind, date, recorded_at, supersedes FROM screenings WHERE id = ?1",
        [fix],
    )
    .unwrap();
    let second = c.last_insert_rowid();
    drop(c);
    let (code, err) = b.fail(&["init"]);
    assert_ne!(code, 0);
    assert!(err.contains("0002_screening_superseded_once"), "{err}");
    assert!(err.contains(&format!("screening {first} by screenings {fix}, {second}")), "{err}");
    let c = rusqlite::Connection::open(&b.db).unwrap();
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 1, "the refused upgrade changed nothing");
    let rows: i64 =
        c.query_row("SELECT count(*) FROM screenings WHERE supersedes IS NOT NULL", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 2, "no record lost");
}
