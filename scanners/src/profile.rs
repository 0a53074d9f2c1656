//! Scanner profiles: transport, serial settings, framing, keyboard layout, and (in the model files) how to
//! program the scanner to match. Built in: `generic-serial` and `generic-hid`, plus every file of
//! `scanners/profiles/` (compiled in, so an installed binary has them); any other TOML file by path.

use serde::{Deserialize, Serialize};

use crate::framing::{FrameRules, Suffix};
use crate::keymap::Layout;
use crate::serial::SerialSettings;
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// RS-232 or a USB-CDC virtual COM port.
    Serial,
    /// USB HID POS (usage page 0x8C) through `/dev/hidraw*`.
    HidPos,
    /// A keyboard-wedge scanner read from `/dev/input/event*` with an exclusive grab.
    Evdev,
    /// A keyboard wedge whose keystrokes arrive in the terminal (no device access).
    Terminal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub model: String,
    pub transport: Transport,
    /// Default device path (overridden by `--device`).
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub serial: SerialSettings,
    #[serde(default)]
    pub framing: FrameRules,
    /// Layout of the keystrokes a wedge scanner sends.
    #[serde(default)]
    pub layout: Layout,
    /// HID POS input report ID carrying scanned data.
    #[serde(default = "default_report_id")]
    pub hid_report_id: u8,
    /// How to program the scanner for this profile (shown by `scanners list`).
    #[serde(default)]
    pub programming: String,
}

fn default_report_id() -> u8 {
    2
}

/// The model files, compiled in.
const MODEL_FILES: &[(&str, &str)] = &[
    ("honeywell-xenon-serial", include_str!("../profiles/honeywell-xenon-serial.toml")),
    ("honeywell-voyager-hid", include_str!("../profiles/honeywell-voyager-hid.toml")),
    ("zebra-ds22xx-serial", include_str!("../profiles/zebra-ds22xx-serial.toml")),
    ("zebra-ds22xx-hid", include_str!("../profiles/zebra-ds22xx-hid.toml")),
    ("datalogic-quickscan-serial", include_str!("../profiles/datalogic-quickscan-serial.toml")),
    ("datalogic-quickscan-hid", include_str!("../profiles/datalogic-quickscan-hid.toml")),
    ("generic-terminal-wedge", include_str!("../profiles/generic-terminal-wedge.toml")),
];

impl Profile {
    /// `generic-serial`: 9600 8N1, CR, LF or CRLF suffix, no prefix.
    pub fn generic_serial() -> Profile {
        Profile {
            name: "generic-serial".into(),
            model: "any serial scanner at 9600 8N1 with a CR, LF or CRLF suffix".into(),
            transport: Transport::Serial,
            device: None,
            serial: SerialSettings::default(),
            framing: FrameRules { suffix: vec![Suffix::CR, Suffix::LF, Suffix::CRLF], ..FrameRules::default() },
            layout: Layout::Us,
            hid_report_id: 2,
            programming: "Set 9600 baud, 8 data bits, no parity, 1 stop bit, and a CR (or CR LF) suffix.".into(),
        }
    }

    /// `generic-hid`: a USB keyboard-wedge scanner read from its evdev device, Enter suffix, US layout.
    pub fn generic_hid() -> Profile {
        Profile {
            name: "generic-hid".into(),
            model: "any USB keyboard-wedge scanner (US layout, Enter suffix)".into(),
            transport: Transport::Evdev,
            device: None,
            serial: SerialSettings::default(),
            framing: FrameRules { suffix: vec![Suffix::CR], ..FrameRules::default() },
            layout: Layout::Us,
            hid_report_id: 2,
            programming: "USB keyboard (HID) mode, US keyboard layout, Enter (CR) suffix. Point --device at its \
                          /dev/input/by-id/*-event-kbd link."
                .into(),
        }
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<Profile, Error> {
        let bad = |message: String| Error::BadProfile { path: origin.into(), message };
        let p: Profile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        p.serial.validate().map_err(|m| bad(format!("serial: {m}")))?;
        if p.framing.suffix.is_empty() {
            return Err(bad("framing: at least one suffix".into()));
        }
        if p.framing.max_len == 0 {
            return Err(bad("framing: max_len must be positive".into()));
        }
        Ok(p)
    }

    /// A built-in profile by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Profile, Error> {
        match name_or_path {
            "generic-serial" => return Ok(Profile::generic_serial()),
            "generic-hid" => return Ok(Profile::generic_hid()),
            _ => {}
        }
        if let Some((_, text)) = MODEL_FILES.iter().find(|(n, _)| *n == name_or_path) {
            return Profile::from_toml(text, name_or_path);
        }
        let path = std::path::Path::new(name_or_path);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            let text =
                std::fs::read_to_string(path).map_err(|source| Error::Io { device: name_or_path.into(), source })?;
            return Profile::from_toml(&text, name_or_path);
        }
        Err(Error::UnknownProfile(name_or_path.into(), names().join(", ")))
    }
}

/// Every built-in profile name.
pub fn names() -> Vec<String> {
    let mut out = vec!["generic-serial".to_string(), "generic-hid".to_string()];
    out.extend(MODEL_FILES.iter().map(|(n, _)| n.to_string()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_file_parses_and_is_named_after_itself() {
        for name in names() {
            let p = Profile::load(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, name);
            assert!(!p.programming.trim().is_empty(), "{name} says how to program the scanner");
        }
        assert!(matches!(Profile::load("nope"), Err(Error::UnknownProfile(..))));
    }

    /// A file added to `profiles/` but not compiled in would work from a checkout and be missing once
    /// installed: every file must parse, by path, and be a built-in by its name.
    #[test]
    fn every_file_in_profiles_parses_and_is_compiled_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("profiles/") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            seen += 1;
            let p = Profile::load(path.to_str().expect("utf-8 path")).unwrap_or_else(|e| panic!("{e}"));
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            assert_eq!(p.name, stem, "{} is named after its file", path.display());
            assert!(names().contains(&p.name), "{} is listed in MODEL_FILES", path.display());
        }
        assert!(seen >= 6, "the model profiles are there");
    }

    #[test]
    fn a_bad_profile_says_what_is_wrong() {
        let e = Profile::from_toml("name = \"x\"\ntransport = \"serial\"\n[serial]\nparity = \"mark\"\n", "x.toml");
        assert!(matches!(e, Err(Error::BadProfile { ref message, .. }) if message.contains("parity")), "{e:?}");
        let e = Profile::from_toml("name = \"x\"\ntransport = \"carrier-pigeon\"\n", "x.toml");
        assert!(matches!(e, Err(Error::BadProfile { .. })), "{e:?}");
    }
}
