//! Linux input key codes (linux/input-event-codes.h) to characters under a keyboard layout. A wedge scanner
//! "types" with key codes; the characters they mean depend on the layout the scanner was programmed for, which
//! is how `"` becomes `@` when a US-programmed scanner meets a UK layout.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Us,
    Uk,
}

pub const KEY_ENTER: u16 = 28;
pub const KEY_KPENTER: u16 = 96;
pub const KEY_TAB: u16 = 15;
pub const KEY_LEFTSHIFT: u16 = 42;
pub const KEY_RIGHTSHIFT: u16 = 54;
pub const KEY_CAPSLOCK: u16 = 58;

/// (unshifted, shifted) for a key code under the US layout.
fn us(code: u16) -> Option<(char, char)> {
    let letters = |row: &str, first: u16| {
        row.chars().nth(usize::from(code.checked_sub(first)?)).map(|c| (c, c.to_ascii_uppercase()))
    };
    Some(match code {
        2..=10 => {
            let d = (b'0' + (code - 1) as u8) as char;
            (d, b"!@#$%^&*("[usize::from(code - 2)] as char)
        }
        11 => ('0', ')'),
        12 => ('-', '_'),
        13 => ('=', '+'),
        16..=25 => return letters("qwertyuiop", 16),
        26 => ('[', '{'),
        27 => (']', '}'),
        30..=38 => return letters("asdfghjkl", 30),
        39 => (';', ':'),
        40 => ('\'', '"'),
        41 => ('`', '~'),
        43 => ('\\', '|'),
        44..=50 => return letters("zxcvbnm", 44),
        51 => (',', '<'),
        52 => ('.', '>'),
        53 => ('/', '?'),
        55 => ('*', '*'),
        57 => (' ', ' '),
        71 => ('7', '7'),
        72 => ('8', '8'),
        73 => ('9', '9'),
        74 => ('-', '-'),
        75 => ('4', '4'),
        76 => ('5', '5'),
        77 => ('6', '6'),
        78 => ('+', '+'),
        79 => ('1', '1'),
        80 => ('2', '2'),
        81 => ('3', '3'),
        82 => ('0', '0'),
        83 => ('.', '.'),
        98 => ('/', '/'),
        _ => return None,
    })
}

/// The character a key code types, or None for keys that type nothing (modifiers, function keys).
pub fn char_for(layout: Layout, code: u16, shift: bool) -> Option<char> {
    let (plain, shifted) = match (layout, code) {
        (Layout::Uk, 3) => ('2', '"'),
        (Layout::Uk, 4) => ('3', '£'),
        (Layout::Uk, 40) => ('\'', '@'),
        (Layout::Uk, 41) => ('`', '¬'),
        (Layout::Uk, 43) => ('#', '~'),
        (Layout::Uk, 86) => ('\\', '|'),
        _ => us(code)?,
    };
    Some(if shift { shifted } else { plain })
}

/// A key as a scan is concerned with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Tab,
}

/// Turns key events (code, value: 1 press, 2 auto-repeat, 0 release) into keys, tracking Shift and Caps Lock.
#[derive(Debug, Default)]
pub struct KeyDecoder {
    layout: Layout,
    shift: u8,
    caps: bool,
}

impl KeyDecoder {
    pub fn new(layout: Layout) -> KeyDecoder {
        KeyDecoder { layout, ..KeyDecoder::default() }
    }

    pub fn feed(&mut self, code: u16, value: i32) -> Option<Key> {
        match (code, value) {
            (KEY_LEFTSHIFT | KEY_RIGHTSHIFT, 1) => self.shift = self.shift.saturating_add(1),
            (KEY_LEFTSHIFT | KEY_RIGHTSHIFT, 0) => self.shift = self.shift.saturating_sub(1),
            (KEY_CAPSLOCK, 1) => self.caps = !self.caps,
            (KEY_ENTER | KEY_KPENTER, 1) => return Some(Key::Enter),
            (KEY_TAB, 1) => return Some(Key::Tab),
            (_, 1 | 2) => {
                let c = char_for(self.layout, code, self.shift > 0)?;
                let c = if self.caps && c.is_ascii_alphabetic() {
                    if c.is_ascii_uppercase() {
                        c.to_ascii_lowercase()
                    } else {
                        c.to_ascii_uppercase()
                    }
                } else {
                    c
                };
                return Some(Key::Char(c));
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_differ_where_they_should() {
        assert_eq!(char_for(Layout::Us, 3, true), Some('@'));
        assert_eq!(char_for(Layout::Uk, 3, true), Some('"'));
        assert_eq!(char_for(Layout::Us, 40, true), Some('"'));
        assert_eq!(char_for(Layout::Uk, 40, true), Some('@'));
        assert_eq!(char_for(Layout::Us, 34, true), Some('G'));
        assert_eq!(char_for(Layout::Us, 11, false), Some('0'));
        assert_eq!(char_for(Layout::Us, 200, false), None);
    }
}
