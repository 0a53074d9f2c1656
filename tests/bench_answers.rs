//! The CI-sized variant of `bench/run`: on a small generated bank, every interactive command of
//! `bench/commands.tsv` answers what the bare sqlite3 shell answers to the same question on the same file (no
//! timing here).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use chrono::Duration;
use stoolbank::core::config::BenchPrefs;
use stoolbank::core::ids::{Id, IdKind};
use stoolbank::demo::{create_scaled, Scale};

fn sqlite3(db: &Path, sql: &str) -> Vec<String> {
    let out = Command::new("sqlite3")
        .arg("-readonly")
        .arg(db)
        .arg(sql)
        .output()
        .expect("the sqlite3 shell (Debian's sqlite3; .ci/run installs it)");
    assert!(out.status.success(), "sqlite3 {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn one(db: &Path, sql: &str) -> String {
    sqlite3(db, sql).into_iter().next().unwrap_or_else(|| panic!("no row for {sql}"))
}

fn stoolbank(db: &Path, args: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .arg("--db")
        .arg(db)
        .args(args.split_whitespace())
        .env("TZ", "UTC")
        .env("STOOLBANK_USER", "bench")
        .output()
        .expect("run stoolbank");
    assert!(out.status.success(), "stoolbank {args}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a command answered: the identifiers of one kind it printed (stored form), or the audit entries' seq.
fn answer(kind: &str, stdout: &str) -> BTreeSet<String> {
    if kind == "seq" {
        let entries: serde_json::Value = serde_json::from_str(stdout).expect("audit log --json");
        return entries.as_array().expect("entries").iter().map(|e| e["seq"].to_string()).collect();
    }
    let kind = match kind {
        "unit" => IdKind::Unit,
        "batch" => IdKind::Batch,
        "donation" => IdKind::Donation,
        "donor" => IdKind::Donor,
        "recipient" => IdKind::Recipient,
        other => panic!("bench/commands.tsv: unknown answer kind {other}"),
    };
    stdout
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .filter_map(|t| Id::parse(t).ok())
        .filter(|id| id.kind() == kind)
        .map(|id| id.data().to_string())
        .collect()
}

#[test]
fn every_benched_command_answers_what_sqlite_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    let now = stoolbank::time::now();
    let scale = Scale { seed: 5, donors: 6, days: 500, ..Scale::LARGE };
    create_scaled(
        &db,
        &dir.path().join("bank.key"),
        BenchPrefs::default(),
        "bench",
        scale,
        now,
        &indicatif::ProgressBar::hidden(),
    )
    .unwrap();

    let donor = one(&db, "SELECT donor_id FROM donations GROUP BY donor_id ORDER BY count(*) DESC, donor_id LIMIT 1");
    let batch = one(
        &db,
        "SELECT b.id FROM batches b JOIN units u ON u.batch_id = b.id JOIN dispenses p ON p.unit_id = u.id
         ORDER BY b.id DESC LIMIT 1",
    );
    let donation = one(&db, &format!("SELECT donation_id FROM batches WHERE id = '{batch}'"));
    let unit = one(&db, "SELECT unit_id FROM dispenses ORDER BY id DESC LIMIT 1");
    let recipient = one(
        &db,
        "SELECT recipient_id FROM dispenses GROUP BY recipient_id ORDER BY count(*) DESC, recipient_id LIMIT 1",
    );
    let today = now.date_naive();
    let to = today - Duration::days(60);
    let from = to - Duration::days(30);
    let shown = |data: &str| Id::from_data(data).expect("a stored identifier").display();
    let fill = |s: &str, typed: bool| {
        let id = |d: &str| if typed { shown(d) } else { d.to_string() };
        s.replace("{donor}", &id(&donor))
            .replace("{batch}", &id(&batch))
            .replace("{donation}", &id(&donation))
            .replace("{unit}", &id(&unit))
            .replace("{recipient}", &id(&recipient))
            .replace("{from}", &from.to_string())
            .replace("{to}", &to.to_string())
            .replace("{today}", &today.to_string())
            .replace("{window}", &(today - Duration::days(60)).to_string())
    };
    // The statement without its comments (the shell takes an argument beginning `--` for an option).
    let eligibility_facts: String =
        include_str!("../bench/eligibility.sql").lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join(" ");

    let commands = include_str!("../bench/commands.tsv");
    let (mut compared, mut judging) = (0, 0);
    for line in commands.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let [name, args, kind, sql, judged] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("bench/commands.tsv: not five tab-separated columns: {line}")
        };
        let said = stoolbank(&db, &fill(args, true));
        if kind == "-" {
            continue;
        }
        // The shell's rows carry every column the command prints; the first is the answer compared.
        let want: BTreeSet<String> = sqlite3(&db, &fill(sql, false))
            .into_iter()
            .map(|row| row.split('|').next().unwrap_or_default().to_string())
            .collect();
        assert!(!want.is_empty() || name.contains("unit"), "{name}: the bank gives the question no answer to compare");
        assert_eq!(answer(kind, &said), want, "{name}: stoolbank {args} answered\n{said}");
        compared += 1;
        // The second floor reads the eligibility facts of exactly the donors whose status the command shows.
        if judged != "-" {
            let judged = fill(judged, false);
            let donors: BTreeSet<String> = sqlite3(&db, &judged).into_iter().collect();
            assert_eq!(answer("donor", &said), donors, "{name}: the donors judged");
            let facts = sqlite3(&db, &fill(&eligibility_facts.replace("{donors}", &judged), false));
            let read: BTreeSet<String> =
                facts.iter().filter_map(|row| row.split_once("|donor|").map(|(id, _)| id.to_string())).collect();
            assert_eq!(read, donors, "{name}: bench/eligibility.sql read the donors");
            judging += 1;
        }
    }
    assert!(compared >= 10 && judging >= 6, "only {compared} commands compared, {judging} judging donors");
}
