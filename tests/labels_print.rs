//! Printing: a loopback TCP listener receives exactly the ZPL bytes sent; a closed port, a missing directory or
//! device, and a missing CUPS queue (or a machine without `lp`) give clear errors naming the target; a device
//! path receives the bytes appended.

use std::io::Read;
use std::net::TcpListener;

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
    render(&[label.clone(), label], templates.get("cryovial-2x1").unwrap(), Format::Zpl, copies).unwrap()
}

#[test]
fn a_loopback_printer_receives_exactly_the_bytes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    let bytes = zpl(3);
    let target = PrintTarget::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
    assert_eq!(target.describe(), format!("tcp://127.0.0.1:{port}"));
    target.send(&bytes).unwrap();
    let got = server.join().unwrap();
    assert_eq!(got, bytes);
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("^XA").count(), 2);
    assert!(text.contains("^PQ3,0,1,N"));
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
fn a_device_path_receives_the_bytes_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lp0");
    let target = PrintTarget::parse(path.to_str().unwrap()).unwrap();
    assert_eq!(target, PrintTarget::Device(path.clone()));
    let (a, b) = (zpl(1), zpl(2));
    target.send(&a).unwrap();
    target.send(&b).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), [a, b].concat());

    let missing = dir.path().join("no/such/dir/lp0");
    let err = send(&PrintTarget::Device(missing.clone()), b"^XA^XZ").unwrap_err().to_string();
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
            assert!(msg.starts_with("CUPS queue `stoolbank_no_such_queue` does not exist (lp: "), "{msg}")
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
