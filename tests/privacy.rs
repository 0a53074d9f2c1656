//! Donors' and patients' identity: sealed at rest, read only by identity viewers with identity unlocked, every read
//! audited, and nowhere else: not in labels, exports, reports, traces, recalls, the audit log, error messages, nor
//! the raw bytes of the database file and its write-ahead log.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDate;
use common::{at, Bench};
use rusqlite::Connection;
use serde_json::Value;
use stoolbank::app::records::Identity;
use stoolbank::app::{AppError, Bank, IdentityError, NewDonor};
use stoolbank::core::config::Config;
use stoolbank::core::model::Sex;

const DONOR_NAME: &str = "Quintzalbeth Moorcroft";
const DONOR_PHONE: &str = "+86 138 7305 2291";
const DONOR_NATIONAL_ID: &str = "ZX9981736642";
const RECIPIENT_NAME: &str = "Ottoline Varnesbrook";
const RECIPIENT_PHONE: &str = "+44 7700 918273";
const PLANTED: [&str; 5] = [DONOR_NAME, DONOR_PHONE, DONOR_NATIONAL_ID, RECIPIENT_NAME, RECIPIENT_PHONE];

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Whether `bytes` hold any planted text, in UTF-8 or UTF-16 (either byte order), or a planted name's first word.
fn leaks(bytes: &[u8]) -> Option<String> {
    let mut needles: Vec<&str> = PLANTED.to_vec();
    needles.extend(["Quintzalbeth", "Varnesbrook", "7305 2291", "918273"]);
    for n in needles {
        let utf16 = |le: bool| -> Vec<u8> {
            n.encode_utf16().flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() }).collect()
        };
        for pattern in [n.as_bytes().to_vec(), utf16(true), utf16(false)] {
            if bytes.windows(pattern.len()).any(|w| w == pattern.as_slice()) {
                return Some(n.to_string());
            }
        }
    }
    None
}

fn assert_no_leak(what: &str, bytes: &[u8]) {
    if let Some(found) = leaks(bytes) {
        panic!("{what} holds the planted identity text {found:?}");
    }
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

fn wal(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", db.display()))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A bench where "tester" is an identity viewer by the policy.
fn viewer_bench() -> Bench {
    let mut b = Bench::new();
    b.with_config("identity_viewers = [\"tester\", \"alice\"]\n");
    b
}

/// Runs stoolbank on the bench as `actor`, with `password` in $`STOOLBANK_PASSWORD` when given.
fn run_with(b: &Bench, actor: &str, password: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stoolbank"));
    cmd.arg("--db").arg(&b.db).arg("--as").arg(actor);
    if let Some(c) = &b.config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(args).env_remove("STOOLBANK_DB").env_remove("STOOLBANK_CONFIG").env_remove("STOOLBANK_PASSWORD");
    cmd.env("STOOLBANK_KEY", b.dir.path().join("bank.key"));
    if let Some(p) = password {
        cmd.env("STOOLBANK_PASSWORD", p);
    }
    cmd.output().expect("run stoolbank")
}

fn planted_donor(b: &Bench) -> String {
    b.ok(&[
        "donor",
        "add",
        "--sex",
        "F",
        "--birth-date",
        "1990-04-02",
        "--name",
        DONOR_NAME,
        "--phone",
        DONOR_PHONE,
        "--national-id",
        DONOR_NATIONAL_ID,
    ])
}

fn planted_recipient(b: &Bench) -> String {
    b.ok(&[
        "recipient",
        "add",
        "--sex",
        "M",
        "--birth-date",
        "1955-03-03",
        "--indication",
        "rCDI",
        "--name",
        RECIPIENT_NAME,
        "--phone",
        RECIPIENT_PHONE,
    ])
}

#[test]
fn planted_identity_is_in_no_output_and_not_in_the_database_file_or_its_log() {
    let b = viewer_bench();
    // A reader holding the bank open keeps the write-ahead log from being emptied and removed when each command
    // ends, so that the log holds every page written since.
    let reader = Connection::open(&b.db).unwrap();
    reader.query_row("SELECT count(*) FROM donors", [], |_| Ok(())).unwrap();
    let donor = planted_donor(&b);
    b.screen_clean(&donor, d("2024-11-28"));
    let din = b.donation(&donor, d("2024-12-01"));
    let (batch, units) = b.batch(&din, d("2024-12-01"), 3);
    b.screen_clean(&donor, d("2024-12-31"));
    b.ok(&["batch", "release", &batch, "--at", "2025-01-02"]);
    let r = planted_recipient(&b);
    b.ok(&["dispense", &units[0], "--recipient", &r, "--route", "colonoscopy", "--at", &at(d("2025-01-10"), 10)]);
    b.ok(&["followup", "add", &r, "--at", "2025-04-09", "--timepoint", "3m", "--outcome", "remission"]);
    b.ok(&[
        "ae",
        "add",
        &r,
        "--onset",
        "2025-01-11",
        "--term",
        "fever",
        "--grade",
        "3",
        "--serious",
        "yes",
        "--relatedness",
        "definite",
        "--unit",
        &units[0],
    ]);

    // The file and its log right after the writes, before any checkpoint.
    assert!(wal(&b.db).exists(), "the writes are in the write-ahead log");
    assert_no_leak("the database file", &file_bytes(&b.db));
    assert_no_leak("the write-ahead log", &file_bytes(&wal(&b.db)));

    // Every output of the chain.
    let out = b.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (zpl, png, svg, csv, fhir, backup) = (
        out.join("labels.zpl"),
        out.join("png"),
        out.join("svg"),
        out.join("csv"),
        out.join("bundle.json"),
        out.join("backup.db"),
    );
    let p = |p: &Path| p.display().to_string();
    let commands: Vec<Vec<String>> = [
        vec!["label", &batch, "--out", &p(&zpl)],
        vec!["label", &batch, "--format", "png", "--out", &p(&png)],
        vec!["label", &batch, "--format", "svg", "--out", &p(&svg)],
        vec!["label", &units[0], "--format", "svg"],
        vec!["label", &din],
        vec!["export", "csv", &p(&csv)],
        vec!["export", "fhir", &p(&fhir)],
        vec!["report", "outcomes"],
        vec!["report", "safety"],
        vec!["report", "donors"],
        vec!["--json", "report", "safety"],
        vec!["trace", &donor],
        vec!["trace", &r],
        vec!["--json", "trace", &units[0]],
        vec!["recall", "--donor", &donor, "--reason", "ESBL positive"],
        vec!["recall", "--donor", &donor, "--reason", "ESBL positive", "--apply"],
        vec!["--json", "recall", "--batch", &batch, "--reason", "check"],
        vec!["donor", "show", &donor],
        vec!["--json", "donor", "show", &donor],
        vec!["donor", "list"],
        vec!["recipient", "show", &r],
        vec!["--json", "recipient", "show", &r],
        vec!["recipient", "list"],
        vec!["followup", "show", &r],
        vec!["followup", "due"],
        vec!["batch", "show", &batch],
        vec!["audit", "log"],
        vec!["--json", "audit", "log"],
        vec!["audit", "verify"],
        vec!["verify"],
        vec!["backup", &p(&backup)],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(str::to_string).collect())
    .collect();
    for args in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = b.run(&args);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert_no_leak(&format!("stdout of {args:?}"), &o.stdout);
        assert_no_leak(&format!("stderr of {args:?}"), &o.stderr);
    }
    let written = files_under(&out);
    assert!(written.len() >= 8, "labels, exports and the backup were written: {written:?}");
    for f in written {
        assert_no_leak(&f.display().to_string(), &file_bytes(&f));
    }
    // An error message about a person's record names no identity either.
    let o = run_with(&b, "mallory", None, &["donor", "show", &donor, "--identity"]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("identity.viewer"));
    assert_no_leak("a refusal", &o.stderr);

    // The identity is really there: a viewer reads it (set-up mode: the bank key file opens it), audited.
    let shown = b.ok(&["donor", "show", &donor, "--identity"]);
    assert!(shown.contains(DONOR_NAME) && shown.contains(DONOR_PHONE) && shown.contains(DONOR_NATIONAL_ID), "{shown}");
    let shown = b.json(&["recipient", "show", &r, "--identity"]);
    assert_eq!(shown["identity"]["name"], RECIPIENT_NAME);
    let log = b.ok(&["--json", "audit", "log", &donor]);
    assert_no_leak("the audit log after identity reads", log.as_bytes());
    let log: Value = serde_json::from_str(&log).unwrap();
    let reads: Vec<&Value> = log.as_array().unwrap().iter().filter(|e| e["action"] == "identity-read").collect();
    assert_eq!(reads.len(), 1, "one read of the donor's identity: {log}");
    assert_eq!(reads[0]["actor"], "tester");
    assert_eq!(reads[0]["subject"], log[0]["subject"], "the read names whose identity was read");

    // The file and log after these writes, then after a checkpoint.
    assert_no_leak("the database file", &file_bytes(&b.db));
    assert_no_leak("the write-ahead log", &file_bytes(&wal(&b.db)));
    reader.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(reader);
    assert_no_leak("the checkpointed database file", &file_bytes(&b.db));
    assert_no_leak("the write-ahead log after a checkpoint", &file_bytes(&wal(&b.db)));
    b.ok(&["audit", "verify"]);
}

#[test]
fn plain_shows_stay_read_only_and_only_viewers_reveal() {
    let mut b = Bench::new();
    let donor = planted_donor(&b);
    // Not an identity viewer: refused by the rule, nothing recorded.
    let before = b.audit_len();
    let (code, err) = b.fail(&["donor", "show", &donor, "--identity"]);
    assert_eq!(code, 3);
    assert!(err.contains("refused by rule identity.viewer"), "{err}");
    assert_eq!(b.audit_len(), before);
    b.with_config("identity_viewers = [\"tester\"]\n");
    // A plain show reads a read-only file; the revealing one must record the read, so it needs to write.
    let mut perms = std::fs::metadata(&b.db).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&b.db, perms.clone()).unwrap();
    let shown = b.ok(&["donor", "show", &donor]);
    assert!(!shown.contains(DONOR_NAME), "{shown}");
    let (code, _) = b.fail(&["donor", "show", &donor, "--identity"]);
    assert_ne!(code, 0);
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&b.db, perms).unwrap();
    assert!(b.ok(&["donor", "show", &donor, "--identity"]).contains(DONOR_NAME));
    assert_eq!(b.audit_len(), before + 1, "the read is one audit entry");
}

/// A library bank on a file, acting as `actor`, with the bench's key file.
fn bank(dir: &Path, actor: &str) -> Bank {
    let config = Config { identity_viewers: vec!["alice".into(), "bob".into(), "tester".into()], ..Config::default() };
    let mut bank = Bank::init(&dir.join("bank.db"), Some("G1517"), config, actor).unwrap();
    bank.use_key_file(&dir.join("bank.key"), true).unwrap();
    bank
}

fn identity_error(r: Result<impl std::fmt::Debug, AppError>) -> IdentityError {
    match r {
        Err(AppError::Identity(e)) => e,
        other => panic!("expected an identity error, got {other:?}"),
    }
}

/// A viewer's wrapped private key as stored, opened with their password the way an attacker with a copy of the file
/// and the password would, and every slot of the bank tried with it.
fn opens_any_slot(db: &Path, wrapped: &(Vec<u8>, i64, i64, i64, Vec<u8>), password: &str) -> bool {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let (salt, m, t, p, blob) = wrapped;
    let params = argon2::Params::new(*m as u32, *t as u32, *p as u32, Some(32)).unwrap();
    let mut key = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, &mut key)
        .unwrap();
    let (nonce, sealed) = blob.split_at(24);
    let cipher = chacha20poly1305::XChaCha20Poly1305::new((&key).into());
    let Ok(mine) = cipher.decrypt(nonce.into(), sealed) else { return false };
    let mine = crypto_box::SecretKey::from_slice(&mine).unwrap();
    let c = Connection::open(db).unwrap();
    let slots: Vec<Vec<u8>> = c
        .prepare("SELECT sealed_key FROM identity_key_slots WHERE sealed_key IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    slots.iter().any(|s| mine.unseal(s).is_ok())
}

fn stored_wrapping(db: &Path, user: &str) -> (Vec<u8>, i64, i64, i64, Vec<u8>) {
    let c = Connection::open(db).unwrap();
    c.query_row(
        "SELECT kdf_salt, kdf_m_kib, kdf_t, kdf_p, wrapped_key FROM identity_viewers
         WHERE user_name = ?1 AND ended_at IS NULL",
        [user],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )
    .unwrap()
}

#[test]
fn viewers_enrol_unlock_change_password_and_are_revoked_with_a_re_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let mut t = bank(dir.path(), "tester");
    let identity = Identity { name: Some(DONOR_NAME.into()), phone: Some(DONOR_PHONE.into()), national_id: None };
    let birth = d("1990-01-01");
    let donor = t.register_donor(NewDonor { sex: Sex::F, birth_date: birth, identity: identity.clone() }, t.now());
    let donor = donor.unwrap().id.into_value().unwrap();

    // Set-up mode: the bank key file opens identity for a viewer.
    assert!(t.identity_status().unwrap().set_up_mode);
    assert_eq!(t.donor_identity(&donor).unwrap(), identity);
    // The first enrolment moves the key from the set-up slot to alice's slot.
    let e = t.enrol_identity_viewer("alice", "alice's long password").unwrap();
    assert!(e.ended_set_up_mode && !e.pending);
    assert!(matches!(identity_error(t.donor_identity(&donor)), IdentityError::Locked));
    // A copy of the file with the bank key file: no longer enough.
    drop(t);
    let mut t = bank(dir.path(), "tester");
    assert!(matches!(identity_error(t.donor_identity(&donor)), IdentityError::Locked));

    // A wrong password cannot unlock, a right one can.
    let mut a = bank(dir.path(), "alice");
    assert!(matches!(identity_error(a.unlock_identity("alice", "guess")), IdentityError::WrongPassword { .. }));
    assert!(matches!(identity_error(a.donor_identity(&donor)), IdentityError::Locked));
    a.unlock_identity("alice", "alice's long password").unwrap();
    assert_eq!(a.donor_identity(&donor).unwrap(), identity);
    let reads = a.audit_log(Some(&donor), 100).unwrap().into_iter().filter(|e| e.action == "identity-read").count();
    assert_eq!(reads, 2, "every read is audited (one in set-up mode, one by alice; refused ones read nothing)");
    drop(a);

    // Bob enrolled while nobody is unlocked: his slot is pending until alice next unlocks.
    let e = t.enrol_identity_viewer("bob", "bob's long password").unwrap();
    assert!(e.pending);
    assert_eq!(t.identity_status().unwrap().pending, vec!["bob".to_string()]);
    let mut bob = bank(dir.path(), "bob");
    assert!(matches!(identity_error(bob.unlock_identity("bob", "bob's long password")), IdentityError::Pending { .. }));
    let mut a = bank(dir.path(), "alice");
    let u = a.unlock_identity("alice", "alice's long password").unwrap();
    assert_eq!(u.slots_made, vec!["bob".to_string()]);
    bob.unlock_identity("bob", "bob's long password").unwrap();
    assert_eq!(bob.donor_identity(&donor).unwrap(), identity);

    // A new password replaces the old one.
    a.change_viewer_password("alice", "alice's long password", "alice's new password").unwrap();
    let mut a2 = bank(dir.path(), "alice");
    assert!(matches!(
        identity_error(a2.unlock_identity("alice", "alice's long password")),
        IdentityError::WrongPassword { .. }
    ));
    a2.unlock_identity("alice", "alice's new password").unwrap();

    // Bob revoked from a locked session: his slot is erased at once, the re-key waits for alice's next unlock.
    let bob_wrapping = stored_wrapping(&db, "bob");
    assert!(opens_any_slot(&db, &bob_wrapping, "bob's long password"), "the attack below works while bob is enrolled");
    let r = t.revoke_identity_viewer("bob").unwrap();
    assert!(!r.rekeyed);
    assert_eq!(t.identity_status().unwrap().rekey_due, vec!["bob".to_string()]);
    let mut bob = bank(dir.path(), "bob");
    assert!(matches!(
        identity_error(bob.unlock_identity("bob", "bob's long password")),
        IdentityError::NotEnrolled { .. }
    ));
    let key_before: Vec<u8> = Connection::open(&db)
        .unwrap()
        .query_row("SELECT public_key FROM identity_keys ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let mut a3 = bank(dir.path(), "alice");
    let u = a3.unlock_identity("alice", "alice's new password").unwrap();
    assert!(u.rekeyed, "the re-key ran at alice's unlock");
    let c = Connection::open(&db).unwrap();
    let key_after: Vec<u8> =
        c.query_row("SELECT public_key FROM identity_keys ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_ne!(key_before, key_after, "a new identity key");
    drop(c);
    // Bob's old password and wrapped key, copied before his revocation, open no slot of the file.
    assert!(!opens_any_slot(&db, &bob_wrapping, "bob's long password"));
    assert_eq!(a3.donor_identity(&donor).unwrap(), identity, "identity re-sealed to the new key");
    assert!(t.identity_status().unwrap().rekey_due.is_empty());

    // The last viewer is revoked only from an unlocked session; the key then returns to the set-up slot.
    let before = common::table_counts(&db);
    assert!(matches!(identity_error(t.revoke_identity_viewer("alice")), IdentityError::LastViewer { .. }));
    assert_eq!(common::table_counts(&db), before, "the refused revocation changed nothing");
    let r = a3.revoke_identity_viewer("alice").unwrap();
    assert!(r.rekeyed);
    let mut t = bank(dir.path(), "tester");
    assert!(t.identity_status().unwrap().set_up_mode);
    assert_eq!(t.donor_identity(&donor).unwrap(), identity);
    drop((t, a, a2, a3, bob));
    let o = Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .args(["--db", db.to_str().unwrap(), "audit", "verify"])
        .env("STOOLBANK_KEY", dir.path().join("bank.key"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let c = Connection::open(&db).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(c);
    assert_no_leak("the database file", &file_bytes(&db));
}

#[test]
fn the_cli_unlocks_with_the_viewers_password() {
    let b = viewer_bench();
    let donor = planted_donor(&b);
    let mut lib = bank_on(&b, "tester");
    lib.enrol_identity_viewer("alice", "alice's long password").unwrap();
    drop(lib);
    let show = ["donor", "show", &donor, "--identity"];
    let o = run_with(&b, "alice", None, &show);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("identity is locked") && err.contains("STOOLBANK_PASSWORD"), "{err}");
    let o = run_with(&b, "alice", Some("wrong"), &show);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not unlock"));
    let o = run_with(&b, "alice", Some("alice's long password"), &show);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains(DONOR_NAME));
    // tester may see identity by the policy but is not enrolled: locked out once viewers are enrolled.
    let o = run_with(&b, "tester", Some("anything"), &show);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not enrolled"), "{}", String::from_utf8_lossy(&o.stderr));
}

fn bank_on(b: &Bench, actor: &str) -> Bank {
    let config = Config { identity_viewers: vec!["tester".into(), "alice".into()], ..Config::default() };
    let mut bank = Bank::open(&b.db, config, actor).unwrap();
    bank.use_key_file(&b.dir.path().join("bank.key"), true).unwrap();
    bank
}

#[test]
fn identity_stored_in_clear_by_an_older_version_is_sealed_on_upgrade() {
    let b = viewer_bench();
    let donor = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    let r = b.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1955-03-03", "--indication", "rCDI"]);
    // The bank as the previous version (schema 7) left it: identity in clear, no keys.
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch(
        "DROP TRIGGER donor_identities_sealed; DROP TRIGGER recipient_identities_sealed;
         DROP TRIGGER identity_keys_no_delete; DROP TRIGGER identity_viewers_no_delete;
         DROP TRIGGER identity_key_slots_no_delete;
         DROP INDEX donor_identities_clear; DROP INDEX recipient_identities_clear;
         DROP TABLE identity_key_slots; DROP TABLE identity_viewers; DROP TABLE identity_keys;
         ALTER TABLE donor_identities DROP COLUMN sealed; ALTER TABLE recipient_identities DROP COLUMN sealed;
         PRAGMA user_version = 7;",
    )
    .unwrap();
    let (dd, rr) = (&donor[..7], &r[..7]);
    c.execute(
        "INSERT INTO donor_identities (donor_id, name, phone, national_id, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        [dd, DONOR_NAME, DONOR_PHONE, DONOR_NATIONAL_ID, "2025-01-01T09:00:00Z"],
    )
    .unwrap();
    c.execute(
        "INSERT INTO recipient_identities (recipient_id, name, phone, recorded_at) VALUES (?1, ?2, ?3, ?4)",
        [rr, RECIPIENT_NAME, RECIPIENT_PHONE, "2025-01-01T09:00:00Z"],
    )
    .unwrap();
    drop(c);
    assert!(leaks(&file_bytes(&b.db)).is_some(), "the older bank holds identity in clear");
    // Reads of the older bank show no identity and leave it as it was.
    assert!(!b.ok(&["donor", "show", &donor]).contains(DONOR_NAME));

    b.ok(&["init"]);
    assert_no_leak("the upgraded database file", &file_bytes(&b.db));
    assert_no_leak("the upgraded bank's log", &file_bytes(&wal(&b.db)));
    let log = b.json(&["audit", "log"]);
    let sealed = log.as_array().unwrap().iter().filter(|e| e["action"] == "seal-identity").count();
    assert_eq!(sealed, 2, "each row sealed is audited");
    assert_no_leak("the audit log", log.to_string().as_bytes());
    assert!(b.ok(&["donor", "show", &donor, "--identity"]).contains(DONOR_NAME));
    assert!(b.ok(&["recipient", "show", &r, "--identity"]).contains(RECIPIENT_NAME));
    b.ok(&["verify"]);
    let c = Connection::open(&b.db).unwrap();
    let clear: i64 = c
        .query_row(
            "SELECT (SELECT count(*) FROM donor_identities WHERE name IS NOT NULL OR phone IS NOT NULL)
                  + (SELECT count(*) FROM recipient_identities WHERE name IS NOT NULL OR phone IS NOT NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(clear, 0);
    // New clear text is refused by the schema itself.
    let e = c
        .execute(
            "INSERT INTO donor_identities (donor_id, name, recorded_at) VALUES (?1, 'x', '2025-01-01T09:00:00Z')",
            [dd],
        )
        .unwrap_err();
    assert!(e.to_string().contains("sealed"), "{e}");
}

#[test]
fn no_change_leaves_the_identity_key_in_no_usable_slot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let mut t = bank(dir.path(), "tester");
    let identity = Identity { name: Some(DONOR_NAME.into()), ..Identity::default() };
    let donor =
        t.register_donor(NewDonor { sex: Sex::F, birth_date: d("1990-01-01"), identity: identity.clone() }, t.now());
    let donor = donor.unwrap().id.into_value().unwrap();
    t.enrol_identity_viewer("alice", "alice's long password").unwrap();
    // Bob is enrolled while the key is closed: pending. Alice's slot is then the only one anybody can open.
    assert!(t.enrol_identity_viewer("bob", "bob's long password").unwrap().pending);
    let before = common::table_counts(&db);
    assert!(matches!(identity_error(t.revoke_identity_viewer("alice")), IdentityError::LastViewer { .. }));
    assert!(matches!(identity_error(t.enrol_identity_viewer("alice", "reset")), IdentityError::OnlyCopy { .. }));
    assert_eq!(common::table_counts(&db), before, "the refusals changed nothing");
    // From alice's unlocked session (which also makes bob's slot), both work.
    let mut a = bank(dir.path(), "alice");
    a.unlock_identity("alice", "alice's long password").unwrap();
    t.enrol_identity_viewer("alice", "alice's reset password").unwrap();
    let mut a = bank(dir.path(), "alice");
    assert!(matches!(
        identity_error(a.unlock_identity("alice", "alice's long password")),
        IdentityError::WrongPassword { .. }
    ));
    assert!(matches!(
        identity_error(a.unlock_identity("alice", "alice's reset password")),
        IdentityError::Pending { .. }
    ));
    let mut b = bank(dir.path(), "bob");
    assert_eq!(b.unlock_identity("bob", "bob's long password").unwrap().slots_made, vec!["alice".to_string()]);
    a.unlock_identity("alice", "alice's reset password").unwrap();
    assert_eq!(a.donor_identity(&donor).unwrap(), identity);
}
