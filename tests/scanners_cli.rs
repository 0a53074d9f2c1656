//! `stoolbank scanners listen` at the bench: a serial scanner on a real pseudo-terminal, one JSON object per
//! scan on stdout, rejected reads named on stderr.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serialport::{SerialPort, TTYPort};

#[test]
fn listen_prints_each_scan_as_json_and_rejections_on_stderr() {
    let (mut master, slave) = TTYPort::pair().expect("pty pair");
    let path = slave.name().expect("slave path");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stoolbank"))
        .args(["--json", "scanners", "listen", "generic-serial", "--device", &path])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start listen");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("connected"), "{line}");

    master.write_all(b"]C0G151726000001X\rAB\x07C\rD0000010\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["data"], "G151726000001X");
    assert_eq!(v["symbology"], "code128");
    assert_eq!(v["source"], path.as_str());
    let mut second = String::new();
    out.read_line(&mut second).unwrap();
    let v: serde_json::Value = serde_json::from_str(&second).unwrap();
    assert_eq!(v["data"], "D0000010");
    assert!(v["symbology"].is_null());
    line.clear();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("rejected") && line.contains("0x07"), "{line}");
    child.kill().unwrap();
    let _ = child.wait();
    drop(slave);
}
