//! Property targets for the parsers that take outside input: identifiers (typed or scanned), the scanner
//! framers (bytes from a device, in any chunking), and the policy file. None may panic, whatever arrives.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use scanners::framing::{FrameRules, Framer, Outcome};
use scanners::hidpos::HidPosDecoder;
use stoolbank::core::config::Config;
use stoolbank::core::ids::Id;

/// Text shaped like identifiers and their typos, and anything else.
fn id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9A-Z*=&%]{0,24}",
        "[DR][0-9]{0,8}[0-9A-Z*]?",
        "=?[A-Z0-9]{13,22}[ -]?[0-9A-Z*]{0,3}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_identifier_parser_never_panics_and_what_it_accepts_round_trips(input in id_like()) {
        if let Ok(id) = Id::parse(&input) {
            prop_assert_eq!(Id::parse(&id.display()).unwrap(), id.clone());
            prop_assert_eq!(Id::from_data(id.data()), Some(id));
        }
    }

    #[test]
    fn the_serial_framer_bounds_every_frame_whatever_the_bytes(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..24),
        gaps in prop::collection::vec(0u64..800, 24),
    ) {
        let rules = FrameRules::default();
        let mut framer = Framer::new(rules.clone());
        let mut now = Instant::now();
        let mut outcomes = Vec::new();
        for (chunk, gap) in chunks.iter().zip(&gaps) {
            now += Duration::from_millis(*gap);
            outcomes.extend(framer.push(chunk, now));
        }
        outcomes.extend(framer.poll(now + Duration::from_secs(5)));
        for o in outcomes {
            match o {
                Outcome::Scan { data, .. } => {
                    prop_assert!(data.len() <= rules.max_len, "{} bytes passed", data.len());
                    prop_assert!(data.bytes().all(|b| (0x20..0x7f).contains(&b)), "{:?}", data);
                }
                Outcome::Rejected { raw, .. } => prop_assert!(raw.len() <= rules.max_len + 8),
            }
        }
    }

    #[test]
    fn a_frame_is_read_the_same_however_it_is_chunked(data in "[ -~]{1,100}", cut in any::<prop::sample::Index>()) {
        let frame = format!("{data}\r\n").into_bytes();
        let now = Instant::now();
        let whole = Framer::new(FrameRules::default()).push(&frame, now);
        let at = cut.index(frame.len());
        let mut split = Framer::new(FrameRules::default());
        let mut parts = split.push(&frame[..at], now);
        parts.extend(split.push(&frame[at..], now));
        prop_assert_eq!(whole, parts);
    }

    #[test]
    fn the_hid_pos_decoder_never_panics(reports in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..16)) {
        let mut d = HidPosDecoder::new(2, scanners::framing::Charset::PrintableAscii, 128);
        for r in &reports {
            let _ = d.feed(r);
        }
        let _ = d.abandon(10_000);
    }
}

/// Policy keys with values of every kind, including ones out of any sane range.
fn policy_line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "bank_name",
        "screening_validity_days",
        "processing_limit_minutes",
        "donor_age_min",
        "donor_age_max",
        "require_label_verification",
        "identity_viewers",
        "routes",
        "indications",
        "qc_required",
        "label_template",
        "printer",
        "no_such_key",
    ]);
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "\"[ -~]{0,12}\"",
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("[\"a\", 1]".to_string()),
        "[ -~]{0,12}",
    ];
    (key, value).prop_map(|(k, v)| format!("{k} = {v}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_policy_file_parser_never_panics(lines in prop::collection::vec(policy_line(), 0..6), noise in any::<String>()) {
        let _ = Config::from_toml(&lines.join("\n"));
        let _ = Config::from_toml(&noise);
    }
}
