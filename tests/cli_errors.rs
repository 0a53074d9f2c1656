//! How commands fail, through the binary. Exit codes as README.md documents them: 0 ok, 2 bad input, 3 refused
//! by a rule, 4 no such record, 5 verify found problems, 6 a printer or label failure, 1 anything else (one
//! table, one row per way of ending); and the flag that puts an error right, named by the CLI.

mod common;

use std::net::TcpListener;

use common::{days_ago, Bench};
use stoolbank::core::ids::Id;

#[test]
fn each_way_of_ending_has_its_exit_code() {
    let b = Bench::new();
    let day = days_ago(40);
    let donor = b.screened_donor(day - chrono::Duration::days(2));
    let donation = b.donation(&donor, day);
    let (batch, units) = b.batch(&donation, day, 2);
    let next_day = day + chrono::Duration::days(1);
    let (discarded, _) = b.batch(&b.donation(&donor, next_day), next_day, 1);
    b.ok(&["batch", "discard", &discarded, "--reason", "spilled"]);
    let ghost_unit = Id::unit(&Id::parse(&batch).unwrap(), "Z9").display();
    let mut typo = donor.clone().into_bytes();
    typo[6] = if typo[6] == b'1' { b'2' } else { b'1' };
    let typo = String::from_utf8(typo).unwrap();
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let refused_printer = format!("tcp://127.0.0.1:{closed_port}");
    let missing_db = b.dir.path().join("no-such-bank.db");
    let recipient = b.ok(&["recipient", "add", "--sex", "F", "--birth-date", "1970-01-01", "--indication", "rCDI"]);

    let day_s = day.to_string();
    let table: &[(&str, Vec<&str>, i32)] = &[
        ("a read", vec!["donor", "list"], 0),
        ("a value outside a closed list", vec!["donor", "add", "--sex", "X", "--birth-date", "1990-01-01"], 2),
        ("a missing flag", vec!["recall", "--donor", &donor], 2),
        ("a date that is no date", vec!["donor", "defer", &donor, "--reason", "travel", "--until", "soon"], 2),
        ("a mis-keyed identifier", vec!["donor", "show", &typo], 2),
        ("a code outside the policy", vec!["dispense", &units[0], "--recipient", &recipient, "--route", "mouth"], 2),
        ("a release rule", vec!["batch", "release", &batch, "--at", &day_s], 3),
        ("a verify-label mismatch", vec!["verify-label", &units[0], &units[1]], 3),
        ("discarding a discarded batch", vec!["batch", "discard", &discarded, "--reason", "again"], 3),
        ("no such unit", vec!["trace", &ghost_unit], 4),
        (
            "no such screening",
            vec![
                "donor",
                "screen",
                &donor,
                "--kind",
                "blood",
                "--date",
                &day_s,
                "--all-negative",
                "--corrects",
                "999999",
            ],
            4,
        ),
        ("a print target that is none", vec!["label", &units[0], "--print", "http://printer"], 2),
        ("a label template that is none", vec!["label", &units[0], "--template", "napkin"], 2),
        ("a printer that refuses the connection", vec!["label", &units[0], "--print", &refused_printer], 7),
    ];
    let mut wrong = Vec::new();
    for (what, args, code) in table {
        let out = b.run(args);
        let got = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if got != *code {
            wrong.push(format!("{what}: exit {got}, expected {code}: {}", stderr.trim()));
        }
        if *code != 0 {
            assert_eq!(stderr.trim().lines().count(), 1, "{what}: one line on stderr: {stderr}");
        }
    }
    // Anything else, e.g. no bank at the path given.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .args(["--db", missing_db.to_str().unwrap(), "donor", "list"])
        .output()
        .unwrap();
    if out.status.code() != Some(1) {
        wrong.push(format!("no bank at all: {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn verify_that_finds_a_problem_exits_5() {
    let b = Bench::new();
    let donor = b.screened_donor(days_ago(10));
    let din = b.donation(&donor, days_ago(5));
    let c = rusqlite::Connection::open(&b.db).unwrap();
    c.execute("UPDATE donations SET mass_g = 999 WHERE id = ?1", [&din[..13]]).unwrap();
    drop(c);
    for cmd in [&["verify"][..], &["audit", "verify"]] {
        let out = b.run(cmd);
        assert_eq!(out.status.code(), Some(5), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn the_cli_names_the_flag_that_puts_it_right() {
    let b = Bench::new();
    let donor = b.screened_donor(days_ago(10));
    let day = days_ago(1).to_string();
    let (code, err) = b.fail(&["donor", "defer", &donor, "--reason", " ", "--permanent"]);
    assert_eq!(code, 2);
    assert!(err.contains("needs a reason") && err.contains("--reason"), "{err}");
    let (code, err) = b.fail(&["donor", "screen", &donor, "--kind", "blood", "--date", &day]);
    assert_eq!(code, 2);
    assert!(err.contains("--all-negative"), "{err}");
}
