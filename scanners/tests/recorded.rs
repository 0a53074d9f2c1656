//! HID POS report parsing and evdev key mapping, from recorded byte streams and input-event sequences in
//! `tests/data/`.

use scanners::evdev_wedge::key_bytes;
use scanners::framing::{Charset, FrameRules, Framer, Outcome, Suffix};
use scanners::hidpos::{is_hid_pos_scanner, scanned_data_report_id, HidPosDecoder};
use scanners::keymap::{KeyDecoder, Layout};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).expect("recorded data")
}

fn lines(name: &str) -> Vec<String> {
    data(name).lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(str::to_string).collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// The bytes of a hex file whose lines may carry spaces and `#` comments.
fn hex_file(name: &str) -> Vec<u8> {
    let digits: String = lines(name)
        .iter()
        .flat_map(|l| l.split('#').next().unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect::<Vec<_>>())
        .collect();
    hex(&digits)
}

#[test]
fn hid_pos_descriptor_names_the_scanned_data_report() {
    let desc = hex_file("hidpos-descriptor.hex");
    assert!(is_hid_pos_scanner(&desc));
    // The vendor status report (ID 1) comes first; Decoded Data is in report 2.
    assert_eq!(scanned_data_report_id(&desc), Some(2));
}

#[test]
fn hid_pos_reports_decode_to_scans() {
    let report_id = scanned_data_report_id(&hex_file("hidpos-descriptor.hex")).expect("report id");
    let mut d = HidPosDecoder::new(report_id, Charset::PrintableAscii, 512);
    let out: Vec<Outcome> = lines("hidpos-reports.hex").iter().filter_map(|l| d.feed(&hex(l))).collect();
    assert_eq!(
        out,
        vec![
            Outcome::Scan { data: "G151726000001F0003A04".into(), symbology: Some("code128".into()) },
            Outcome::Scan {
                data: "=G151726000001F0003A04|F0003|WASHED MICROBIOTA CAPSULES FROZEN BELOW -80C LOT 2026".into(),
                symbology: Some("datamatrix".into()),
            },
        ]
    );
}

#[test]
fn hid_pos_faults_are_rejected() {
    let mut d = HidPosDecoder::new(2, Charset::PrintableAscii, 512);
    let mut bad = vec![0u8; 64];
    bad[0] = 2;
    bad[1] = 200; // claims more data than a report holds
    assert!(matches!(d.feed(&bad), Some(Outcome::Rejected { reason, .. }) if reason.contains("200")));
    let mut noise = vec![0u8; 64];
    noise[0] = 2;
    noise[1] = 3;
    noise[5..8].copy_from_slice(&[0x41, 0x07, 0x42]);
    assert!(matches!(d.feed(&noise), Some(Outcome::Rejected { reason, .. }) if reason.contains("0x07")));
}

fn replay(name: &str, layout: Layout) -> Vec<Outcome> {
    let mut keys = KeyDecoder::new(layout);
    let mut framer = Framer::new(FrameRules { suffix: vec![Suffix::CR], aim: false, ..FrameRules::default() });
    let mut bytes = Vec::new();
    for l in lines(name) {
        let f: Vec<i32> = l.split_whitespace().map(|x| x.parse().expect("number")).collect();
        if f[0] == 1 {
            if let Some(k) = keys.feed(f[1] as u16, f[2]) {
                bytes.extend(key_bytes(k));
            }
        }
    }
    framer.push(&bytes, std::time::Instant::now())
}

#[test]
fn evdev_key_sequences_map_under_the_layout() {
    assert_eq!(
        replay("evdev-us-unit-label.txt", Layout::Us),
        vec![Outcome::Scan { data: "G151726000001F0003A04".into(), symbology: None }]
    );
    // The pitfall: a UK-programmed scanner read as US gives `"` where it meant `@`.
    assert_eq!(
        replay("evdev-uk-at-sign.txt", Layout::Uk),
        vec![Outcome::Scan { data: "lab@bank.org".into(), symbology: None }]
    );
    // Letters and digits are where they are on both layouts: the identifier reads the same under UK.
    assert_eq!(
        replay("evdev-us-unit-label.txt", Layout::Uk),
        vec![Outcome::Scan { data: "G151726000001F0003A04".into(), symbology: None }]
    );
    assert_eq!(
        replay("evdev-uk-at-sign.txt", Layout::Us),
        vec![Outcome::Scan { data: "lab\"bank.org".into(), symbology: None }]
    );
}
