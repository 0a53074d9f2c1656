//! `stoolbank label` and `verify-label` through the binary: printing over raw TCP receives exactly the ZPL and
//! is recorded only when the printer answers; reprints need a reason and are audited; bad targets and unknown
//! identifiers give clear errors; verification needs a printed label and a reprint needs a new one; release can
//! require every unit label to be scanned back; previews of a batch go to a directory, never by surprise.

mod common;
mod labels_loopback;

use std::net::TcpListener;

use common::{at, days_ago, Bench};
use labels_loopback::{Behaviour, Loopback, READY};
use stoolbank::app::{AppError, Bank};
use stoolbank::core::config::BenchPrefs;
use stoolbank::core::ids::Id;
use stoolbank::printers::Printer;

/// How many label prints the audit trail records.
fn prints_recorded(b: &Bench) -> usize {
    let log = b.json(&["audit", "log"]);
    log.as_array().unwrap().iter().filter(|e| e["action"] == "print-label" || e["action"] == "reprint-label").count()
}

fn batch(b: &Bench) -> (String, String, Vec<String>, chrono::NaiveDate) {
    let day = days_ago(40);
    let donor = b.screened_donor(day - chrono::Duration::days(2));
    let donation = b.donation(&donor, day);
    let (batch, units) = b.batch(&donation, day, 2);
    (donor, batch, units, day)
}

#[test]
fn printing_over_tcp_sends_exactly_the_zpl() {
    let b = Bench::new();
    let (_, _, units, _) = batch(&b);
    let expected = b.ok(&["label", &units[0]]);
    assert!(expected.starts_with("^XA") && expected.contains("^BX"));
    let printer = Loopback::start(Behaviour::Answers(READY));
    let out = b.ok(&["label", &units[0], "--print", &printer.target]);
    assert!(out.contains("printed 1 label"), "{out}");
    let got = String::from_utf8(printer.received()).unwrap();
    assert_eq!(got, format!("{expected}\n~HS"));
}

#[test]
fn a_printer_that_closes_without_answering_is_not_recorded() {
    let b = Bench::new();
    let (_, _, units, _) = batch(&b);
    for behaviour in [Behaviour::ClosesWithoutReading, Behaviour::ReadsThenCloses] {
        let printer = Loopback::start(behaviour);
        let before = prints_recorded(&b);
        let (_, err) = b.fail(&["label", &units[0], "--print", &printer.target]);
        assert!(err.contains(&printer.target[6..]), "{err}");
        assert_eq!(prints_recorded(&b), before, "not recorded as printed: {err}");
        printer.received();
    }
    // So the next print is a first print, with no reason asked.
    let printer = Loopback::start(Behaviour::Answers(READY));
    let out = b.ok(&["label", &units[0], "--print", &printer.target]);
    assert!(out.starts_with("printed 1 label"), "{out}");
    printer.received();
}

#[test]
fn bad_targets_and_unknown_identifiers_are_named() {
    let b = Bench::new();
    let (_, _, units, _) = batch(&b);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let before = prints_recorded(&b);
    let (_, err) = b.fail(&["label", &units[0], "--print", &format!("tcp://127.0.0.1:{closed}")]);
    assert!(err.contains("refused the connection"), "{err}");
    let (_, err) = b.fail(&["label", &units[0], "--print", "lp:no_such_queue_here"]);
    assert!(err.contains("lp is not installed") || err.contains("no_such_queue_here"), "{err}");
    let (_, err) = b.fail(&["label", &units[0], "--print", "http://printer"]);
    assert!(err.contains("not a print target"), "{err}");
    let (_, err) = b.fail(&["label", &units[0], "--print", "file:/nonexistent/dir/lp0"]);
    assert!(err.contains("/nonexistent/dir/lp0"), "{err}");
    // A mistyped queue is not a file: refused with the forms accepted, and nothing written anywhere.
    let (code, err) = b.fail(&["label", &units[0], "--print", "zebra1"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "`zebra1` is not a print target: use tcp://HOST[:PORT], lp:QUEUE, a device under /dev/, or file:PATH"
        ),
        "{err}"
    );
    assert!(!std::path::Path::new("zebra1").exists() && !b.dir.path().join("zebra1").exists());
    assert_eq!(prints_recorded(&b), before, "nothing is marked printed when the printer did not take it");
    // Each failed print's claim was closed, with why, in the trail.
    let log = b.json(&["audit", "log"]);
    let closed: Vec<&serde_json::Value> =
        log.as_array().unwrap().iter().filter(|e| e["action"] == "close-label-claim").collect();
    assert_eq!(closed.len(), 3, "{log}");
    // A well-formed identifier of a unit that does not exist.
    let missing = Id::parse(&units[0]).unwrap();
    let ghost = Id::unit(&missing.batch_of().unwrap(), "Z9").display();
    let (code, err) = b.fail(&["label", &ghost]);
    assert_eq!(code, 4);
    assert!(err.contains("no unit"), "{err}");
}

#[test]
fn reprints_need_a_reason_and_are_audited() {
    let b = Bench::new();
    let (_, batch, _, _) = batch(&b);
    let spool = b.dir.path().join("spool.zpl");
    let target = format!("file:{}", spool.display());
    let (spool, target) = (spool.to_str().unwrap(), target.as_str());
    let out = b.ok(&["label", &batch, "--print", target, "--copies", "2"]);
    assert!(out.contains("printed 3 label(s) × 2"), "two units and the retained sample: {out}");
    let err = b.refused("label.reprint-reason", &["label", &batch, "--print", target]);
    // The rule speaks the domain's words; the CLI adds the flag that puts it right.
    assert!(err.contains("a reprint needs a reason (give --reason TEXT)"), "{err}");
    let (_, err) = b.fail(&["label", &batch, "--print", target, "--reason", "  "]);
    assert!(err.contains("label.reprint-reason"), "a blank reason is no reason: {err}");
    b.ok(&["label", &batch, "--print", target, "--reason", "label smudged in the freezer"]);
    let zpl = std::fs::read_to_string(spool).unwrap();
    assert_eq!(zpl.matches("^XA").count(), 6);
    let log = b.json(&["audit", "log"]);
    let reprints = log.as_array().unwrap().iter().filter(|e| e["action"] == "reprint-label").count();
    assert_eq!(reprints, 3);
}

#[test]
fn previews_are_written_as_files() {
    let b = Bench::new();
    let (_, batch, units, _) = batch(&b);
    let png = b.dir.path().join("u.png");
    b.ok(&["label", &units[0], "--format", "png", "--out", png.to_str().unwrap()]);
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    let dir = b.dir.path().join("previews");
    let out = b.ok(&["label", &batch, "--format", "svg", "--out", dir.to_str().unwrap()]);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
    assert_eq!(out.lines().count(), 3, "each file written is named: {out}");
    assert!(
        out.lines()
            .all(|l| l.starts_with(dir.to_str().unwrap())
                && std::path::Path::new(l).extension().is_some_and(|e| e == "svg")),
        "{out}"
    );
    let (_, err) = b.fail(&["label", &batch, "--format", "png"]);
    assert!(err.contains("--out DIRECTORY"), "{err}");
    // A file name for a batch's previews is refused, not quietly made into a directory.
    let file = b.dir.path().join("batch.png");
    let (code, err) = b.fail(&["label", &batch, "--format", "png", "--out", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("names one file") && err.contains("give a directory"), "{err}");
    assert!(!file.exists());
}

#[test]
fn a_batch_prints_only_the_labels_of_units_still_in_the_bank() {
    let b = Bench::new();
    let (donor, batch, units, day) = batch(&b);
    b.screen_clean(&donor, day + chrono::Duration::days(20));
    b.ok(&["batch", "release", &batch, "--at", &at(day + chrono::Duration::days(21), 9)]);
    let r = b.ok(&["recipient", "add", "--sex", "F", "--birth-date", "1970-05-05", "--indication", "rCDI"]);
    let when = at(day + chrono::Duration::days(22), 9);
    b.ok(&["dispense", &units[0], "--recipient", &r, "--route", "colonoscopy", "--at", &when]);
    let zpl = b.ok(&["label", &batch]);
    assert_eq!(zpl.matches("^XA").count(), 2, "the other unit and the retained sample");
    assert!(!zpl.contains(&units[0]) && zpl.contains(&units[1]), "{zpl}");
    // Asked for by name, the dispensed unit's label still renders, marked DISPENSED.
    assert!(b.ok(&["label", &units[0]]).contains("DISPENSED"));
}

#[test]
fn release_can_require_every_label_scanned_back() {
    let b = Bench::new();
    let (donor, batch, units, day) = batch(&b);
    b.screen_clean(&donor, day + chrono::Duration::days(20));
    b.set_policy("require_label_verification = true\n");
    let when = at(day + chrono::Duration::days(21), 9);
    b.refused("release.7-labels-verified", &["batch", "release", &batch, "--at", &when]);
    // A label never printed is not verified, whatever is scanned.
    b.refused("label.verify-needs-print", &["verify-label", &units[0], &units[0]]);
    let target = format!("file:{}", b.dir.path().join("spool.zpl").display());
    let target = target.as_str();
    b.ok(&["label", &batch, "--print", target]);
    // A wrong label is a refusal (exit 3), and so is a scan of no label of ours; the right ones (Code 128 text
    // or Data Matrix payload) verify.
    let err = b.refused("label.verify-matches", &["verify-label", &units[0], &units[1]]);
    assert!(err.contains("label mismatch"), "{err}");
    b.refused("label.verify-matches", &["verify-label", &units[0], "not-a-label"]);
    b.ok(&["verify-label", &units[0], &units[0]]);
    b.ok(&["verify-label", &units[1], &format!("{}|F0001", units[1])]);
    // A reprint is a new label: it must be scanned back again before release.
    b.ok(&["label", &units[1], "--print", target, "--reason", "torn"]);
    b.refused("release.7-labels-verified", &["batch", "release", &batch, "--at", &when]);
    let shown = b.json(&["batch", "show", &batch]);
    let unit = shown["units"].as_array().unwrap().iter().find(|u| u["id"] == units[1].as_str()).cloned();
    assert_eq!(unit.as_ref().map(|u| &u["label_verified"]), Some(&false.into()), "{shown}");
    b.ok(&["verify-label", &units[1], &units[1]]);
    assert_eq!(b.ok(&["batch", "release", &batch, "--at", &when]), batch);
}

/// What a second bench found while the first one's printer was taking the labels.
struct Seen {
    others_can_write: bool,
    second_print: String,
}

/// A printer that, while it takes the labels, tries what another bench would: start writing, and print the same
/// label.
struct BenchProbe {
    db: std::path::PathBuf,
    unit: Id,
    seen: std::cell::Cell<Option<Seen>>,
}

impl BenchProbe {
    fn new(db: &std::path::Path, unit: &Id) -> BenchProbe {
        BenchProbe { db: db.to_path_buf(), unit: unit.clone(), seen: std::cell::Cell::new(None) }
    }
}

/// A printer that takes everything.
struct Takes;

impl Printer for Takes {
    fn send(&self, _bytes: &[u8]) -> Result<Vec<String>, stoolbank::printers::PrintError> {
        Ok(Vec::new())
    }
    fn describe(&self) -> String {
        "second bench".into()
    }
}

impl Printer for BenchProbe {
    fn send(&self, _bytes: &[u8]) -> Result<Vec<String>, stoolbank::printers::PrintError> {
        let other = rusqlite::Connection::open(&self.db).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let others_can_write = other.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_ok();
        let mut second = Bank::open(&self.db, BenchPrefs::default(), "second").unwrap();
        let second_print = match second.print_to(&Takes, &self.unit, None, 1, None, chrono::Utc::now()) {
            Ok(p) => format!("printed: {p}"),
            Err(e) => e.to_string(),
        };
        self.seen.set(Some(Seen { others_can_write, second_print }));
        Ok(Vec::new())
    }
    fn describe(&self) -> String {
        "probe".into()
    }
}

#[test]
fn no_transaction_is_open_while_the_printer_takes_the_labels_and_a_claimed_label_is_not_printed_twice() {
    let b = Bench::new();
    let (_, _, units, _) = batch(&b);
    let mut bank = Bank::open(&b.db, BenchPrefs::default(), "tester").unwrap();
    let unit = Id::parse(&units[0]).unwrap();
    let probe = BenchProbe::new(&b.db, &unit);
    let now = chrono::Utc::now();
    let printed = bank.print_to(&probe, &unit, None, 1, None, now).unwrap();
    assert!(!printed.reprint);
    let seen = probe.seen.take().unwrap();
    assert!(seen.others_can_write, "another bench writes while the printer takes the label");
    assert!(seen.second_print.contains("is being printed at another bench"), "{}", seen.second_print);
    // The second bench was refused before sending anything; the first print is recorded, once.
    assert_eq!(prints_recorded(&b), 1);
    // Without a reason, the reprint is refused before anything reaches the printer.
    let probe = BenchProbe::new(&b.db, &unit);
    let err = bank.print_to(&probe, &unit, None, 1, None, now).unwrap_err();
    assert!(matches!(&err, AppError::Refused(r) if r.rule.code() == "label.reprint-reason"), "{err}");
    assert!(probe.seen.take().is_none(), "nothing was sent");
}

#[test]
fn a_print_summary_shows_each_warning_on_its_own_line() {
    let b = Bench::new();
    let (_, _, units, _) = batch(&b);
    let printer = Loopback::start(Behaviour::Answers(labels_loopback::PAPER_OUT));
    let out = b.ok(&["label", &units[0], "--print", &printer.target]);
    assert!(!out.contains("\\n"), "no escaped newline in the summary: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("printed 1 label"), "{out}");
    assert!(lines.len() > 1 && lines[1..].iter().all(|l| l.starts_with("warning: ")), "{out}");
    printer.received();
}

#[test]
fn a_label_claimed_by_a_bench_that_stopped_is_printed_again_only_as_a_reprint() {
    let b = Bench::new();
    let (_, _, units, _) = batch(&b);
    let target = format!("file:{}", b.dir.path().join("spool.zpl").display());
    let unit = Id::parse(&units[0]).unwrap();
    // A bench claimed the label and stopped before recording (as a crash between the send and the record).
    let c = rusqlite::Connection::open(&b.db).unwrap();
    c.execute(
        "INSERT INTO label_claims (entity_id, target, reprint, claimed_at)
         VALUES (?1, 'tcp://10.0.0.5:9100', 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-10 seconds'))",
        [unit.data()],
    )
    .unwrap();
    let (code, err) = b.fail(&["label", &units[0], "--print", &target]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is being printed at another bench"), "{err}");
    // Long after: the label may have come out, so printing it again is a reprint, with a reason.
    c.execute("UPDATE label_claims SET claimed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-10 minutes')", []).unwrap();
    b.refused("label.reprint-reason", &["label", &units[0], "--print", &target]);
    let out = b.ok(&["label", &units[0], "--print", &target, "--reason", "the bench stopped mid-print"]);
    assert!(out.starts_with("reprinted 1 label"), "{out}");
}
