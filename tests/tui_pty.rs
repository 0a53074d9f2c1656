//! The real binary in a pseudo-terminal on the demo bank: it opens on the sign-in screen, then on the home
//! screen, switches tabs by key, opens a trace from a typed identifier, asks before quitting over unsaved work,
//! and quits cleanly with the terminal restored.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, PtySize};

fn stoolbank(db: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stoolbank")).arg("--db").arg(db).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until the screen shows `text` (a guard against hangs, not a speed assertion).
fn wait_for(parser: &Arc<Mutex<vt100::Parser>>, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let screen = parser.lock().unwrap().screen().contents();
        if screen.contains(text) {
            return screen;
        }
        assert!(Instant::now() < deadline, "`{text}` never appeared; the screen shows:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_binary_runs_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bank.db");
    // The demo bank: its closing line suggests identifiers to trace, the second a dispensed unit.
    let demo = stoolbank(&db, &["--as", "tester", "demo"]);
    let unit = demo
        .lines()
        .find_map(|l| l.strip_prefix("try: "))
        .and_then(|l| l.split(" | ").nth(1))
        .and_then(|c| c.split_whitespace().last())
        .unwrap_or_else(|| panic!("no identifiers suggested:\n{demo}"))
        .to_string();

    let pair = native_pty_system()
        .openpty(PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_stoolbank"));
    // The demo bank has users: `--as` types the name into the sign-in screen, the password is typed there.
    cmd.args(["--db", db.to_str().unwrap(), "--as", "qm"]);
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).expect("start stoolbank");
    drop(pair.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(24, 80, 0)));
    let mut reader = pair.master.try_clone_reader().unwrap();
    let sink = parser.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().process(&buf[..n]);
        }
    });
    let mut keys = pair.master.take_writer().unwrap();

    // Each waited for: a frame can arrive in more than one read.
    wait_for(&parser, "Sign in");
    keys.write_all(format!("{}\r", stoolbank::demo::DEMO_PASSWORD).as_bytes()).unwrap();
    wait_for(&parser, "Facility G1517");
    wait_for(&parser, "30  donors");
    wait_for(&parser, "qm · quality-manager");
    keys.write_all(b"\x1bOQ").unwrap(); // F2
    wait_for(&parser, "Donors · 1 of 30");
    keys.write_all(b"\x1b[C").unwrap(); // → the next tab
    wait_for(&parser, "Donation intake");
    keys.write_all(b"\x1bOP").unwrap(); // F1: help, even with the cursor in a form field
    wait_for(&parser, "Donations");
    wait_for(&parser, "Everywhere");
    keys.write_all(b"\x1b").unwrap(); // Esc closes it (waited for, so that the next key is not read with it)
    let deadline = Instant::now() + Duration::from_secs(20);
    while parser.lock().unwrap().screen().contents().contains("Everywhere") {
        assert!(Instant::now() < deadline, "Esc did not close the help");
        std::thread::sleep(Duration::from_millis(50));
    }
    keys.write_all(b"\x1b[21~").unwrap(); // F10: home, where no field waits, so a typed identifier opens its trace
    wait_for(&parser, "Facility G1517");
    keys.write_all(format!("{unit}\r").as_bytes()).unwrap();
    let trace = wait_for(&parser, &format!("unit {unit}"));
    assert!(trace.contains("Chain") && trace.contains("→ recipient R"), "the trace shows the recipient:\n{trace}");

    // Unsaved work in the intake form: quitting asks first.
    keys.write_all(b"\x1bOR").unwrap(); // F3
    wait_for(&parser, "Donation intake");
    keys.write_all(b"D0").unwrap();
    wait_for(&parser, " D0 ");
    keys.write_all(b"\x03").unwrap(); // Ctrl-C
    wait_for(&parser, "Quit anyway");
    keys.write_all(b"y").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "stoolbank did not quit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // The alternate screen was left: the terminal is back to the shell's screen.
    assert!(!parser.lock().unwrap().screen().alternate_screen());
}
