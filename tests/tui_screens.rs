//! Every screen rendered through ratatui's `TestBackend` at 80×24 (and the trace at 120×40) on a small bank
//! with fixed dates and a frozen clock, as reviewed snapshots.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use stoolbank::app::records::Identity;
use stoolbank::app::{Bank, NewDonation, NewDonor, NewRecipient, ScreeningInput};
use stoolbank::core::config::BenchPrefs;
use stoolbank::core::model::{Consent, QcResult, ScreeningKind, Sex};
use stoolbank::tui::screen::Tab;
use stoolbank::tui::{App, Msg};

/// Long enough for a load off the event loop (a report, the follow-up work list) on any machine.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

fn at(day: &str, hour: u32) -> DateTime<Utc> {
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    Utc.from_utc_datetime(&d.and_hms_opt(hour, 0, 0).unwrap())
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Two donors, a released batch with one unit dispensed, a batch in quarantine.
fn bank(dir: &tempfile::TempDir) -> (Bank, String) {
    // A fixed clock: nothing on screen depends on the day the test runs.
    let mut b = Bank::init(&dir.path().join("bank.db"), Some("G1517"), BenchPrefs::default(), "tester")
        .unwrap()
        .with_clock(|| at("2024-02-12", 12));
    let clean = ScreeningInput { all_negative: true, tests: vec![] };
    let mut donors = Vec::new();
    for (i, sex) in [Sex::F, Sex::M].into_iter().enumerate() {
        let d = b
            .register_donor(
                NewDonor { sex, birth_date: day("1990-01-01"), identity: Identity::default() },
                at("2024-01-02", 9),
            )
            .unwrap()
            .id
            .into_value()
            .unwrap();
        for k in ScreeningKind::ALL {
            b.record_screening(&d, *k, day("2024-01-10"), &clean, at("2024-01-10", 9 + i as u32)).unwrap();
        }
        donors.push(d);
    }
    let mut batches = Vec::new();
    for d in &donors {
        let don = b
            .add_donation(NewDonation {
                donor: d.clone(),
                collected_at: at("2024-01-10", 8),
                received_at: None,
                mass_g: Some(120.0),
                bristol: Some(4),
            })
            .unwrap();
        let v = b.make_batch(don.id.get().unwrap(), "F0001", 3, Some(50.0), at("2024-01-10", 10)).unwrap();
        for t in ["appearance", "viable-count", "pathogen-screen"] {
            b.add_qc(v.id.get().unwrap(), t, QcResult::Pass, None, at("2024-01-11", 9)).unwrap();
        }
        batches.push(v);
    }
    for k in [ScreeningKind::Questionnaire, ScreeningKind::Blood, ScreeningKind::Stool] {
        b.record_screening(&donors[0], k, day("2024-02-09"), &clean, at("2024-02-09", 9)).unwrap();
    }
    b.release_batch(batches[0].id.get().unwrap(), at("2024-02-10", 9)).unwrap();
    let r = b
        .register_recipient(
            NewRecipient {
                sex: Sex::M,
                birth_date: day("1950-01-01"),
                indication: "rCDI".into(),
                consent: Consent::Signed,
                cohort: None,
                identity: Identity::default(),
            },
            at("2024-02-11", 9),
        )
        .unwrap();
    let unit = batches[0].units[0].id.get().unwrap();
    b.dispense(unit, r.id.get().unwrap(), "colonoscopy", Some("Dr Chen"), at("2024-02-12", 10)).unwrap();
    (b, unit.display())
}

fn render(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer();
    (0..h).map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string() + "\n").collect()
}

#[test]
fn every_screen() {
    // Times on screen are local: pin the zone so the snapshots hold on any machine (the only test here).
    std::env::set_var("TZ", "UTC");
    let dir = tempfile::tempdir().unwrap();
    let (bank, unit) = bank(&dir);
    let now = std::sync::Arc::new(std::sync::Mutex::new(at("2024-02-15", 9)));
    let clock = std::sync::Arc::clone(&now);
    let mut app = App::new(bank.with_clock(move || *clock.lock().unwrap()), "bank.db".into());
    for (n, tab) in Tab::ALL.into_iter().enumerate() {
        app.update(Msg::Key(KeyEvent::new(KeyCode::F(tab.function_key()), KeyModifiers::NONE)));
        app.settle(SETTLE);
        insta::assert_snapshot!(format!("tui_{n}_{}", tab.title().to_lowercase()), render(&mut app, 80, 24));
        if tab == Tab::Batches {
            // At 80×24 a failing rule's reason pushes the units down: Ctrl-D scrolls to them.
            app.update(Msg::Key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)));
            insta::assert_snapshot!("tui_3_batches_scrolled", render(&mut app, 80, 24));
            app.update(Msg::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        }
    }
    // The 3-month visit overdue, with an adverse event in Chinese in the recipient's pane.
    *now.lock().unwrap() = at("2024-05-20", 9);
    let due = app.bank.followups_due(day("2024-05-20")).unwrap();
    let event = stoolbank::app::NewAdverseEvent {
        onset: day("2024-02-14"),
        term: "腹泻 diarrhoea".into(),
        grade: 2,
        serious: false,
        relatedness: stoolbank::core::followup::Relatedness::Possible,
        unit: None,
        outcome: Some("已缓解".into()),
        resolved_on: Some(day("2024-02-16")),
        corrects: None,
    };
    app.bank.add_adverse_event(&due[0].recipient, event, at("2024-02-16", 9)).unwrap();
    app.update(Msg::Key(KeyEvent::new(KeyCode::F(Tab::Followup.function_key()), KeyModifiers::NONE)));
    app.settle(SETTLE);
    insta::assert_snapshot!("tui_followup_work_list", render(&mut app, 80, 24));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('e'), KeyModifiers::NONE)));
    insta::assert_snapshot!("tui_followup_adverse_event_form", render(&mut app, 80, 24));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    let visit = stoolbank::app::VisitInput {
        timepoint: stoolbank::core::followup::Timepoint::M3,
        outcome: stoolbank::core::followup::Outcome::Remission,
        scores: vec![("mayo".into(), "1".into())],
        corrects: None,
    };
    app.bank.add_followup(&due[0].recipient, visit, at("2024-05-20", 8)).unwrap();
    app.update(Msg::Key(KeyEvent::new(KeyCode::F(Tab::Reports.function_key()), KeyModifiers::NONE)));
    app.settle(SETTLE);
    for report in ["remission", "adverse_events", "completeness"] {
        insta::assert_snapshot!(format!("tui_reports_{report}"), render(&mut app, 80, 24));
        app.update(Msg::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE)));
    }
    app.update(Msg::Scan(unit));
    insta::assert_snapshot!("tui_trace_of_a_scanned_unit_120x40", render(&mut app, 120, 40));
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE)));
    insta::assert_snapshot!("tui_help_overlay", render(&mut app, 80, 24));
}
