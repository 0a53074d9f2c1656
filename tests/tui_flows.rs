//! The bench TUI driven by key and scan events in-process, on a real database file: the whole chain from
//! registration to recall, asserting both what the screen shows and what the database holds.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use common::local as at;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use stoolbank::app::records::Identity;
use stoolbank::app::Bank;
use stoolbank::core::access::Role;
use stoolbank::core::config::{BenchPrefs, Config};
use stoolbank::core::ids::{Id, IdKind};
use stoolbank::core::model::{Sex, UnitStatus};
use stoolbank::tui::{App, Msg};

struct Bench {
    app: App,
    /// The bank's clock: frozen, moved by `set_now`.
    now: Arc<Mutex<DateTime<Utc>>>,
    _dir: tempfile::TempDir,
}

impl Bench {
    /// A bank where identity is shown (the policy names a role that may see it; the bank has no users).
    fn new() -> Bench {
        Bench::with(Config { identity_viewers: vec![Role::Clinician], ..Config::default() })
    }

    fn with(config: Config) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bank.db");
        let now = Arc::new(Mutex::new(at("2024-03-01", 9)));
        let clock = Arc::clone(&now);
        let mut bank = Bank::init(&path, Some("G1517"), BenchPrefs::default(), "tester").unwrap();
        // The bank key file keeps the identity key while no identity viewer is enrolled.
        bank.use_key_file(&dir.path().join("bank.key"), true).unwrap();
        let mut bank = bank.with_clock(move || *clock.lock().unwrap());
        let moment = bank.now();
        bank.set_policy(&config, moment).unwrap();
        let app = App::new(bank, "bank.db".into());
        Bench { app, now, _dir: dir }
    }

    /// A key, and what it started off the event loop answered (as a person sees it a moment later).
    fn key(&mut self, code: KeyCode) {
        self.key_at_once(code);
        self.app.settle(std::time::Duration::from_secs(30));
    }

    /// A key, the screen looked at before what it started off the event loop has answered.
    fn key_at_once(&mut self, code: KeyCode) {
        self.app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    fn typed(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    fn scan(&mut self, data: &str) {
        self.app.update(Msg::Scan(data.into()));
    }

    fn screen(&mut self, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| self.app.render(f)).unwrap();
        let buf = t.backend().buffer();
        // A wide character fills two cells; the second holds nothing of its own.
        let mut out = String::new();
        for y in 0..h {
            let mut skip = 0;
            for x in 0..w {
                let sym = buf[(x, y)].symbol();
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
                out.push_str(sym);
            }
            out.push('\n');
        }
        out
    }

    fn text(&mut self) -> String {
        self.screen(100, 30)
    }

    fn set_now(&mut self, day: &str, hour: u32) {
        *self.now.lock().unwrap() = at(day, hour);
    }
}

fn find_id(screen: &str, prefix: &str, len: usize) -> String {
    let start = screen.find(prefix).unwrap_or_else(|| panic!("`{prefix}` on screen:\n{screen}"));
    screen[start..start + len].to_string()
}

fn screen_all_panels(b: &mut Bench, donor: &str, day: &str) {
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('s'));
    b.key(KeyCode::Char('y')); // yes, a screening of the selected donor
                               // Donor is prefilled from the selection when one exists; a scan fills it otherwise.
    b.app.update(Msg::Scan(donor.into()));
    for (i, _) in ["questionnaire", "blood", "stool"].iter().enumerate() {
        if i > 0 {
            b.key(KeyCode::Char('s'));
            b.key(KeyCode::Char('y'));
            b.scan(donor);
            for _ in 0..i {
                b.key(KeyCode::Right); // Panel: cycle to blood / stool
            }
        }
        b.key(KeyCode::Down); // to Date
        for _ in 0..10 {
            b.key(KeyCode::Backspace);
        }
        b.typed(day);
        b.key(KeyCode::Enter); // to the results, prefilled negative
        b.key(KeyCode::Enter); // save
        let s = b.text();
        assert!(s.contains("screening of") && s.contains("recorded"), "{s}");
    }
}

#[test]
fn register_donate_make_qc_release_dispense_trace_recall() {
    let mut b = Bench::new();
    // Register, with a Chinese name.
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('a'));
    b.key(KeyCode::Down);
    b.typed("1990-05-04");
    b.key(KeyCode::Down);
    b.typed("王芳");
    b.key(KeyCode::Down);
    b.typed("+86 138 0000 0000");
    b.key(KeyCode::Enter);
    let s = b.text();
    let donor = find_id(&s, "registered donor D", 25)[17..].to_string();
    assert!(donor.starts_with('D') && donor.len() == 8, "{donor}");
    Id::parse(&donor).unwrap();

    screen_all_panels(&mut b, &donor, "2024-02-20");
    let s = b.text();
    assert!(s.contains("eligible"), "{s}");

    // Intake: scan the donor, record the donation.
    b.key(KeyCode::F(3));
    b.scan(&donor);
    b.typed("2024-03-01 08:00");
    b.key(KeyCode::Down);
    b.typed("150");
    b.key(KeyCode::Down);
    b.key(KeyCode::Down);
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains("donation G151724000001"), "{s}");
    let din = find_id(&s, "G151724000001", 14);
    // Reception is not asked at the bench, so none is made up.
    let donation = b.app.bank.donation_view(&Id::parse(&din).unwrap()).unwrap();
    assert_eq!(donation.received_at.ok(), Some(&None));

    // Processing: make a batch from the scanned donation.
    b.key(KeyCode::F(4));
    b.key(KeyCode::Char('m'));
    b.scan(&din);
    b.key(KeyCode::Down);
    for _ in 0..3 {
        b.key(KeyCode::Backspace);
    }
    b.typed("2");
    b.key(KeyCode::Down);
    b.key(KeyCode::Enter); // to "Processed at", prefilled with now
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains("made with 2 units"), "{s}");
    let batch = find_id(&s, "G151724000001F0001", 19);
    // QC: the form offers the first missing test each time.
    for _ in 0..3 {
        b.key(KeyCode::Char('c'));
        b.key(KeyCode::Char('y'));
        for _ in 0..4 {
            b.key(KeyCode::Enter); // test, result, value, tested at (now)
        }
    }
    let s = b.text();
    assert!(s.contains("✓ every required QC test passed"), "{s}");
    assert!(s.contains("✗ complete negative screening after"), "release rules show ✓/✗:\n{s}");
    // Release refused while a rule fails: nothing changes.
    b.key(KeyCode::Char('r'));
    assert!(b.text().contains("cannot release"));
    let bid = Id::parse(&batch).unwrap();
    assert_eq!(b.app.bank.batch_view(&bid, at("2024-03-01", 10)).unwrap().status.to_string(), "quarantined");

    // The donor re-tests negative after the donation; then release.
    b.set_now("2024-04-02", 9);
    screen_all_panels(&mut b, &donor, "2024-04-01");
    b.key(KeyCode::F(4));
    b.scan(&batch);
    b.key(KeyCode::Char('r'));
    b.key(KeyCode::Char('y'));
    let s = b.text();
    assert!(s.contains("released"), "{s}");
    let view = b.app.bank.batch_view(&bid, at("2024-04-02", 10)).unwrap();
    assert_eq!(view.status.to_string(), "released");
    let unit = view.units[0].id.clone().into_value().unwrap();

    // Dispense: scan the unit, register the recipient on the spot (Ctrl-N), confirm.
    b.key(KeyCode::F(6));
    b.scan(&unit.display());
    assert!(b.text().contains("scan the recipient"));
    b.app.update(Msg::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL)));
    b.key(KeyCode::Down);
    b.typed("1950-01-01");
    b.key(KeyCode::Down);
    b.key(KeyCode::Down);
    b.key(KeyCode::Enter);
    let s = b.text();
    let r_id = find_id(&s, "recipient R", 19)[10..].to_string();
    let r = b.app.bank.recipient_view(&Id::parse(&r_id).unwrap(), at("2024-04-02", 10)).unwrap();
    assert_eq!(r.indication, "rCDI");
    b.key(KeyCode::Down);
    b.key(KeyCode::Down);
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains(&format!("dispensed to {}", r.id)), "{s}");
    assert_eq!(b.app.bank.unit_view(&unit, at("2024-04-02", 10)).unwrap().status.ok(), Some(&UnitStatus::Dispensed));

    // Trace from a typed identifier (outside any form): the recipient is shown.
    b.key(KeyCode::F(10));
    b.typed(&r.id.to_string());
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains(&format!("recipient {}", r.id)) && s.contains(&donor), "{s}");

    // Recall by donor from the first donation: dry run, then apply.
    b.key(KeyCode::F(8));
    b.key(KeyCode::Down);
    b.scan(&donor);
    b.typed("2024-02-01");
    b.key(KeyCode::Down);
    b.key(KeyCode::Down);
    b.typed("ESBL positive re-test");
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains("dry run") && s.contains(&format!("recipient {}", r.id)), "{s}");
    b.key(KeyCode::Char('a'));
    b.key(KeyCode::Char('y'));
    assert!(b.text().contains("APPLIED"));
    // Export the list to the prefilled file: the message names it; it lists the recipient to contact.
    b.key(KeyCode::Char('e'));
    b.key(KeyCode::Enter);
    let s = b.text();
    let at_path = s.find("exported").map_or_else(|| panic!("{s}"), |i| &s[i..]);
    let path = at_path.split(" to ").nth(1).and_then(|p| p.split_whitespace().next()).unwrap_or_else(|| panic!("{s}"));
    let csv = std::fs::read_to_string(path).unwrap();
    assert!(csv.starts_with("recall_reason,recall_selection,donor,unit,batch,status,recipient"), "{csv}");
    assert!(csv.contains(&r.id.to_string()) && csv.contains("ESBL positive re-test") && csv.contains(&donor), "{csv}");
    let _ = std::fs::remove_file(path);
    let other = view.units[1].id.clone().into_value().unwrap();
    assert_eq!(b.app.bank.unit_view(&other, at("2024-04-03", 10)).unwrap().status.ok(), Some(&UnitStatus::Recalled));
    assert!(b.app.bank.audit_verify().unwrap().findings.is_empty());
}

#[test]
fn a_wrong_unit_at_dispense_stops_with_a_full_screen_warning() {
    let mut b = Bench::new();
    let v = screened_batch(&mut b, 1);
    let unit = v.units[0].id.to_string();
    b.key(KeyCode::F(6));
    b.scan(&unit);
    let s = b.text();
    assert!(s.contains("STOP — DO NOT USE THIS UNIT") && s.contains("dispense.not-released"), "{s}");
    b.key(KeyCode::Esc);
    let s = b.text();
    assert!(!s.contains("STOP"), "dismissed");
    // The unit field was cleared: nothing was dispensed.
    assert_eq!(
        b.app.bank.unit_view(&Id::parse(&unit).unwrap(), at("2024-03-01", 9)).unwrap().status.ok(),
        Some(&UnitStatus::Quarantined)
    );
}

#[test]
fn a_garbled_scan_is_named_and_changes_nothing() {
    let mut b = Bench::new();
    let before = b.app.bank.audit_log(None, 1000).unwrap().len();
    b.scan("G151724000001Y");
    let s = b.text();
    assert!(s.contains("check character does not match"), "{s}");
    b.typed("D000001");
    b.key(KeyCode::Enter);
    assert!(b.text().contains("is not an identifier"));
    assert_eq!(b.app.bank.audit_log(None, 1000).unwrap().len(), before);
    let _ = IdKind::Unit;
}

#[test]
fn help_lists_the_keys_and_quit_asks_when_work_is_unsaved() {
    let mut b = Bench::new();
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('?'));
    let s = b.text();
    assert!(s.contains("register a donor") && s.contains("switch tab"), "{s}");
    b.key(KeyCode::Esc);
    b.key(KeyCode::Char('a'));
    b.key(KeyCode::Down);
    b.typed("1990");
    b.key(KeyCode::Esc); // leaves the form open? no: Esc cancels it
    b.key(KeyCode::F(3));
    b.typed("D0");
    b.key(KeyCode::F(10));
    b.key(KeyCode::Char('q'));
    assert!(b.text().contains("Quit anyway"));
    b.key(KeyCode::Char('n'));
    assert!(!b.app.quit);
}

#[test]
fn wide_characters_render_at_their_width() {
    let mut b = Bench::new();
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('a'));
    b.key(KeyCode::Down);
    b.key(KeyCode::Down);
    b.typed("王芳");
    let s = b.screen(80, 24);
    let line = s.lines().find(|l| l.contains('王')).expect("name on screen");
    // Each CJK character takes two columns: the line keeps its 80-column width.
    let width: usize = line.chars().map(|c| unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)).sum();
    assert_eq!(width, 80, "{line}");
}

#[test]
fn a_wedge_scan_typed_into_the_terminal_is_recognised_by_its_prefix() {
    let mut b = Bench::new();
    let profile = scanners::Profile::load("generic-terminal-wedge").unwrap();
    b.app.wedge = Some(scanners::wedge::WedgeDetector::new(stoolbank::tui::wedge_rules(&profile)));
    b.key(KeyCode::F(7));
    b.key(KeyCode::Char('i'));
    // Typing goes into the field; a prefixed scan does not — it is a scan, and garbled it is refused.
    b.typed("~G151724000001Y");
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains("check character does not match"), "{s}");
    assert!(!s.contains("~G1517"), "the scan did not leak into the field:\n{s}");
}

#[test]
fn esc_steps_out_of_an_empty_form_so_help_and_quit_work_on_every_tab() {
    let mut b = Bench::new();
    for tab in [3, 6] {
        b.key(KeyCode::F(tab));
        b.key(KeyCode::Esc);
        b.key(KeyCode::Char('?'));
        let s = b.text();
        assert!(s.contains("keys") && s.contains("step out of it"), "F{tab}:\n{s}");
        b.key(KeyCode::Esc);
        // Typing steps back into the form.
        b.key(KeyCode::Down);
        b.typed("12");
        assert!(b.text().contains(" 12 "), "F{tab} form takes typing again");
        b.key(KeyCode::Esc);
    }
    b.key(KeyCode::F(10));
    b.key(KeyCode::Char('q'));
    assert!(b.app.quit, "nothing unsaved: q quits at once");
}

#[test]
fn donors_and_recipients_can_be_picked_instead_of_scanned() {
    let mut b = Bench::new();
    let bank = &mut b.app.bank;
    let birth = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    let d1 = bank
        .register_donor(
            stoolbank::app::NewDonor { sex: Sex::F, birth_date: birth, identity: Identity::default() },
            at("2024-02-01", 9),
        )
        .unwrap();
    let d2 = bank
        .register_donor(
            stoolbank::app::NewDonor { sex: Sex::M, birth_date: birth, identity: Identity::default() },
            at("2024-02-01", 9),
        )
        .unwrap();
    let new_recipient = |ind: &str| stoolbank::app::NewRecipient {
        sex: Sex::F,
        birth_date: birth,
        indication: ind.into(),
        consent: stoolbank::core::model::Consent::Signed,
        cohort: None,
        identity: Identity::default(),
    };
    bank.register_recipient(new_recipient("UC"), at("2024-02-01", 9)).unwrap();
    let r2 = bank.register_recipient(new_recipient("HE"), at("2024-02-01", 9)).unwrap();
    let ctrl_f = Msg::Key(KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL));

    b.key(KeyCode::F(3));
    b.app.update(ctrl_f.clone());
    let s = b.text();
    assert!(s.contains("Pick the donor") && s.contains(&d1.id.to_string()) && s.contains(&d2.id.to_string()), "{s}");
    b.key(KeyCode::Down);
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains(&format!("Donor  {}", d2.id)), "{s}");

    b.key(KeyCode::F(6));
    b.app.update(ctrl_f);
    b.typed("he");
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains(&format!("Recipient  {}", r2.id)), "{s}");
}

#[test]
fn identity_is_asked_and_shown_only_to_those_allowed() {
    for viewer in [true, false] {
        let viewers = if viewer { vec![Role::Clinician] } else { vec![] };
        let mut b = Bench::with(Config { identity_viewers: viewers, ..Config::default() });
        b.key(KeyCode::F(2));
        b.key(KeyCode::Char('a'));
        let s = b.text();
        assert_eq!(s.contains("Name"), viewer, "{s}");
        b.key(KeyCode::Down);
        b.typed("1990-05-04");
        if viewer {
            b.key(KeyCode::Down);
            b.typed("李雷");
        }
        b.key(KeyCode::Enter);
        if viewer {
            b.key(KeyCode::Enter); // past Phone: submit
        }
        let s = b.text();
        assert!(s.contains("registered donor"), "{s}");
        assert!(!s.contains("李雷"), "identity is shown only when revealed:\n{s}");
        b.key(KeyCode::Char('i'));
        b.key(KeyCode::Char('y'));
        let s = b.text();
        assert_eq!(s.contains("李雷"), viewer, "identity shown only to a viewer:\n{s}");
        let log = b.app.bank.audit_log(None, 1000).unwrap();
        assert_eq!(log.iter().any(|e| e.action == "identity-read"), viewer, "a reveal is audited");
    }
}

#[test]
fn trace_walks_back_inventory_sets_a_location_and_audit_opens_a_record() {
    let mut b = Bench::new();
    let v = screened_batch(&mut b, 2);
    let unit = v.units[0].id.clone().into_value().unwrap();

    // Trace the unit, re-root on the donor (first line), then walk back to the unit.
    b.scan(&unit.display());
    let s = b.text();
    assert!(s.contains(&format!("trace of unit {unit}")), "{s}");
    b.key(KeyCode::Home);
    b.key(KeyCode::Enter);
    assert!(b.text().contains(&format!("trace of donor {}", v.donor)));
    b.key(KeyCode::Backspace);
    let s = b.text();
    assert!(s.contains(&format!("trace of unit {unit}")), "back to the unit:\n{s}");

    // Inventory: l sets the selected unit's location; a scan of a location label fills the field.
    b.key(KeyCode::F(5));
    b.key(KeyCode::Char('l'));
    b.key(KeyCode::Char('y'));
    b.typed("冰箱 -80 A/3");
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains("冰箱 -80 A/3"), "{s}");
    let u = b.app.bank.unit_view(&unit, at("2024-03-01", 9)).unwrap();
    assert_eq!(u.location.as_deref(), Some("冰箱 -80 A/3"));

    // Audit: the newest entry is the location change; Enter opens that unit's trace.
    b.key(KeyCode::F(9));
    b.key(KeyCode::End);
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains(&format!("trace of unit {unit}")), "{s}");
}

#[test]
fn no_key_panics_on_any_screen_in_any_state() {
    let mut b = Bench::new();
    let keys = [
        KeyCode::Char('a'),
        KeyCode::Char('s'),
        KeyCode::Char('d'),
        KeyCode::Char('m'),
        KeyCode::Char('c'),
        KeyCode::Char('r'),
        KeyCode::Char('x'),
        KeyCode::Char('p'),
        KeyCode::Char('l'),
        KeyCode::Char('e'),
        KeyCode::Char('i'),
        KeyCode::Char('n'),
        KeyCode::Char('/'),
        KeyCode::Char(' '),
        KeyCode::Char('王'),
        KeyCode::Enter,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Char('?'),
        KeyCode::Esc,
    ];
    for tab in 1..=10 {
        for k in keys {
            b.key(KeyCode::F(tab));
            b.key(k);
            b.scan("G151724000001Y");
            for k2 in keys {
                b.key(k2);
            }
            for ctrl in ['f', 'n', 'p', 's', 'd', 'u'] {
                b.app.update(Msg::Key(KeyEvent::new(KeyCode::Char(ctrl), KeyModifiers::CONTROL)));
                b.key(KeyCode::Esc);
            }
            let _ = b.screen(80, 24);
            let _ = b.screen(20, 5);
        }
    }
    assert!(!b.app.quit, "q was never pressed");
}

fn ctrl(b: &mut Bench, c: char) {
    b.app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)));
}

fn new_donor(b: &mut Bench, name: Option<&str>) -> Id {
    let identity = Identity { name: name.map(String::from), ..Identity::default() };
    let birth = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    let new = stoolbank::app::NewDonor { sex: Sex::F, birth_date: birth, identity };
    b.app.bank.register_donor(new, at("2024-01-02", 9)).unwrap().id.into_value().unwrap()
}

/// A batch of `units` units, made on 2024-02-20 from a donation of a donor screened that day.
fn screened_batch(b: &mut Bench, units: usize) -> stoolbank::app::views::BatchView {
    let d = new_donor(b, None);
    let bank = &mut b.app.bank;
    let input = stoolbank::app::ScreeningInput { all_negative: true, tests: vec![] };
    let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 20).unwrap();
    for kind in stoolbank::core::model::ScreeningKind::ALL {
        bank.record_screening(&d, *kind, day, &input, at("2024-02-20", 9)).unwrap();
    }
    let donation = stoolbank::app::NewDonation {
        donor: d,
        collected_at: at("2024-02-20", 8),
        received_at: None,
        mass_g: None,
        bristol: None,
    };
    let don = bank.add_donation(donation).unwrap();
    bank.make_batch(don.id.get().unwrap(), "F0001", units, None, at("2024-02-20", 10)).unwrap()
}

/// A screened donor with one batch per entry of `units` (that many units each), the last one released.
fn stock(b: &mut Bench, units: &[usize]) -> (Id, Vec<Id>) {
    let d = new_donor(b, None);
    let bank = &mut b.app.bank;
    let clean = stoolbank::app::ScreeningInput { all_negative: true, tests: vec![] };
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    for k in stoolbank::core::model::ScreeningKind::ALL {
        bank.record_screening(&d, *k, day("2024-01-10"), &clean, at("2024-01-10", 7)).unwrap();
    }
    let mut batches = Vec::new();
    for (i, n) in units.iter().enumerate() {
        let don = bank
            .add_donation(stoolbank::app::NewDonation {
                donor: d.clone(),
                collected_at: at("2024-01-10", 8 + i as u32),
                received_at: None,
                mass_g: Some(120.0),
                bristol: Some(4),
            })
            .unwrap();
        let v = bank.make_batch(don.id.get().unwrap(), "F0001", *n, None, at("2024-01-10", 12)).unwrap();
        for t in ["appearance", "viable-count", "pathogen-screen"] {
            bank.add_qc(v.id.get().unwrap(), t, stoolbank::core::model::QcResult::Pass, None, at("2024-01-11", 9))
                .unwrap();
        }
        batches.push(v.id.into_value().unwrap());
    }
    for k in stoolbank::core::model::ScreeningKind::DONOR_PANELS {
        bank.record_screening(&d, k, day("2024-02-09"), &clean, at("2024-02-09", 9)).unwrap();
    }
    bank.release_batch(batches.last().unwrap(), at("2024-02-10", 9)).unwrap();
    (d, batches)
}

#[test]
fn filters_and_searches_run_over_every_record_not_the_loaded_page() {
    let mut b = Bench::new();
    b.app.bank.set_durable(false).unwrap();
    // 520 quarantined units sort before the 2 released ones: the old filter looked at the first 500 rows only.
    let (_, batches) = stock(&mut b, &[260, 260, 2]);
    b.set_now("2024-02-15", 9);
    b.key(KeyCode::F(5));
    b.key(KeyCode::Char('s')); // quarantined
    b.key(KeyCode::Char('s')); // released
    let s = b.text();
    assert!(s.contains("Units in stock: released") && s.contains("1 of 2"), "{s}");
    assert!(s.contains(&format!("{}A", &batches[2].display()[..18])), "{s}");

    // Donor search finds a donor far past the first page of the list.
    let mut last = None;
    for _ in 0..520 {
        last = Some(new_donor(&mut b, None));
    }
    let last = last.unwrap();
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('/'));
    b.typed(&last.display()[..7]);
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains(&last.display()) && s.contains("1 of 1"), "{s}");

    // So does the donor picker, from the database.
    b.key(KeyCode::F(3));
    ctrl(&mut b, 'f');
    b.typed(&last.display()[..7]);
    b.key(KeyCode::Enter);
    assert!(b.text().contains(&format!("Donor  {last}")));
}

#[test]
fn a_refusal_opens_whole_in_a_box_and_every_message_stays_in_the_log() {
    let mut b = Bench::new();
    let d = new_donor(&mut b, None); // never screened: intake is refused
    b.key(KeyCode::F(3));
    b.scan(&d.display());
    ctrl(&mut b, 's');
    let s = b.screen(80, 24);
    assert!(s.contains("Refused") && s.contains("refused by rule eligibility"), "{s}");
    b.key(KeyCode::Esc);
    let s = b.screen(80, 24);
    assert!(!s.contains("Esc or Enter to dismiss"), "{s}");
    // The status line names where the rest is; Ctrl-L shows every message whole.
    assert!(s.contains("Ctrl-L"), "{s}");
    ctrl(&mut b, 'l');
    let s = b.screen(80, 24);
    assert!(s.contains("Messages (1)") && s.contains("refused by rule eligibility"), "{s}");
    b.key(KeyCode::Esc);
    assert!(!b.screen(80, 24).contains("Messages ("));
}

#[test]
fn help_opens_from_every_screen_and_question_mark_and_q_are_not_typed_into_identifiers() {
    let mut b = Bench::new();
    for tab in 2..=10 {
        b.key(KeyCode::F(tab));
        b.key(KeyCode::F(1));
        assert!(b.text().contains("Everywhere"), "F1 opens help on F{tab}");
        b.key(KeyCode::Esc);
    }
    // Donations, Dispense and Recall open with the cursor in a form: `?` opens help, typed nowhere.
    for tab in [3, 6, 8] {
        b.key(KeyCode::F(tab));
        if tab == 8 {
            b.key(KeyCode::Down); // to the identifier field, before any dry run
        }
        b.key(KeyCode::Char('?'));
        let s = b.text();
        assert!(s.contains("Everywhere"), "? opens help on F{tab}:\n{s}");
        b.key(KeyCode::Esc);
        assert!(!b.text().contains("  ?"), "nothing typed on F{tab}");
    }
    // In free text, `?` and `q` are characters.
    b.key(KeyCode::F(8));
    for _ in 0..4 {
        b.key(KeyCode::Down);
    }
    b.typed("why? quality");
    assert!(b.text().contains("why? quality") && !b.app.quit);
    b.key(KeyCode::Esc);
    // In an identifier field, q quits (asking, as the recall form holds what was typed).
    b.key(KeyCode::F(3));
    b.key(KeyCode::Char('q'));
    assert!(b.text().contains("Quit anyway"));
    b.key(KeyCode::Char('y'));
    assert!(b.app.quit);
}

#[test]
fn typing_an_identifier_on_a_list_does_not_act_on_the_selected_record() {
    let mut b = Bench::new();
    let d = new_donor(&mut b, None);
    let before = b.app.bank.audit_log(None, 1000).unwrap().len();
    b.key(KeyCode::F(2));
    // A person types a donor code in lower case: `d` asks first, the digit answers no.
    b.typed(&d.display().to_lowercase());
    let s = b.text();
    assert!(!s.contains("Defer a donor") && !s.contains("Confirm"), "{s}");
    b.key(KeyCode::Enter);
    b.key(KeyCode::Esc);
    assert_eq!(b.app.bank.audit_log(None, 1000).unwrap().len(), before, "nothing recorded");
    // Meant, it opens after a yes.
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('d'));
    assert!(b.text().contains(&format!("Defer donor {d}?")));
    b.key(KeyCode::Char('y'));
    assert!(b.text().contains("Defer a donor"));
}

#[test]
fn the_tui_words_its_own_messages_and_asks_why_a_label_is_reprinted() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("printer.zpl");
    let mut b = Bench::with(Config { printer: Some(format!("file:{}", spool.display())), ..Config::default() });
    let (_, batches) = stock(&mut b, &[2]);
    b.set_now("2024-02-15", 9);
    // Deferral without a length: the form's words, not the CLI's flags.
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('d'));
    b.key(KeyCode::Char('y'));
    b.typed("travel");
    ctrl(&mut b, 's');
    let s = b.text();
    assert!(s.contains("say how long: a date in Until, or Permanent: yes") && !s.contains("--"), "{s}");
    b.key(KeyCode::Esc);

    // First print at once; a reprint asks why, refuses an empty reason, records the one given.
    b.key(KeyCode::F(4));
    b.scan(&batches[0].display());
    b.key(KeyCode::Char('p'));
    b.key_at_once(KeyCode::Char('y'));
    // The printer is driven off the event loop: the screen says so until the job reports.
    assert!(b.text().contains("printing"));
    b.app.settle(std::time::Duration::from_secs(30));
    let s = b.text();
    assert!(s.contains("printed 3 label(s)") && !s.contains("Why print again"), "{s}");
    b.key(KeyCode::Char('p'));
    b.key(KeyCode::Char('y'));
    assert!(b.text().contains("Why print again"));
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains("a reprint needs a reason: say why in the form") && !s.contains("--reason"), "{s}");
    b.typed("smudged in the freezer");
    b.key(KeyCode::Enter);
    b.app.settle(std::time::Duration::from_secs(30));
    let s = b.text();
    assert!(!s.contains("Why print again") && s.contains("reprinted 3 label(s)"), "{s}");
    let reprints = b.app.bank.audit_log(None, 1000).unwrap();
    assert!(reprints.iter().any(|e| e.action == "reprint-label"), "a reprint is recorded");
}

#[test]
fn batch_and_qc_take_the_event_time_typed_and_superseded_qc_is_marked() {
    let mut b = Bench::new();
    let (d, _) = stock(&mut b, &[1]);
    let don = b
        .app
        .bank
        .add_donation(stoolbank::app::NewDonation {
            donor: d,
            collected_at: at("2024-02-12", 8),
            received_at: None,
            mass_g: None,
            bristol: None,
        })
        .unwrap();
    b.set_now("2024-02-20", 9);
    b.key(KeyCode::F(4));
    b.key(KeyCode::Char('m'));
    b.scan(&don.id.to_string());
    for _ in 0..3 {
        b.key(KeyCode::Down); // to "Processed at", prefilled with now
    }
    for _ in 0..16 {
        b.key(KeyCode::Backspace);
    }
    b.typed("2024-02-12 10:30");
    b.key(KeyCode::Enter);
    let s = b.text();
    assert!(s.contains("made with 4 units"), "{s}");
    let batch = Id::batch(don.id.get().unwrap(), &stoolbank::core::ids::ProductCode::parse("F0001").unwrap());
    let v = b.app.bank.batch_view(&batch, at("2024-02-20", 9)).unwrap();
    assert_eq!(v.prepared_at.ok(), Some(&(at("2024-02-12", 10) + chrono::Duration::minutes(30))));

    // Two results of one test: the earlier one is marked superseded.
    for (result, time) in [("fail", "2024-02-13 09:00"), ("pass", "2024-02-14 09:00")] {
        b.key(KeyCode::Char('c'));
        b.key(KeyCode::Char('y'));
        b.key(KeyCode::Down);
        if result == "fail" {
            b.key(KeyCode::Right);
        }
        b.key(KeyCode::Down);
        b.key(KeyCode::Down);
        for _ in 0..16 {
            b.key(KeyCode::Backspace);
        }
        b.typed(time);
        b.key(KeyCode::Enter);
    }
    let s = b.screen(120, 40);
    assert!(s.contains("appearance fail  2024-02-13 09:00  superseded"), "{s}");
    assert!(s.contains("appearance pass  2024-02-14 09:00") && !s.contains("09:00  superseded\n"), "{s}");
}

#[test]
fn after_registering_the_new_donor_is_selected() {
    let mut b = Bench::new();
    for _ in 0..3 {
        new_donor(&mut b, None);
    }
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('a'));
    b.key(KeyCode::Down);
    b.typed("1991-02-03");
    ctrl(&mut b, 's');
    let s = b.text();
    let id = find_id(&s, "registered donor D", 25)[17..].to_string();
    assert!(s.contains("4 of 4") && s.contains(&format!("{id}  F  born 1991-02-03")), "{s}");
}

#[test]
fn applying_the_same_recall_twice_asks_again_and_the_export_goes_where_asked() {
    let mut b = Bench::new();
    let (_, batches) = stock(&mut b, &[2]);
    b.set_now("2024-02-15", 9);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recall, \"batch\".csv");
    for round in 0..2 {
        b.key(KeyCode::F(8));
        if round == 0 {
            b.key(KeyCode::Right); // by batch
            b.key(KeyCode::Down);
            b.scan(&batches[0].display());
            b.key(KeyCode::Down);
            b.key(KeyCode::Down);
            b.typed("supplier alert, lot 7");
            b.key(KeyCode::Enter);
        } else {
            b.key(KeyCode::Esc); // back to the form, as filled
            ctrl(&mut b, 's'); // the same dry run again
        }
        b.key(KeyCode::Char('a'));
        let s = b.screen(100, 30);
        assert_eq!(s.contains("applied 1 time(s) before"), round == 1, "{s}");
        b.key(KeyCode::Char('y'));
        assert!(b.text().contains("APPLIED"));
        if round == 1 {
            b.key(KeyCode::Char('e'));
            for _ in 0..200 {
                b.key(KeyCode::Backspace);
            }
            b.typed(&file.display().to_string());
            b.key(KeyCode::Enter);
        }
    }
    // A comma and quotes in the reason and path survive: the csv crate quotes.
    let mut r = csv::Reader::from_path(&file).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], "supplier alert, lot 7");
    assert_eq!(&rows[0][1], format!("batch {}", batches[0]));
}

#[test]
fn control_characters_in_stored_text_are_shown_escaped() {
    let mut b = Bench::new();
    new_donor(&mut b, Some("Eve\u{1b}[2J\u{202e}evil"));
    b.key(KeyCode::F(2));
    b.key(KeyCode::Char('i'));
    b.key(KeyCode::Char('y'));
    let s = b.text();
    assert!(s.contains("Eve\\u{1b}[2J\\u{202e}evil"), "{s}");
    assert!(!s.contains('\u{1b}') && !s.contains('\u{202e}'));
}

#[test]
fn the_recall_list_scrolls_to_its_last_line_at_80x24() {
    let mut b = Bench::new();
    let (_, batches) = stock(&mut b, &[40]);
    b.set_now("2024-02-15", 9);
    b.key(KeyCode::F(8));
    b.key(KeyCode::Right); // by batch
    b.key(KeyCode::Down);
    b.scan(&batches[0].display());
    b.key(KeyCode::Down);
    b.key(KeyCode::Down);
    b.typed("supplier alert");
    b.key(KeyCode::Enter);
    let s = b.screen(80, 24);
    // The 40th unit is division N1 (after A0–Z0, A1–M1): the last line, out of view.
    let last = format!("{}N1", &batches[0].display()[..18]);
    assert!(s.contains("1 of 41") && !s.contains(&last), "{s}");
    b.key(KeyCode::End);
    let s = b.screen(80, 24);
    assert!(s.contains("41 of 41") && s.contains(&last), "{s}");
}

#[test]
fn a_scan_carrying_control_characters_is_named_escaped() {
    let mut b = Bench::new();
    b.scan("G1517\u{1b}[31m24000001Y");
    let s = b.text();
    assert!(s.contains("\\u{1b}[31m") && !s.contains('\u{1b}'), "{s}");
}

/// A recipient given the first unit of a released batch on 2024-02-12; the batch's units and the recipient.
fn treated(b: &mut Bench, indication: &str) -> (Vec<Id>, Id) {
    let (_, batches) = stock(b, &[3]);
    let bank = &mut b.app.bank;
    let r = bank
        .register_recipient(
            stoolbank::app::NewRecipient {
                sex: Sex::F,
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 5, 1).unwrap(),
                indication: indication.into(),
                consent: stoolbank::core::model::Consent::Signed,
                cohort: None,
                identity: Identity::default(),
            },
            at("2024-02-11", 9),
        )
        .unwrap();
    let units: Vec<Id> = bank
        .batch_view(&batches[0], at("2024-02-12", 9))
        .unwrap()
        .units
        .into_iter()
        .map(|u| u.id.into_value().unwrap())
        .collect();
    let r = r.id.into_value().unwrap();
    bank.dispense(&units[0], &r, "colonoscopy", None, at("2024-02-12", 10)).unwrap();
    (units, r)
}

#[test]
fn a_visit_is_entered_from_the_work_list_with_its_time_point_prefilled() {
    let mut b = Bench::new();
    let (_, r) = treated(&mut b, "UC");
    b.set_now("2024-05-20", 9);
    b.key(KeyCode::F(11));
    let s = b.screen(80, 24);
    assert!(s.contains(&format!("3m {r}")) && s.contains("8 d overdue") && s.contains("1 of 1"), "{s}");
    assert!(s.contains("course from 2024-02-12"), "the recipient's course shows beside the list:\n{s}");
    b.key(KeyCode::Enter); // the selected row's visit: recipient and time point prefilled, focus on the outcome
    let s = b.screen(80, 24);
    assert!(s.contains(&format!("Recipient  {r}")) && s.contains("‹ 3m ›") && s.contains("2024-05-20"), "{s}");
    b.key(KeyCode::Down); // to the scores
    b.typed("mayo=1 qol=80");
    b.key(KeyCode::Enter);
    let s = b.screen(80, 24);
    assert!(s.contains(&format!("3m visit of {r} recorded on 2024-05-20: remission")), "{s}");
    assert!(s.contains("Visits due by today (0)") && s.contains("mayo=1 qol=80"), "{s}");
    let v = b.app.bank.clinical_view(&r).unwrap();
    assert_eq!(v.followups.len(), 1);
    assert_eq!(v.followups[0].visit.scores.get("qol"), Some(&80.0));

    // A second recipient's 1-year visit typed in long after its window: kept, with the warning.
    b.key(KeyCode::Char('v'));
    b.typed(&r.to_string());
    b.key(KeyCode::Down);
    b.key(KeyCode::Right); // 1y
    b.key(KeyCode::Enter);
    ctrl(&mut b, 's');
    let s = b.text();
    assert!(s.contains("OUTSIDE its window"), "{s}");
}

#[test]
fn a_serious_related_adverse_event_raises_the_banner_that_opens_the_recall_dry_run() {
    let mut b = Bench::new();
    let (units, r) = treated(&mut b, "UC");
    b.set_now("2024-03-01", 9);
    b.key(KeyCode::F(11));
    b.key(KeyCode::Char('e'));
    b.typed(&r.to_string());
    b.key(KeyCode::Down); // onset, prefilled today
    b.key(KeyCode::Down);
    b.typed("发热 fever");
    b.key(KeyCode::Down);
    b.key(KeyCode::Right);
    b.key(KeyCode::Right); // grade 3
    b.key(KeyCode::Down);
    b.key(KeyCode::Right); // serious
    b.key(KeyCode::Down);
    b.key(KeyCode::Right); // probable
    b.key(KeyCode::Down);
    b.scan(&units[0].display()); // the suspected unit; focus moves to the outcome
    b.typed("住院");
    b.key(KeyCode::Enter);
    let s = b.screen(80, 24);
    assert!(s.contains("SAFETY SIGNAL") && s.contains("\"发热 fever\""), "{s}");
    let v = b.app.bank.clinical_view(&r).unwrap();
    assert_eq!(v.adverse_events[0].term, "发热 fever");
    assert_eq!(v.adverse_events[0].outcome.as_deref(), Some("住院"));
    b.key(KeyCode::Char('s'));
    let s = b.text();
    assert!(s.contains("dry run — 1 batches, 2 in stock, 1 dispensed, 1 recipients"), "{s}");
    assert!(s.contains("serious adverse event") && s.contains(&format!("recipient {r}")), "{s}");
    // The recipient's trace shows their course and the event, the Chinese term at its width.
    b.typed(&r.to_string());
    b.key(KeyCode::Enter);
    let s = b.screen(80, 24);
    assert!(s.contains("course from 2024-02-12") && s.contains("发热 fever · grade 3 serious · probable"), "{s}");
}

#[test]
fn the_reports_tab_draws_remission_adverse_events_and_completeness_as_charts() {
    let mut b = Bench::new();
    let (_, r) = treated(&mut b, "UC");
    b.set_now("2024-05-20", 9);
    let visit = stoolbank::app::VisitInput {
        timepoint: stoolbank::core::followup::Timepoint::M3,
        outcome: stoolbank::core::followup::Outcome::Remission,
        scores: vec![],
        corrects: None,
    };
    b.app.bank.add_followup(&r, visit, at("2024-05-15", 10)).unwrap();
    let event = stoolbank::app::NewAdverseEvent {
        onset: chrono::NaiveDate::from_ymd_opt(2024, 2, 14).unwrap(),
        term: "bloating".into(),
        grade: 2,
        serious: false,
        relatedness: stoolbank::core::followup::Relatedness::Possible,
        unit: None,
        outcome: None,
        resolved_on: None,
        corrects: None,
    };
    b.app.bank.add_adverse_event(&r, event, at("2024-02-16", 9)).unwrap();
    // The reports read the whole bank off the event loop: the switch answers at once, the tab saying so.
    b.key_at_once(KeyCode::F(12));
    let s = b.screen(80, 24);
    assert!(s.contains("Reading every treatment and visit…") && s.contains("loading…"), "{s}");
    b.app.settle(std::time::Duration::from_secs(30));
    let s = b.screen(80, 24);
    // The tab bar has scrolled to show the selected tab; the bar of one remission in one reaches the full width.
    assert!(s.lines().next().unwrap().contains("Reports") && s.contains("‹"), "{s}");
    assert!(s.contains("UC 3m") && s.contains("100% [21–100] 1/1 · 0 lost") && s.contains("████████"), "{s}");
    b.key(KeyCode::Char('n'));
    let s = b.screen(80, 24);
    assert!(s.contains("1 patients in 1 sessions; 1 with an adverse event") && s.contains("grade 2    1"), "{s}");
    b.key(KeyCode::Char('n'));
    let s = b.screen(80, 24);
    assert!(s.contains("Follow-up completeness") && s.contains("not yet due") && s.contains("── 1y ──"), "{s}");
}

#[test]
fn the_quarantine_work_list_pages_past_its_first_page_with_its_count() {
    let mut b = Bench::new();
    b.app.bank.set_durable(false).unwrap();
    let d = new_donor(&mut b, None);
    let bank = &mut b.app.bank;
    let clean = stoolbank::app::ScreeningInput { all_negative: true, tests: vec![] };
    let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 10).unwrap();
    for k in stoolbank::core::model::ScreeningKind::ALL {
        bank.record_screening(&d, *k, day, &clean, at("2024-01-10", 7)).unwrap();
    }
    let mut batches = Vec::new();
    for i in 0..205 {
        let donation = bank
            .add_donation(stoolbank::app::NewDonation {
                donor: d.clone(),
                collected_at: at("2024-01-10", 8) + chrono::Duration::minutes(i),
                received_at: None,
                mass_g: Some(120.0),
                bristol: Some(4),
            })
            .unwrap();
        batches.push(
            bank.make_batch(donation.id.get().unwrap(), "F0001", 1, None, at("2024-01-11", 12))
                .unwrap()
                .id
                .into_value()
                .unwrap(),
        );
    }
    b.set_now("2024-01-12", 9);
    b.key(KeyCode::F(4));
    let s = b.text();
    assert!(s.contains("205 in quarantine · 1 of 200"), "{s}");
    b.key(KeyCode::Char('n'));
    for _ in 0..210 {
        b.key(KeyCode::Down);
    }
    let s = b.text();
    assert!(s.contains("205 of 205") && s.contains(&batches[204].display()), "the last batch is reached: {s}");
}

#[test]
fn a_donor_recall_dry_run_names_the_earlier_material_it_leaves_out() {
    let mut b = Bench::new();
    let (donor, batches) = stock(&mut b, &[2]);
    b.set_now("2024-02-15", 9);
    b.key(KeyCode::F(8));
    b.key(KeyCode::Down);
    b.scan(&donor.display());
    b.key(KeyCode::Down);
    b.key(KeyCode::Down);
    b.typed("ESBL positive");
    b.key(KeyCode::Enter);
    let s = b.screen(120, 40);
    // The default look-back starts at the clean screening of 2024-02-09: the January batch is named, not hidden.
    assert!(s.contains("not included: 1 earlier batches"), "{s}");
    assert!(s.contains("set From to 2024-01-10") && s.contains(&batches[0].display()), "{s}");
}

#[test]
fn the_home_screen_opens_at_once_and_its_counts_follow() {
    let mut b = Bench::new();
    // The counts walk indexes of the whole bank: they are read off the event loop, the screen saying so.
    let s = b.screen(80, 24);
    assert!(s.contains("counting the records…") && s.contains("loading…"), "{s}");
    b.app.settle(std::time::Duration::from_secs(30));
    let s = b.screen(80, 24);
    assert!(s.contains("0  donors") && s.contains("0  recalls") && !s.contains("counting"), "{s}");
}
