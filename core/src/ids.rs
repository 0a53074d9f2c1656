//! Identifiers and their check characters.
//!
//! Every identifier a person types or a scanner reads carries an ISO/IEC 7064 MOD 37-2 check character
//! (as ISBT 128 does for the DIN), and is validated before it is looked up: a mis-keyed or garbled
//! identifier is refused, never matched to another record.
//!
//! Compact forms (what the CLI prints, what the barcodes carry; the check character always last):
//! - donor      `D` + 6 digits                          e.g. `D000012` + check  (8 chars)
//! - recipient  `R` + 6 digits                          e.g. `R000034` + check  (8 chars)
//! - donation   DIN: facility (5) + year (2) + seq (6)  e.g. `G151726000001` + check (14 chars)
//! - batch      DIN + product code (letter + 4 digits)  e.g. `G151726000001F0001` + check (19 chars)
//! - unit       batch + division (2)                    e.g. `G151726000001F0001A0` + check (21 chars)
//!
//! Division codes: `A0`..`Z0`, `A1`..`Z1`, … for dispensable units; `00` is the retained sample.
//! Input may contain spaces or hyphens (the eye-readable form groups digits) and lower case.
//! A donation may also be entered in ISBT 128 barcode form: `=` + DIN + a type-3 flag (60 + checksum).

use std::fmt;

use compact_str::{format_compact, CompactString};
use serde::{Serialize, Serializer};

/// ISO/IEC 7064 MOD 37-2 alphabet: 0–9 → 0–9, A–Z → 10–35, `*` → 36.
const ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*";

fn value_of(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        b'*' => Some(36),
        _ => None,
    }
}

/// The MOD 37-2 checksum (0..=36) of `data` (characters 0–9, A–Z): each value weighted by 2^n,
/// n its position from the right starting at 1; check = (38 − sum mod 37) mod 37.
pub fn checksum(data: &str) -> Option<u32> {
    let mut sum = 0u32;
    let mut weight = 2u32; // 2^1 for the rightmost character
    for &c in data.as_bytes().iter().rev() {
        sum = (sum + value_of(c)? * weight) % 37;
        weight = (weight * 2) % 37;
    }
    Some((38 - sum % 37) % 37)
}

/// The check character of `data`, e.g. `G123498654321` → `H`.
pub fn check_char(data: &str) -> Option<char> {
    checksum(data).map(|v| char::from(ALPHABET[v as usize]))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("no identifier given")]
    Empty,
    #[error("`{input}` contains `{ch}`, which no identifier contains (allowed: 0-9, A-Z, *)")]
    BadChar { input: String, ch: char },
    #[error(
        "`{input}` is not an identifier: expected a donor (D + 6 digits + check), recipient (R + 6 digits + check), \
         donation (13-character DIN + check), batch (DIN + product code + check) or unit (batch + division + check)"
    )]
    Shape { input: String },
    #[error(
        "`{input}`: the check character does not match, so it was mis-keyed or mis-scanned; scan or type it again"
    )]
    CheckMismatch { input: String },
    #[error("`{0}` is not a facility code: the first character is A–N, P–Z or 1–9, then four digits (e.g. G1517)")]
    Facility(String),
    #[error("`{0}` is not a product code: a letter and four digits (e.g. F0001)")]
    Product(String),
}

/// Which kind of record an identifier names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdKind {
    Donor,
    Recipient,
    Donation,
    Batch,
    Unit,
}

impl IdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Donor => "donor",
            IdKind::Recipient => "recipient",
            IdKind::Donation => "donation",
            IdKind::Batch => "batch",
            IdKind::Unit => "unit",
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated identifier: its kind and its compact data form (without the check character).
/// The database keys records by the data form; people and barcodes see `display()` (data + check). The data is
/// held inline (at most 20 characters): an answer reads and copies thousands of identifiers without a heap
/// allocation apiece.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id {
    kind: IdKind,
    data: CompactString,
}

fn is_facility(s: &[u8]) -> bool {
    s.len() == 5 && matches!(s[0], b'A'..=b'N' | b'P'..=b'Z' | b'1'..=b'9') && s[1..].iter().all(u8::is_ascii_digit)
}

fn is_product(s: &[u8]) -> bool {
    s.len() == 5 && s[0].is_ascii_uppercase() && s[1..].iter().all(u8::is_ascii_digit)
}

fn is_division(s: &[u8]) -> bool {
    s == b"00" || (s.len() == 2 && s[0].is_ascii_uppercase() && s[1].is_ascii_digit())
}

fn is_din(s: &[u8]) -> bool {
    s.len() == 13 && is_facility(&s[..5]) && s[5..].iter().all(u8::is_ascii_digit)
}

fn kind_of(data: &[u8]) -> Option<IdKind> {
    match data.len() {
        7 if matches!(data[0], b'D' | b'R') && data[1..].iter().all(u8::is_ascii_digit) => {
            Some(if data[0] == b'D' { IdKind::Donor } else { IdKind::Recipient })
        }
        13 if is_din(data) => Some(IdKind::Donation),
        18 if is_din(&data[..13]) && is_product(&data[13..]) => Some(IdKind::Batch),
        20 if is_din(&data[..13]) && is_product(&data[13..18]) && is_division(&data[18..]) => Some(IdKind::Unit),
        _ => None,
    }
}

impl Id {
    /// Parses what a person typed or a scanner read, validating shape and check character.
    pub fn parse(input: &str) -> Result<Id, IdError> {
        let cleaned: String =
            input.trim().chars().filter(|c| !matches!(c, ' ' | '-')).map(|c| c.to_ascii_uppercase()).collect();
        if cleaned.is_empty() {
            return Err(IdError::Empty);
        }
        if let Some(rest) = cleaned.strip_prefix('=') {
            return Self::parse_isbt_din(input, rest);
        }
        if let Some(ch) = cleaned.chars().find(|&c| value_of_char(c).is_none()) {
            return Err(IdError::BadChar { input: input.trim().to_string(), ch });
        }
        let (data, check) = cleaned.split_at(cleaned.len() - 1);
        let kind = kind_of(data.as_bytes()).ok_or_else(|| IdError::Shape { input: input.trim().to_string() })?;
        if check_char(data).map(String::from) != Some(check.to_string()) {
            return Err(IdError::CheckMismatch { input: input.trim().to_string() });
        }
        Ok(Id { kind, data: CompactString::new(data) })
    }

    /// `=` + DIN + two flag characters, where a type-3 flag (60 + checksum) carries the check.
    fn parse_isbt_din(input: &str, rest: &str) -> Result<Id, IdError> {
        let shape = || IdError::Shape { input: input.trim().to_string() };
        if rest.len() != 15 || !rest.is_ascii() {
            return Err(shape());
        }
        let (din, flag) = rest.split_at(13);
        if !is_din(din.as_bytes()) {
            return Err(shape());
        }
        let flag: u32 = flag.parse().map_err(|_| shape())?;
        if !(60..=96).contains(&flag) || checksum(din) != Some(flag - 60) {
            return Err(IdError::CheckMismatch { input: input.trim().to_string() });
        }
        Ok(Id { kind: IdKind::Donation, data: CompactString::new(din) })
    }

    /// Builds an identifier from its data form as stored (no check character). Used by the store,
    /// which only ever holds validated data; returns None for anything malformed.
    pub fn from_data(data: &str) -> Option<Id> {
        let kind = kind_of(data.as_bytes())?;
        Some(Id { kind, data: CompactString::new(data) })
    }

    pub fn donor(seq: u32) -> Id {
        Id { kind: IdKind::Donor, data: format_compact!("D{seq:06}") }
    }

    pub fn recipient(seq: u32) -> Id {
        Id { kind: IdKind::Recipient, data: format_compact!("R{seq:06}") }
    }

    /// A DIN: facility code, two-digit collection year, six-digit sequence.
    pub fn donation(facility: &Facility, year: i32, seq: u32) -> Id {
        Id { kind: IdKind::Donation, data: format_compact!("{}{:02}{seq:06}", facility.0, year.rem_euclid(100)) }
    }

    /// A batch: the donation's DIN extended by the product code.
    pub fn batch(donation: &Id, product: &ProductCode) -> Id {
        Id { kind: IdKind::Batch, data: format_compact!("{}{}", donation.data, product.0) }
    }

    /// A unit: the batch identifier extended by a division code (see [`division_code`]).
    pub fn unit(batch: &Id, division: &str) -> Id {
        Id { kind: IdKind::Unit, data: format_compact!("{}{division}", batch.data) }
    }

    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The stored key: the compact form without the check character.
    pub fn data(&self) -> &str {
        &self.data
    }

    pub fn check(&self) -> char {
        check_char(&self.data).unwrap_or('?')
    }

    /// Compact form with the check character: what the CLI prints and the barcode carries.
    pub fn display(&self) -> String {
        format!("{}{}", self.data, self.check())
    }

    /// Eye-readable grouping, e.g. `G1517 26 000001 F0001 A0 X`.
    pub fn eye_readable(&self) -> String {
        let d = &self.data;
        let groups: Vec<&str> = match self.kind {
            IdKind::Donor | IdKind::Recipient => vec![d],
            IdKind::Donation => vec![&d[..5], &d[5..7], &d[7..13]],
            IdKind::Batch => vec![&d[..5], &d[5..7], &d[7..13], &d[13..18]],
            IdKind::Unit => vec![&d[..5], &d[5..7], &d[7..13], &d[13..18], &d[18..20]],
        };
        format!("{} {}", groups.join(" "), self.check())
    }

    /// The DIN this identifier extends (donations, batches and units).
    pub fn din(&self) -> Option<&str> {
        matches!(self.kind, IdKind::Donation | IdKind::Batch | IdKind::Unit).then(|| &self.data[..13])
    }

    /// The product code of a batch or unit.
    pub fn product(&self) -> Option<&str> {
        matches!(self.kind, IdKind::Batch | IdKind::Unit).then(|| &self.data[13..18])
    }

    /// The batch a unit belongs to.
    pub fn batch_of(&self) -> Option<Id> {
        (self.kind == IdKind::Unit).then(|| Id { kind: IdKind::Batch, data: CompactString::new(&self.data[..18]) })
    }

    /// The division code of a unit (`00` for the retained sample).
    pub fn division(&self) -> Option<&str> {
        (self.kind == IdKind::Unit).then(|| &self.data[18..20])
    }
}

fn value_of_char(c: char) -> Option<u32> {
    u8::try_from(c).ok().and_then(value_of)
}

impl fmt::Display for Id {
    /// As `display()`, written straight to the output (an answer shows thousands).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.data)?;
        fmt::Write::write_char(f, self.check())
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.display())
    }
}

/// The division code of the n-th dispensable unit of a batch (0-based): A0..Z0, A1..Z1, … (260 at most).
pub fn division_code(n: usize) -> Option<String> {
    (n < 260).then(|| format!("{}{}", char::from(b'A' + (n % 26) as u8), n / 26))
}

/// The division code of the donation's retained sample.
pub const RETAINED_DIVISION: &str = "00";

/// Most dispensable units one batch can hold (26 letters × 10 digits of division code).
pub const MAX_UNITS_PER_BATCH: usize = 260;

/// A facility identification number (ICCBBA-assigned in real ISBT 128 use; configuration here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facility(String);

impl Facility {
    pub fn parse(s: &str) -> Result<Facility, IdError> {
        let s = s.trim().to_ascii_uppercase();
        if is_facility(s.as_bytes()) {
            Ok(Facility(s))
        } else {
            Err(IdError::Facility(s))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product code in ISBT 128's shape: a letter and four digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductCode(String);

impl ProductCode {
    pub fn parse(s: &str) -> Result<ProductCode, IdError> {
        let s = s.trim().to_ascii_uppercase();
        if is_product(s.as_bytes()) {
            Ok(ProductCode(s))
        } else {
            Err(IdError::Product(s))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_isbt_example() {
        // ISBT 128 standard technical specification: G123498654321 → checksum 17 → `H`, flag 77.
        assert_eq!(checksum("G123498654321"), Some(17));
        assert_eq!(check_char("G123498654321"), Some('H'));
    }

    #[test]
    fn parses_every_kind() {
        let fac = Facility::parse("G1517").unwrap();
        let din = Id::donation(&fac, 2026, 1);
        let batch = Id::batch(&din, &ProductCode::parse("F0001").unwrap());
        let unit = Id::unit(&batch, &division_code(0).unwrap());
        for id in [Id::donor(12), Id::recipient(34), din.clone(), batch.clone(), unit.clone()] {
            assert_eq!(Id::parse(&id.display()).unwrap(), id);
            assert_eq!(Id::parse(&id.eye_readable()).unwrap(), id);
            assert_eq!(Id::parse(&id.display().to_lowercase()).unwrap(), id);
            assert_eq!(id.to_string(), id.display());
        }
        assert_eq!(unit.batch_of().unwrap(), batch);
        assert_eq!(unit.din(), Some("G151726000001"));
        assert_eq!(unit.division(), Some("A0"));
    }

    #[test]
    fn isbt_barcode_form_with_type3_flag() {
        let id = Id::parse("=G12349865432177").unwrap();
        assert_eq!(id.kind(), IdKind::Donation);
        assert_eq!(id.data(), "G123498654321");
        assert!(matches!(Id::parse("=G12349865432178"), Err(IdError::CheckMismatch { .. })));
    }

    #[test]
    fn refuses_bad_input_with_reasons() {
        assert_eq!(Id::parse("  "), Err(IdError::Empty));
        assert!(matches!(Id::parse("G1517€"), Err(IdError::BadChar { .. })));
        assert!(matches!(Id::parse("XYZ"), Err(IdError::Shape { .. })));
        // O is not a valid first facility character.
        let bad = format!("O151726000001{}", check_char("O151726000001").unwrap());
        assert!(matches!(Id::parse(&bad), Err(IdError::Shape { .. })));
        let good = Id::donor(7).display();
        let mut wrong = good.clone().into_bytes();
        wrong[3] = b'9';
        assert!(matches!(Id::parse(std::str::from_utf8(&wrong).unwrap()), Err(IdError::CheckMismatch { .. })));
    }

    #[test]
    fn division_codes() {
        assert_eq!(division_code(0).as_deref(), Some("A0"));
        assert_eq!(division_code(25).as_deref(), Some("Z0"));
        assert_eq!(division_code(26).as_deref(), Some("A1"));
        assert_eq!(division_code(259).as_deref(), Some("Z9"));
        assert_eq!(division_code(260), None);
    }
}
