//! Access control: users, roles, sign-in, lockout, signatures and four eyes, through the app API (as the TUI
//! uses it) and through the binary (as scripts use it), on real bank files.

mod common;

use std::process::Output;

use common::{at, days_ago, table_counts, Bench, Outside};
use stoolbank::app::{AppError, Bank, SignInError};
use stoolbank::core::access::Role;
use stoolbank::core::config::BenchPrefs;

const PW: &str = "correct horse battery";

/// A bank with an administrator and one user per bench role, all with password [`PW`].
fn staffed(db: &std::path::Path) -> Bank {
    let mut bank = Bank::init(db, Some("G1517"), BenchPrefs::default(), "setup").unwrap();
    let now = bank.now();
    bank.add_user("ada", &[Role::Admin], PW, now).unwrap();
    bank.sign_in("ada", PW).unwrap();
    for (name, role) in [
        ("tom", Role::Technician),
        ("tess", Role::Technician),
        ("quinn", Role::QualityManager),
        ("cleo", Role::Clinician),
        ("ivan", Role::Investigator),
    ] {
        bank.add_user(name, &[role], PW, now).unwrap();
    }
    bank
}

#[test]
fn a_bank_with_users_opens_signed_out_and_refuses_until_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    drop(staffed(&db));
    let mut bank = Bank::open(&db, BenchPrefs::default(), "whoever").unwrap();
    assert!(bank.access_control());
    assert!(matches!(bank.counts(bank.now()), Err(AppError::SignIn(SignInError::SignedOut))));
    bank.sign_in("ivan", PW).unwrap();
    assert_eq!(bank.actor(), "ivan");
    assert!(bank.counts(bank.now()).is_ok(), "reads are open to the investigator");
    let err = bank.register_donor(donor(), bank.now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused by rule access.role: ivan (investigator) may not register-donor; it takes: technician"
    );
    bank.sign_out();
    assert!(matches!(bank.counts(bank.now()), Err(AppError::SignIn(SignInError::SignedOut))));
}

fn donor() -> stoolbank::app::NewDonor {
    stoolbank::app::NewDonor {
        sex: stoolbank::core::model::Sex::F,
        birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        identity: Default::default(),
    }
}

#[test]
fn a_signed_act_needs_the_password_again_and_a_wrong_one_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    drop(staffed(&db));
    let mut bank = Bank::open(&db, BenchPrefs::default(), "").unwrap();
    bank.sign_in("quinn", PW).unwrap();
    // Any identifier: the signature is asked before the batch is looked for.
    let b = stoolbank::core::ids::Id::parse("D0000010").unwrap();
    let err = bank.release_batch(&b, bank.now()).unwrap_err();
    assert!(matches!(err, AppError::SignIn(SignInError::SignatureNeeded(_))), "{err}");
    let err = bank.sign("not the password").unwrap_err();
    assert!(matches!(err, AppError::SignIn(SignInError::WrongPassword { failed: 1, .. })), "{err}");
    bank.sign(PW).unwrap();
    // Signed, the act goes on to its rules (here: no such batch); the signature is used up by the attempt.
    assert!(matches!(bank.release_batch(&b, bank.now()), Err(AppError::NotFound { .. })));
    assert!(matches!(bank.release_batch(&b, bank.now()), Err(AppError::SignIn(SignInError::SignatureNeeded(_)))));
}

#[test]
fn the_first_user_is_an_admin_and_then_only_an_admin_adds_users() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let mut bank = Bank::init(&db, Some("G1517"), BenchPrefs::default(), "setup").unwrap();
    let now = bank.now();
    let err = bank.add_user("tom", &[Role::Technician], PW, now).unwrap_err();
    assert!(err.to_string().contains("must hold the admin role"), "{err}");
    let err = bank.add_user("ada", &[Role::Admin], "short", now).unwrap_err();
    assert!(err.to_string().contains("at least 12"), "{err}");
    bank.add_user("ada", &[Role::Admin], PW, now).unwrap();
    let mut bank = Bank::open(&db, BenchPrefs::default(), "").unwrap();
    bank.sign_in("ada", PW).unwrap();
    bank.add_user("tom", &[Role::Technician], PW, now).unwrap();
    let mut bank = Bank::open(&db, BenchPrefs::default(), "").unwrap();
    bank.sign_in("tom", PW).unwrap();
    let err = bank.add_user("eve", &[Role::Admin], PW, now).unwrap_err();
    assert!(err.to_string().contains("access.role: tom (technician) may not user-admin"), "{err}");
}

/// The binary, signed in as `user` with `password` (None: no password in the environment).
fn run_as(b: &Bench, user: &str, password: Option<&str>, args: &[&str]) -> Output {
    command_as(b, user, password, args).output().unwrap()
}

fn command_as(b: &Bench, user: &str, password: Option<&str>, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"));
    cmd.arg("--db").arg(&b.db).arg("--as").arg(user).args(args);
    cmd.env_remove("STOOLBANK_DB").env_remove("STOOLBANK_CONFIG").env_remove("STOOLBANK_USER");
    cmd.env("STOOLBANK_KEY", b.dir.path().join("bank.key"));
    cmd.env("STOOLBANK_ANCHOR", b.dir.path().join("anchors.log"));
    match password {
        Some(p) => cmd.env("STOOLBANK_PASSWORD", p),
        None => cmd.env_remove("STOOLBANK_PASSWORD"),
    };
    cmd.env("STOOLBANK_NEW_PASSWORD", PW).env_remove("STOOLBANK_COUNTERSIGN_PASSWORD");
    cmd.stdin(std::process::Stdio::null());
    cmd
}

fn ok_as(b: &Bench, user: &str, args: &[&str]) -> String {
    let out = run_as(b, user, Some(PW), args);
    assert!(out.status.success(), "{user}: {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Exit code and the one line on stderr.
fn fail_as(b: &Bench, user: &str, password: Option<&str>, args: &[&str]) -> (i32, String) {
    let out = run_as(b, user, password, args);
    assert!(!out.status.success(), "{user}: {args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    (out.status.code().unwrap_or(-1), err)
}

/// A bank staffed through the CLI: the first-run path (set-up mode, then the first admin), then one user a role.
fn staffed_cli() -> Bench {
    let b = Bench::new();
    add_staff(&b);
    b
}

/// The first administrator (the first-run path) and one user a role, through the CLI.
fn add_staff(b: &Bench) {
    ok_as(b, "setup", &["user", "add", "ada", "--role", "admin"]);
    for (name, role) in [
        ("tom", "technician"),
        ("tess", "technician"),
        ("quinn", "quality-manager"),
        ("quincy", "quality-manager"),
        ("cleo", "clinician"),
        ("ivan", "investigator"),
    ] {
        ok_as(b, "ada", &["user", "add", name, "--role", role]);
    }
}

/// The bank's row counts, leaving out the audit entries of sign-ins (each sign-in, right or wrong, is audited):
/// what a refused act leaves as it was.
fn counts_but_sign_ins(db: &std::path::Path) -> Vec<(String, i64)> {
    let audited = Outside::open(db).count(
        "SELECT count(*) FROM audit_log
         WHERE action NOT IN ('sign-in', 'sign-in-failed', 'lock-out-user', 'sign-in-after-failures')",
        &[],
    );
    let mut counts = table_counts(db);
    for (table, n) in &mut counts {
        if table == "audit_log" {
            *n = audited;
        }
    }
    counts
}

#[test]
fn recall_apply_takes_a_second_persons_countersign_when_the_policy_asks() {
    let b = Bench::new();
    b.set_policy("recall_apply_second_person = true\n");
    let donor = b.screened_donor(days_ago(40));
    let (batch, _) = b.batch(&b.donation(&donor, days_ago(30)), days_ago(30), 2);
    add_staff(&b);
    assert!(ok_as(&b, "ivan", &["config", "show"]).contains("recall_apply_second_person = true"));
    ok_as(&b, "ada", &["user", "add", "quill", "--role", "quality-manager"]);
    ok_as(&b, "ada", &["user", "disable", "quill"]);
    let apply = ["recall", "--batch", batch.as_str(), "--reason", "sterility", "--apply"];
    let countersigned = |who: &str, password: &str| {
        let mut args = apply.to_vec();
        args.extend(["--countersign", who]);
        let mut cmd = command_as(&b, "quinn", Some(PW), &args);
        cmd.env("STOOLBANK_COUNTERSIGN_PASSWORD", password).output().unwrap()
    };
    let before = counts_but_sign_ins(&b.db);
    let (code, err) = fail_as(&b, "quinn", Some(PW), &apply);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("refused by rule recall.four-eyes: the policy asks a second person"), "{err}");
    assert!(err.contains("--countersign USER"), "the hint names the flag: {err}");
    for (who, password, why) in [
        ("quinn", PW, "quinn signed it already"),
        ("tom", PW, "tom (technician) may not apply recalls; a countersign takes: quality-manager"),
        ("quill", PW, "user quill is disabled"),
        ("quincy", "wrong password!", "wrong password for quincy (1 failed in a row"),
        ("nobody", PW, "no user nobody"),
    ] {
        let out = countersigned(who, password);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{who}: {err}");
        assert!(err.contains("refused by rule recall.four-eyes") && err.contains(why), "{who}: {err}");
        assert_eq!(counts_but_sign_ins(&b.db), before, "{who}: a refused countersign changes nothing");
    }
    // A wrong countersign password counts toward that user's lockout, like any wrong password.
    assert!(ok_as(&b, "ada", &["user", "list"]).contains("quincy  quality-manager  enabled (1 failed sign-ins)"));
    let out = countersigned("quincy", PW);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sigs: Vec<(String, String, String)> = b
        .outside()
        .texts(
            "SELECT s.signer || '|' || s.meaning || '|' || a.action
             FROM signatures s JOIN audit_log a ON a.seq = s.audit_seq WHERE s.entity = 'recalls' ORDER BY s.id",
            &[],
        )
        .iter()
        .map(|row| {
            let f: Vec<&str> = row.split('|').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    let expected = [
        ("quinn", "recall applied: sterility", "recall"),
        ("quincy", "recall countersigned: sterility", "countersign-recall"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| ((*a).to_string(), (*b).to_string(), (*c).to_string())).collect();
    assert_eq!(sigs, expected, "each signature bound to an audit entry of the recall, its signer's");
    ok_as(&b, "quinn", &["verify"]);
}

#[test]
fn sign_in_refusals_exit_6_naming_why_and_lockout_needs_an_admin() {
    let b = staffed_cli();
    let counts = table_counts(&b.db);
    let (code, err) = fail_as(&b, "nobody", Some(PW), &["donor", "list"]);
    assert_eq!((code, err.as_str()), (6, "stoolbank: sign-in refused: no user nobody in this bank"));
    let (code, err) = fail_as(&b, "tom", None, &["donor", "list"]);
    assert_eq!(code, 6);
    assert!(err.contains("no password given for tom"), "{err}");
    assert_eq!(table_counts(&b.db), counts, "a refused sign-in changes nothing");
    for n in 1..=4 {
        let (code, err) = fail_as(&b, "tom", Some("wrong password!"), &["donor", "list"]);
        assert_eq!(code, 6);
        assert!(err.contains(&format!("wrong password for tom ({n} failed in a row; locked out at 5)")), "{err}");
    }
    let (code, err) = fail_as(&b, "tom", Some("wrong password!"), &["donor", "list"]);
    assert!(code == 6 && err.contains("tom is locked out after 5 failed sign-ins"), "{err}");
    let (code, err) = fail_as(&b, "tom", Some(PW), &["donor", "list"]);
    assert!(code == 6 && err.contains("locked out"), "the right password does not open a lockout: {err}");
    let log = ok_as(&b, "ada", &["audit", "log", "--json"]);
    assert!(log.contains("lock-out-user") && log.contains("sign-in-failed"), "the lockout is in the audit trail");
    assert!(!log.contains("$argon2id$"), "no password hash in the audit trail");
    ok_as(&b, "ada", &["user", "enable", "tom"]);
    ok_as(&b, "tom", &["donor", "list"]);
    ok_as(&b, "ada", &["user", "disable", "tom"]);
    let (code, err) = fail_as(&b, "tom", Some(PW), &["donor", "list"]);
    assert_eq!((code, err.as_str()), (6, "stoolbank: sign-in refused: user tom is disabled"));
    let list = ok_as(&b, "ada", &["user", "list"]);
    assert!(list.contains("tom  technician  disabled"), "{list}");
    let (code, err) = fail_as(&b, "ada", Some(PW), &["user", "disable", "ada"]);
    assert!(code == 2 && err.contains("last enabled administrator"), "{err}");
}

#[test]
fn four_eyes_and_signatures_bound_to_their_record() {
    let b = staffed_cli();
    let day = days_ago(40);
    let d = ok_as(&b, "tom", &["donor", "add", "--sex", "F", "--birth-date", "1990-04-02"]);
    for kind in ["questionnaire", "blood", "stool", "donation-day"] {
        ok_as(&b, "tom", &["donor", "screen", &d, "--kind", kind, "--date", &day.to_string(), "--all-negative"]);
    }
    let din = ok_as(&b, "tom", &["donation", "add", &d, "--collected-at", &at(day, 8), "--mass-g", "120"]);
    let batch = ok_as(&b, "tom", &["batch", "make", &din, "--product", "F0001", "--units", "2", "--at", &at(day, 9)]);
    for t in ["appearance", "viable-count"] {
        ok_as(&b, "tom", &["qc", "add", &batch, "--test", &format!("{t}=pass"), "--at", &at(day, 12)]);
    }
    // The quality manager enters the last QC result: then they may not release.
    let (code, err) = fail_as(&b, "quinn", Some(PW), &["qc", "add", &batch, "--test", "pathogen-screen=pass"]);
    assert!(code == 3 && err.contains("access.role: quinn (quality-manager) may not qc-entry"), "{err}");
    ok_as(&b, "tess", &["qc", "add", &batch, "--test", "pathogen-screen=pass", "--at", &at(day, 12)]);
    let after = days_ago(5).to_string();
    for kind in ["questionnaire", "blood", "stool"] {
        ok_as(&b, "tom", &["donor", "screen", &d, "--kind", kind, "--date", &after, "--all-negative"]);
    }
    ok_as(&b, "ada", &["user", "set-roles", "tess", "--role", "technician", "--role", "quality-manager"]);
    let before = counts_but_sign_ins(&b.db);
    let (code, err) = fail_as(&b, "tess", Some(PW), &["batch", "release", &batch]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("refused by rule release.four-eyes: tess entered QC pathogen-screen of this batch"), "{err}");
    assert_eq!(counts_but_sign_ins(&b.db), before, "nothing changed but tess's sign-in, audited");
    ok_as(&b, "quinn", &["batch", "release", &batch]);
    let sigs = signatures(&b);
    assert_eq!(sigs.len(), 1);
    assert_eq!((sigs[0].1.as_str(), sigs[0].2.as_str()), ("quinn", "released for clinical use"));
    ok_as(&b, "quinn", &["verify"]);
    // A signature copied onto another record is named by verify.
    b.outside()
        .execute(
            "INSERT INTO signatures (signer, meaning, entity, entity_id, audit_seq, entry_hash, signed_at)
             SELECT signer, meaning, entity, 'G151726000009F0001', (SELECT max(seq) FROM audit_log), entry_hash,
                    signed_at
             FROM signatures WHERE id = 1",
            &[],
        )
        .unwrap();
    let out = run_as(&b, "quinn", Some(PW), &["verify"]);
    assert_eq!(out.status.code(), Some(5));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("signature 2 (\"released for clinical use\" by quinn) does not match audit entry"),
        "{stdout}"
    );
}

/// (id, signer, meaning) of every signature.
fn signatures(b: &Bench) -> Vec<(i64, String, String)> {
    let rows = b
        .outside()
        .texts("SELECT CAST(id AS TEXT) || '|' || signer || '|' || meaning FROM signatures ORDER BY id", &[]);
    rows.iter()
        .map(|row| {
            let f: Vec<&str> = row.split('|').collect();
            (f[0].parse().unwrap(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

/// Every operation tried by every role through the binary: allowed exactly where the access table allows it
/// (the command may still meet a rule or a missing record, never `access.role`), refused elsewhere by rule
/// `access.role` with exit code 3 and the bank unchanged.
#[test]
fn every_operation_by_every_role_follows_the_access_table() {
    use stoolbank::core::access::{permits, Actor, Operation as Op};
    let b = Bench::new();
    // The records the operations act on, made in set-up mode.
    let donor = b.screened_donor(days_ago(40));
    let din = b.donation(&donor, days_ago(30));
    let (batch, units) = b.batch(&din, days_ago(30), 3);
    let (spare, _) = b.batch(&b.donation(&donor, days_ago(29)), days_ago(29), 1);
    b.screen_clean(&donor, days_ago(5));
    b.ok(&["batch", "release", &batch]);
    let r = b.ok(&["recipient", "add", "--sex", "M", "--birth-date", "1950-01-01", "--indication", "rCDI"]);
    let screening = b.json(&["donor", "show", &donor])["screenings"][0]["id"].as_i64().unwrap().to_string();
    let dir = b.dir.path().to_path_buf();
    let file = |name: &str| dir.join(name).display().to_string();
    let policy = b.policy_file("");
    let users = staff(&b);
    // Taken with the users in it: a backup from before them would restore a bank in set-up mode.
    let backup = file("for-restore.db");
    // A server has no file to back up or restore (its own tools do it): there both are still refused by role first.
    if !common::pg::store_is_server() {
        ok_as(&b, "admin-1", &["backup", &backup]);
    }

    let today = days_ago(0).to_string();
    let cases: Vec<(Op, Vec<String>)> = vec![
        (Op::RegisterDonor, args(&["donor", "add", "--sex", "F", "--birth-date", "1991-02-03"])),
        (Op::Screen, args(&["donor", "screen", &donor, "--kind", "questionnaire", "--date", &today, "--all-negative"])),
        (Op::Defer, args(&["donor", "defer", &donor, "--reason", "travel", "--until", &days_ago(-1).to_string()])),
        (Op::LiftDeferral, args(&["donor", "lift-deferral", &donor, "--reason", "cleared"])),
        (Op::Intake, args(&["donation", "add", &donor, "--collected-at", &at(days_ago(1), 8)])),
        (
            Op::MakeBatch,
            args(&["batch", "make", &din, "--product", "F0002", "--units", "1", "--at", &at(days_ago(30), 10)]),
        ),
        (Op::QcEntry, args(&["qc", "add", &spare, "--test", "appearance=pass"])),
        (Op::LabelPrint, args(&["label", &units[0], "--print", &format!("file:{}", file("labels.zpl"))])),
        (Op::LabelVerify, args(&["verify-label", &units[0], &units[0]])),
        (Op::Locate, args(&["locate", &units[1], "freezer 1"])),
        (Op::Release, args(&["batch", "release", &spare])),
        (Op::Discard, args(&["batch", "discard", &spare, "--reason", "spilt"])),
        (
            Op::Correction,
            args(&[
                "donor",
                "screen",
                &donor,
                "--kind",
                "questionnaire",
                "--date",
                &days_ago(40).to_string(),
                "--all-negative",
                "--corrects",
                &screening,
            ]),
        ),
        (Op::RecallDryRun, args(&["recall", "--batch", &batch, "--reason", "check"])),
        (Op::RecallApply, args(&["recall", "--batch", &batch, "--reason", "sterility", "--apply", "--again"])),
        (
            Op::RecipientAdd,
            args(&["recipient", "add", "--sex", "F", "--birth-date", "1960-01-01", "--indication", "UC"]),
        ),
        (Op::Dispense, args(&["dispense", &units[2], "--recipient", &r, "--route", "colonoscopy"])),
        (Op::FollowUp, args(&["followup", "add", &r, "--at", &today, "--timepoint", "3m", "--outcome", "remission"])),
        (
            Op::AdverseEvent,
            args(&[
                "ae",
                "add",
                &r,
                "--onset",
                &today,
                "--term",
                "bloating",
                "--grade",
                "1",
                "--serious",
                "no",
                "--relatedness",
                "unrelated",
            ]),
        ),
        (Op::StudyRecord, args(&["followup", "study", &r, "--diagnosis-date", "2019-03-01"])),
        (Op::Read, args(&["trace", &donor])),
        (Op::Report, args(&["report", "safety"])),
        (Op::Export, args(&["export", "csv", &file("export")])),
        (Op::AuditRead, args(&["audit", "log", "--limit", "3"])),
        (Op::AuditVerify, args(&["audit", "verify"])),
        (Op::AuditCheckpoint, args(&["audit", "checkpoint"])),
        (Op::Backup, args(&["backup", &file("backup-{role}.db")])),
        (Op::Init, args(&["init"])),
        (Op::UserAdmin, args(&["user", "add", "new-{role}", "--role", "technician"])),
        (Op::ConfigSet, args(&["config", "set", &policy])),
        (Op::ConfigShow, args(&["config", "show"])),
        (Op::Restore, args(&["restore", &backup])),
    ];
    for op in Op::all().filter(|op| *op != Op::ViewIdentity) {
        assert!(cases.iter().any(|(o, _)| *o == op), "no command tries {op}");
    }
    for (op, command) in &cases {
        for (user, role) in &users {
            let command: Vec<String> = command.iter().map(|a| a.replace("{role}", role.as_str())).collect();
            let command: Vec<&str> = command.iter().map(String::as_str).collect();
            let allowed = permits(&Actor::User { name: user, roles: &[*role] }, *op, &[]).is_ok();
            let before = counts_but_sign_ins(&b.db);
            let out = run_as(&b, user, Some(PW), &command);
            let err = String::from_utf8_lossy(&out.stderr);
            if allowed {
                assert!(!err.contains("access.role") && out.status.code() != Some(6), "{user} ({role}) {op}: {err}");
            } else {
                assert_eq!(out.status.code(), Some(3), "{user} ({role}) {op}: {err}");
                assert!(err.contains(&format!("refused by rule access.role: {user} ({role}) may not {op}")), "{err}");
                assert_eq!(counts_but_sign_ins(&b.db), before, "{user} ({role}) {op}: a refusal changes nothing");
            }
        }
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(ToString::to_string).collect()
}

/// An administrator and one user per other role, added through the CLI; returns (name, role) of each.
fn staff(b: &Bench) -> Vec<(String, Role)> {
    ok_as(b, "tester", &["user", "add", "admin-1", "--role", "admin"]);
    let mut users = vec![("admin-1".to_string(), Role::Admin)];
    for role in [Role::Technician, Role::QualityManager, Role::Clinician, Role::Investigator] {
        let name = format!("{role}-1");
        ok_as(b, "admin-1", &["user", "add", &name, "--role", role.as_str()]);
        users.push((name, role));
    }
    users
}

#[test]
fn identity_is_shown_to_the_roles_the_policy_names() {
    let b = Bench::new();
    b.set_policy("identity_viewers = [\"clinician\"]\n");
    let donor = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02", "--name", "Zhao Lei"]);
    staff(&b);
    let show = ["donor", "show", &donor, "--identity"];
    assert!(ok_as(&b, "clinician-1", &show).contains("Zhao Lei"));
    let (code, err) = fail_as(&b, "technician-1", Some(PW), &show);
    assert!(code == 3 && err.contains("identity.viewer") && !err.contains("Zhao Lei"), "{err}");
}

#[test]
fn a_bench_file_may_not_set_the_banks_rules_and_files_are_private() {
    let b = Bench::new();
    std::fs::write(b.dir.path().join("bench.toml"), "identity_viewers = [\"technician\"]\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .arg("--db")
        .arg(&b.db)
        .arg("--config")
        .arg(b.dir.path().join("bench.toml"))
        .args(["donor", "list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("sets `identity_viewers`: the bank's rules are stored in the bank"), "{err}");
    // A file's permissions (a server's data are its administrators').
    #[cfg(unix)]
    if !common::pg::store_is_server() {
        use std::os::unix::fs::PermissionsExt;
        let backup = b.dir.path().join("copy.db");
        b.ok(&["backup", backup.to_str().unwrap()]);
        // An open connection keeps the -wal and -shm files in place (SQLite gives them the bank file's mode).
        let open = rusqlite::Connection::open(&b.db).unwrap();
        open.query_row("SELECT count(*) FROM donors", [], |r| r.get::<_, i64>(0)).unwrap();
        for f in [b.db.clone(), b.db.with_extension("db-wal"), b.db.with_extension("db-shm"), backup] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }
}

#[test]
fn passwords_change_by_their_owner_or_an_admin_and_user_roles_prints_the_table() {
    let b = staffed_cli();
    let new = "a much longer passphrase";
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"));
    cmd.arg("--db").arg(&b.db).args(["--as", "tom", "user", "passwd"]);
    cmd.env("STOOLBANK_KEY", b.dir.path().join("bank.key")).env("STOOLBANK_PASSWORD", PW);
    let out = cmd.env("STOOLBANK_NEW_PASSWORD", new).stdin(std::process::Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, _) = fail_as(&b, "tom", Some(PW), &["donor", "list"]);
    assert_eq!(code, 6, "the old password no longer signs in");
    assert!(run_as(&b, "tom", Some(new), &["donor", "list"]).status.success());
    let (code, err) = fail_as(&b, "quinn", Some(PW), &["user", "passwd", "tom"]);
    assert!(code == 3 && err.contains("may not user-admin"), "{err}");
    ok_as(&b, "ada", &["user", "passwd", "tom"]);
    ok_as(&b, "tom", &["donor", "list"]);
    let log = ok_as(&b, "ada", &["audit", "log", "--json", "--limit", "5"]);
    assert!(log.contains("set-password") && log.contains("sha256:") && !log.contains("$argon2id$"), "{log}");
    let table: serde_json::Value = serde_json::from_str(&ok_as(&b, "ivan", &["user", "roles", "--json"])).unwrap();
    let release = table.as_array().unwrap().iter().find(|r| r["operation"] == "release").unwrap();
    assert_eq!(release["roles"], serde_json::json!(["quality-manager"]));
}

/// The audit entries of `user`'s successful sign-ins.
fn sign_ins(db: &std::path::Path, user: &str) -> i64 {
    Outside::open(db).count(
        "SELECT count(*) FROM audit_log WHERE actor = $1 AND action IN ('sign-in', 'sign-in-after-failures')",
        &[user],
    )
}

#[test]
fn every_successful_sign_in_is_audited_without_a_secret_and_a_read_only_bank_still_signs_in() {
    let b = staffed_cli();
    let before = sign_ins(&b.db, "ivan");
    // Reads open the bank read-only: the sign-in is recorded through a write of its own.
    ok_as(&b, "ivan", &["donor", "list"]);
    ok_as(&b, "ivan", &["audit", "verify"]);
    assert_eq!(sign_ins(&b.db, "ivan"), before + 2, "one entry per sign-in");
    let (code, _) = fail_as(&b, "ivan", Some("wrong password!"), &["donor", "list"]);
    assert_eq!(code, 6);
    assert_eq!(sign_ins(&b.db, "ivan"), before + 2, "a refused sign-in is a failure, not a sign-in");
    ok_as(&b, "ivan", &["donor", "list"]);
    assert_eq!(sign_ins(&b.db, "ivan"), before + 3, "after failures: one entry, which starts the count over");
    let rows = b.outside().texts(
        "SELECT actor || ' ' || entity || ' ' || entity_id || ' ' || coalesce(before, '') || ' ' || coalesce(after, '')
         FROM audit_log WHERE action LIKE 'sign-in%'",
        &[],
    );
    assert!(rows.len() >= 3);
    for row in &rows {
        assert!(!row.contains(PW) && !row.contains("wrong password!") && !row.contains("$argon2id$"), "{row}");
    }

    // A copy on read-only media: the sign-in cannot be recorded, and stands (reads answer).
    #[cfg(unix)]
    if !common::pg::store_is_server() {
        use std::os::unix::fs::PermissionsExt;
        let archive = b.dir.path().join("archive");
        std::fs::create_dir(&archive).unwrap();
        let copy = archive.join("bank.db");
        ok_as(&b, "ada", &["backup", copy.to_str().unwrap()]);
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o555)).unwrap();
        let archived = Bench::on(tempfile::tempdir().unwrap(), copy);
        let listed = ok_as(&archived, "ivan", &["donor", "list"]);
        let traced = run_as(&archived, "ivan", Some(PW), &["audit", "verify"]);
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(traced.status.success(), "{listed}: {}", String::from_utf8_lossy(&traced.stderr));
    }
}

#[test]
fn a_read_is_not_held_up_behind_a_writer_to_record_its_sign_in_nor_upgrades_an_older_schema() {
    // SQLite's write lock and a file's older schema versions.
    if common::pg::store_is_server() {
        return;
    }
    let b = staffed_cli();
    let before = sign_ins(&b.db, "ivan");
    // Another bench holds the write lock for longer than the sign-in's record waits: the read still answers.
    let writer = rusqlite::Connection::open(&b.db).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    ok_as(&b, "ivan", &["donor", "list"]);
    writer.execute_batch("ROLLBACK").unwrap();
    assert_eq!(sign_ins(&b.db, "ivan"), before, "a sign-in kept from the lock goes unrecorded, the read answers");
    ok_as(&b, "ivan", &["donor", "list"]);
    assert_eq!(sign_ins(&b.db, "ivan"), before + 1);
    // A bank of an older schema (here: without migration 0012's index) is read as it is: a sign-in beside a read
    // never upgrades it; a write command does.
    writer.execute_batch("DROP INDEX donations_time_unreadable; PRAGMA user_version = 11;").unwrap();
    ok_as(&b, "ivan", &["donor", "list"]);
    let version = || -> i64 { writer.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap() };
    assert_eq!(version(), 11, "a read left the schema as it was");
    assert_eq!(sign_ins(&b.db, "ivan"), before + 1);
}
