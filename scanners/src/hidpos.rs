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
//! | 61–62 | vendor symbology code, reserved (ignored)                               |
//! | 63    | bit 0 "decoded data continued": the next report continues this scan    |
//!
//! Reports with another report ID (status, feature responses) are ignored. The report ID of the scanned-data
//! report is read from the device's report descriptor when sysfs offers it ([`scanned_data_report_id`]), the
//! profile's `hid_report_id` otherwise.

use std::sync::atomic::AtomicBool;

use crate::framing::{Charset, Outcome};
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
        let continued = report.len() >= REPORT_LEN && report[REPORT_LEN - 1] & 0x01 != 0;
        if continued && self.pending.len() <= self.max_len {
            return None;
        }
        let data = std::mem::take(&mut self.pending);
        let symbology = self.symbology.take();
        if data.len() > self.max_len {
            return reject(format!("frame over {} bytes", self.max_len), &data);
        }
        let Ok(text) = std::str::from_utf8(&data) else {
            return reject("line noise: bytes that are not valid text".into(), &data);
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

    /// Whether part of a scan is waiting for its continuation report.
    pub fn pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Gives up on a scan whose continuation report never came (the scanner was unplugged mid-scan, or a
    /// report was lost), so the next scan does not start with its remains.
    pub fn abandon(&mut self, waited_ms: u64) -> Option<Outcome> {
        self.symbology = None;
        let raw = std::mem::take(&mut self.pending);
        (!raw.is_empty())
            .then(|| Outcome::Rejected { reason: format!("no continuation report within {waited_ms} ms"), raw })
    }
}

/// HID report descriptor items we need: Usage Page (global 0), Report ID (global 8), Usage (local 0), Input
/// (main 8).
const PAGE_BAR_CODE_SCANNER: u32 = 0x8C;
const USAGE_DECODED_DATA: u32 = 0xFE;

/// Walks a HID report descriptor's short items: (type, tag, value). Long items (0xFE) are skipped; a truncated
/// item ends the walk.
fn items(desc: &[u8]) -> impl Iterator<Item = (u8, u8, u32)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || loop {
        let prefix = *desc.get(i)?;
        if prefix == 0xFE {
            let len = usize::from(*desc.get(i + 1)?);
            i += 3 + len;
            continue;
        }
        let size = match prefix & 0x03 {
            3 => 4,
            n => usize::from(n),
        };
        let data = desc.get(i + 1..i + 1 + size)?;
        i += 1 + size;
        let value = data.iter().rev().fold(0u32, |v, b| (v << 8) | u32::from(*b));
        return Some(((prefix >> 2) & 0x03, prefix >> 4, value));
    })
}

/// Whether a report descriptor declares the Bar Code Scanner usage page (0x8C): a HID POS scanner, as opposed
/// to a scanner in keyboard mode.
pub fn is_hid_pos_scanner(desc: &[u8]) -> bool {
    items(desc).any(|(kind, tag, value)| kind == 1 && tag == 0 && value == PAGE_BAR_CODE_SCANNER)
}

/// The report ID of the input report that carries Decoded Data (usage 0x8C:0xFE), from a report descriptor.
pub fn scanned_data_report_id(desc: &[u8]) -> Option<u8> {
    let (mut page, mut report_id, mut usages) = (0u32, 0u32, Vec::new());
    for (kind, tag, value) in items(desc) {
        match (kind, tag) {
            (1, 0) => page = value,
            (1, 8) => report_id = value,
            // A 4-byte usage carries its own page in the high half.
            (2, 0) => usages.push(if value > 0xFFFF { value } else { (page << 16) | value }),
            (0, 8) => {
                if usages.contains(&((PAGE_BAR_CODE_SCANNER << 16) | USAGE_DECODED_DATA)) {
                    return u8::try_from(report_id).ok();
                }
                usages.clear();
            }
            (0, _) => usages.clear(),
            _ => {}
        }
    }
    None
}

/// The report descriptor of a hidraw node, from sysfs.
pub fn report_descriptor(device: &str) -> Option<Vec<u8>> {
    let node = std::fs::canonicalize(device).ok()?;
    let name = node.file_name()?;
    std::fs::read(std::path::Path::new("/sys/class/hidraw").join(name).join("device/report_descriptor")).ok()
}

/// Reads a hidraw node until `stop`, reopening it when the scanner is unplugged and plugged back.
#[cfg(target_os = "linux")]
pub fn run(profile: &Profile, device: &str, sink: &Sink, stop: &AtomicBool) {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    use crate::serial::emit_outcome;

    let open = || std::fs::File::open(device).map_err(|e| format!("cannot open: {e}"));
    crate::supervise(device, sink, stop, open, |file| {
        let report_id =
            report_descriptor(device).and_then(|d| scanned_data_report_id(&d)).unwrap_or(profile.hid_report_id);
        let mut decoder = HidPosDecoder::new(report_id, profile.framing.charset, profile.framing.max_len);
        let mut report = [0u8; REPORT_LEN];
        let mut last = Instant::now();
        loop {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            // hidraw blocks until the next report: poll briefly so the stop flag is seen while nobody scans.
            if !crate::readable(file.as_raw_fd(), 50) {
                let waited = last.elapsed().as_millis() as u64;
                if decoder.pending() && waited >= profile.framing.timeout_ms {
                    if let Some(o) = decoder.abandon(profile.framing.timeout_ms) {
                        emit_outcome(sink, device, o);
                    }
                }
                continue;
            }
            match file.read(&mut report) {
                Ok(0) => return Some("the device closed".into()),
                Ok(n) => {
                    last = Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_items_with_long_and_four_byte_items() {
        // Usage Page 0x8C, a long item to skip, Report ID 5, 4-byte Usage 0x008C00FE, Input.
        let desc = [0x05, 0x8C, 0xFE, 0x01, 0x00, 0xAA, 0x85, 0x05, 0x0B, 0xFE, 0x00, 0x8C, 0x00, 0x81, 0x02];
        assert!(is_hid_pos_scanner(&desc));
        assert_eq!(scanned_data_report_id(&desc), Some(5));
        // A keyboard (Generic Desktop page) is not a HID POS scanner; a truncated descriptor ends quietly.
        assert!(!is_hid_pos_scanner(&[0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, 0xC0]));
        assert_eq!(scanned_data_report_id(&[0x05, 0x8C, 0x85]), None);
    }

    #[test]
    fn an_unfinished_continuation_is_abandoned() {
        let mut d = HidPosDecoder::new(2, Charset::PrintableAscii, 512);
        let mut first = [0u8; REPORT_LEN];
        first[0] = 2;
        first[1] = 2;
        first[5..7].copy_from_slice(b"AB");
        first[63] = 1;
        assert_eq!(d.feed(&first), None);
        assert!(d.pending());
        assert!(matches!(d.abandon(500), Some(Outcome::Rejected { reason, .. }) if reason.contains("continuation")));
        assert!(!d.pending());
    }
}
