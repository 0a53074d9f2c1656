//! Tampering an unkeyed hash chain cannot catch, and tampering with the schema: signed checkpoints in an anchor
//! log, the schema against the program's, keyed identity digests, bytes that are not text, values no reader can
//! parse, and a damaged file.

mod common;

use common::{days_ago, Bench};
use rusqlite::Connection;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

fn banked() -> (Bench, String) {
    let b = Bench::new();
    let day = days_ago(20);
    let donor = b.screened_donor(day - chrono::Duration::days(1));
    b.donation(&donor, day);
    (b, donor)
}

/// Runs a check that must fail with exit 5 and name `expect`.
fn fails_naming(b: &Bench, args: &[&str], expect: &str) {
    let out = b.run(args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(5), "{args:?} must find tampering: {text}");
    assert!(text.contains(expect), "{args:?}: expected `{expect}` in:\n{text}");
}

fn anchor_arg(b: &Bench) -> String {
    b.dir.path().join("anchors.log").display().to_string()
}

/// A stored hash as hex, whatever the entry's format (format 1 stores hex text, format 2 the 32 bytes).
fn hash_hex(v: rusqlite::types::ValueRef) -> String {
    match v {
        rusqlite::types::ValueRef::Blob(b) => hex::encode(b),
        v => v.as_str().unwrap().to_string(),
    }
}

/// What an attacker with the file and the program's source can do: edit entries with the triggers dropped and
/// recompute every hash from `from` on, each in its entry's format, so that the bare chain verifies.
fn rehash_from(c: &Connection, from: i64) {
    c.execute_batch("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;").unwrap();
    let mut prev: String = c
        .query_row("SELECT hash FROM audit_log WHERE seq = ?1", [from - 1], |r| Ok(hash_hex(r.get_ref(0)?)))
        .unwrap_or_else(|_| "0".repeat(64));
    let seqs: Vec<i64> = c
        .prepare("SELECT seq FROM audit_log WHERE seq >= ?1 ORDER BY seq")
        .unwrap()
        .query_map([from], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for seq in seqs {
        let e: Vec<Value> = c
            .query_row(
                "SELECT seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after,
                        typeof(hash) = 'blob' FROM audit_log WHERE seq = ?1",
                [seq],
                |r| {
                    Ok((0..11)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Integer(n) => json!(n),
                            rusqlite::types::ValueRef::Null => Value::Null,
                            v => json!(v.as_str().unwrap()),
                        })
                        .collect())
                },
            )
            .unwrap();
        let parse = |v: &Value| v.as_str().map_or(Value::Null, |s| serde_json::from_str::<Value>(s).unwrap());
        let mut canonical = json!({
            "seq": e[0], "at": e[1], "recorded_at": e[2], "actor": e[3], "action": e[4], "entity": e[5],
            "entity_id": e[6], "subject": e[7], "before": parse(&e[8]), "after": parse(&e[9]), "prev_hash": prev,
        });
        let digest = |v: &Value| Sha256::digest(v.to_string().as_bytes()).to_vec();
        if e[10] == json!(1) {
            canonical["format"] = json!(2);
            let hash = digest(&canonical);
            c.execute("UPDATE audit_log SET hash = ?1 WHERE seq = ?2", rusqlite::params![hash, seq]).unwrap();
            prev = hex::encode(hash);
        } else {
            let hash = hex::encode(digest(&canonical));
            c.execute(
                "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
                rusqlite::params![prev, hash, seq],
            )
            .unwrap();
            prev = hash;
        }
    }
}

fn head(c: &Connection) -> i64 {
    c.query_row("SELECT max(seq) FROM audit_log", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_full_chain_rewrite_with_correct_hashes_is_caught_by_the_anchor() {
    let (b, _) = banked();
    b.ok(&["audit", "checkpoint"]);
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch("DROP TRIGGER audit_log_no_update").unwrap();
    c.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", []).unwrap();
    rehash_from(&c, 1);
    drop(c);
    assert!(b.ok(&["audit", "verify"]).contains("intact"), "a bare chain cannot tell");
    fails_naming(&b, &["audit", "verify", "--anchor", &anchor_arg(&b)], "the chain was rewritten");
}

#[test]
fn a_truncated_tail_is_caught_by_the_anchor() {
    let (b, _) = banked();
    let before = head(&Connection::open(&b.db).unwrap());
    // The last write: a donor (one entry), then the checkpoint; the attacker removes both the donor and its entry.
    let donor = b.ok(&["donor", "add", "--sex", "M", "--birth-date", "1991-01-01"]);
    b.ok(&["audit", "checkpoint"]);
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch("DROP TRIGGER audit_log_no_delete; DROP TRIGGER donors_no_delete;").unwrap();
    c.execute("DELETE FROM audit_log WHERE seq > ?1", [before]).unwrap();
    c.execute("DELETE FROM donors WHERE id = ?1", [&donor[..7]]).unwrap();
    drop(c);
    assert!(b.ok(&["audit", "verify"]).contains("intact"), "a bare chain cannot tell");
    fails_naming(&b, &["audit", "verify", "--anchor", &anchor_arg(&b)], "truncated");
}

#[test]
fn forged_entries_appended_after_an_anchor_are_caught() {
    let (b, donor) = banked();
    b.ok(&["audit", "checkpoint"]);
    // A deferral slipped in after the checkpoint, with its audit entry and a correct hash, dated before it.
    let c = Connection::open(&b.db).unwrap();
    c.execute(
        "INSERT INTO deferrals (donor_id, reason, starts_on, until, permanent, recorded_at)
         VALUES (?1, 'x', '2020-01-01', '2020-02-01', 0, '2020-01-01T00:00:00Z')",
        [&donor[..7]],
    )
    .unwrap();
    let id = c.last_insert_rowid();
    let mut stmt = c.prepare("SELECT * FROM deferrals WHERE id = ?1").unwrap();
    let names: Vec<String> = stmt.column_names().map(std::string::ToString::to_string).collect();
    let row: Map<String, Value> = stmt
        .query_row([id], |r| {
            Ok(names
                .iter()
                .enumerate()
                // As the program writes a row (entry format 2): without its key and its NULL columns.
                .filter_map(|(i, n)| {
                    let v = match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Integer(x) => json!(x),
                        rusqlite::types::ValueRef::Null => return None,
                        v => json!(v.as_str().unwrap()),
                    };
                    (n != "id").then(|| (n.clone(), v))
                })
                .collect())
        })
        .unwrap();
    drop(stmt);
    let seq = head(&c) + 1;
    c.execute(
        "INSERT INTO audit_log (seq, at, recorded_at, actor, action, entity, entity_id, subject, before, after,
                                prev_hash, hash) VALUES (?1, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z', 'tester',
                                'defer', 'deferrals', ?2, ?3, NULL, ?4, NULL, zeroblob(32))",
        rusqlite::params![seq, id.to_string(), &donor[..7], Value::Object(row).to_string()],
    )
    .unwrap();
    rehash_from(&c, seq);
    drop(c);
    assert!(b.ok(&["audit", "verify"]).contains("intact"), "a bare chain cannot tell");
    fails_naming(&b, &["audit", "verify", "--anchor", &anchor_arg(&b)], &format!("entry {seq} claims to be recorded"));
}

#[test]
fn an_edited_anchor_log_is_named() {
    let (b, _) = banked();
    b.ok(&["audit", "checkpoint"]);
    let log = b.dir.path().join("anchors.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut anchor: Value = serde_json::from_str(text.trim()).unwrap();
    anchor["seq"] = json!(1);
    std::fs::write(&log, format!("{anchor}\n")).unwrap();
    fails_naming(&b, &["audit", "verify", "--anchor", &anchor_arg(&b)], "signature does not hold");
}

#[test]
fn checkpoints_on_an_untouched_bank_verify() {
    let (b, donor) = banked();
    b.ok(&["audit", "checkpoint"]);
    b.ok(&["donor", "defer", &donor, "--reason", "travel", "--until", "2099-01-01"]);
    b.ok(&["audit", "checkpoint"]);
    b.ok(&["donor", "add", "--sex", "M", "--birth-date", "1991-01-01"]);
    assert!(b.ok(&["audit", "verify", "--anchor", &anchor_arg(&b)]).contains("intact"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(b.dir.path().join("bank.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the bank key is readable by its owner only");
    }
}

#[test]
fn verify_names_every_schema_difference() {
    let (b, _) = banked();
    assert!(b.run(&["verify"]).status.success());
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch(
        "DROP TRIGGER dispenses_no_delete;
         CREATE TRIGGER redirect AFTER INSERT ON dispenses BEGIN
             UPDATE dispenses SET recipient_id = 'R000001' WHERE id = NEW.id; END;
         CREATE INDEX sneaky ON donors (birth_date);
         PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = replace(sql, 'mass_g       REAL', 'mass_g       TEXT')
             WHERE name = 'donations';
         PRAGMA writable_schema = OFF;",
    )
    .unwrap();
    drop(c);
    for expect in [
        "trigger dispenses_no_delete (on dispenses) is missing",
        "trigger redirect (on dispenses) is not the program's",
        "index sneaky (on donors) is not the program's",
        "table donations: column mass_g changed from `REAL` to `TEXT`",
    ] {
        fails_naming(&b, &["verify"], expect);
    }
}

#[test]
fn identity_rows_are_audited_by_a_keyed_digest_and_still_checked() {
    let b = Bench::new();
    let donor = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02", "--name", "Ada Lovelace"]);
    let log = b.ok(&["--json", "audit", "log"]);
    // The unkeyed digest of the row (what the log used to hold) lets anyone test candidate names.
    let c = Connection::open(&b.db).unwrap();
    let (id, recorded): (i64, String) =
        c.query_row("SELECT id, recorded_at FROM donor_identities", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let row = json!({"id": id, "donor_id": &donor[..7], "name": "Ada Lovelace", "phone": null,
                     "national_id": null, "recorded_at": recorded, "supersedes": null});
    let unkeyed = hex::encode(Sha256::digest(row.to_string().as_bytes()));
    assert!(!log.contains(&unkeyed), "the log must not hold a guessable digest of a name");
    assert!(log.contains("hmac_sha256"), "{log}");
    c.execute("UPDATE donor_identities SET name = 'Eve' WHERE id = ?1", [id]).unwrap();
    drop(c);
    fails_naming(&b, &["audit", "verify"], &format!("donor_identities {id} differs"));
}

#[test]
fn an_audit_entry_holding_bytes_that_are_not_text_is_tampering() {
    let (b, _) = banked();
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch(
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = CAST(X'6D616CFF' AS TEXT) WHERE seq = 2;",
    )
    .unwrap();
    drop(c);
    fails_naming(&b, &["verify"], "audit entry 2 holds bytes that are not text in its actor column");
    fails_naming(&b, &["audit", "log"], "audit entry 2 holds bytes that are not text");
}

#[test]
fn a_record_whose_text_was_replaced_by_bytes_that_read_alike_differs() {
    let (b, donor) = banked();
    // A reason holding U+FFFD, which is what the bytes 78 FF 79 read as when read leniently.
    b.ok(&["donor", "defer", &donor, "--reason", "x\u{FFFD}y", "--until", &days_ago(-5).to_string()]);
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch("UPDATE deferrals SET reason = CAST(X'78FF79' AS TEXT)").unwrap();
    drop(c);
    fails_naming(&b, &["verify"], "deferrals 1 differs");
}

#[test]
fn a_timestamp_no_reader_can_parse_is_named_by_verify() {
    let (b, donor) = banked();
    let c = Connection::open(&b.db).unwrap();
    c.execute("UPDATE donors SET registered_at = '-0001-06-01T00:00:00Z' WHERE id = ?1", [&donor[..7]]).unwrap();
    drop(c);
    fails_naming(&b, &["verify"], "registered_at `-0001-06-01T00:00:00Z` is not a timestamp this program can read");
    // A list still shows the donor (the time is not among its columns); tests/malformed.rs covers marked fields.
    assert!(b.ok(&["donor", "list"]).starts_with(&donor), "the donor is listed");
}

#[test]
fn a_damaged_file_refuses_writes_until_repaired_and_reads_still_work() {
    let (b, donor) = banked();
    let c = Connection::open(&b.db).unwrap();
    // An index that no longer matches its table: SQLite's integrity check fails, the data is still readable.
    let root: i64 =
        c.query_row("SELECT rootpage FROM sqlite_master WHERE name = 'donations_donor'", [], |r| r.get(0)).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;").unwrap();
    drop(c);
    let page_size = 4096;
    let mut bytes = std::fs::read(&b.db).unwrap();
    let page = (root as usize - 1) * page_size;
    // Zero the index page's cell content (keeps the page header): its entries vanish.
    let header = if root == 1 { 100 } else { 0 };
    bytes[page + header + 3] = 0;
    bytes[page + header + 4] = 0;
    std::fs::write(&b.db, bytes).unwrap();
    let out = b.run(&["verify"]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stdout));
    let (code, err) = b.fail(&["donor", "defer", &donor, "--reason", "travel", "--until", "2099-01-01"]);
    assert_eq!(code, 1);
    assert!(err.contains("writes are refused until it is repaired"), "{err}");
    b.ok(&["trace", &donor]);
}

/// A batch of units made in one entry: the entry is hashed as stored, so a changed member is named.
#[test]
fn an_altered_member_of_a_batch_entry_is_named() {
    let (b, donor) = banked();
    let donation = b.donation(&donor, days_ago(19));
    let day = common::at(days_ago(19), 9);
    b.ok(&["batch", "make", &donation, "--product", "F0001", "--units", "2", "--at", &day]);
    let c = Connection::open(&b.db).unwrap();
    let seq: i64 = c.query_row("SELECT seq FROM audit_log WHERE action = 'create-units'", [], |r| r.get(0)).unwrap();
    c.execute_batch(
        "DROP TRIGGER audit_log_no_update;
         UPDATE audit_log SET after = replace(after, '{\"kind\":\"dose\"}', '{\"kind\":\"dose\",\"location\":\"x\"}')
         WHERE action = 'create-units';",
    )
    .unwrap();
    drop(c);
    fails_naming(&b, &["audit", "verify"], &format!("audit entry {seq} (create-units units batch_id="));
}

/// An incremental check starts from the checkpoint a full check signed: it checks the entries after it and the
/// records they wrote, and what it leaves to the full check is exactly what came before.
#[test]
fn an_incremental_check_covers_what_was_written_since_the_last_verified_checkpoint() {
    let (b, donor) = banked();
    let anchor = anchor_arg(&b);
    b.ok(&["audit", "checkpoint"]);
    let (code, err) = b.fail(&["audit", "verify", "--since", "last"]);
    assert_eq!(code, 2, "no verified checkpoint yet: {err}");
    assert!(err.contains("run one first"), "{err}");
    assert!(b.ok(&["audit", "verify", "--anchor", &anchor]).contains("intact"));
    let verified = head(&Connection::open(&b.db).unwrap());
    let donation = b.donation(&donor, days_ago(19));
    let out = b.ok(&["audit", "verify", "--since", "last"]);
    assert!(out.contains(&format!("after the checkpoint of entry {verified}")), "{out}");
    // A record written since is checked...
    let c = Connection::open(&b.db).unwrap();
    c.execute("UPDATE donations SET mass_g = 999 WHERE id = ?1", [&donation[..13]]).unwrap();
    fails_naming(&b, &["audit", "verify", "--since", "last"], &format!("donations {} differs", &donation[..13]));
    c.execute("UPDATE donations SET mass_g = 120 WHERE id = ?1", [&donation[..13]]).unwrap();
    // ...and so is every entry after the checkpoint, and the checkpoint's own entry, rehashed or not.
    c.execute_batch("DROP TRIGGER audit_log_no_update").unwrap();
    c.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?1", [verified + 1]).unwrap();
    fails_naming(&b, &["audit", "verify", "--since", "last"], &format!("audit entry {}", verified + 1));
    c.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = ?1", [verified]).unwrap();
    rehash_from(&c, verified);
    fails_naming(&b, &["audit", "verify", "--since", &verified.to_string()], "the chain was rewritten");
    // A record no later entry wrote is left to the full check.
    let c = Connection::open(&b.db).unwrap();
    c.execute("UPDATE donors SET sex = 'M' WHERE id = ?1", [&donor[..7]]).unwrap();
    drop(c);
    let full = b.run(&["audit", "verify"]);
    assert!(String::from_utf8_lossy(&full.stdout).contains(&format!("donors {} differs", &donor[..7])));
}

#[test]
fn an_incremental_check_needs_a_checkpoint_signed_with_the_bank_key() {
    let (b, _) = banked();
    // Without the bank key file (made when the bank was created, for its identity key): set aside for this run.
    let (key, away) = (b.dir.path().join("bank.key"), b.dir.path().join("bank.key.away"));
    std::fs::rename(&key, &away).unwrap();
    let (code, err) = b.fail(&["audit", "verify", "--since", "3"]);
    std::fs::rename(&away, &key).unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs the bank key"), "{err}");
    b.ok(&["audit", "checkpoint"]);
    let (code, err) = b.fail(&["audit", "verify", "--since", "999"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no checkpoint of entry 999"), "{err}");
    let (code, err) = b.fail(&["audit", "verify", "--since", "yesterday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`yesterday` is neither"), "{err}");
}
