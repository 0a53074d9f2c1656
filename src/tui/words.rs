//! How the TUI words what it shows: errors in the bench's terms (not the CLI's flags), and free text (names,
//! reasons, actors) with control characters escaped so that stored text can never drive the terminal.

use crate::app::AppError;
use crate::core::input::Invalid;

/// An operation's failure as the bench says it (what it quotes of the input escaped: a scan can carry anything);
/// where the bench has its own way to put it right, that is said too (the CLI names its flags instead).
pub fn error(e: &AppError) -> String {
    clean(&match e {
        AppError::Store(e) => format!("the database could not do it: {e}"),
        AppError::Input(Invalid::NoReason(_)) => format!("{e}: say why in the form"),
        AppError::Printer(crate::printers::PrintError::NoPrinter) => {
            format!("{e}: set `printer` in the policy (tcp://HOST:9100, lp:QUEUE, /dev/… or file:PATH)")
        }
        other => other.to_string(),
    })
}

/// Free text as shown: control characters (escape sequences, newlines, C1 codes) and the bidirectional
/// overrides that reorder text on screen are written as escapes, everything else as typed.
pub fn clean(s: &str) -> String {
    crate::escape::shown(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_other_scripts_kept() {
        assert_eq!(clean("王芳\u{1b}[2J\n"), "王芳\\u{1b}[2J\\n");
        assert_eq!(clean("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(clean("Müller-Łukasz"), "Müller-Łukasz");
    }
}
