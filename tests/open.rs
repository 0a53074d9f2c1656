//! Opening what is not a stoolbank database, a newer schema, a read-only file, or nothing at all gives a clear
//! error, and touches nothing.

mod common;

use std::process::Command;

fn run(db: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stoolbank")).arg("--db").arg(db).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).trim().to_string())
}

#[test]
fn a_foreign_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("other.db");
    rusqlite::Connection::open(&db).unwrap().execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
    let before = std::fs::read(&db).unwrap();
    let (code, err) = run(&db, &["init"]);
    assert_ne!(code, 0);
    assert!(err.contains("not a stoolbank database"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the foreign file is untouched");
}

#[test]
fn a_text_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.txt");
    std::fs::write(&db, "shopping list: milk, eggs, bread\n").unwrap();
    let (code, err) = run(&db, &["donor", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("not an SQLite file"), "{err}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    assert_eq!(run(&db, &["init"]).0, 0);
    rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let (code, err) = run(&db, &["donor", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("schema version 99 is newer"), "{err}");
}

#[test]
fn a_read_only_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    assert_eq!(run(&db, &["init"]).0, 0);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (code, err) = run(&db, &["init"]);
    assert_ne!(code, 0);
    assert!(err.contains("read-only"), "{err}");
}

#[test]
fn a_missing_database_says_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run(&dir.path().join("none.db"), &["donor", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("stoolbank init"), "{err}");
}

#[test]
fn init_is_idempotent_and_two_processes_share_one_bank() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    assert_eq!(run(&db, &["init", "--facility", "G1517"]).0, 0);
    assert_eq!(run(&db, &["init"]).0, 0);
    // Two benches registering donors at once: every registration lands, with distinct codes.
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| {
                        let out = Command::new(env!("CARGO_BIN_EXE_stoolbank"))
                            .arg("--db")
                            .arg(&db)
                            .args(["donor", "add", "--sex", "M", "--birth-date", "1990-01-01"])
                            .output()
                            .unwrap();
                        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                        String::from_utf8_lossy(&out.stdout).trim().to_string()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut codes: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 10);
    let out =
        Command::new(env!("CARGO_BIN_EXE_stoolbank")).arg("--db").arg(&db).arg("audit").arg("verify").output().unwrap();
    assert!(out.status.success());
}

#[test]
fn a_bank_of_the_first_schema_is_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(include_str!("../migrations/0001_initial.sql")).unwrap();
    c.execute_batch("PRAGMA user_version = 1; PRAGMA application_id = 1398030897;").unwrap();
    drop(c);
    let version = || -> i64 {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
    };
    // A read opens read-only and leaves the file as it is (a schema older than its reads understand is named,
    // with the command that upgrades it); the first command that writes upgrades it.
    let (code, err) = run(&db, &["donor", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("schema version 1 is older") && err.contains("stoolbank init"), "{err}");
    assert_eq!(version(), 1);
    let (code, err) = run(&db, &["init"]);
    assert_eq!(code, 0, "{err}");
    // Upgraded to the latest: one version per migration file.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap().count() as i64;
    assert_eq!(version(), migrations);
    let c = rusqlite::Connection::open(&db).unwrap();
    let unique: i64 = c
        .query_row(
            "SELECT \"unique\" FROM pragma_index_list('screenings') WHERE name = 'screenings_supersedes'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unique, 1, "a screening is superseded at most once");
}
