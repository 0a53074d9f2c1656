//! The bench TUI driven by key and scan events in-process, on a real database file: the whole chain from
//! registration to recall, asserting both what the screen shows and what the database holds.

use chrono::{DateTime, Local, TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use stoolbank::app::Bank;
use stoolbank::core::config::Config;
use stoolbank::core::ids::{Id, IdKind};
use stoolbank::core::model::{Sex, UnitStatus};
use stoolbank::store::donors::Identity;
use stoolbank::tui::{App, Msg};

struct Bench {
    app: App,
    _dir: tempfile::TempDir,
}

/// A moment given in the bank's local time, as a person at the bench types it: the tests hold in any zone.
fn at(day: &str, hour: u32) -> DateTime<Utc> {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    Local.from_local_datetime(&d.and_hms_opt(hour, 0, 0).unwrap()).earliest().unwrap().with_timezone(&Utc)
}

impl Bench {
    /// A bank where "tester" may see identity (the configuration names who may).
    fn new() -> Bench {
        Bench::with(Config { identity_viewers: vec!["tester".into()], ..Config::default() })
    }

    fn with(config: Config) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bank.db");
        let bank = Bank::init(&path, Some("G1517"), config, "tester").unwrap();
        let mut app = App::new(bank, "bank.db".into());
        app.clock = Some(at("2024-03-01", 9));
        Bench { app, _dir: dir }
    }

    fn key(&mut self, code: KeyCode) {
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
        self.app.clock = Some(at(day, hour));
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
    assert_eq!(b.app.bank.batch_view(&bid, at("2024-03-01", 10)).unwrap().status.as_str(), "quarantined");

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
    assert_eq!(view.status.as_str(), "released");
    let unit = view.units[0].id.clone();

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
    assert_eq!(b.app.bank.unit_view(&unit, at("2024-04-02", 10)).unwrap().status, UnitStatus::Dispensed);

    // Trace from a typed identifier (outside any form): the recipient is shown.
    b.key(KeyCode::F(10));
    b.typed(&r.id.display());
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
    let at_path = s.find("exported").map(|i| &s[i..]).unwrap_or_else(|| panic!("{s}"));
    let path = at_path.split(" to ").nth(1).and_then(|p| p.split_whitespace().next()).unwrap_or_else(|| panic!("{s}"));
    let csv = std::fs::read_to_string(path).unwrap();
    assert!(csv.starts_with("recall_reason,recall_selection,donor,unit,batch,status,recipient"), "{csv}");
    assert!(csv.contains(&r.id.display()) && csv.contains("ESBL positive re-test") && csv.contains(&donor), "{csv}");
    let _ = std::fs::remove_file(path);
    let other = view.units[1].id.clone();
    assert_eq!(b.app.bank.unit_view(&other, at("2024-04-03", 10)).unwrap().status, UnitStatus::Recalled);
    assert!(b.app.bank.audit_verify().unwrap().findings.is_empty());
}

#[test]
fn a_wrong_unit_at_dispense_stops_with_a_full_screen_warning() {
    let mut b = Bench::new();
    let bank = &mut b.app.bank;
    let d = bank
        .register_donor(
            stoolbank::app::NewDonor {
                sex: Sex::F,
                birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                identity: Identity::default(),
            },
            at("2024-02-01", 9),
        )
        .unwrap();
    for kind in stoolbank::core::model::ScreeningKind::ALL {
        let input = stoolbank::app::ScreeningInput { all_negative: true, tests: vec![] };
        bank.record_screening(
            &d.id,
            *kind,
            chrono::NaiveDate::from_ymd_opt(2024, 2, 20).unwrap(),
            &input,
            at("2024-02-20", 9),
        )
        .unwrap();
    }
    let don = bank
        .add_donation(stoolbank::app::NewDonation {
            donor: d.id.clone(),
            collected_at: at("2024-02-20", 8),
            received_at: None,
            mass_g: None,
            bristol: None,
        })
        .unwrap();
    let v = bank.make_batch(&don.id, "F0001", 1, None, at("2024-02-20", 10)).unwrap();
    let unit = v.units[0].id.display();
    b.key(KeyCode::F(6));
    b.scan(&unit);
    let s = b.text();
    assert!(s.contains("STOP — DO NOT USE THIS UNIT") && s.contains("dispense.not-released"), "{s}");
    b.key(KeyCode::Esc);
    let s = b.text();
    assert!(!s.contains("STOP"), "dismissed");
    // The unit field was cleared: nothing was dispensed.
    assert_eq!(
        b.app.bank.unit_view(&Id::parse(&unit).unwrap(), at("2024-03-01", 9)).unwrap().status,
        UnitStatus::Quarantined
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
    assert!(s.contains("Pick the donor") && s.contains(&d1.id.display()) && s.contains(&d2.id.display()), "{s}");
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
        let viewers = if viewer { vec!["tester".to_string()] } else { vec![] };
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
        assert_eq!(s.contains("李雷"), viewer, "identity shown only to a viewer:\n{s}");
    }
}

#[test]
fn trace_walks_back_inventory_sets_a_location_and_audit_opens_a_record() {
    let mut b = Bench::new();
    let bank = &mut b.app.bank;
    let d = bank
        .register_donor(
            stoolbank::app::NewDonor {
                sex: Sex::M,
                birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                identity: Identity::default(),
            },
            at("2024-02-01", 9),
        )
        .unwrap();
    for kind in stoolbank::core::model::ScreeningKind::ALL {
        let input = stoolbank::app::ScreeningInput { all_negative: true, tests: vec![] };
        let day = chrono::NaiveDate::from_ymd_opt(2024, 2, 20).unwrap();
        bank.record_screening(&d.id, *kind, day, &input, at("2024-02-20", 9)).unwrap();
    }
    let don = bank
        .add_donation(stoolbank::app::NewDonation {
            donor: d.id.clone(),
            collected_at: at("2024-02-20", 8),
            received_at: None,
            mass_g: None,
            bristol: None,
        })
        .unwrap();
    let v = bank.make_batch(&don.id, "F0001", 2, None, at("2024-02-20", 10)).unwrap();
    let unit = v.units[0].id.clone();

    // Trace the unit, re-root on the donor (first line), then walk back to the unit.
    b.scan(&unit.display());
    let s = b.text();
    assert!(s.contains(&format!("trace of unit {unit}")), "{s}");
    b.key(KeyCode::Home);
    b.key(KeyCode::Enter);
    assert!(b.text().contains(&format!("trace of donor {}", d.id)));
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
