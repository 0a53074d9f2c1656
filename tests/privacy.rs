//! Donors' and patients' identity: sealed at rest, read only by identity viewers with identity unlocked, every read
//! audited, and nowhere else: not in labels, exports, reports, traces, recalls, the audit log, error messages, nor
//! the raw bytes of the database file and its write-ahead log.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::NaiveDate;
use common::{at, Bench};
use rusqlite::Connection;
use serde_json::Value;
use stoolbank::app::records::Identity;
use stoolbank::app::{AppError, Bank, IdentityAccess, IdentityError, NewDonor, SignInError};
use stoolbank::core::access::Role;
use stoolbank::core::config::{BenchPrefs, Config};
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

const PW: &str = "correct horse battery";
/// The bank's policy in these tests: quality managers and clinicians see identity.
const VIEWERS: &str = "identity_viewers = [\"quality-manager\", \"clinician\"]\n";

/// The binary, signed in as `user` with `password` in $`STOOLBANK_PASSWORD` (None: none given); a user added
/// gets [`PW`].
fn run_as(b: &Bench, user: &str, password: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stoolbank"));
    cmd.arg("--db").arg(&b.db).arg("--as").arg(user).args(args);
    cmd.env_remove("STOOLBANK_DB").env_remove("STOOLBANK_CONFIG").env_remove("STOOLBANK_USER");
    cmd.env("STOOLBANK_KEY", b.dir.path().join("bank.key"));
    cmd.env("STOOLBANK_ANCHOR", b.dir.path().join("anchors.log"));
    match password {
        Some(p) => cmd.env("STOOLBANK_PASSWORD", p),
        None => cmd.env_remove("STOOLBANK_PASSWORD"),
    };
    cmd.env("STOOLBANK_NEW_PASSWORD", PW).stdin(std::process::Stdio::null());
    cmd.output().expect("run stoolbank")
}

fn ok_as(b: &Bench, user: &str, args: &[&str]) -> String {
    let o = run_as(b, user, Some(PW), args);
    assert!(o.status.success(), "{user}: {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A bank with users, made through the CLI: the administrator `ada` first (set-up mode), the policy naming the
/// identity viewers' roles, then `tom` (technician), then `users` with their roles. Commands run as `tom`.
fn staffed_with(users: &[(&str, &str)]) -> Bench {
    staff(Bench::new(), users)
}

/// [`staffed_with`] on a bench in set-up mode.
fn staff(b: Bench, users: &[(&str, &str)]) -> Bench {
    ok_as(&b, "setup", &["user", "add", "ada", "--role", "admin"]);
    ok_as(&b, "ada", &["config", "set", &b.policy_file(VIEWERS)]);
    ok_as(&b, "ada", &["user", "add", "tom", "--role", "technician"]);
    for (name, role) in users {
        ok_as(&b, "ada", &["user", "add", name, "--role", role]);
    }
    b.signed_in("tom", PW)
}

/// [`staffed_with`] a quality manager `quinn` (enrolled first: the identity key moves from the set-up slot to
/// hers), a clinician `cleo` (her slot pending until a viewer unlocks) and an investigator `ivan`.
fn staffed() -> Bench {
    staffed_with(&[("quinn", "quality-manager"), ("cleo", "clinician"), ("ivan", "investigator")])
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

/// A recipient with planted identity, added by the clinician.
fn planted_recipient(b: &Bench) -> String {
    ok_as(
        b,
        "cleo",
        &[
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
        ],
    )
}

#[test]
fn planted_identity_is_in_no_output_and_not_in_the_database_file_or_its_log() {
    let b = staffed();
    // A reader holding the bank open keeps the write-ahead log from being emptied and removed when each command
    // ends, so that the log holds every page written since.
    let reader = Connection::open(&b.db).unwrap();
    reader.query_row("SELECT count(*) FROM donors", [], |_| Ok(())).unwrap();
    let donor = planted_donor(&b);
    b.screen_clean(&donor, d("2024-11-28"));
    let din = b.donation(&donor, d("2024-12-01"));
    let (batch, units) = b.batch(&din, d("2024-12-01"), 3);
    b.screen_clean(&donor, d("2024-12-31"));
    // The quality manager's sign-in unlocks identity, which also makes the clinician's pending slot.
    ok_as(&b, "quinn", &["batch", "release", &batch, "--at", "2025-01-02"]);
    let cleo = |args: &[&str]| ok_as(&b, "cleo", args);
    let r = planted_recipient(&b);
    cleo(&["dispense", &units[0], "--recipient", &r, "--route", "colonoscopy", "--at", &at(d("2025-01-10"), 10)]);
    cleo(&["followup", "add", &r, "--at", "2025-04-09", "--timepoint", "3m", "--outcome", "remission"]);
    cleo(&[
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

    // Every output of the chain, each by a user whose role may run it (viewers included: identity is never
    // shown unasked).
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
    let commands: Vec<(&str, Vec<String>)> = [
        ("tom", vec!["label", &batch, "--out", &p(&zpl)]),
        ("tom", vec!["label", &batch, "--format", "png", "--out", &p(&png)]),
        ("tom", vec!["label", &batch, "--format", "svg", "--out", &p(&svg)]),
        ("tom", vec!["label", &units[0], "--format", "svg"]),
        ("tom", vec!["label", &din]),
        ("quinn", vec!["export", "csv", &p(&csv)]),
        ("ivan", vec!["export", "fhir", &p(&fhir)]),
        ("cleo", vec!["report", "outcomes"]),
        ("quinn", vec!["report", "safety"]),
        ("ivan", vec!["report", "donors"]),
        ("cleo", vec!["--json", "report", "safety"]),
        ("quinn", vec!["trace", &donor]),
        ("cleo", vec!["trace", &r]),
        ("ivan", vec!["--json", "trace", &units[0]]),
        ("ivan", vec!["recall", "--donor", &donor, "--reason", "ESBL positive"]),
        ("quinn", vec!["recall", "--donor", &donor, "--reason", "ESBL positive", "--apply"]),
        ("cleo", vec!["--json", "recall", "--batch", &batch, "--reason", "check"]),
        ("quinn", vec!["donor", "show", &donor]),
        ("cleo", vec!["--json", "donor", "show", &donor]),
        ("quinn", vec!["donor", "list"]),
        ("cleo", vec!["recipient", "show", &r]),
        ("quinn", vec!["--json", "recipient", "show", &r]),
        ("cleo", vec!["recipient", "list"]),
        ("cleo", vec!["followup", "show", &r]),
        ("cleo", vec!["followup", "due"]),
        ("tom", vec!["batch", "show", &batch]),
        ("quinn", vec!["audit", "log"]),
        ("ivan", vec!["--json", "audit", "log"]),
        ("quinn", vec!["audit", "verify"]),
        ("ivan", vec!["verify"]),
        ("quinn", vec!["backup", &p(&backup)]),
    ]
    .into_iter()
    .map(|(user, c)| (user, c.into_iter().map(str::to_string).collect()))
    .collect();
    for (user, args) in &commands {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_as(&b, user, Some(PW), &args);
        assert!(o.status.success(), "{user}: {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert_no_leak(&format!("stdout of {args:?}"), &o.stdout);
        assert_no_leak(&format!("stderr of {args:?}"), &o.stderr);
    }
    let written = files_under(&out);
    assert!(written.len() >= 8, "labels, exports and the backup were written: {written:?}");
    for f in written {
        assert_no_leak(&f.display().to_string(), &file_bytes(&f));
    }
    // An error message about a person's record names no identity either: the technician is no viewer.
    let o = run_as(&b, "tom", Some(PW), &["donor", "show", &donor, "--identity"]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("identity.viewer"));
    assert_no_leak("a refusal", &o.stderr);

    // The identity is really there: viewers read it, unlocked by their sign-in, and each read is audited.
    let shown = ok_as(&b, "quinn", &["donor", "show", &donor, "--identity"]);
    assert!(shown.contains(DONOR_NAME) && shown.contains(DONOR_PHONE) && shown.contains(DONOR_NATIONAL_ID), "{shown}");
    let shown: Value =
        serde_json::from_str(&ok_as(&b, "cleo", &["--json", "recipient", "show", &r, "--identity"])).unwrap();
    assert_eq!(shown["identity"]["name"], RECIPIENT_NAME);
    let log = ok_as(&b, "quinn", &["--json", "audit", "log", &donor]);
    assert_no_leak("the audit log after identity reads", log.as_bytes());
    let log: Value = serde_json::from_str(&log).unwrap();
    let reads: Vec<&Value> = log.as_array().unwrap().iter().filter(|e| e["action"] == "identity-read").collect();
    assert_eq!(reads.len(), 1, "one read of the donor's identity: {log}");
    assert_eq!(reads[0]["actor"], "quinn");
    assert_eq!(reads[0]["subject"], log[0]["subject"], "the read names whose identity was read");

    // The file and log after these writes, then after a checkpoint.
    assert_no_leak("the database file", &file_bytes(&b.db));
    assert_no_leak("the write-ahead log", &file_bytes(&wal(&b.db)));
    reader.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(reader);
    assert_no_leak("the checkpointed database file", &file_bytes(&b.db));
    assert_no_leak("the write-ahead log after a checkpoint", &file_bytes(&wal(&b.db)));
    ok_as(&b, "quinn", &["audit", "verify"]);
}

#[test]
fn plain_shows_stay_read_only_and_only_viewers_reveal() {
    let b = staffed();
    let donor = planted_donor(&b);
    // A viewer's first sign-in on a bank opened for writing makes the pending slots: done before counting.
    ok_as(&b, "quinn", &["audit", "checkpoint"]);
    // Not an identity viewer: refused by the rule, nothing recorded.
    let before = b.signed_in("quinn", PW);
    let count = before.audit_len();
    let b = before.signed_in("tom", PW);
    let (code, err) = b.fail(&["donor", "show", &donor, "--identity"]);
    assert_eq!(code, 3);
    assert!(err.contains("refused by rule identity.viewer"), "{err}");
    let b = b.signed_in("quinn", PW);
    assert_eq!(b.audit_len(), count);
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
    assert_eq!(b.audit_len(), count + 1, "the read is one audit entry");
}

const ALICE_PW: &str = "alice's long password";
const BOB_PW: &str = "bob's long password";

/// A library bank on a file in set-up mode, with the bench's key file and a policy showing identity to quality
/// managers and clinicians.
fn set_up_bank(dir: &Path) -> Bank {
    let mut bank = Bank::init(&dir.join("bank.db"), Some("G1517"), BenchPrefs::default(), "setup").unwrap();
    bank.use_key_file(&dir.join("bank.key"), true).unwrap();
    let policy = Config { identity_viewers: vec![Role::QualityManager, Role::Clinician], ..Config::default() };
    bank.set_policy(&policy, bank.now()).unwrap();
    bank
}

/// The bank in `dir` opened as the TUI opens it, and `user` signed in with `password`: what sign-in did to
/// identity with it.
fn signed_in(dir: &Path, user: &str, password: &str) -> (Bank, IdentityAccess) {
    let mut bank = Bank::open(&dir.join("bank.db"), BenchPrefs::default(), "").unwrap();
    bank.use_key_file(&dir.join("bank.key"), true).unwrap();
    let access = bank.sign_in(user, password).unwrap();
    (bank, access)
}

fn identity_error(r: Result<impl std::fmt::Debug, AppError>) -> IdentityError {
    match r {
        Err(AppError::Identity(e)) => e,
        other => panic!("expected an identity error, got {other:?}"),
    }
}

fn locked_because(access: IdentityAccess) -> String {
    match access {
        IdentityAccess::Locked(why) => why,
        other => panic!("expected identity to stay locked, got {other:?}"),
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

fn current_public_key(db: &Path) -> Vec<u8> {
    let c = Connection::open(db).unwrap();
    c.query_row("SELECT public_key FROM identity_keys ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).unwrap()
}

fn setup_slots(db: &Path) -> i64 {
    let c = Connection::open(db).unwrap();
    c.query_row("SELECT count(*) FROM identity_key_slots WHERE viewer_id IS NULL AND removed_at IS NULL", [], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn viewers_enrol_unlock_change_password_and_are_revoked_with_a_re_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let mut s = set_up_bank(dir.path());
    let identity = Identity { name: Some(DONOR_NAME.into()), phone: Some(DONOR_PHONE.into()), national_id: None };
    let birth = d("1990-01-01");
    let donor = s.register_donor(NewDonor { sex: Sex::F, birth_date: birth, identity: identity.clone() }, s.now());
    let donor = donor.unwrap().id.into_value().unwrap();

    // Set-up mode (no users): the bank key file opens identity.
    assert!(s.identity_status().unwrap().set_up_mode);
    assert_eq!(s.donor_identity(&donor).unwrap(), identity);
    s.add_user("ada", &[Role::Admin], PW, s.now()).unwrap();
    drop(s);

    // The first viewer added is enrolled with their password, and the key moves from the set-up slot to theirs:
    // a copy of the file with the bank key file no longer opens identity.
    let (mut ada, access) = signed_in(dir.path(), "ada", PW);
    assert_eq!(access, IdentityAccess::NotViewer);
    ada.add_user("alice", &[Role::QualityManager], ALICE_PW, ada.now()).unwrap();
    let status = ada.identity_status().unwrap();
    assert!(!status.set_up_mode && status.pending.is_empty(), "alice's slot is made at once");
    assert_eq!(status.viewers, vec!["alice".to_string()]);
    assert_eq!(setup_slots(&db), 0);
    assert!(matches!(ada.donor_identity(&donor), Err(AppError::Refused(_))), "the administrator sees no identity");

    // A wrong password signs nobody in; the right one unlocks identity too.
    let mut a = Bank::open(&db, BenchPrefs::default(), "").unwrap();
    assert!(matches!(a.sign_in("alice", "guess"), Err(AppError::SignIn(SignInError::WrongPassword { .. }))));
    assert!(matches!(a.donor_identity(&donor), Err(AppError::SignIn(SignInError::SignedOut))));
    let (mut a, access) = signed_in(dir.path(), "alice", ALICE_PW);
    assert_eq!(access, IdentityAccess::Unlocked);
    assert_eq!(a.donor_identity(&donor).unwrap(), identity);
    let reads = a.audit_log(Some(&donor), 100).unwrap().into_iter().filter(|e| e.action == "identity-read").count();
    assert_eq!(reads, 2, "every read is audited (one in set-up mode, one by alice; refused ones read nothing)");
    // Signing out forgets the key.
    a.sign_out();
    let (a, _) = signed_in(dir.path(), "alice", ALICE_PW);
    drop(a);

    // Bob added while the administrator's session holds no key: his slot is pending until a viewer unlocks. He
    // signs in all the same; identity stays locked, and a read says why.
    ada.add_user("bob", &[Role::Clinician], BOB_PW, ada.now()).unwrap();
    assert_eq!(ada.identity_status().unwrap().pending, vec!["bob".to_string()]);
    let (mut bob, access) = signed_in(dir.path(), "bob", BOB_PW);
    assert!(locked_because(access).contains("pending"));
    assert_eq!(bob.actor(), "bob");
    let err = identity_error(bob.donor_identity(&donor));
    assert!(matches!(err, IdentityError::LockedAtSignIn(ref why) if why.contains("pending")), "{err}");
    let (_a, access) = signed_in(dir.path(), "alice", ALICE_PW);
    assert_eq!(access, IdentityAccess::Unlocked);
    assert!(ada.identity_status().unwrap().pending.is_empty(), "alice's unlock made bob's slot");
    let (mut bob, access) = signed_in(dir.path(), "bob", BOB_PW);
    assert_eq!(access, IdentityAccess::Unlocked);
    assert_eq!(bob.donor_identity(&donor).unwrap(), identity);

    // Alice changes her own password: her key is wrapped afresh with the new one; the old one opens nothing.
    let (mut a, _) = signed_in(dir.path(), "alice", ALICE_PW);
    a.set_password("alice", "alice's new password").unwrap();
    let mut a2 = Bank::open(&db, BenchPrefs::default(), "").unwrap();
    assert!(a2.sign_in("alice", ALICE_PW).is_err());
    let (mut a2, access) = signed_in(dir.path(), "alice", "alice's new password");
    assert_eq!(access, IdentityAccess::Unlocked, "her slot was made at once: her session held the key");
    assert_eq!(a2.donor_identity(&donor).unwrap(), identity);

    // Bob loses the clinician role while nobody holds the key: his slot is erased at once, the re-key waits for
    // alice's next unlock.
    let bob_wrapping = stored_wrapping(&db, "bob");
    assert!(opens_any_slot(&db, &bob_wrapping, BOB_PW), "the attack below works while bob is enrolled");
    ada.set_roles("bob", &[Role::Technician]).unwrap();
    assert_eq!(ada.identity_status().unwrap().rekey_due, vec!["bob".to_string()]);
    let (mut bob, access) = signed_in(dir.path(), "bob", BOB_PW);
    assert_eq!(access, IdentityAccess::NotViewer);
    assert!(matches!(bob.donor_identity(&donor), Err(AppError::Refused(_))));
    let key_before = current_public_key(&db);
    let (mut a3, access) = signed_in(dir.path(), "alice", "alice's new password");
    assert_eq!(access, IdentityAccess::Unlocked);
    assert_ne!(key_before, current_public_key(&db), "the re-key ran at alice's unlock: a new identity key");
    // Bob's old password and wrapped key, copied before his revocation, open no slot of the file.
    assert!(!opens_any_slot(&db, &bob_wrapping, BOB_PW));
    assert_eq!(a3.donor_identity(&donor).unwrap(), identity, "identity re-sealed to the new key");
    assert!(ada.identity_status().unwrap().rekey_due.is_empty());

    // The last viewer is revoked only from an unlocked session (the key then returns to the set-up slot):
    // disabling her with the key closed is refused, changing nothing.
    let before = common::table_counts(&db);
    assert!(matches!(identity_error(ada.disable_user("alice")), IdentityError::LastViewer { .. }));
    assert_eq!(common::table_counts(&db), before, "the refused disabling changed nothing");
    let r = a3.revoke_identity_viewer("alice").unwrap();
    assert!(r.rekeyed);
    assert!(ada.identity_status().unwrap().set_up_mode);
    ada.disable_user("alice").unwrap();
    // Bob, a clinician again, is enrolled at his next sign-in, from the set-up slot.
    ada.set_roles("bob", &[Role::Clinician]).unwrap();
    let (mut bob, access) = signed_in(dir.path(), "bob", BOB_PW);
    assert_eq!(access, IdentityAccess::Unlocked);
    assert_eq!(bob.donor_identity(&donor).unwrap(), identity);
    assert_eq!(setup_slots(&db), 0);
    drop((ada, a, a2, a3, bob));
    let o = Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .args(["--db", db.to_str().unwrap(), "--as", "ada", "audit", "verify"])
        .env("STOOLBANK_KEY", dir.path().join("bank.key"))
        .env("STOOLBANK_PASSWORD", PW)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let c = Connection::open(&db).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(c);
    assert_no_leak("the database file", &file_bytes(&db));
}

#[test]
fn the_cli_unlocks_with_the_sign_in_password() {
    let b = staffed();
    let donor = planted_donor(&b);
    let show = ["donor", "show", &donor, "--identity"];
    // Cleo's slot is pending (nobody has unlocked since she was added): she is signed in, identity is not.
    let o = run_as(&b, "cleo", Some(PW), &show);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("identity stayed locked at sign-in") && err.contains("pending"), "{err}");
    // A wrong password signs nobody in; no password is no sign-in.
    let o = run_as(&b, "quinn", Some("wrong password"), &show);
    assert_eq!(o.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrong password"));
    assert_eq!(run_as(&b, "quinn", None, &show).status.code(), Some(6));
    // The one sign-in unlocks identity: no other password is asked.
    let shown = ok_as(&b, "quinn", &show);
    assert!(shown.contains(DONOR_NAME), "{shown}");
    // Quinn's unlock made cleo's slot.
    assert!(ok_as(&b, "cleo", &show).contains(DONOR_NAME));
    // The technician is no viewer by the policy.
    let o = run_as(&b, "tom", Some(PW), &show);
    assert!(String::from_utf8_lossy(&o.stderr).contains("identity.viewer"), "{}", String::from_utf8_lossy(&o.stderr));
    // An administrator's reset enrols cleo afresh, pending again; a viewer's next unlock makes her slot.
    let new = "cleo's reset password";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stoolbank"));
    cmd.arg("--db").arg(&b.db).args(["--as", "ada", "user", "passwd", "cleo"]);
    cmd.env("STOOLBANK_KEY", b.dir.path().join("bank.key")).env("STOOLBANK_PASSWORD", PW);
    let o = cmd.env("STOOLBANK_NEW_PASSWORD", new).stdin(std::process::Stdio::null()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run_as(&b, "cleo", Some(new), &show);
    assert!(String::from_utf8_lossy(&o.stderr).contains("pending"), "{}", String::from_utf8_lossy(&o.stderr));
    ok_as(&b, "quinn", &show);
    let o = run_as(&b, "cleo", Some(new), &show);
    assert!(String::from_utf8_lossy(&o.stdout).contains(DONOR_NAME), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn identity_stored_in_clear_by_an_older_version_is_sealed_on_upgrade() {
    // Records made in set-up mode, then users; no viewer enrolled yet.
    let b = Bench::new();
    let donor = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    let r = b.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1955-03-03", "--indication", "rCDI"]);
    let b = staff(b, &[]);
    // The bank as an earlier version (schema 10: users, no identity keys, nor 0012's index) left it: identity in
    // clear, no keys.
    let c = Connection::open(&b.db).unwrap();
    c.execute_batch(
        "DROP TRIGGER donor_identities_sealed; DROP TRIGGER recipient_identities_sealed;
         DROP TRIGGER identity_keys_no_delete; DROP TRIGGER identity_viewers_no_delete;
         DROP TRIGGER identity_key_slots_no_delete;
         DROP INDEX donor_identities_clear; DROP INDEX recipient_identities_clear;
         DROP TABLE identity_key_slots; DROP TABLE identity_viewers; DROP TABLE identity_keys;
         ALTER TABLE donor_identities DROP COLUMN sealed; ALTER TABLE recipient_identities DROP COLUMN sealed;
         DROP INDEX donations_time_unreadable;
         PRAGMA user_version = 10;",
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

    ok_as(&b, "ada", &["init"]);
    assert_no_leak("the upgraded database file", &file_bytes(&b.db));
    assert_no_leak("the upgraded bank's log", &file_bytes(&wal(&b.db)));
    let log: Value = serde_json::from_str(&ok_as(&b, "ada", &["--json", "audit", "log"])).unwrap();
    let sealed = log.as_array().unwrap().iter().filter(|e| e["action"] == "seal-identity").count();
    assert_eq!(sealed, 2, "each row sealed is audited");
    assert_no_leak("the audit log", log.to_string().as_bytes());
    // The first viewer added takes the identity key from the set-up slot the upgrade made.
    ok_as(&b, "ada", &["user", "add", "quinn", "--role", "quality-manager"]);
    assert!(ok_as(&b, "quinn", &["donor", "show", &donor, "--identity"]).contains(DONOR_NAME));
    assert!(ok_as(&b, "quinn", &["recipient", "show", &r, "--identity"]).contains(RECIPIENT_NAME));
    ok_as(&b, "quinn", &["verify"]);
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
    let mut s = set_up_bank(dir.path());
    let identity = Identity { name: Some(DONOR_NAME.into()), ..Identity::default() };
    let donor =
        s.register_donor(NewDonor { sex: Sex::F, birth_date: d("1990-01-01"), identity: identity.clone() }, s.now());
    let donor = donor.unwrap().id.into_value().unwrap();
    s.add_user("ada", &[Role::Admin], PW, s.now()).unwrap();
    let (mut ada, _) = signed_in(dir.path(), "ada", PW);
    ada.add_user("alice", &[Role::QualityManager], ALICE_PW, ada.now()).unwrap();
    // Bob is added while the key is closed: pending. Alice's slot is then the only one anybody can open.
    ada.add_user("bob", &[Role::Clinician], BOB_PW, ada.now()).unwrap();
    assert_eq!(ada.identity_status().unwrap().pending, vec!["bob".to_string()]);
    let before = common::table_counts(&db);
    assert!(matches!(identity_error(ada.disable_user("alice")), IdentityError::LastViewer { .. }));
    assert!(matches!(identity_error(ada.set_roles("alice", &[Role::Technician])), IdentityError::LastViewer { .. }));
    assert!(matches!(
        identity_error(ada.set_password("alice", "alice's reset password")),
        IdentityError::OnlyCopy { .. }
    ));
    assert_eq!(common::table_counts(&db), before, "the refusals changed nothing");
    // Once alice has unlocked (which also makes bob's slot), her password may be reset: she is pending then.
    let (_a, access) = signed_in(dir.path(), "alice", ALICE_PW);
    assert_eq!(access, IdentityAccess::Unlocked);
    ada.set_password("alice", "alice's reset password").unwrap();
    let mut a = Bank::open(&db, BenchPrefs::default(), "").unwrap();
    assert!(a.sign_in("alice", ALICE_PW).is_err(), "the old password signs nobody in");
    let (_a, access) = signed_in(dir.path(), "alice", "alice's reset password");
    assert!(locked_because(access).contains("pending"));
    let (_b, access) = signed_in(dir.path(), "bob", BOB_PW);
    assert_eq!(access, IdentityAccess::Unlocked, "bob's unlock makes alice's slot");
    let (mut a, access) = signed_in(dir.path(), "alice", "alice's reset password");
    assert_eq!(access, IdentityAccess::Unlocked);
    assert_eq!(a.donor_identity(&donor).unwrap(), identity);
}

#[test]
fn the_demo_shows_identity_to_its_quality_manager_and_clinician() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = (dir.path().join("demo.db"), dir.path().join("bank.key"));
    stoolbank::demo::create(&db, &key, BenchPrefs::default(), "demo", 7).unwrap();
    let donor = {
        let mut bank = Bank::open(&db, BenchPrefs::default(), "").unwrap();
        bank.sign_in("tech", stoolbank::demo::DEMO_PASSWORD).unwrap();
        bank.all_donors(bank.now()).unwrap()[0].id.clone().into_value().unwrap()
    };
    for (user, sees) in [("qm", true), ("clinician", true), ("tech", false), ("investigator", false), ("admin", false)]
    {
        let mut bank = Bank::open(&db, BenchPrefs::default(), "").unwrap();
        bank.use_key_file(&key, true).unwrap();
        let access = bank.sign_in(user, stoolbank::demo::DEMO_PASSWORD).unwrap();
        assert_eq!(access == IdentityAccess::Unlocked, sees, "{user}: {access:?}");
        assert_eq!(bank.donor_identity(&donor).is_ok(), sees, "{user}");
    }
}

/// Another user's key slot is an administrator's to change: a viewer cannot revoke or re-enrol a colleague
/// through the library, and the refusal leaves the bank as it was.
#[test]
fn only_an_administrator_changes_another_users_key_slot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let mut s = set_up_bank(dir.path());
    s.add_user("ada", &[Role::Admin], PW, s.now()).unwrap();
    drop(s);
    let (mut ada, _) = signed_in(dir.path(), "ada", PW);
    ada.add_user("alice", &[Role::QualityManager], ALICE_PW, ada.now()).unwrap();
    ada.add_user("bob", &[Role::Clinician], BOB_PW, ada.now()).unwrap();
    drop(ada);
    let (mut alice, _) = signed_in(dir.path(), "alice", ALICE_PW);
    let before = common::table_counts(&db);
    assert!(matches!(alice.revoke_identity_viewer("bob"), Err(AppError::Denied(_))));
    assert!(matches!(alice.enrol_identity_viewer("bob", "a password alice chose"), Err(AppError::Denied(_))));
    assert_eq!(common::table_counts(&db), before, "the refused changes changed nothing");
}

#[test]
fn a_policy_that_drops_a_viewing_role_revokes_its_viewers_in_the_same_act() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let mut s = set_up_bank(dir.path());
    let identity = Identity { name: Some(DONOR_NAME.into()), phone: Some(DONOR_PHONE.into()), national_id: None };
    let new = NewDonor { sex: Sex::F, birth_date: d("1990-01-01"), identity: identity.clone() };
    let donor = s.register_donor(new, s.now()).unwrap().id.into_value().unwrap();
    s.add_user("ada", &[Role::Admin], PW, s.now()).unwrap();
    drop(s);
    let (mut ada, _) = signed_in(dir.path(), "ada", PW);
    ada.add_user("alice", &[Role::QualityManager], ALICE_PW, ada.now()).unwrap();
    ada.add_user("bob", &[Role::Clinician], BOB_PW, ada.now()).unwrap();
    let (_alice, access) = signed_in(dir.path(), "alice", ALICE_PW);
    assert_eq!(access, IdentityAccess::Unlocked, "alice's unlock makes bob's pending slot");
    let (mut bob, access) = signed_in(dir.path(), "bob", BOB_PW);
    assert_eq!(access, IdentityAccess::Unlocked);
    assert_eq!(bob.donor_identity(&donor).unwrap(), identity);
    let bob_wrapping = stored_wrapping(&db, "bob");
    assert!(opens_any_slot(&db, &bob_wrapping, BOB_PW), "the attack below works while bob is a viewer");

    // The administrator drops clinicians from the viewers: bob is revoked in the same act.
    let qm_only = Config { identity_viewers: vec![Role::QualityManager], ..Config::default() };
    ada.set_policy(&qm_only, ada.now()).unwrap();
    assert!(!opens_any_slot(&db, &bob_wrapping, BOB_PW), "bob's old slot opens nothing");
    let status = ada.identity_status().unwrap();
    assert_eq!((status.viewers, status.rekey_due), (vec!["alice".to_string()], vec!["bob".to_string()]));
    let log = ada.audit_log(None, 20).unwrap();
    let set = log.iter().filter(|e| e.action == "set-policy").max_by_key(|e| e.seq).unwrap();
    let ended = log.iter().filter(|e| e.entity == "identity_viewers" && e.subject == "bob").max_by_key(|e| e.seq);
    let ended = ended.unwrap();
    assert!(ended.seq > set.seq && ended.recorded_at == set.recorded_at, "one act: {set:?} {ended:?}");

    // Dropping every viewing role while nobody here holds the key would leave no usable copy: refused whole, the
    // policy not stored either.
    let before = common::table_counts(&db);
    let nobody = Config { identity_viewers: Vec::new(), ..Config::default() };
    assert!(matches!(identity_error(ada.set_policy(&nobody, ada.now())), IdentityError::LastViewer { .. }));
    assert_eq!(common::table_counts(&db), before, "neither the policy nor a revocation");
    assert_eq!(ada.policy().unwrap().identity_viewers, vec![Role::QualityManager]);

    // Alice's next unlock re-keys; bob signs in as no viewer; identity reads on for alice.
    let key_before = current_public_key(&db);
    let (mut alice, access) = signed_in(dir.path(), "alice", ALICE_PW);
    assert_eq!(access, IdentityAccess::Unlocked);
    assert_ne!(key_before, current_public_key(&db), "a new identity key");
    assert!(!opens_any_slot(&db, &bob_wrapping, BOB_PW));
    assert_eq!(alice.donor_identity(&donor).unwrap(), identity);
    let (mut bob, access) = signed_in(dir.path(), "bob", BOB_PW);
    assert_eq!(access, IdentityAccess::NotViewer);
    assert!(matches!(bob.donor_identity(&donor), Err(AppError::Refused(_))));
}
