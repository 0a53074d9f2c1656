//! Framing: bytes from a device into frames, by an optional prefix and a suffix (CR, LF, CRLF or Tab), with
//! the AIM identifier split off. Pure — no I/O, time passed in — so every fault is unit-tested: line noise,
//! frames over the length limit, a frame whose suffix never comes, bytes outside the code set.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Which bytes a frame's data may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Charset {
    /// 0x20–0x7E: what Code 128 and the bank's identifiers use.
    #[default]
    PrintableAscii,
    /// Any UTF-8 text without control characters (2D codes carrying free text).
    Utf8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Suffix {
    CR,
    LF,
    CRLF,
    Tab,
}

impl Suffix {
    fn bytes(self) -> &'static [u8] {
        match self {
            Suffix::CR => b"\r",
            Suffix::LF => b"\n",
            Suffix::CRLF => b"\r\n",
            Suffix::Tab => b"\t",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrameRules {
    pub prefix: String,
    pub suffix: Vec<Suffix>,
    /// Longest data accepted, in bytes.
    pub max_len: usize,
    /// A frame whose suffix has not come this long after its last byte is rejected.
    pub timeout_ms: u64,
    pub charset: Charset,
    /// Recognise and strip AIM symbology identifiers.
    pub aim: bool,
}

impl Default for FrameRules {
    fn default() -> Self {
        FrameRules {
            prefix: String::new(),
            suffix: vec![Suffix::CR, Suffix::LF, Suffix::CRLF],
            max_len: 128,
            timeout_ms: 500,
            charset: Charset::PrintableAscii,
            aim: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Scan { data: String, symbology: Option<String> },
    Rejected { reason: String, raw: Vec<u8> },
}

pub struct Framer {
    rules: FrameRules,
    buf: Vec<u8>,
    /// Discarding an over-long frame until its suffix.
    overflowed: bool,
    last: Option<Instant>,
}

impl Framer {
    pub fn new(rules: FrameRules) -> Framer {
        Framer { rules, buf: Vec::new(), overflowed: false, last: None }
    }

    /// Feeds bytes as they arrive; returns the frames they complete.
    pub fn push(&mut self, bytes: &[u8], now: Instant) -> Vec<Outcome> {
        let mut out: Vec<Outcome> = self.poll(now).into_iter().collect();
        for &b in bytes {
            self.buf.push(b);
            self.last = Some(now);
            if let Some(len) = self.suffix_len() {
                let frame: Vec<u8> = self.buf.drain(..).collect();
                let data = &frame[..frame.len() - len];
                if std::mem::take(&mut self.overflowed) {
                    continue; // already reported
                }
                out.extend(self.finish(data));
            } else if !self.overflowed && self.buf.len() > self.longest_frame() {
                out.push(Outcome::Rejected {
                    reason: format!("frame over {} bytes without a suffix", self.rules.max_len),
                    raw: std::mem::take(&mut self.buf),
                });
                self.overflowed = true;
            } else if self.overflowed {
                self.buf.clear();
            }
        }
        out
    }

    /// Rejects a partial frame whose suffix has not come in time (call when a read times out).
    pub fn poll(&mut self, now: Instant) -> Option<Outcome> {
        let last = self.last?;
        if self.buf.is_empty() || now.duration_since(last) < Duration::from_millis(self.rules.timeout_ms) {
            return None;
        }
        self.last = None;
        self.overflowed = false;
        let raw = std::mem::take(&mut self.buf);
        Some(Outcome::Rejected { reason: format!("no suffix within {} ms", self.rules.timeout_ms), raw })
    }

    /// The most bytes a frame can hold before its suffix completes: prefix, AIM identifier, data, and the
    /// first byte of a two-byte suffix. Past that the frame is rejected without waiting for the suffix, so
    /// a stream of noise cannot grow the buffer.
    fn longest_frame(&self) -> usize {
        self.rules.prefix.len() + if self.rules.aim { 3 } else { 0 } + self.rules.max_len + 1
    }

    /// The length of the suffix the buffer ends with; the longest configured wins (CRLF over LF).
    fn suffix_len(&self) -> Option<usize> {
        self.rules.suffix.iter().map(|s| s.bytes()).filter(|s| self.buf.ends_with(s)).map(<[u8]>::len).max()
    }

    fn finish(&self, frame: &[u8]) -> Option<Outcome> {
        let reject = |reason: String| Some(Outcome::Rejected { reason, raw: frame.to_vec() });
        // A CR LF pair where only CR is the suffix leaves a stray LF: an empty frame, not an event.
        let trimmed: &[u8] = frame.strip_prefix(b"\n").unwrap_or(frame);
        if trimmed.is_empty() {
            return None;
        }
        let prefix = self.rules.prefix.as_bytes();
        let Some(body) = trimmed.strip_prefix(prefix) else {
            return reject(format!("missing prefix {:?}", self.rules.prefix));
        };
        // The AIM identifier is not data: the limit applies to what is left once it is split off.
        let aim_len = if self.rules.aim && crate::aim::split_bytes(body).is_some() { 3 } else { 0 };
        if body.len() - aim_len > self.rules.max_len {
            return reject(format!("frame over {} bytes", self.rules.max_len));
        }
        let text = match (self.rules.charset, std::str::from_utf8(body)) {
            (_, Err(_)) => return reject("line noise: bytes that are not valid text".into()),
            (Charset::PrintableAscii, Ok(t)) => match t.bytes().find(|b| !(0x20..=0x7e).contains(b)) {
                Some(b) => return reject(format!("byte {b:#04x} not allowed in the printable-ascii code set")),
                None => t,
            },
            (Charset::Utf8, Ok(t)) => match t.chars().find(|c| c.is_control()) {
                Some(c) => return reject(format!("control character {:#04x} in the data", c as u32)),
                None => t,
            },
        };
        let (symbology, data) = if self.rules.aim { crate::aim::split(text) } else { (None, text) };
        if data.is_empty() {
            return reject("empty frame".into());
        }
        Some(Outcome::Scan { data: data.to_string(), symbology })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(d: &str) -> Outcome {
        Outcome::Scan { data: d.into(), symbology: None }
    }

    #[test]
    fn frames_split_across_writes_and_mixed_suffixes() {
        let mut f = Framer::new(FrameRules::default());
        let t = Instant::now();
        assert!(f.push(b"G1517", t).is_empty());
        assert_eq!(f.push(b"26000001X\r", t), vec![scan("G151726000001X")]);
        assert_eq!(f.push(b"\nD0000010\n", t), vec![scan("D0000010")]);
        assert_eq!(f.push(b"R000001L\r\n", t), vec![scan("R000001L")]);
    }

    #[test]
    fn aim_identifiers_are_stripped_into_the_symbology() {
        let mut f = Framer::new(FrameRules::default());
        let out = f.push(b"]C0G151726000001X\r", Instant::now());
        assert_eq!(out, vec![Outcome::Scan { data: "G151726000001X".into(), symbology: Some("code128".into()) }]);
    }

    #[test]
    fn faults_are_rejected_with_reasons() {
        let t = Instant::now();
        let mut f = Framer::new(FrameRules { max_len: 8, ..FrameRules::default() });
        let out = f.push(b"0123456789ABCDEF\r", t);
        assert!(matches!(&out[..], [Outcome::Rejected { reason, .. }] if reason.contains("over 8 bytes")), "{out:?}");
        assert_eq!(f.push(b"ABC\r", t), vec![scan("ABC")], "recovers after the over-long frame");
        // The limit is on the data: an AIM identifier on top of 8 bytes is fine, 9 bytes are not.
        let sym = Some("code128".to_string());
        assert_eq!(f.push(b"]C012345678\r", t), vec![Outcome::Scan { data: "12345678".into(), symbology: sym }]);
        let out = f.push(b"]C0123456789\r", t);
        assert!(matches!(&out[..], [Outcome::Rejected { reason, .. }] if reason == "frame over 8 bytes"), "{out:?}");
        let out = f.push(b"AB\x07C\r", t);
        assert!(matches!(&out[..], [Outcome::Rejected { reason, .. }] if reason.contains("0x07")), "{out:?}");
        let out = f.push(b"\xff\xfe\r", t);
        assert!(matches!(&out[..], [Outcome::Rejected { reason, .. }] if reason.contains("line noise")), "{out:?}");
        assert!(f.push(b"PARTIAL", t).is_empty());
        assert_eq!(f.poll(t + Duration::from_millis(100)), None);
        let late = f.poll(t + Duration::from_millis(600));
        assert!(matches!(late, Some(Outcome::Rejected { ref reason, .. }) if reason.contains("no suffix")), "{late:?}");
    }

    #[test]
    fn prefix_is_required_and_stripped() {
        let mut f = Framer::new(FrameRules { prefix: "#".into(), ..FrameRules::default() });
        let t = Instant::now();
        assert_eq!(f.push(b"#ABC\r", t), vec![scan("ABC")]);
        assert!(matches!(&f.push(b"ABC\r", t)[..], [Outcome::Rejected { reason, .. }] if reason.contains("prefix")));
    }
}
