//! The two bench commands the `stoolbank` binary exposes: `scanners list` and `scanners listen`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::{discover, profile, Error, Profile, ScannerEvent, State};

fn io(e: std::io::Error) -> Error {
    Error::Io { device: "stdout".into(), source: e }
}

/// Lists serial ports and HID devices present, then the profiles a device can be read with.
pub fn list(out: &mut dyn Write, json: bool) -> Result<(), Error> {
    let mut found = discover::serial_ports();
    found.extend(discover::hid_devices());
    if json {
        let v = serde_json::json!({ "devices": found, "profiles": profile::names() });
        writeln!(out, "{v}").map_err(io)?;
        return Ok(());
    }
    if found.is_empty() {
        writeln!(out, "no serial ports or HID devices found").map_err(io)?;
    }
    for f in &found {
        let ids = match (&f.usb_vendor, &f.usb_product) {
            (Some(v), Some(p)) => format!("usb {v}:{p}"),
            _ => "-".into(),
        };
        writeln!(out, "{:<9} {:<40} {:<14} {}", f.kind, f.path, ids, f.name.as_deref().unwrap_or("")).map_err(io)?;
    }
    writeln!(out, "\nprofiles: {}", profile::names().join(", ")).map_err(io)?;
    Ok(())
}

/// Prints each scan on its own line (JSON: `{"data","symbology","source"}`), rejections and state changes on
/// `err`, until `stop` is set.
pub fn listen(
    profile: &str,
    device: Option<&str>,
    baud: Option<u32>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
    stop: &AtomicBool,
) -> Result<(), Error> {
    let mut p = Profile::load(profile)?;
    if let Some(b) = baud {
        p.serial.baud = b;
    }
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let sink: crate::Sink = Arc::new(move |e| {
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(e);
        }
    });
    let _handle = crate::spawn(&p, device, sink)?;
    while !stop.load(Ordering::SeqCst) {
        let Ok(event) = rx.recv_timeout(Duration::from_millis(100)) else { continue };
        match event {
            ScannerEvent::Scan(s) => {
                if json {
                    let v = serde_json::json!({ "data": s.data, "symbology": s.symbology, "source": s.source });
                    writeln!(out, "{v}").map_err(io)?;
                } else {
                    let sym = s.symbology.map(|s| format!("  [{s}]")).unwrap_or_default();
                    writeln!(out, "{}{sym}", s.data).map_err(io)?;
                }
                out.flush().map_err(io)?;
            }
            ScannerEvent::Rejected(r) => {
                writeln!(err, "rejected from {}: {} ({})", r.source, r.reason, r.raw).map_err(io)?;
            }
            ScannerEvent::State(s) => {
                let line = match s.state {
                    State::Connected => format!("{}: connected", s.source),
                    State::Disconnected { reason } => format!("{}: disconnected: {reason}", s.source),
                };
                writeln!(err, "{line}").map_err(io)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_as_json_is_one_object_with_devices_and_profiles() {
        let mut out = Vec::new();
        list(&mut out, true).expect("list");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert!(v["devices"].is_array());
        let profiles: Vec<&str> =
            v["profiles"].as_array().expect("profiles").iter().filter_map(|p| p.as_str()).collect();
        assert!(profiles.contains(&"generic-serial") && profiles.contains(&"generic-hid"), "{profiles:?}");
    }

    #[test]
    fn listen_refuses_what_it_cannot_read() {
        let stop = AtomicBool::new(true);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = listen("no-such-profile", None, None, false, &mut out, &mut err, &stop);
        assert!(matches!(r, Err(Error::UnknownProfile(..))), "{r:?}");
        let r = listen("generic-serial", None, None, false, &mut out, &mut err, &stop);
        assert!(matches!(r, Err(Error::NoDevice(..))), "{r:?}");
        let r = listen("generic-terminal-wedge", Some("/dev/null"), None, false, &mut out, &mut err, &stop);
        assert!(matches!(r, Err(Error::TerminalOnly(..))), "{r:?}");
    }
}
