//! `migrate --to`: a bank copied whole, audit trail included, from a file into an empty PostgreSQL database and
//! back into a new file, each copy verifying; and the refusals (a target that is not empty, a file already there,
//! a source that does not verify, a user whose roles do not allow it), each leaving nothing behind.
//! Needs the PostgreSQL server `STOOLBANK_TEST_PG` names (`eval "$(scripts/pg-cluster start)"`); without one each
//! test says it was skipped.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::pg::{server, PgDb};
use common::{days_ago, table_counts, Bench, Outside};
use rusqlite::types::Value;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "stoolbank-demo";

/// Runs stoolbank on `db` with the bank key and anchor log in `dir`, as `user` (with the demo password).
fn run(dir: &Path, db: &str, user: &str, args: &[&str]) -> Output {
    run_with_key(dir, &dir.join("bank.key"), db, user, args)
}

/// The same with the bank key file `key` (which need not exist).
fn run_with_key(dir: &Path, key: &Path, db: &str, user: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .arg("--db")
        .arg(db)
        .arg("--as")
        .arg(user)
        .args(args)
        .env_remove("STOOLBANK_DB")
        .env_remove("STOOLBANK_CONFIG")
        .env("STOOLBANK_PASSWORD", PASSWORD)
        .env("STOOLBANK_KEY", key)
        .env("STOOLBANK_ANCHOR", dir.join("anchors.log"))
        .output()
        .expect("run stoolbank")
}

fn ok(dir: &Path, db: &str, user: &str, args: &[&str]) -> String {
    let out = run(dir, db, user, args);
    assert!(out.status.success(), "stoolbank {args:?} on {db} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A refusal: its exit code and its one line on stderr.
fn refused(dir: &Path, db: &str, user: &str, args: &[&str]) -> (i32, String) {
    let out = run(dir, db, user, args);
    assert!(!out.status.success(), "stoolbank {args:?} should be refused: {}", String::from_utf8_lossy(&out.stdout));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).trim().to_string())
}

/// A bank in a file (whichever store the other suites run on), in set-up mode as "tester".
fn file_bench() -> Bench {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bank.db");
    let b = Bench::on(dir, db);
    b.ok(&["init", "--facility", "G1517"]);
    b
}

/// A new empty database on the test server, or None when there is none (the test then says it was skipped).
fn empty_database(test: &str) -> Option<PgDb> {
    server(test).map(PgDb::new)
}

fn tables_on(db: &PgDb) -> i64 {
    Outside::open(Path::new(&db.url())).count("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()", &[])
}

/// Every row of every table of a bank file, each table in its primary key's order.
fn dump(file: &Path) -> BTreeMap<String, Vec<Vec<Value>>> {
    let c = rusqlite::Connection::open(file).expect("open");
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    tables
        .into_iter()
        .map(|t| {
            let key: Vec<String> = c
                .prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
                .and_then(|mut s| s.query_map([&t], |r| r.get(0))?.collect())
                .expect("key");
            let mut stmt = c.prepare(&format!("SELECT * FROM {t} ORDER BY {}", key.join(", "))).expect("select");
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
                .and_then(Iterator::collect)
                .expect("rows");
            (t, rows)
        })
        .collect()
}

/// Every row of every table of a server's bank (its marker aside), each table in its primary key's order, each
/// value as a file holds it (booleans as 0 or 1); a format-1 entry's hash (bytes on a server) as its hex text.
fn server_dump(url: &str) -> BTreeMap<String, Vec<Vec<Value>>> {
    use postgres::types::Type;
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let tables: Vec<String> = c
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'stoolbank_schema'",
            &[],
        )
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut dumped = BTreeMap::new();
    for t in tables {
        let key: Vec<String> = c
            .query(
                "SELECT a.attname::text FROM pg_index i
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                 WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&t],
            )
            .expect("key")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let rows = c.query(&format!("SELECT * FROM {t} ORDER BY {}", key.join(", ")), &[]).expect("rows");
        let rows: Vec<Vec<Value>> = rows
            .iter()
            .map(|r| {
                let mut row: Vec<Value> = r
                    .columns()
                    .iter()
                    .enumerate()
                    .map(|(i, col)| {
                        let v = match *col.type_() {
                            Type::INT8 => r.get::<_, Option<i64>>(i).map(Value::Integer),
                            Type::INT4 => r.get::<_, Option<i32>>(i).map(|n| Value::Integer(n.into())),
                            Type::BOOL => r.get::<_, Option<bool>>(i).map(|b| Value::Integer(b.into())),
                            Type::FLOAT8 => r.get::<_, Option<f64>>(i).map(Value::Real),
                            Type::BYTEA => r.get::<_, Option<Vec<u8>>>(i).map(Value::Blob),
                            _ => r.get::<_, Option<String>>(i).map(Value::Text),
                        };
                        v.unwrap_or(Value::Null)
                    })
                    .collect();
                if t == "audit_log" {
                    let at = |name: &str| r.columns().iter().position(|c| c.name() == name).expect("column");
                    if let (Value::Text(_), Value::Blob(h)) = (&row[at("prev_hash")], &row[at("hash")]) {
                        row[at("hash")] = Value::Text(hex::encode(h));
                    }
                }
                row
            })
            .collect();
        dumped.insert(t, rows);
    }
    dumped
}

/// The source's entries copied, then the source's own entry of the copy to `to` (its last, read before any
/// other command signs in there): how many were copied.
fn source_records_its_copy(d: &Path, source: &str, user: &str, to: &str) -> usize {
    let mut c = Outside::open(Path::new(source));
    let last =
        c.texts("SELECT action || ' by ' || actor || ': ' || after FROM audit_log ORDER BY seq DESC LIMIT 1", &[]);
    let seq = c.count("SELECT max(seq) FROM audit_log", &[]);
    let (head, after) = last[0].split_once(": ").expect("entry");
    assert_eq!(head, format!("copy by {user}"), "{last:?}");
    let after: Json = serde_json::from_str(after).expect("json");
    assert_eq!(after["to"].as_str(), Some(to), "the target as shown, without password: {after}");
    assert!(!after.to_string().contains(PASSWORD));
    assert_eq!(after["head_seq"].as_i64(), Some(seq - 1), "{after}");
    assert!(ok(d, source, user, &["audit", "verify"]).contains("intact"), "the source still verifies");
    usize::try_from(seq - 1).expect("count")
}

/// The counts of every table of `a` and `b`, the audit log's aside, must be equal; returns the two logs' counts.
fn counts_equal_but_log(a: &Path, b: &Path) -> (i64, i64) {
    let (a, b): (BTreeMap<_, _>, BTreeMap<_, _>) =
        (table_counts(a).into_iter().collect(), table_counts(b).into_iter().collect());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "both hold the same tables");
    for (table, n) in &a {
        if table != "audit_log" {
            assert_eq!(Some(n), b.get(table), "{table}: the same rows on both sides");
        }
    }
    (a["audit_log"], b["audit_log"])
}

/// The demo bank (`stoolbank demo`) in a new directory: the directory, and the bank's path.
fn demo_bank() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo = dir.path().join("demo.db");
    ok(dir.path(), &demo.display().to_string(), "qm", &["demo"]);
    (dir, demo)
}

#[test]
fn the_demo_bank_goes_to_a_server_and_back_whole() {
    let Some(pg) = empty_database("the_demo_bank_goes_to_a_server_and_back_whole") else { return };
    let (dir, demo) = demo_bank();
    let d = dir.path();
    let demo_s = demo.display().to_string();
    let url = pg.url();

    let said = ok(d, &demo_s, "admin", &["migrate", "--to", &url]);
    assert!(said.contains("verified") && said.contains("records the copy"), "{said}");
    // The source's trail records the copy too (beside its read): the target shown without password.
    let copied = source_records_its_copy(d, &demo_s, "admin", &url);
    // Every table holds the same rows, row by row; each log one more: the copy's own entry on each side.
    let (_, copy_log) = counts_equal_but_log(&demo, Path::new(&url));
    assert_eq!(copy_log, copied as i64 + 1, "the copy's own entry on the server");
    let (file_rows, server_rows) = (dump(&demo), server_dump(&url));
    assert_eq!(file_rows.keys().collect::<Vec<_>>(), server_rows.keys().collect::<Vec<_>>());
    for (table, rows) in &file_rows {
        if table == "audit_log" {
            assert!(rows[..copied] == server_rows[table][..copied], "the log, entry by entry");
        } else {
            assert!(rows == &server_rows[table], "{table}: row by row on the server");
        }
    }
    let mut server = Outside::open(Path::new(&url));
    let last =
        server.texts("SELECT action || ' by ' || actor || ': ' || after FROM audit_log ORDER BY seq DESC LIMIT 1", &[]);
    assert!(last[0].starts_with("copy by admin: "), "{last:?}");
    assert!(last[0].contains("demo.db") && !last[0].contains(PASSWORD), "names the source: {last:?}");
    // The next row the server numbers does not collide with a copied one.
    let next = server.count("SELECT nextval(pg_get_serial_sequence('donor_identities', 'id'))", &[]);
    let highest = server.count("SELECT coalesce(max(id), 0) FROM donor_identities", &[]);
    assert!(next > highest, "identity sequence {next} past {highest}");

    // The server's copy verifies, and answers as the file does.
    assert!(ok(d, &url, "admin", &["audit", "verify"]).contains("intact"));
    assert!(ok(d, &url, "admin", &["verify"]).contains("intact"));
    let donors: Json = serde_json::from_str(&ok(d, &demo_s, "qm", &["--json", "donor", "list"])).expect("json");
    let donor = donors[0]["id"].as_str().expect("a donor").to_string();
    // As of one moment on both, so that "now" cannot differ between the two answers.
    let as_of = days_ago(1).to_string();
    let trace = |db: &str| -> Json {
        serde_json::from_str(&ok(d, db, "qm", &["--json", "--at", &as_of, "trace", &donor])).expect("json")
    };
    let (trace_file, trace_server) = (trace(&demo_s), trace(&url));
    assert!(trace_file.to_string().contains(&donor), "{trace_file}");
    assert_eq!(trace_file, trace_server, "the trace of {donor} is the same on both");
    // A write on the copy: its keys continue past the copied ones.
    ok(d, &url, "tech", &["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);

    // Back into a new file: the same records, row by row; the log the source's, then what the server added.
    let back = d.join("back.db");
    ok(d, &url, "admin", &["migrate", "--to", &back.display().to_string()]);
    assert!(ok(d, &back.display().to_string(), "admin", &["verify"]).contains("intact"));
    let (original, returned) = (dump(&demo), dump(&back));
    assert_eq!(original.keys().collect::<Vec<_>>(), returned.keys().collect::<Vec<_>>());
    for (table, rows) in &original {
        match table.as_str() {
            // The source's log as copied (its later sign-ins are its own), entry by entry, then the server's.
            "audit_log" => {
                assert!(rows[..copied] == returned[table][..copied], "the source's log, entry by entry");
                assert!(returned[table].len() > copied + 1, "the copy's entry and the server's own follow");
            }
            "donors" => {
                assert!(rows[..] == returned[table][..rows.len()], "{table}: the donors copied");
                assert!(returned[table].len() > rows.len(), "{table}: the donor added on the server");
            }
            _ => assert!(rows == &returned[table], "{table}: row by row"),
        }
    }
    let leftovers: Vec<String> = std::fs::read_dir(d)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("copying"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");
}

#[test]
fn a_copy_never_goes_over_a_bank_nor_comes_from_one_that_does_not_verify() {
    let Some(pg) = empty_database("a_copy_never_goes_over_a_bank_nor_comes_from_one_that_does_not_verify") else {
        return;
    };
    let b = file_bench();
    let d = b.dir.path();
    let db = b.db.display().to_string();
    b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    let url = pg.url();

    // A file already there is never replaced, whatever it holds.
    let there = d.join("there.db");
    std::fs::write(&there, "not yours").expect("write");
    let (code, err) = refused(d, &db, "tester", &["migrate", "--to", &there.display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&there).expect("read"), "not yours");

    // A database holding any table is not a target.
    Outside::open(Path::new(&url)).execute("CREATE TABLE notes (t text)", &[]).expect("create");
    let (code, err) = refused(d, &db, "tester", &["migrate", "--to", &url]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("empty database"), "{err}");
    assert_eq!(tables_on(&pg), 1, "the database is as it was");

    // A tampered source is refused before anything is written (exit 5, as verify's findings).
    let empty = empty_database("a tampered source").expect("server");
    let mut c = Outside::open(&b.db);
    assert_eq!(c.execute("UPDATE donors SET sex = 'M'", &[]), Ok(1), "tampered behind the program's back");
    let (code, err) = refused(d, &db, "tester", &["migrate", "--to", &empty.url()]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("does not verify"), "{err}");
    assert_eq!(tables_on(&empty), 0, "the target stays empty");
    let file = d.join("copy.db");
    let (code, _) = refused(d, &db, "tester", &["migrate", "--to", &file.display().to_string()]);
    assert_eq!(code, 5);
    let names: Vec<String> = std::fs::read_dir(d)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with("copy.db") && !n.contains("copying")), "nothing made: {names:?}");
}

#[test]
fn only_who_may_restore_a_bank_copies_it() {
    let Some(pg) = empty_database("only_who_may_restore_a_bank_copies_it") else { return };
    let (dir, demo) = demo_bank();
    let d = dir.path();
    let demo = demo.display().to_string();
    for user in ["qm", "tech"] {
        let (code, err) = refused(d, &demo, user, &["migrate", "--to", &pg.url()]);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("access.role"), "{err}");
        let (code, _) = refused(d, &demo, user, &["migrate", "--to", &d.join("copy.db").display().to_string()]);
        assert_eq!(code, 3);
    }
    assert_eq!(tables_on(&pg), 0, "nothing created on the server");
    assert!(!d.join("copy.db").exists(), "no file made");
}

/// An entry as format 1 hashed it: its fields as one canonical JSON object, `prev_hash` the entry before's hex,
/// no `format` key; the hash stored as 64 hex digits and the previous one stored with it.
fn format_1_hash(e: &[Json], prev: &str) -> String {
    let parse = |v: &Json| v.as_str().map_or(Json::Null, |s| serde_json::from_str::<Json>(s).expect("payload"));
    let canonical = json!({
        "seq": e[0], "at": e[1], "recorded_at": e[2], "actor": e[3], "action": e[4], "entity": e[5],
        "entity_id": e[6], "subject": e[7], "before": parse(&e[8]), "after": parse(&e[9]), "prev_hash": prev,
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// A bank whose first entries are of format 1, as a bank begun before migration 0008 holds them (this program
/// writes only format 2): its entries so far are re-stored as format 1 stored them, the append-only triggers
/// dropped for it and made again exactly as the schema has them. Returns how many entries are of format 1.
fn with_format_1_entries(b: &Bench) -> i64 {
    let c = rusqlite::Connection::open(&b.db).expect("open");
    c.execute_batch("DROP TRIGGER audit_log_no_update").expect("drop trigger");
    let entries: Vec<Vec<Json>> = c
        .prepare("SELECT seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after FROM audit_log ORDER BY seq")
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok((0..10)
                    .map(|i| match r.get_ref(i).expect("value") {
                        rusqlite::types::ValueRef::Integer(n) => json!(n),
                        rusqlite::types::ValueRef::Null => Json::Null,
                        v => json!(v.as_str().expect("text")),
                    })
                    .collect())
            })?
            .collect()
        })
        .expect("entries");
    let mut prev = "0".repeat(64);
    for e in &entries {
        let hash = format_1_hash(e, &prev);
        c.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, e[0].as_i64()],
        )
        .expect("re-store");
        prev = hash;
    }
    c.execute_batch(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
    )
    .expect("trigger again");
    entries.len() as i64
}

#[test]
fn format_1_entries_cross_to_a_server_and_back_and_verify() {
    let Some(pg) = empty_database("format_1_entries_cross_to_a_server_and_back_and_verify") else { return };
    let b = file_bench();
    let d = b.dir.path();
    b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    let old = with_format_1_entries(&b);
    assert!(old >= 3, "init and a donor: {old} entries");
    // Then written by this program, in format 2, chained on.
    let donor = b.screened_donor(days_ago(10));
    b.donation(&donor, days_ago(5));
    assert!(b.ok(&["audit", "verify"]).contains("intact"), "the mixed chain verifies on the file");
    let db = b.db.display().to_string();
    let url = pg.url();

    ok(d, &db, "tester", &["migrate", "--to", &url]);
    let copied = source_records_its_copy(d, &db, "tester", &url);
    let (file_rows, server_rows) = (dump(&b.db), server_dump(&url));
    for (table, rows) in &file_rows {
        let n = if table == "audit_log" { copied } else { rows.len() };
        assert!(rows[..n] == server_rows[table][..n], "{table}: row by row on the server");
    }
    let mut server = Outside::open(Path::new(&url));
    assert_eq!(server.count("SELECT count(*) FROM audit_log WHERE prev_hash IS NOT NULL", &[]), old);
    assert_eq!(server.count("SELECT count(*) FROM audit_log WHERE octet_length(hash) <> 32", &[]), 0);
    assert!(ok(d, &url, "tester", &["audit", "verify"]).contains("intact"));
    assert!(ok(d, &url, "tester", &["verify"]).contains("intact"));
    let log: Json =
        serde_json::from_str(&ok(d, &url, "tester", &["--json", "audit", "log", "--limit", "1000"])).expect("json");
    let formats: Vec<i64> =
        log.as_array().expect("entries").iter().map(|e| e["format"].as_i64().expect("format")).collect();
    assert_eq!(formats.iter().filter(|f| **f == 1).count() as i64, old, "{formats:?}");

    // A format-1 entry altered on the server is caught there as on a file.
    let mut tamper = Outside::open(Path::new(&url));
    tamper.drop_trigger("audit_log_no_update", "audit_log");
    tamper.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", &[]).expect("tamper");
    let (code, err) = refused(d, &url, "tester", &["audit", "verify"]);
    assert_eq!(code, 5, "{err}");
    tamper.execute("UPDATE audit_log SET actor = 'tester' WHERE seq = 2", &[]).expect("undo");
    // The formats swapped: a format-2 entry given a previous hash reads as format 1 after format 2 (forged), and a
    // format-1 entry's previous hash taken away makes it read as format 2; both are caught.
    let late = (old + 2).to_string();
    let prev = server.texts("SELECT encode(hash, 'hex') FROM audit_log WHERE seq = $1::text::bigint - 1", &[&late]);
    tamper
        .execute("UPDATE audit_log SET prev_hash = $1 WHERE seq = $2::text::bigint", &[&prev[0], &late])
        .expect("swap");
    let out = run(d, &url, "tester", &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(5));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("audit entry {late} is of format 1 after an entry of format 2")), "{said}");
    tamper.execute("UPDATE audit_log SET prev_hash = NULL WHERE seq = $1::text::bigint", &[&late]).expect("undo");
    let prev_2 = server.texts("SELECT prev_hash FROM audit_log WHERE seq = 2", &[]);
    tamper.execute("UPDATE audit_log SET prev_hash = NULL WHERE seq = 2", &[]).expect("swap");
    let (code, _) = refused(d, &url, "tester", &["audit", "verify"]);
    assert_eq!(code, 5);
    tamper.execute("UPDATE audit_log SET prev_hash = $1 WHERE seq = 2", &[&prev_2[0]]).expect("undo");
    tamper
        .execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse('audit_log is append-only')",
            &[],
        )
        .expect("trigger again");
    assert!(ok(d, &url, "tester", &["audit", "verify"]).contains("intact"));

    // Back to a file: the format-1 hashes are hex text again, exactly as they were.
    let back = d.join("back.db");
    ok(d, &url, "tester", &["migrate", "--to", &back.display().to_string()]);
    assert!(ok(d, &back.display().to_string(), "tester", &["verify"]).contains("intact"));
    let (original, returned) = (dump(&b.db), dump(&back));
    assert_eq!(original["audit_log"][..copied], returned["audit_log"][..copied]);
    let text_hashes = Outside::open(&back).count("SELECT count(*) FROM audit_log WHERE typeof(hash) = 'text'", &[]);
    assert_eq!(text_hashes, old);
}

#[test]
fn an_older_file_is_copied_once_it_is_upgraded() {
    let b = file_bench();
    let d = b.dir.path();
    b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    // Schema version 11 exactly: the last migration's only object taken out again.
    let c = rusqlite::Connection::open(&b.db).expect("open");
    c.execute_batch("DROP INDEX donations_time_unreadable; PRAGMA user_version = 11;").expect("version 11");
    drop(c);
    let db = b.db.display().to_string();
    let copy = d.join("copy.db").display().to_string();
    let (code, err) = refused(d, &db, "tester", &["migrate", "--to", &copy]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("schema version 11") && err.contains("`stoolbank init` upgrades it"), "{err}");
    assert!(!Path::new(&copy).exists(), "nothing made");
    b.ok(&["init"]);
    ok(d, &db, "tester", &["migrate", "--to", &copy]);
    assert!(ok(d, &copy, "tester", &["verify"]).contains("intact"));
    let copied =
        source_records_its_copy(d, &db, "tester", &std::fs::canonicalize(&copy).expect("copy").display().to_string());
    let (source_log, copy_log) = counts_equal_but_log(&b.db, Path::new(&copy));
    assert_eq!(copy_log, copied as i64 + 1, "the copy's own entry");
    assert_eq!(source_log, copied as i64 + 1, "and the source's");
}

/// The names in `dir` holding `part`.
fn names_with(dir: &Path, part: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect()
}

#[test]
fn without_the_bank_key_identity_rows_are_not_copied_unchecked() {
    let Some(pg) = empty_database("without_the_bank_key_identity_rows_are_not_copied_unchecked") else { return };
    let (dir, demo) = demo_bank();
    let d = dir.path();
    let demo_s = demo.display().to_string();
    let url = pg.url();
    let copy = d.join("copy.db");
    let no_key = d.join("no.key");
    let log_before = Outside::open(&demo).count("SELECT count(*) FROM audit_log", &[]);

    // Sound, but its identity rows cannot be checked without the key: refused, to a server and to a file.
    for target in [url.as_str(), &copy.display().to_string()] {
        let out = run_with_key(d, &no_key, &demo_s, "admin", &["migrate", "--to", target]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("identity rows cannot be checked") && err.contains("bank key"), "{err}");
    }
    assert_eq!(tables_on(&pg), 0, "nothing created on the server");
    assert!(names_with(d, "copy").is_empty(), "no file made");

    // One identity's sealed row swapped for another's: without the key it is refused all the same; with it, the
    // check names the tampering.
    let mut c = Outside::open(&demo);
    let swapped = c.execute(
        "UPDATE donor_identities SET sealed = (SELECT sealed FROM donor_identities WHERE id = 2) WHERE id = 1",
        &[],
    );
    assert_eq!(swapped, Ok(1), "tampered behind the program's back");
    let out = run_with_key(d, &no_key, &demo_s, "admin", &["migrate", "--to", &url]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bank key") && !err.contains("verified"), "{err}");
    let (code, err) = refused(d, &demo_s, "admin", &["migrate", "--to", &url]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("does not verify") && err.contains("donor_identities"), "{err}");
    // The file's own checks come first, as in `verify`: a row pointing at no row is named as such.
    c.execute("PRAGMA foreign_keys = OFF", &[]).expect("as a tamperer would");
    let pointed = c.execute("UPDATE donor_identities SET donor_id = 'D999999' WHERE id = 1", &[]);
    assert_eq!(pointed, Ok(1));
    let (code, err) = refused(d, &demo_s, "admin", &["migrate", "--to", &url]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("not copied: donor_identities row 1 points at a missing donors"), "{err}");
    assert_eq!(tables_on(&pg), 0, "the server stays empty");
    assert!(names_with(d, "copy").is_empty(), "no file made");
    // No copy entry in the source's trail: nothing was copied (sign-ins are the only entries added).
    let copies = Outside::open(&demo).count("SELECT count(*) FROM audit_log WHERE action = 'copy'", &[]);
    assert_eq!(copies, 0);
    assert!(Outside::open(&demo).count("SELECT count(*) FROM audit_log", &[]) >= log_before);
}

#[test]
fn an_interrupted_copys_file_is_named_and_never_overwritten() {
    let b = file_bench();
    let d = b.dir.path();
    b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    let db = b.db.display().to_string();
    let copy = d.join("copy.db");
    let copy_s = copy.display().to_string();
    // Whatever a crash left under the temporary name (the file, or its journal alone) is named, and kept.
    for left in [".copy.db.copying", ".copy.db.copying-wal", ".copy.db.copying-journal", ".copy.db.copying-shm"] {
        std::fs::write(d.join(left), "left by a crash").expect("write");
        let (code, err) = refused(d, &db, "tester", &["migrate", "--to", &copy_s]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(left) && err.contains("left by an interrupted copy; remove it after checking"), "{err}");
        assert_eq!(std::fs::read_to_string(d.join(left)).expect("kept"), "left by a crash");
        assert!(!copy.exists(), "no copy made");
        std::fs::remove_file(d.join(left)).expect("remove");
    }
    // A target's journal alone is a bank's too: never written over.
    for beside in ["copy.db-wal", "copy.db-journal", "copy.db-shm"] {
        std::fs::write(d.join(beside), "a bank's").expect("write");
        let (code, err) = refused(d, &db, "tester", &["migrate", "--to", &copy_s]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(beside) && err.contains("already exists"), "{err}");
        std::fs::remove_file(d.join(beside)).expect("remove");
    }
    // `backup` refuses the same.
    std::fs::write(d.join("backup.db-journal"), "a bank's").expect("write");
    let (code, err) = b.fail(&["backup", &d.join("backup.db").display().to_string()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("backup.db-journal") && err.contains("already exists"), "{err}");
    // With nothing left over, the copy is made, and its temporary name is gone.
    ok(d, &db, "tester", &["migrate", "--to", &copy_s]);
    assert!(ok(d, &copy_s, "tester", &["verify"]).contains("intact"));
    assert!(names_with(d, "copying").is_empty(), "{:?}", names_with(d, "copying"));
}

#[test]
fn a_copy_refused_after_rows_were_written_leaves_the_server_empty() {
    let Some(pg) = empty_database("a_copy_refused_after_rows_were_written_leaves_the_server_empty") else { return };
    let b = file_bench();
    let d = b.dir.path();
    let donor = b.screened_donor(days_ago(10));
    b.donation(&donor, days_ago(5));
    let db = b.db.display().to_string();
    let url = pg.url();
    let log_before = Outside::open(&b.db).count("SELECT count(*) FROM audit_log", &[]);
    // The server refuses a late row: an event trigger (no table: the database is still empty) plants, as the
    // schema makes `screening_results`, a trigger refusing its third row.
    let mut admin = Outside::open(Path::new(&url));
    admin
        .execute(
            "CREATE FUNCTION test_refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.id = 3 THEN RAISE EXCEPTION 'row 3 refused by the test'; END IF; RETURN NEW; END $$",
            &[],
        )
        .expect("function");
    admin
        .execute(
            "CREATE FUNCTION test_plant() RETURNS event_trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands()
                          WHERE command_tag = 'CREATE TABLE' AND object_identity LIKE '%.screening_results') THEN
                 EXECUTE 'CREATE TRIGGER test_refuse BEFORE INSERT ON screening_results
                          FOR EACH ROW EXECUTE FUNCTION test_refuse_row()';
               END IF;
             END $$",
            &[],
        )
        .expect("event function");
    admin
        .execute("CREATE EVENT TRIGGER test_plant ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION test_plant()", &[])
        .expect("event trigger");
    assert_eq!(tables_on(&pg), 0);

    let (code, err) = refused(d, &db, "tester", &["migrate", "--to", &url]);
    assert_eq!(code, 1, "{err}");
    // Named: the table, the first row of the batch refused, and the server's reason.
    assert!(err.contains("screening_results: the rows from key 1 on could not be written"), "{err}");
    assert!(err.contains("row 3 refused by the test"), "{err}");
    assert_eq!(tables_on(&pg), 0, "the rows written before (donors, screenings) are gone with the schema");
    let copies = Outside::open(&b.db).count("SELECT count(*) FROM audit_log WHERE action = 'copy'", &[]);
    assert_eq!(copies, 0, "the source records no copy");
    assert_eq!(Outside::open(&b.db).count("SELECT count(*) FROM audit_log", &[]), log_before);

    // Without the planted trigger the same database takes the copy.
    admin.execute("DROP EVENT TRIGGER test_plant", &[]).expect("drop");
    ok(d, &db, "tester", &["migrate", "--to", &url]);
    assert!(ok(d, &url, "tester", &["verify"]).contains("intact"));
}

#[test]
fn a_tampered_server_bank_is_not_copied() {
    let Some(pg) = empty_database("a_tampered_server_bank_is_not_copied") else { return };
    let b = file_bench();
    let d = b.dir.path();
    b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    let url = pg.url();
    ok(d, &b.db.display().to_string(), "tester", &["migrate", "--to", &url]);
    let mut server = Outside::open(Path::new(&url));
    assert_eq!(server.execute("UPDATE donors SET sex = 'M'", &[]), Ok(1), "tampered behind the program's back");
    let copy = d.join("copy.db");
    let (code, err) = refused(d, &url, "tester", &["migrate", "--to", &copy.display().to_string()]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("does not verify") && err.contains("donors"), "{err}");
    assert!(names_with(d, "copy").is_empty(), "nothing made: {:?}", names_with(d, "copy"));
    let copies = server.count("SELECT count(*) FROM audit_log WHERE action = 'copy'", &[]);
    assert_eq!(copies, 1, "only the copy that made it: the refused one is not recorded");
    // A column the schema does not make is not copied into one that lacks it.
    server.execute("UPDATE donors SET sex = 'F'", &[]).expect("undo");
    server.execute("ALTER TABLE donors ADD COLUMN note text", &[]).expect("add a column");
    let (_, err) = refused(d, &url, "tester", &["migrate", "--to", &copy.display().to_string()]);
    assert!(err.contains("donors: the source's columns (birth_date, id, note, registered_at, sex) differ"), "{err}");
    assert!(names_with(d, "copy").is_empty(), "nothing made: {:?}", names_with(d, "copy"));
}

#[test]
fn bytes_that_are_not_text_in_a_record_are_tampering_and_never_copied() {
    let Some(pg) = empty_database("bytes_that_are_not_text_in_a_record_are_tampering_and_never_copied") else {
        return;
    };
    let b = file_bench();
    let d = b.dir.path();
    let donor = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    b.ok(&["donor", "defer", "--permanent", "--reason", "x\u{FFFD}y", &donor]);
    // The replacement character's bytes swapped for one that is no UTF-8: a reader decoding leniently would see
    // the same text; the record no longer matches its entry.
    let mut c = Outside::open(&b.db);
    assert_eq!(c.execute("UPDATE deferrals SET reason = CAST(X'78FF79' AS TEXT)", &[]), Ok(1));
    let db = b.db.display().to_string();
    let copy = d.join("copy.db").display().to_string();
    for target in [pg.url(), copy.clone()] {
        let (code, err) = refused(d, &db, "tester", &["migrate", "--to", &target]);
        assert_eq!(code, 5, "{err}");
        assert!(err.contains("deferrals 1 differs"), "{err}");
    }
    assert_eq!(tables_on(&pg), 0, "the server stays empty");
    assert!(!std::path::Path::new(&copy).exists(), "no file is made");
}
