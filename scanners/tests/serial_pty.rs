//! Serial scanners against real pseudo-terminals: a writer types at scanner speed, splits frames across
//! writes, injects noise, and unplugs and plugs the port back; the exact scans and rejections come out.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use scanners::framing::Suffix;
use scanners::{spawn, Profile, ScannerEvent, State};
use serialport::{SerialPort, TTYPort};

/// pty creation and the scanner threads are serialised: the tests share the machine's pty pool.
static SERIAL: Mutex<()> = Mutex::new(());

/// A guard against a hang, never an assertion on speed.
const PATIENCE: Duration = Duration::from_secs(10);

fn listen(profile: &Profile, device: &Path) -> (scanners::ScannerHandle, Receiver<ScannerEvent>) {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let sink: scanners::Sink = Arc::new(move |e| {
        let _ = tx.lock().map(|t| t.send(e));
    });
    (spawn(profile, Some(device.to_str().unwrap()), sink).expect("spawn"), rx)
}

fn next(rx: &Receiver<ScannerEvent>) -> ScannerEvent {
    rx.recv_timeout(PATIENCE).expect("an event within the patience")
}

fn wait_connected(rx: &Receiver<ScannerEvent>) {
    loop {
        if let ScannerEvent::State(s) = next(rx) {
            if s.state == State::Connected {
                return;
            }
        }
    }
}

/// Types like a scanner: one byte at a time, about a millisecond apart.
fn type_slowly(port: &mut TTYPort, bytes: &[u8]) {
    for b in bytes {
        port.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn scan_data(e: ScannerEvent) -> String {
    match e {
        ScannerEvent::Scan(s) => s.data,
        other => panic!("expected a scan, got {other:?}"),
    }
}

fn rejection(e: ScannerEvent) -> String {
    match e {
        ScannerEvent::Rejected(r) => r.reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn scans_and_rejections_come_out_exactly() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut master, slave) = TTYPort::pair().expect("pty pair");
    let path = slave.name().expect("slave path");
    let (mut handle, rx) = listen(&Profile::generic_serial(), Path::new(&path));
    wait_connected(&rx);

    type_slowly(&mut master, b"G151726000001X\r");
    assert_eq!(scan_data(next(&rx)), "G151726000001X");
    // One frame split across writes, the next in the same write, CRLF and LF suffixes.
    master.write_all(b"D00000").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    master.write_all(b"10\r\nR000001L\n").unwrap();
    assert_eq!(scan_data(next(&rx)), "D0000010");
    assert_eq!(scan_data(next(&rx)), "R000001L");
    // AIM identifier.
    master.write_all(b"]C0G151726000001F0001L\r").unwrap();
    match next(&rx) {
        ScannerEvent::Scan(s) => {
            assert_eq!(s.data, "G151726000001F0001L");
            assert_eq!(s.symbology.as_deref(), Some("code128"));
        }
        other => panic!("{other:?}"),
    }
    // Line noise, a bell in the data, an over-long frame: rejected with reasons, never delivered as scans.
    master.write_all(b"\xff\xfe\x80\r").unwrap();
    assert!(rejection(next(&rx)).contains("line noise"));
    master.write_all(b"AB\x07CD\r").unwrap();
    assert!(rejection(next(&rx)).contains("0x07"));
    master.write_all(&[b'9'; 300]).unwrap();
    master.write_all(b"\r").unwrap();
    assert!(rejection(next(&rx)).contains("over 128 bytes"));
    // A frame whose suffix never comes.
    master.write_all(b"G1517PARTIAL").unwrap();
    assert!(rejection(next(&rx)).contains("no suffix"));
    // And the scanner still works after all that.
    type_slowly(&mut master, b"R000002J\r");
    assert_eq!(scan_data(next(&rx)), "R000002J");
    handle.stop();
    drop(slave);
}

#[test]
fn an_unplugged_port_is_reopened_when_it_returns() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyScanner");
    let (mut master, slave) = TTYPort::pair().expect("pty pair");
    std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
    let (mut handle, rx) = listen(&Profile::generic_serial(), &link);
    wait_connected(&rx);
    master.write_all(b"D0000010\r").unwrap();
    assert_eq!(scan_data(next(&rx)), "D0000010");

    // Unplug: the device goes away and its node disappears.
    drop(master);
    drop(slave);
    std::fs::remove_file(&link).unwrap();
    loop {
        match next(&rx) {
            ScannerEvent::State(s) if matches!(s.state, State::Disconnected { .. }) => break,
            ScannerEvent::State(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    // Plug back in: a new port at the same path.
    let (mut master, slave) = TTYPort::pair().expect("pty pair");
    std::os::unix::fs::symlink(slave.name().unwrap(), &link).unwrap();
    wait_connected(&rx);
    type_slowly(&mut master, b"R000001L\r");
    assert_eq!(scan_data(next(&rx)), "R000001L");
    handle.stop();
    drop(slave);
}

#[test]
fn every_serial_model_profile_reads_a_scan_framed_its_way() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for name in scanners::profile_names() {
        let profile = Profile::load(&name).expect("profile");
        if profile.transport != scanners::Transport::Serial {
            continue;
        }
        let (mut master, slave) = TTYPort::pair().expect("pty pair");
        let path = slave.name().expect("slave path");
        let (mut handle, rx) = listen(&profile, Path::new(&path));
        wait_connected(&rx);
        let suffix: &[u8] = match profile.framing.suffix[0] {
            Suffix::CR => b"\r",
            Suffix::LF => b"\n",
            Suffix::CRLF => b"\r\n",
            Suffix::Tab => b"\t",
        };
        let aim: &[u8] = if profile.framing.aim { b"]C0" } else { b"" };
        let frame = [profile.framing.prefix.as_bytes(), aim, b"G151726000001HF0001A0X", suffix].concat();
        // Split in two writes, typed at scanner speed.
        type_slowly(&mut master, &frame[..7]);
        type_slowly(&mut master, &frame[7..]);
        match next(&rx) {
            ScannerEvent::Scan(s) => {
                assert_eq!(s.data, "G151726000001HF0001A0X", "{name}");
                assert_eq!(s.symbology.is_some(), profile.framing.aim, "{name}");
                assert_eq!(s.source, path, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        handle.stop();
        drop(slave);
    }
}

/// A `Write` the test can read while `listen` holds it on another thread.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }

    /// Waits (up to the patience, a hang guard) until the text holds `needle`.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(std::time::Instant::now() < deadline, "no {needle:?} in {text:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn the_listen_command_prints_one_json_object_per_scan_and_rejections_on_stderr() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut master, slave) = TTYPort::pair().expect("pty pair");
    let path = slave.name().expect("slave path");
    let (out, err) = (Shared::default(), Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let listener = {
        let (mut out, mut err, stop, path) = (out.clone(), err.clone(), stop.clone(), path.clone());
        std::thread::spawn(move || {
            scanners::cli::listen("generic-serial", Some(&path), Some(19200), true, &mut out, &mut err, &stop)
        })
    };
    err.wait_for("connected");
    type_slowly(&mut master, b"]C0G151726000001HF0001A0X\r");
    type_slowly(&mut master, b"AB\x1bCD\r");
    type_slowly(&mut master, b"D0000010\n");
    let text = out.wait_for("D0000010");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(
        lines,
        vec![
            serde_json::json!({"data": "G151726000001HF0001A0X", "symbology": "code128", "source": path}),
            serde_json::json!({"data": "D0000010", "symbology": null, "source": path}),
        ]
    );
    assert!(err.text().contains("0x1b not allowed"), "{}", err.text());
    stop.store(true, Ordering::SeqCst);
    listener.join().expect("listen thread").expect("listen ends cleanly when stopped");
    drop(slave);
}

#[test]
fn the_listen_command_prints_plain_lines_with_the_symbology() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (mut master, slave) = TTYPort::pair().expect("pty pair");
    let path = slave.name().expect("slave path");
    let (out, err) = (Shared::default(), Shared::default());
    let stop = Arc::new(AtomicBool::new(false));
    let listener = {
        let (mut out, mut err, stop, path) = (out.clone(), err.clone(), stop.clone(), path.clone());
        std::thread::spawn(move || {
            scanners::cli::listen("zebra-ds22xx-serial", Some(&path), None, false, &mut out, &mut err, &stop)
        })
    };
    err.wait_for("connected");
    type_slowly(&mut master, b"]d2=G151726000001HF0001A0X\r");
    assert_eq!(out.wait_for("\n"), "=G151726000001HF0001A0X  [gs1-datamatrix]\n");
    stop.store(true, Ordering::SeqCst);
    listener.join().expect("listen thread").expect("stopped");
    drop(slave);
}

#[test]
#[cfg_attr(not(feature = "hardware"), ignore = "needs a real scanner: set STOOLBANK_SCANNER=/dev/ttyACM0")]
fn a_real_serial_scanner_delivers_a_scan() {
    let device = std::env::var("STOOLBANK_SCANNER").expect("STOOLBANK_SCANNER=/dev/tty...");
    let (mut handle, rx) = listen(&Profile::generic_serial(), Path::new(&device));
    wait_connected(&rx);
    eprintln!("scan any barcode within 30 s");
    let e = rx.recv_timeout(Duration::from_secs(30)).expect("a scan");
    assert!(matches!(e, ScannerEvent::Scan(_)), "{e:?}");
    handle.stop();
}
