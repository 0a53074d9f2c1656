//! USB HID POS barcode scanners (HID usage page 0x8C, "Bar Code Scanner"), read raw from their `/dev/hidraw*`
//! node (no libudev or hidapi needed).
//!
//! The scanned-data input report, as HID POS scanners in "HID POS" / "USB HID barcode scanner" mode send it
//! (usage page 0x8C, usages Symbology Identifier 1–3, Decoded Data, Decoded Data Continued):
//!
//! | byte  | meaning                                                                 |
//! |-------|-------------------------------------------------------------------------|
//! | 0     | report ID (0x02 by default; configurable)                               |
//! | 1     | number of data bytes in this report (0–56)                              |
//! | 2–4   | symbology identifier: an AIM identifier `]Cm` as three ASCII bytes, or 0 |
//! | 5–60  | decoded data                                                            |
//! | 63    | "decoded data continued": non-zero when the next report continues it    |
//!
//! Reports with another report ID (status, feature responses) are ignored.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::framing::{Charset, Outcome};
use crate::serial::emit_outcome;
use crate::{Profile, Sink};

pub const REPORT_LEN: usize = 64;
const DATA_START: usize = 5;
const DATA_MAX: usize = 56;

/// Reassembles scans from input reports.
pub struct HidPosDecoder {
    report_id: u8,
    charset: Charset,
    max_len: usize,
    pending: Vec<u8>,
    symbology: Option<String>,
}

impl HidPosDecoder {
    pub fn new(report_id: u8, charset: Charset, max_len: usize) -> HidPosDecoder {
        HidPosDecoder { report_id, charset, max_len, pending: Vec::new(), symbology: None }
    }

    /// Feeds one input report; returns a scan or a rejection when the report completes one.
    pub fn feed(&mut self, report: &[u8]) -> Option<Outcome> {
        let reject = |reason: String, raw: &[u8]| Some(Outcome::Rejected { reason, raw: raw.to_vec() });
        if report.first() != Some(&self.report_id) {
            return None;
        }
        if report.len() < DATA_START {
            return reject(format!("short report ({} bytes)", report.len()), report);
        }
        let len = report[1] as usize;
        if len > DATA_MAX || DATA_START + len > report.len() {
            self.pending.clear();
            return reject(format!("report claims {len} data bytes"), report);
        }
        if self.pending.is_empty() {
            let sym = &report[2..5];
            self.symbology = (sym[0] == b']').then(|| crate::aim::name(sym[1] as char, sym[2] as char));
        }
        self.pending.extend_from_slice(&report[DATA_START..DATA_START + len]);
        let continued = report.len() >= REPORT_LEN && report[REPORT_LEN - 1] != 0;
        if continued && self.pending.len() <= self.max_len {
            return None;
        }
        let data = std::mem::take(&mut self.pending);
        let symbology = self.symbology.take();
        if data.len() > self.max_len {
            return reject(format!("frame over {} bytes", self.max_len), &data);
        }
        let text = match std::str::from_utf8(&data) {
            Ok(t) => t,
            Err(_) => return reject("line noise: bytes that are not valid text".into(), &data),
        };
        let allowed = |c: char| match self.charset {
            Charset::PrintableAscii => (' '..='~').contains(&c),
            Charset::Utf8 => !c.is_control(),
        };
        if let Some(c) = text.chars().find(|c| !allowed(*c)) {
            return reject(format!("byte {:#04x} not allowed in the code set", c as u32), &data);
        }
        if text.is_empty() {
            return None;
        }
        Some(Outcome::Scan { data: text.to_string(), symbology })
    }
}

/// Reads a hidraw node until `stop`, reopening it when the scanner is unplugged and plugged back.
pub fn run(profile: &Profile, device: &str, sink: &Sink, stop: &AtomicBool) {
    let open = || std::fs::File::open(device).map_err(|e| format!("cannot open: {e}"));
    crate::supervise(device, sink, stop, open, |file| {
        let mut decoder = HidPosDecoder::new(profile.hid_report_id, profile.framing.charset, profile.framing.max_len);
        let mut report = [0u8; REPORT_LEN];
        // hidraw delivers one report per read and blocks until the next scan: a stop request is seen at the
        // next report, or when the device goes away.
        loop {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            match file.read(&mut report) {
                Ok(0) => return Some("the device closed".into()),
                Ok(n) => {
                    if let Some(o) = decoder.feed(&report[..n]) {
                        emit_outcome(sink, device, o);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Some(format!("read failed: {e}")),
            }
        }
    });
}
