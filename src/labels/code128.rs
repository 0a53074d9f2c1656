//! Code 128 through the `barcoders` crate, with the character sets chosen so that digit runs use set C (two
//! digits a symbol): the identifiers are digit-heavy, and a shorter symbol fits a 2-inch cryovial label.

use barcoders::sym::code128::Code128;

use super::LabelError;

const SET_B: char = 'Ɓ';
const SET_C: char = 'Ć';

/// The `barcoders` input for `data`: set B, switching to set C for runs of four or more digits (an even count).
pub fn code128_text(data: &str) -> String {
    let chars: Vec<char> = data.chars().collect();
    let mut out = String::new();
    let mut in_c = false;
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let even = run - run % 2;
        if even >= 4 || (in_c && even >= 2) {
            if !in_c {
                out.push(SET_C);
                in_c = true;
            }
            out.extend(&chars[i..i + even]);
            i += even;
        } else {
            if in_c || out.is_empty() {
                out.push(SET_B);
                in_c = false;
            }
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The same symbol as ZPL ^BC field data in no-mode (`m` = N) with explicit subset invocations (ZPL II
/// Programming Guide, ^BC, "Code 128 Invocation Characters"): `>:`/`>;` start subset B/C, `>6`/`>5` switch to
/// B/C. Naming the subsets, rather than letting the printer's automatic mode choose them, makes the printed bars
/// exactly the preview's. Returns None for data outside `[0-9A-Z*]` (identifiers never contain `>`, `^`, `~`).
pub fn code128_zpl(data: &str) -> Option<String> {
    if !data.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || c == '*') {
        return None;
    }
    let mut out = String::new();
    for (i, c) in code128_text(data).chars().enumerate() {
        match (c, i) {
            (SET_B, 0) => out.push_str(">:"),
            (SET_C, 0) => out.push_str(">;"),
            (SET_B, _) => out.push_str(">6"),
            (SET_C, _) => out.push_str(">5"),
            (c, _) => out.push(c),
        }
    }
    Some(out)
}

/// The bars and spaces of `data` as modules (true = bar), start to stop, without quiet zones.
pub fn code128_modules(data: &str) -> Result<Vec<bool>, LabelError> {
    let code = Code128::new(code128_text(data))
        .map_err(|e| LabelError::Encode { what: format!("`{data}` as Code 128"), why: e.to_string() })?;
    Ok(code.encode().into_iter().map(|b| b == 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_use_set_c() {
        assert_eq!(code128_text("G151726000001F0001A04"), "ƁGĆ151726000001ƁFĆ0001ƁA04");
        assert_eq!(code128_text("D0000010"), "ƁDĆ000001Ɓ0");
        assert_eq!(code128_text("R000001L"), "ƁRĆ000001ƁL");
        assert_eq!(code128_text("1517260000016"), "Ć151726000001Ɓ6");
        assert_eq!(code128_zpl("G151726000001F0001A04").as_deref(), Some(">:G>5151726000001>6F>50001>6A04"));
        assert_eq!(code128_zpl("1517260000016").as_deref(), Some(">;151726000001>66"));
        assert_eq!(code128_zpl("G1^XZ"), None);
    }
}
