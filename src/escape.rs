//! Free text (names, reasons, actors, locations, terms) is stored as the user gave it, but a control or
//! terminal-escape character in it must never act on the screen of whoever reads it later (an entry could
//! erase lines of the audit log on a reviewer's terminal). Every printer of free text, CLI and TUI, goes
//! through here.

use std::borrow::Cow;
use std::io;

/// Characters that act on a terminal instead of being shown: C0 and C1 controls (ESC, CSI, newline, ...), DEL,
/// and the bidirectional overrides that reorder what a reader sees.
fn acts_on_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Free text as it may be printed: each character that would act on a terminal is shown as its escape
/// (`\n`, `\u{1b}`), everything else as given.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut s = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if acts_on_terminal(c) => s.extend(c.escape_unicode()),
            c => s.push(c),
        }
    }
    Cow::Owned(s)
}

/// JSON as `serde_json` writes it (which already escapes C0 controls), with DEL, C1 controls and bidirectional
/// overrides escaped too, so `--json` output is as harmless on a terminal as the text.
pub struct SafeJson;

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut rest = fragment;
        while let Some((i, c)) = rest.char_indices().find(|&(_, c)| acts_on_terminal(c)) {
            writer.write_all(&rest.as_bytes()[..i])?;
            // Every such character is in the Basic Multilingual Plane: one \uXXXX escape.
            write!(writer, "\\u{:04x}", u32::from(c))?;
            rest = &rest[i + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// One JSON value, compact, on `out`.
pub fn write_json<T: serde::Serialize + ?Sized>(out: &mut dyn io::Write, value: &T) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, SafeJson);
    value.serialize(&mut ser)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_shown_not_obeyed() {
        assert_eq!(shown("mallory\x1b[1A\x1b[2K"), "mallory\\u{1b}[1A\\u{1b}[2K");
        assert_eq!(shown("a\nb\tc\u{9b}d\u{202e}"), "a\\nb\\tc\\u{9b}d\\u{202e}");
        assert!(matches!(shown("Li Wei 李伟 — ok"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escapes_every_character_that_acts_on_a_terminal() {
        let mut out = Vec::new();
        write_json(&mut out, &serde_json::json!({"actor": "m\x1b[2K\u{7f}\u{9b}\u{202e}é"})).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, r#"{"actor":"m\u001b[2K\u007f\u009b\u202eé"}"#);
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["actor"], "m\x1b[2K\u{7f}\u{9b}\u{202e}é");
    }
}
