//! What the CLI prints cannot be used against its reader: free text carrying terminal escapes is stored as
//! given but printed escaped, in text and JSON; and a reader that closes stdout early (`| head -1`) does not
//! turn a committed operation into a failure that a script would retry.

mod common;

use std::process::{Command, Stdio};

use common::{days_ago, Bench};
use serde_json::Value;

const MALLORY: &str = "mallory\x1b[1A\x1b[2K";
const REASON: &str = "travel\x1b]0;pwned\x07\r\nforged line\u{9b}2K";
const NAME: &str = "Eve\x1b[31m\u{202e}red";

/// The binary, acting as `actor`, on the bench's database.
fn run_as(b: &Bench, actor: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stoolbank"));
    cmd.arg("--db").arg(&b.db).arg("--as").arg(actor);
    cmd.args(args).env_remove("STOOLBANK_DB").env_remove("STOOLBANK_CONFIG").output().expect("run stoolbank")
}

fn ok_as(b: &Bench, actor: &str, args: &[&str]) -> Vec<u8> {
    let out = run_as(b, actor, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// No byte of the output may act on a terminal: no C0 control but newline, no DEL, no C1, no bidi override.
fn assert_inert(what: &str, bytes: &[u8]) {
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 output");
    let active: Vec<char> =
        text.chars().filter(|&c| c != '\n' && (c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))).collect();
    assert!(active.is_empty(), "{what} prints {active:?} raw:\n{text}");
}

#[test]
fn free_text_with_terminal_escapes_is_stored_as_given_and_printed_escaped() {
    let b = Bench::new();
    b.set_policy("identity_viewers = [\"clinician\"]\n");
    let donor = b.ok(&["donor", "add", "--sex", "F", "--birth-date", "1990-04-02", "--name", NAME]);
    ok_as(&b, MALLORY, &["donor", "defer", &donor, "--reason", REASON, "--until", &days_ago(-30).to_string()]);

    // Stored as given: JSON carries the exact text back.
    let log: Value = serde_json::from_slice(&ok_as(&b, "tester", &["--json", "audit", "log", &donor])).unwrap();
    assert!(log.as_array().unwrap().iter().any(|e| e["actor"] == MALLORY), "{log}");
    let shown: Value = serde_json::from_slice(&ok_as(&b, "tester", &["--json", "donor", "show", &donor])).unwrap();
    assert!(shown.to_string().contains(&serde_json::to_string(REASON).unwrap()[1..10]), "{shown}");

    // Printed escaped, text and JSON alike.
    for args in [
        &["audit", "log"][..],
        &["--json", "audit", "log"],
        &["donor", "show", &donor],
        &["--json", "donor", "show", &donor],
        &["donor", "list"],
        &["--json", "donor", "list"],
    ] {
        assert_inert(&format!("{args:?}"), &ok_as(&b, "tester", args));
    }
    let text = String::from_utf8(ok_as(&b, "tester", &["audit", "log"])).unwrap();
    assert!(text.contains(r"mallory\u{1b}[1A\u{1b}[2K"), "the actor is shown, escaped:\n{text}");
    assert!(text.contains(&format!("donors {donor}")), "identifiers with their check character:\n{text}");
    let text = String::from_utf8(ok_as(&b, "tester", &["donor", "show", &donor])).unwrap();
    assert!(text.contains(r"travel\u{1b}]0;pwned\u{7}\r\nforged line\u{9b}2K"), "{text}");
    assert!(text.contains(r"Eve\u{1b}[31m\u{202e}red"), "{text}");

    // An error message quoting what was typed is escaped too.
    let out = run_as(&b, "tester", &["donor", "show", "D\x1b[2J"]);
    assert_eq!(out.status.code(), Some(2));
    assert_inert("an error", &out.stderr);
}

#[test]
fn a_reader_that_closes_early_does_not_fail_a_committed_recall() {
    let b = Bench::new();
    let day = days_ago(40);
    let donor = b.screened_donor(day - chrono::Duration::days(2));
    let donation = b.donation(&donor, day);
    let (batch, _) = b.batch(&donation, day, 3);
    let recalls_before = b.json(&["audit", "log", "--limit", "1000000"]).as_array().unwrap().len();

    // The reader has gone before the first byte is written: every write meets a closed pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .arg("--db")
        .arg(&b.db)
        .args(["--as", "tester", "recall", "--batch", &batch, "--reason", "ESBL positive", "--apply"])
        .env_remove("STOOLBANK_DB")
        .env_remove("STOOLBANK_CONFIG")
        .stdout(Stdio::from(writer))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "nothing on stderr: {}", String::from_utf8_lossy(&out.stderr));
    // The recall was committed once.
    let after = b.json(&["audit", "log", "--limit", "1000000"]).as_array().unwrap().len();
    assert!(after > recalls_before, "the recall is recorded");
    let shown = b.json(&["batch", "show", &batch]);
    assert_eq!(shown["status"], "recalled", "{shown}");
}
