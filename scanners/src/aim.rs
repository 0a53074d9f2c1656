//! AIM symbology identifiers (ISO/IEC 15424): `]` + code character + modifier, sent before the data when the
//! scanner is programmed to transmit them.

/// Splits an AIM identifier off the front of `data`: (symbology name, rest). The name is the identifier's code
/// character mapped to a readable name; the full identifier is kept in the name for unknown codes.
pub fn split(data: &str) -> (Option<String>, &str) {
    match split_bytes(data.as_bytes()) {
        Some((code, modifier)) => (Some(name(code, modifier)), &data[3..]),
        None => (None, data),
    }
}

/// The (code character, modifier) of an AIM identifier at the start of `b`, if there is one.
pub fn split_bytes(b: &[u8]) -> Option<(char, char)> {
    (b.len() >= 3 && b[0] == b']' && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphanumeric())
        .then(|| (b[1] as char, b[2] as char))
}

/// A readable symbology name for an AIM code character (and its modifier where it matters).
pub fn name(code: char, modifier: char) -> String {
    let base = match code {
        'A' => "code39",
        'C' if modifier == '1' => "gs1-128",
        'C' => "code128",
        'd' if modifier == '2' => "gs1-datamatrix",
        'd' => "datamatrix",
        'E' => "ean-upc",
        'e' => "gs1-databar",
        'F' => "codabar",
        'G' => "code93",
        'I' => "itf",
        'L' => "pdf417",
        'Q' => "qr",
        'z' => "aztec",
        _ => return format!("]{code}{modifier}"),
    };
    base.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_and_strips() {
        assert_eq!(split("]C0G151726000001X"), (Some("code128".into()), "G151726000001X"));
        assert_eq!(split("]d2=G15172600000177"), (Some("gs1-datamatrix".into()), "=G15172600000177"));
        assert_eq!(split("]Q3hello"), (Some("qr".into()), "hello"));
        assert_eq!(split("]X9abc"), (Some("]X9".into()), "abc"));
        assert_eq!(split("G1517"), (None, "G1517"));
        assert_eq!(split("]C"), (None, "]C"));
    }
}
