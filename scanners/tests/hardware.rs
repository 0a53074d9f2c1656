//! Real scanners attached to this machine: run with `cargo test -p scanners --features hardware -- --ignored`
//! and the device paths in the environment. Ignored by default: CI has no scanners.

use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scanners::{spawn, Profile, ScannerEvent, State};

/// Waits for the device to open, then for one scan (a person has 30 s to pull the trigger).
fn one_scan(profile: &str, device_var: &str) {
    let device = std::env::var(device_var).unwrap_or_else(|_| panic!("set {device_var} to the device path"));
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let sink: scanners::Sink = Arc::new(move |e| {
        let _ = tx.lock().map(|t| t.send(e));
    });
    let mut handle = spawn(&Profile::load(profile).expect("profile"), Some(&device), sink).expect("spawn");
    loop {
        match rx.recv_timeout(Duration::from_secs(10)).expect("the device opens") {
            ScannerEvent::State(s) if s.state == State::Connected => break,
            ScannerEvent::State(s) => eprintln!("{s:?}"),
            other => panic!("{other:?} before the device opened"),
        }
    }
    eprintln!("scan any barcode within 30 s");
    let e = rx.recv_timeout(Duration::from_secs(30)).expect("a scan");
    assert!(matches!(e, ScannerEvent::Scan(_)), "{e:?}");
    handle.stop();
}

#[test]
#[cfg_attr(not(feature = "hardware"), ignore = "needs a HID POS scanner: STOOLBANK_HIDPOS=/dev/hidrawN")]
fn a_real_hid_pos_scanner_delivers_a_scan() {
    one_scan("zebra-ds22xx-hid", "STOOLBANK_HIDPOS");
}

#[test]
#[cfg_attr(not(feature = "hardware"), ignore = "needs a keyboard-wedge scanner: STOOLBANK_WEDGE=/dev/input/eventN")]
fn a_real_keyboard_wedge_scanner_delivers_a_scan_without_typing_into_the_terminal() {
    one_scan("generic-hid", "STOOLBANK_WEDGE");
}

#[test]
#[cfg_attr(not(feature = "hardware"), ignore = "lists whatever is attached")]
fn the_attached_scanners_are_listed() {
    let mut out = Vec::new();
    scanners::cli::list(&mut out, false).expect("list");
    eprintln!("{}", String::from_utf8_lossy(&out));
    assert!(!scanners::discover::serial_ports().is_empty() || !scanners::discover::hid_devices().is_empty());
}
