//! A keyboard-wedge scanner typing into the terminal, when its device cannot be grabbed. A configured prefix
//! marks a scan's start and Enter (or Tab) its end; keystrokes outside a scan pass through to the UI. Timing is
//! only a hint (a scan arrives faster than anyone types), never the rule: identifiers are validated by their
//! check character downstream anyway.
//!
//! Known pitfalls handled: control characters leaking into the data (dropped, and the scan rejected), Enter
//! sent before the data as well as after (Enter right after the prefix is skipped), characters lost on fast
//! input (a scan whose suffix never comes is rejected after the timeout, or as soon as the next scan's prefix
//! arrives), and a UK/US layout mismatch (`"` typed for `@` and
//! `@` for `"`, `£` for `#`), undone when the profile says the scanner was programmed for the other layout.

use std::time::{Duration, Instant};

use crate::keymap::Layout;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WedgeOutput {
    /// A keystroke that is not part of a scan: hand it to the focused field.
    Key(char),
    /// Enter outside a scan; `fast` when the keys before it came at scanner speed (a hint).
    Enter {
        fast: bool,
    },
    Scan(String),
    Rejected {
        reason: String,
        raw: String,
    },
}

#[derive(Debug, Clone)]
pub struct WedgeRules {
    /// Marks the start of a scan (e.g. a character the scanner is programmed to send first). Empty: no prefix,
    /// and the UI treats "an identifier then Enter" as a scan.
    pub prefix: String,
    /// The key that ends a scan: '\r' (Enter) or '\t' (Tab).
    pub suffix: char,
    pub timeout: Duration,
    /// Keys closer together than this are "scanner speed".
    pub burst_gap: Duration,
    /// The layout the scanner types for, when it differs from the terminal's.
    pub scanner_layout: Option<(Layout, Layout)>,
}

impl Default for WedgeRules {
    fn default() -> Self {
        WedgeRules {
            prefix: String::new(),
            suffix: '\r',
            timeout: Duration::from_millis(500),
            burst_gap: Duration::from_millis(35),
            scanner_layout: None,
        }
    }
}

pub struct WedgeDetector {
    rules: WedgeRules,
    /// Characters of the prefix matched so far.
    matched: usize,
    scanning: Option<String>,
    dropped_control: bool,
    last: Option<Instant>,
    burst: usize,
}

/// Undoes the characters a layout mismatch swaps (the scanner "types" US key positions on a UK terminal, or
/// the reverse).
fn remap(c: char, scanner_terminal: Option<(Layout, Layout)>) -> char {
    match scanner_terminal {
        Some((Layout::Us, Layout::Uk)) => match c {
            '"' => '@',
            '@' => '"',
            '£' => '#',
            _ => c,
        },
        Some((Layout::Uk, Layout::Us)) => match c {
            '@' => '"',
            '"' => '@',
            '#' => '£',
            _ => c,
        },
        _ => c,
    }
}

impl WedgeDetector {
    pub fn new(rules: WedgeRules) -> WedgeDetector {
        WedgeDetector { rules, matched: 0, scanning: None, dropped_control: false, last: None, burst: 0 }
    }

    /// Feeds one character as it arrived ('\r' for Enter, '\t' for Tab).
    pub fn feed(&mut self, c: char, at: Instant) -> Vec<WedgeOutput> {
        let mut out: Vec<WedgeOutput> = self.poll(at).into_iter().collect();
        let fast = self.last.is_some_and(|l| at.duration_since(l) <= self.rules.burst_gap);
        self.burst = if fast { self.burst + 1 } else { 0 };
        self.last = Some(at);
        if let Some(buf) = self.scanning.as_mut() {
            if c == self.rules.suffix && buf.is_empty() && !self.dropped_control {
                // Enter sent before the data (a scanner programmed with Enter as part of its prefix): the scan
                // is still to come.
            } else if c == self.rules.suffix {
                let data = std::mem::take(buf);
                self.scanning = None;
                if std::mem::take(&mut self.dropped_control) {
                    out.push(WedgeOutput::Rejected { reason: "control characters in the scan".into(), raw: data });
                } else {
                    out.push(WedgeOutput::Scan(data));
                }
            } else if c.is_control() {
                self.dropped_control = true;
            } else {
                buf.push(remap(c, self.rules.scanner_layout));
                let prefix = self.rules.prefix.as_str();
                if !prefix.is_empty() && buf.ends_with(prefix) {
                    // The prefix again: either repeated before any data (ignored), or the next scan began
                    // because this one's suffix was lost on fast input.
                    let earlier = buf[..buf.len() - prefix.len()].to_string();
                    buf.clear();
                    if !earlier.is_empty() || std::mem::take(&mut self.dropped_control) {
                        out.push(WedgeOutput::Rejected {
                            reason: "suffix lost: the next scan began before this one ended".into(),
                            raw: earlier,
                        });
                    }
                }
            }
            return out;
        }
        let prefix: Vec<char> = self.rules.prefix.chars().collect();
        if !prefix.is_empty() && prefix.get(self.matched) == Some(&c) {
            self.matched += 1;
            if self.matched == prefix.len() {
                self.matched = 0;
                self.scanning = Some(String::new());
            }
            return out;
        }
        // A partial prefix that did not continue was typed by a person: give it back.
        out.extend(prefix[..std::mem::take(&mut self.matched)].iter().map(|p| WedgeOutput::Key(*p)));
        out.push(if c == '\r' { WedgeOutput::Enter { fast: self.burst >= 4 } } else { WedgeOutput::Key(c) });
        out
    }

    /// Rejects a scan whose suffix has not come in time (call on the UI's tick).
    pub fn poll(&mut self, now: Instant) -> Option<WedgeOutput> {
        let waited = self.last.map(|l| now.duration_since(l))?;
        if waited > self.rules.timeout {
            if let Some(raw) = self.scanning.take() {
                self.dropped_control = false;
                return Some(WedgeOutput::Rejected {
                    reason: format!("no suffix within {} ms: characters were lost", self.rules.timeout.as_millis()),
                    raw,
                });
            }
        }
        None
    }

    /// Whether a scan is being received (the UI holds keys back from fields meanwhile).
    pub fn in_scan(&self) -> bool {
        self.scanning.is_some() || self.matched > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(d: &mut WedgeDetector, s: &str, start: Instant, gap_ms: u64) -> Vec<WedgeOutput> {
        s.chars().enumerate().flat_map(|(i, c)| d.feed(c, start + Duration::from_millis(gap_ms * i as u64))).collect()
    }

    #[test]
    fn a_prefixed_scan_is_caught_and_other_keys_pass() {
        let mut d = WedgeDetector::new(WedgeRules { prefix: "~".into(), ..WedgeRules::default() });
        let t = Instant::now();
        let out = typed(&mut d, "ab~G151726000001X\r", t, 5);
        assert_eq!(out, vec![WedgeOutput::Key('a'), WedgeOutput::Key('b'), WedgeOutput::Scan("G151726000001X".into())]);
        // Enter before the data as well as after, and a repeated prefix: one scan.
        let out = typed(&mut d, "~\rD0000010\r", t + Duration::from_secs(1), 5);
        assert_eq!(out, vec![WedgeOutput::Scan("D0000010".into())]);
        let out = typed(&mut d, "~\r~D0000011\r", t + Duration::from_secs(2), 5);
        assert_eq!(out, vec![WedgeOutput::Scan("D0000011".into())]);
    }

    #[test]
    fn a_lost_suffix_is_caught_when_the_next_scan_begins() {
        let mut d = WedgeDetector::new(WedgeRules { prefix: "~".into(), ..WedgeRules::default() });
        let out = typed(&mut d, "~G151726000001X~D0000010\r", Instant::now(), 5);
        assert_eq!(
            out,
            vec![
                WedgeOutput::Rejected {
                    reason: "suffix lost: the next scan began before this one ended".into(),
                    raw: "G151726000001X".into()
                },
                WedgeOutput::Scan("D0000010".into()),
            ]
        );
    }

    #[test]
    fn control_characters_and_lost_suffixes_are_rejected() {
        let mut d = WedgeDetector::new(WedgeRules { prefix: "~".into(), ..WedgeRules::default() });
        let t = Instant::now();
        let out = typed(&mut d, "~AB\u{7}C\r", t, 5);
        assert!(matches!(&out[..], [WedgeOutput::Rejected { reason, .. }] if reason.contains("control")), "{out:?}");
        assert!(typed(&mut d, "~ABC", t + Duration::from_secs(1), 5).is_empty());
        assert!(d.in_scan());
        let late = d.poll(t + Duration::from_secs(3));
        assert!(matches!(late, Some(WedgeOutput::Rejected { ref reason, .. }) if reason.contains("lost")), "{late:?}");
    }

    #[test]
    fn a_layout_mismatch_is_undone() {
        let rules =
            WedgeRules { prefix: "~".into(), scanner_layout: Some((Layout::Us, Layout::Uk)), ..Default::default() };
        let mut d = WedgeDetector::new(rules);
        let out = typed(&mut d, "~user\"example.org\r", Instant::now(), 5);
        assert_eq!(out, vec![WedgeOutput::Scan("user@example.org".into())]);
    }

    #[test]
    fn without_a_prefix_enter_carries_the_speed_hint() {
        let mut d = WedgeDetector::new(WedgeRules::default());
        let t = Instant::now();
        let out = typed(&mut d, "D0000010\r", t, 5);
        assert_eq!(out.last(), Some(&WedgeOutput::Enter { fast: true }));
        let out = typed(&mut d, "D0000010\r", t + Duration::from_secs(5), 150);
        assert_eq!(out.last(), Some(&WedgeOutput::Enter { fast: false }));
    }
}
