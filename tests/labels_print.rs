//! Printing: a loopback Zebra receives exactly the ZPL bytes sent, then `~HS`, and its answer is the proof it
//! took them; a printer that closes without reading, reads and closes without answering, or reads and hangs is
//! an error; a closed port, a missing directory or device, and a missing CUPS queue (or a machine without `lp`)
//! give clear errors naming the target; a device path receives the bytes appended.

mod labels_loopback;

use std::net::TcpListener;

use labels_loopback::{Behaviour, Loopback, PAPER_OUT, READY};

use stoolbank::core::ids::Id;
use stoolbank::labels::{render, Format, Label, Templates};
use stoolbank::printers::{send, PrintError, PrintTarget, Printer};

fn zpl(copies: u32) -> Vec<u8> {
    let label = Label {
        id: Id::parse("G151726000001F0003007").unwrap(),
        title: "WASHED MICROBIOTA".into(),
        product_code: Some("F0003".into()),
        product_description: None,
        volume_ml: Some(30.0),
        collected: chrono::NaiveDate::from_ymd_opt(2026, 3, 16),
        expires: chrono::NaiveDate::from_ymd_opt(2026, 9, 15),
        storage: None,
        bank_name: "南京微生态菌群库".into(),
        status_mark: Some("QUARANTINE".into()),
        sec: None,
    };
    let templates = Templates::builtin();
    render(&[label.clone(), label], templates.get("cryovial-2x1").unwrap(), Format::Zpl, copies).unwrap().bytes
}

#[test]
fn a_printer_that_answers_its_status_has_taken_every_byte() {
    let printer = Loopback::start(Behaviour::Answers(READY));
    let bytes = zpl(3);
    let target = PrintTarget::parse(&printer.target).unwrap();
    assert_eq!(target.describe(), printer.target);
    assert_eq!(target.send(&bytes).unwrap(), Vec::<String>::new());
    let got = printer.received();
    assert_eq!(got, [bytes.as_slice(), b"~HS"].concat(), "the labels, then the status request");
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("^XA").count(), 2);
    assert!(text.contains("^PQ3,0,1,N"));
}

#[test]
fn a_printer_out_of_paper_has_the_label_and_says_so() {
    let printer = Loopback::start(Behaviour::Answers(PAPER_OUT));
    let notes = PrintTarget::parse(&printer.target).unwrap().send(&zpl(1)).unwrap();
    assert_eq!(
        notes,
        [format!(
            "printer {} took the label but is out of paper: it prints once that is cleared",
            &printer.target[6..]
        )]
    );
    printer.received();
}

#[test]
fn a_printer_that_does_not_answer_has_not_printed() {
    for (behaviour, expected) in [
        (Behaviour::ClosesWithoutReading, "without answering|dropped the connection|connection failed after"),
        (Behaviour::ReadsThenCloses, "closed the connection without answering the status request (~HS)"),
        (Behaviour::ReadsThenHangs, "did not answer the status request (~HS) within 5 s"),
    ] {
        let printer = Loopback::start(behaviour);
        let err = PrintTarget::parse(&printer.target).unwrap().send(&zpl(1)).unwrap_err().to_string();
        assert!(expected.split('|').any(|e| err.contains(e)), "{err}");
        assert!(
            err.contains("127.0.0.1:") && (err.contains("not recorded") || err.contains("label may be incomplete")),
            "{err}"
        );
        printer.received();
    }
    let bad = Loopback::start(Behaviour::Answers("\x02hello\x03\r\n\x02a\x03\r\n\x02b\x03\r\n"));
    let err = PrintTarget::parse(&bad.target).unwrap().send(&zpl(1)).unwrap_err().to_string();
    assert!(err.contains("not a ZPL Host Status Return"), "{err}");
    bad.received();
}

#[test]
fn a_refused_connection_names_the_printer() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = send(&PrintTarget::parse(&format!("tcp://127.0.0.1:{port}")).unwrap(), &zpl(1)).unwrap_err();
    assert!(matches!(err, PrintError::Refused { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "printer 127.0.0.1:{port} refused the connection (is it on, and is raw printing on port {port} enabled?)"
        )
    );
}

#[test]
fn a_file_target_receives_the_bytes_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lp0");
    let target = PrintTarget::parse(&format!("file:{}", path.display())).unwrap();
    assert_eq!(target, PrintTarget::File(path.clone()));
    let (a, b) = (zpl(1), zpl(2));
    target.send(&a).unwrap();
    target.send(&b).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), [a, b].concat());

    let missing = dir.path().join("no/such/dir/lp0");
    let err = send(&PrintTarget::File(missing.clone()), b"^XA^XZ").unwrap_err().to_string();
    assert_eq!(err, format!("cannot open {}: no such file or directory", missing.display()));
    // A device node is never created: a missing /dev/usb/lp0 means the printer is not plugged in.
    let err = send(&PrintTarget::Device("/dev/usb/stoolbank-test-lp9".into()), b"^XA^XZ").unwrap_err().to_string();
    assert_eq!(err, "cannot open /dev/usb/stoolbank-test-lp9: no such file or directory");
}

#[test]
fn a_missing_cups_queue_or_lp_is_a_clear_error() {
    let target = PrintTarget::parse("lp:stoolbank_no_such_queue").unwrap();
    let err = target.send(&zpl(1)).unwrap_err();
    let msg = err.to_string();
    match err {
        PrintError::NoLp { .. } => assert!(msg.starts_with("lp is not installed"), "{msg}"),
        PrintError::NoQueue { .. } => {
            assert!(msg.starts_with("CUPS queue `stoolbank_no_such_queue` does not exist (lp: "), "{msg}");
        }
        // lp present but no scheduler running: still names the queue and lp's own words.
        PrintError::Cups { .. } => assert!(msg.contains("`stoolbank_no_such_queue`") && msg.contains("lp:"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn bad_targets_are_refused() {
    for t in ["http://printer:9100", "tcp://printer:zebra", "lp:", ""] {
        let err = PrintTarget::parse(t).unwrap_err().to_string();
        assert!(err.contains("is not a print target"), "{t}: {err}");
    }
}

#[test]
fn a_device_that_does_not_take_the_labels_is_an_error_within_the_time_limit() {
    // A FIFO nobody reads: opening it for writing blocks, as a jammed printer's device does.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("lp0");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let err = send(&PrintTarget::Device(fifo.clone()), &zpl(1)).unwrap_err();
    assert!(matches!(err, PrintError::DeviceTimeout { .. }), "{err:?}");
    assert!(err.to_string().contains("did not take the labels within 5 s"), "{err}");
    // Let the writer left behind finish.
    let mut taken = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::open(&fifo).unwrap(), &mut taken).unwrap();
}
