//! `stoolbank label` and `verify-label` through the binary: printing over raw TCP receives exactly the ZPL,
//! reprints need a reason and are audited, bad targets and unknown identifiers give clear errors, and release
//! can require every unit label to be scanned back.

mod common;

use std::io::Read;
use std::net::TcpListener;

use common::{at, days_ago, Bench};

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
    assert!(expected.starts_with("^XA") && expected.contains("^BC") && expected.contains("^BX"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    let out = b.ok(&["label", &units[0], "--print", &format!("tcp://127.0.0.1:{port}")]);
    assert!(out.contains("printed 1 label"), "{out}");
    let got = String::from_utf8(server.join().unwrap()).unwrap();
    assert_eq!(got.trim_end(), expected);
}

#[test]
fn bad_targets_and_unknown_identifiers_are_named() {
    let b = Bench::new();
    let (_, _, units, _) = batch(&b);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let before = b.audit_len();
    let (_, err) = b.fail(&["label", &units[0], "--print", &format!("tcp://127.0.0.1:{closed}")]);
    assert!(err.contains("refused the connection"), "{err}");
    let (_, err) = b.fail(&["label", &units[0], "--print", "lp:no_such_queue_here"]);
    assert!(err.contains("lp is not installed") || err.contains("no_such_queue_here"), "{err}");
    let (_, err) = b.fail(&["label", &units[0], "--print", "http://printer"]);
    assert!(err.contains("not a print target"), "{err}");
    let (_, err) = b.fail(&["label", &units[0], "--print", "/nonexistent/dir/lp0"]);
    assert!(err.contains("/nonexistent/dir/lp0"), "{err}");
    assert_eq!(b.audit_len(), before, "nothing is marked printed when the printer did not take it");
    // A well-formed identifier of a unit that does not exist.
    let missing = stoolbank::core::ids::Id::parse(&units[0]).unwrap();
    let ghost = stoolbank::core::ids::Id::unit(&missing.batch_of().unwrap(), "Z9").display();
    let (code, err) = b.fail(&["label", &ghost]);
    assert_eq!(code, 4);
    assert!(err.contains("no unit"), "{err}");
}

#[test]
fn reprints_need_a_reason_and_are_audited() {
    let b = Bench::new();
    let (_, batch, _, _) = batch(&b);
    let spool = b.dir.path().join("spool.zpl");
    let spool = spool.to_str().unwrap();
    let out = b.ok(&["label", &batch, "--print", spool, "--copies", "2"]);
    assert!(out.contains("printed 3 label(s) × 2"), "two units and the retained sample: {out}");
    let (_, err) = b.fail(&["label", &batch, "--print", spool]);
    assert!(err.contains("reprint needs a reason"), "{err}");
    b.ok(&["label", &batch, "--print", spool, "--reason", "label smudged in the freezer"]);
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
    b.ok(&["label", &batch, "--format", "svg", "--out", dir.to_str().unwrap()]);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
    let (_, err) = b.fail(&["label", &batch, "--format", "png"]);
    assert!(err.contains("--out DIRECTORY"), "{err}");
}

#[test]
fn release_can_require_every_label_scanned_back() {
    let mut b = Bench::new();
    let (donor, batch, units, day) = batch(&b);
    b.screen_clean(&donor, day + chrono::Duration::days(20));
    b.with_config("require_label_verification = true\n");
    let when = at(day + chrono::Duration::days(21), 9);
    b.refused("release.7-labels-verified", &["batch", "release", &batch, "--at", &when]);
    // A wrong label is caught; the right ones (Code 128 text or Data Matrix payload) verify.
    let (_, err) = b.fail(&["verify-label", &units[0], &units[1]]);
    assert!(err.contains("label mismatch"), "{err}");
    b.ok(&["verify-label", &units[0], &units[0]]);
    b.ok(&["verify-label", &units[1], &format!("{}|F0001", units[1])]);
    assert_eq!(b.ok(&["batch", "release", &batch, "--at", &when]), batch);
}
