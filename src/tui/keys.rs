//! One keymap. Every key a screen answers to is a `Binding` in a table here; dispatch looks keys up in these
//! tables and the `?` overlay prints the same tables, so the help cannot drift from what the keys do.
//! (Typing into a text field and scanning are not bindings: they fill whatever field has focus.)

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key as the tables name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A character without Ctrl (Shift is part of the character: `G`).
    Char(char),
    Ctrl(char),
    Code(KeyCode),
    /// F2–F12: the tabs (F1 is help).
    Function,
}

impl Key {
    pub fn matches(&self, k: &KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match *self {
            Key::Char(c) => !ctrl && k.code == KeyCode::Char(c),
            Ctrl(c) => ctrl && k.code == KeyCode::Char(c),
            Code(code) => k.code == code,
            Key::Function => matches!(k.code, KeyCode::F(2..=12)),
        }
    }

    pub fn label(&self) -> String {
        match *self {
            Key::Char(' ') => "Space".into(),
            Key::Char(c) => c.to_string(),
            Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
            Key::Function => "F2–F12".into(),
            Code(code) => match code {
                KeyCode::Up => "↑".into(),
                KeyCode::Down => "↓".into(),
                KeyCode::Left => "←".into(),
                KeyCode::Right => "→".into(),
                KeyCode::PageUp => "PgUp".into(),
                KeyCode::PageDown => "PgDn".into(),
                KeyCode::BackTab => "Shift-Tab".into(),
                KeyCode::Backspace => "Bksp".into(),
                KeyCode::Delete => "Del".into(),
                other => other.to_string(),
            },
        }
    }
}

/// What a key asks for. Each screen reads the actions of its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    // Moving in a list.
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    // Everywhere.
    Tab,
    PrevTab,
    NextTab,
    Help,
    Log,
    Quit,
    Interrupt,
    SignOut,
    // Screens.
    Open,
    Back,
    Search,
    Refresh,
    NextPage,
    Register,
    Screening,
    Defer,
    CycleResult,
    Make,
    Qc,
    Release,
    Discard,
    Print,
    Filter,
    Location,
    Type,
    Apply,
    Export,
    Pick,
    NewRecipient,
    ScrollDown,
    ScrollUp,
    Visit,
    AdverseEvent,
    OpenRecall,
    NextReport,
    PrevReport,
    // In a form.
    FieldNext,
    FieldPrev,
    FieldEnter,
    Submit,
    Cancel,
    Choice,
    Edit,
    // In a confirmation.
    Yes,
}

#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn b(keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding { keys, action, help }
}

use Key::{Char as C, Code, Ctrl};

/// The first action of `table` that `key` is bound to.
pub fn action(table: &[Binding], key: &KeyEvent) -> Option<Action> {
    actions(table, key).next()
}

/// Every action of `table` that `key` is bound to, in table order (a form picks the one that fits its field).
pub fn actions<'a>(table: &'a [Binding], key: &'a KeyEvent) -> impl Iterator<Item = Action> + 'a {
    table.iter().filter(|b| b.keys.iter().any(|k| k.matches(key))).map(|b| b.action)
}

/// Help lines of a table: bindings with the same text share a line.
pub fn help_lines(table: &[Binding]) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for b in table {
        let keys = b.keys.iter().map(Key::label).collect::<Vec<_>>().join(" ");
        match out.last_mut() {
            Some((k, h)) if *h == b.help => {
                k.push(' ');
                k.push_str(&keys);
            }
            _ => out.push((keys, b.help)),
        }
    }
    out
}

pub const NAV: &[Binding] = &[
    b(&[C('j'), Code(KeyCode::Down)], Action::Down, "move down / up"),
    b(&[C('k'), Code(KeyCode::Up)], Action::Up, "move down / up"),
    b(&[Code(KeyCode::PageDown)], Action::PageDown, "a page down / up"),
    b(&[Code(KeyCode::PageUp)], Action::PageUp, "a page down / up"),
    b(&[Code(KeyCode::Home)], Action::First, "first / last"),
    b(&[Code(KeyCode::End)], Action::Last, "first / last"),
];

pub const GLOBAL: &[Binding] = &[
    b(&[Key::Function], Action::Tab, "switch tab, also inside a form (the list below)"),
    b(&[Code(KeyCode::Left)], Action::PrevTab, "previous / next tab"),
    b(&[Code(KeyCode::Right)], Action::NextTab, "previous / next tab"),
    b(&[Code(KeyCode::F(1)), C('?')], Action::Help, "this help (F1 also inside a form; ? outside free text)"),
    b(&[Ctrl('l')], Action::Log, "every message of the session, in full"),
    b(&[C('q')], Action::Quit, "quit, outside free text (asks if a form holds work)"),
    b(&[Ctrl('c')], Action::Interrupt, "quit, asking first"),
    b(&[Ctrl('o')], Action::SignOut, "sign out / switch user (asks if a form holds work)"),
];

/// The sign-in and lock screens, and the signature box.
pub const GATE: &[Binding] = &[
    b(&[Code(KeyCode::Tab), Code(KeyCode::Down)], Action::FieldNext, "next / previous field"),
    b(&[Code(KeyCode::BackTab), Code(KeyCode::Up)], Action::FieldPrev, "next / previous field"),
    b(&[Code(KeyCode::Enter)], Action::FieldEnter, "next field; on the password, sign"),
    b(&[Code(KeyCode::Esc)], Action::Cancel, "clear the password; in a signature, cancel it"),
    b(&[Code(KeyCode::Backspace)], Action::Edit, "delete the last character"),
    b(&[Ctrl('c')], Action::Interrupt, "quit, asking first"),
];

/// What a cut message says about the rest of it.
pub const LOG_HINT: &str = "(Ctrl-L: whole message)";

/// Not a binding but the scan rule, shown with the global keys.
pub const TYPED_IDENTIFIER: (&str, &str) = ("A-Z 0-9 Enter", "a whole identifier (typed or scanned) opens its trace");

pub const FORM: &[Binding] = &[
    b(&[Code(KeyCode::Tab), Code(KeyCode::Down)], Action::FieldNext, "next / previous field"),
    b(&[Code(KeyCode::BackTab), Code(KeyCode::Up)], Action::FieldPrev, "next / previous field"),
    b(&[Code(KeyCode::Enter)], Action::FieldEnter, "next field; on the last one, submit"),
    b(&[Ctrl('s')], Action::Submit, "submit from any field"),
    b(&[Code(KeyCode::Esc)], Action::Cancel, "cancel / clear the form"),
    b(&[Code(KeyCode::Left), Code(KeyCode::Right), C(' ')], Action::Choice, "change a ‹choice›"),
    b(
        &[Code(KeyCode::Left), Code(KeyCode::Right), Code(KeyCode::Home), Code(KeyCode::End)],
        Action::Edit,
        "edit text (any script, by character)",
    ),
    b(&[Code(KeyCode::Backspace), Code(KeyCode::Delete)], Action::Edit, "edit text (any script, by character)"),
];

pub const CONFIRM: &[Binding] = &[b(&[C('y'), C('Y')], Action::Yes, "yes (any other key: no)")];

pub const HOME: &[Binding] = &[b(&[C('r')], Action::Refresh, "refresh the counts")];

pub const DONORS: &[Binding] = &[
    b(&[C('/')], Action::Search, "search every donor by code, or by status (eligible, deferred, not-eligible)"),
    b(&[Code(KeyCode::Enter)], Action::Open, "open the donor's trace"),
    b(&[Code(KeyCode::Esc)], Action::Back, "clear the search"),
    b(&[C('a')], Action::Register, "register a donor"),
    b(&[C('s')], Action::Screening, "record a screening for the selected donor (asks first)"),
    b(&[C('d')], Action::Defer, "defer the selected donor (asks first)"),
    b(&[C('n')], Action::NextPage, "load the next page of matches"),
    b(&[Ctrl('d')], Action::ScrollDown, "scroll the donor down / up"),
    b(&[Ctrl('u')], Action::ScrollUp, "scroll the donor down / up"),
    b(&[C(' ')], Action::CycleResult, "in a screening's results: negative → positive → indeterminate"),
];

pub const DONATIONS: &[Binding] = &[
    b(&[Ctrl('f')], Action::Pick, "pick the donor from the list instead of scanning"),
    b(&[Ctrl('p')], Action::Print, "print the last donation's label (a reprint asks why)"),
    b(&[Code(KeyCode::Esc)], Action::Back, "clear the form; on an empty one, step out of it"),
];

pub const BATCHES: &[Binding] = &[
    b(&[C('m')], Action::Make, "make a batch (scan the donation)"),
    b(&[C('c')], Action::Qc, "enter a QC result for the shown batch (asks first)"),
    b(&[C('r')], Action::Release, "release the shown batch (every rule must pass; asks first)"),
    b(&[C('x')], Action::Discard, "discard the shown batch (asks first)"),
    b(&[C('p')], Action::Print, "print the unit labels (asks first; a reprint asks why)"),
    b(&[C('n')], Action::NextPage, "load the next page of the work list"),
    b(&[Code(KeyCode::Enter)], Action::Open, "open the batch's trace"),
    b(&[Ctrl('d')], Action::ScrollDown, "scroll the batch down / up"),
    b(&[Ctrl('u')], Action::ScrollUp, "scroll the batch down / up"),
];

pub const INVENTORY: &[Binding] = &[
    b(&[C('s')], Action::Filter, "show all / quarantined / released / expired (over every unit)"),
    b(&[C('l')], Action::Location, "set the selected unit's location (asks first)"),
    b(&[Code(KeyCode::Enter)], Action::Open, "open the unit's trace"),
    b(&[C('n')], Action::NextPage, "load the next page"),
    b(&[C('r')], Action::Refresh, "refresh"),
];

pub const DISPENSE: &[Binding] = &[
    b(&[Ctrl('f')], Action::Pick, "pick the recipient from the list instead of scanning"),
    b(&[Ctrl('n')], Action::NewRecipient, "register a new recipient"),
    b(&[Code(KeyCode::Esc)], Action::Back, "start over; on an empty form, step out of it"),
];

pub const TRACE: &[Binding] = &[
    b(&[C('/'), C('i')], Action::Type, "type an identifier"),
    b(&[Code(KeyCode::Enter)], Action::Open, "trace from the selected record"),
    b(&[Code(KeyCode::Backspace), Code(KeyCode::Esc)], Action::Back, "back to the previous trace"),
];

pub const RECALL: &[Binding] = &[
    b(&[C('a')], Action::Apply, "apply: quarantine the stock and record the recall (asks first)"),
    b(&[C('e')], Action::Export, "export the affected list as CSV (asks for the file)"),
    b(&[Code(KeyCode::Esc), C('/')], Action::Back, "back to the form"),
];

pub const AUDIT: &[Binding] = &[
    b(&[C('/')], Action::Filter, "filter by a record's identifier (empty: everything)"),
    b(&[Code(KeyCode::Enter)], Action::Open, "open the trace of the selected entry's record"),
    b(&[C('n')], Action::NextPage, "load older entries"),
    b(&[C('r')], Action::Refresh, "refresh"),
];

pub const FOLLOWUP: &[Binding] = &[
    b(
        &[Code(KeyCode::Enter), C('v')],
        Action::Visit,
        "enter a visit for the selected row (or type / scan the recipient)",
    ),
    b(&[C('e')], Action::AdverseEvent, "report an adverse event (for the selected row's recipient)"),
    b(&[C('s')], Action::OpenRecall, "on a safety signal: open Recall with that donor's dry run"),
    b(&[C('r')], Action::Refresh, "refresh the work list"),
    b(&[Ctrl('d')], Action::ScrollDown, "scroll the recipient down / up"),
    b(&[Ctrl('u')], Action::ScrollUp, "scroll the recipient down / up"),
];

pub const REPORTS: &[Binding] = &[
    b(&[C('n')], Action::NextReport, "next / previous report: remission, adverse events, completeness"),
    b(&[C('p')], Action::PrevReport, "next / previous report: remission, adverse events, completeness"),
    b(&[C('r')], Action::Refresh, "recompute the reports"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> [&'static [Binding]; 16] {
        [
            NAV, GLOBAL, GATE, FORM, CONFIRM, HOME, DONORS, DONATIONS, BATCHES, INVENTORY, DISPENSE, TRACE, RECALL,
            AUDIT, FOLLOWUP, REPORTS,
        ]
    }

    #[test]
    fn no_key_is_bound_twice_in_one_table_except_the_forms_choice_and_text() {
        for t in tables() {
            for (i, a) in t.iter().enumerate() {
                for b in &t[i + 1..] {
                    let shared = a.keys.iter().any(|k| b.keys.contains(k));
                    let allowed = matches!((a.action, b.action), (Action::Choice, Action::Edit));
                    assert!(!shared || allowed, "{:?} and {:?} share a key", a.action, b.action);
                }
            }
        }
    }

    #[test]
    fn no_command_is_an_identifier_character_typed_outside_a_form() {
        // Not FORM nor CONFIRM: a form and a confirmation hold every key while open.
        for t in [
            NAV, GLOBAL, HOME, DONORS, DONATIONS, BATCHES, INVENTORY, DISPENSE, TRACE, RECALL, AUDIT, FOLLOWUP, REPORTS,
        ] {
            for b in t {
                for k in b.keys {
                    if let Key::Char(c) = k {
                        assert!(!(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '='), "{c} of {:?}", b.action);
                    }
                }
            }
        }
    }

    #[test]
    fn help_merges_bindings_that_share_a_text() {
        let lines = help_lines(NAV);
        assert_eq!(lines[0], ("j ↓ k ↑".to_string(), "move down / up"));
        assert_eq!(lines.len(), 3);
    }
}
