//! Access control in the TUI, driven by key and scan events on a real bank with users: the sign-in screen, the
//! idle lock (the bank's clock moved, never slept), signing a release with the password re-entered, and keys
//! offered by role. Snapshots at 80×24.

mod common;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use common::{day, local as at};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use stoolbank::app::records::Identity;
use stoolbank::app::{Bank, NewDonation, NewDonor, NewRecipient, ScreeningInput};
use stoolbank::core::access::Role;
use stoolbank::core::config::{BenchPrefs, Config};
use stoolbank::core::ids::Id;
use stoolbank::core::model::{BatchStatus, Consent, QcResult, ScreeningKind, Sex, UnitStatus};
use stoolbank::tui::screen::Tab;
use stoolbank::tui::{App, Msg};

const PASSWORD: &str = "correct horse battery";

struct Bench {
    app: App,
    now: Arc<Mutex<DateTime<Utc>>>,
    batch: Id,
    _dir: tempfile::TempDir,
}

/// A bank with one user per role (the policy locks the TUI after 5 idle minutes) and a batch in quarantine that
/// passes every release rule, made by the technician; the app opens signed out.
fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(Mutex::new(at("2024-02-10", 10)));
    let clock = Arc::clone(&now);
    let mut b = Bank::init(&dir.path().join("bank.db"), Some("G1517"), BenchPrefs::default(), "setup")
        .unwrap()
        .with_clock(move || *clock.lock().unwrap());
    let t = b.now();
    b.add_user("admin", &[Role::Admin], PASSWORD, t).unwrap();
    b.sign_in("admin", PASSWORD).unwrap();
    for (name, role) in [
        ("tech", Role::Technician),
        ("qm", Role::QualityManager),
        ("clin", Role::Clinician),
        ("inv", Role::Investigator),
    ] {
        b.add_user(name, &[role], PASSWORD, t).unwrap();
    }
    b.set_policy(&Config { tui_idle_lock_minutes: 5, ..Config::default() }, t).unwrap();
    b.sign_in("tech", PASSWORD).unwrap();
    let clean = ScreeningInput { all_negative: true, tests: vec![] };
    let new = NewDonor { sex: Sex::F, birth_date: day("1990-01-01"), identity: Identity::default() };
    let donor = b.register_donor(new, at("2024-01-02", 9)).unwrap().id.into_value().unwrap();
    for k in ScreeningKind::ALL {
        b.record_screening(&donor, *k, day("2024-01-10"), &clean, at("2024-01-10", 9)).unwrap();
    }
    let donation = b
        .add_donation(NewDonation {
            donor: donor.clone(),
            collected_at: at("2024-01-10", 8),
            received_at: None,
            mass_g: Some(120.0),
            bristol: Some(4),
        })
        .unwrap();
    let batch = b
        .make_batch(donation.id.get().unwrap(), "F0001", 3, Some(50.0), at("2024-01-10", 10))
        .unwrap()
        .id
        .into_value()
        .unwrap();
    for test in ["appearance", "viable-count", "pathogen-screen"] {
        b.add_qc(&batch, test, QcResult::Pass, None, at("2024-01-11", 9)).unwrap();
    }
    for k in [ScreeningKind::Questionnaire, ScreeningKind::Blood, ScreeningKind::Stool] {
        b.record_screening(&donor, k, day("2024-02-09"), &clean, at("2024-02-09", 9)).unwrap();
    }
    b.sign_out();
    Bench { app: App::new(b, "bank.db".into()), now, batch, _dir: dir }
}

impl Bench {
    /// A key, and what it started off the event loop answered (as a person sees it a moment later).
    fn press(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        self.app.update(Msg::Key(KeyEvent::new(code, modifiers)));
        self.app.settle(std::time::Duration::from_secs(30));
    }
    fn key(&mut self, code: KeyCode) {
        self.press(code, KeyModifiers::NONE);
    }
    fn typed(&mut self, text: &str) {
        text.chars().for_each(|c| self.key(KeyCode::Char(c)));
    }
    fn sign_in(&mut self, user: &str, password: &str) {
        self.typed(user);
        self.key(KeyCode::Tab);
        self.typed(password);
        self.key(KeyCode::Enter);
    }
    fn tab(&mut self, tab: Tab) {
        self.key(KeyCode::F(tab.function_key()));
    }
    fn later(&mut self, minutes: i64) {
        *self.now.lock().unwrap() += Duration::minutes(minutes);
    }
    fn screen(&mut self) -> String {
        render(&mut self.app)
    }
    fn cursor(&mut self) -> (u16, u16) {
        let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
        t.draw(|f| self.app.render(f)).unwrap();
        let p = t.get_cursor_position().unwrap();
        (p.x, p.y)
    }
    fn batch_status(&mut self) -> BatchStatus {
        let now = *self.now.lock().unwrap();
        self.app.bank.batch_view(&self.batch, now).unwrap().status.into_value().unwrap()
    }
}

/// The app at 80×24, a line of text per row.
fn render(app: &mut App) -> String {
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer();
    (0..24).map(|y| (0..80).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string() + "\n").collect()
}

#[test]
fn set_up_mode_needs_no_sign_in_and_the_status_bar_says_access_control_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let bank = Bank::init(&dir.path().join("bank.db"), Some("G1517"), BenchPrefs::default(), "tester").unwrap();
    let mut app = App::new(bank, "bank.db".into());
    assert!(!app.signed_out());
    let screen = render(&mut app);
    assert!(screen.contains("tester · access control off (set-up mode)"), "{screen}");
    assert!(screen.contains("Facility G1517") && !screen.contains("Ctrl-O"), "{screen}");
}

#[test]
fn the_tui_starts_on_sign_in_refuses_a_wrong_password_and_shows_who_is_signed_in() {
    let mut b = bench();
    let first = b.screen();
    assert!(first.contains("Sign in") && !first.contains("Facility"), "nothing else shows before sign-in:\n{first}");
    // No tab, no help, no typed identifier reaches anything before the sign-in.
    b.tab(Tab::Batches);
    b.key(KeyCode::F(1));
    b.app.update(Msg::Scan(b.batch.display()));
    assert!(b.app.signed_out() && !b.screen().contains("quarantine"));
    assert!(b.screen().contains("a scan is not used while signed out"));

    b.sign_in("qm", "not the password");
    let refused = b.screen();
    assert!(refused.contains("wrong password for qm (1 failed in a row;"), "{refused}");
    assert!(!refused.contains("not the password"), "the password is never echoed:\n{refused}");
    insta::assert_snapshot!("tui_access_sign_in_refused", refused);

    // The user name stays; the password was wiped: the right one signs in.
    b.typed(PASSWORD);
    assert!(b.screen().contains(&"•".repeat(PASSWORD.len())));
    b.key(KeyCode::Enter);
    assert!(!b.app.signed_out());
    let home = b.screen();
    assert!(home.contains(" qm · quality-manager ") && home.contains("signed in as qm"), "{home}");
    b.key(KeyCode::Char('?'));
    assert!(b.screen().contains("Ctrl-O  sign out / switch user"), "{}", b.screen());
    b.key(KeyCode::Esc);

    // An unknown user is refused as the command line refuses it.
    b.press(KeyCode::Char('o'), KeyModifiers::CONTROL);
    assert!(b.app.signed_out());
    b.sign_in("nobody", PASSWORD);
    assert!(b.screen().contains("no user nobody in this bank"));
}

#[test]
fn the_idle_lock_hides_the_screen_and_the_same_users_password_gives_their_work_back() {
    let mut b = bench();
    b.sign_in("tech", PASSWORD);
    b.tab(Tab::Batches);
    b.key(KeyCode::Char('m'));
    b.typed("G15172");
    assert!(b.screen().contains("Make a batch"));

    // Idle time counts from the last key, by the bank's clock: 4 minutes is not yet 5.
    b.later(4);
    b.app.update(Msg::Tick);
    assert!(!b.app.signed_out());
    b.key(KeyCode::Char('4'));
    b.later(5);
    b.app.update(Msg::Tick);
    assert!(b.app.signed_out());
    let locked = b.screen();
    assert!(!locked.contains("Make a batch") && !locked.contains("G151724"), "the work is hidden:\n{locked}");
    insta::assert_snapshot!("tui_access_locked", locked);
    let row = locked.lines().position(|l| l.contains("Password")).unwrap();
    assert_eq!(b.cursor().1 as usize, row, "the cursor waits in the password field");

    // No key reaches the screens while locked, and a scan is refused with a message, not kept.
    b.press(KeyCode::Esc, KeyModifiers::NONE);
    b.tab(Tab::Home);
    b.app.update(Msg::Scan("G1517D0000001".into()));
    assert!(b.screen().contains("a scan is not used while signed out"));
    b.typed("wrong password");
    b.key(KeyCode::Enter);
    assert!(b.app.signed_out() && b.screen().contains("wrong password for tech"));
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    let back = b.screen();
    assert!(back.contains("Make a batch") && back.contains("G151724"), "the form is as it was:\n{back}");
    assert!(back.contains("unlocked"), "{back}");
}

#[test]
fn another_user_signing_in_at_the_lock_discards_the_first_users_form() {
    let mut b = bench();
    b.sign_in("tech", PASSWORD);
    b.tab(Tab::Batches);
    b.key(KeyCode::Char('m'));
    b.typed("G15172");
    b.later(6);
    b.app.update(Msg::Tick);
    b.key(KeyCode::Up);
    for _ in 0.."tech".len() {
        b.key(KeyCode::Backspace);
    }
    b.typed("qm");
    b.key(KeyCode::Tab);
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    let screen = b.screen();
    assert!(screen.contains(" qm · quality-manager ") && screen.contains("tech's unsaved work was discarded"));
    b.tab(Tab::Batches);
    assert!(!b.screen().contains("Make a batch"), "{}", b.screen());
}

#[test]
fn a_release_is_signed_with_the_password_and_a_wrong_one_changes_nothing() {
    let mut b = bench();
    b.sign_in("qm", PASSWORD);
    b.tab(Tab::Batches);
    b.key(KeyCode::Char('r'));
    let asked = b.screen();
    assert!(asked.contains(&format!("Sign: released for clinical use — batch {}", b.batch)), "{asked}");
    insta::assert_snapshot!("tui_access_sign_a_release", asked);

    // A wrong password: the box says so and stays, the batch stays in quarantine.
    b.typed("not my password");
    b.key(KeyCode::Enter);
    assert!(b.screen().contains("wrong password for qm"), "{}", b.screen());
    assert_eq!(b.batch_status(), BatchStatus::Quarantined);
    // Esc cancels: nothing is done, and nothing stays signed for a later act.
    b.key(KeyCode::Esc);
    assert!(b.screen().contains("not signed: nothing was done"));
    assert_eq!(b.batch_status(), BatchStatus::Quarantined);

    b.key(KeyCode::Char('r'));
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    assert_eq!(b.batch_status(), BatchStatus::Released);
    let signatures = b.app.bank.signatures(&b.batch).unwrap();
    assert_eq!(signatures.len(), 1);
    assert_eq!((signatures[0].signer.as_str(), signatures[0].meaning.as_str()), ("qm", "released for clinical use"));
}

#[test]
fn a_technician_is_not_offered_release_and_the_key_only_says_why() {
    let mut b = bench();
    b.sign_in("tech", PASSWORD);
    b.tab(Tab::Batches);
    b.key(KeyCode::Char('?'));
    let help = b.screen();
    assert!(help.contains("make a batch") && !help.contains("release the shown batch"), "{help}");
    assert!(!help.contains("discard the shown batch"), "{help}");
    b.key(KeyCode::Esc);
    b.key(KeyCode::Char('r'));
    let refused = b.screen();
    assert!(refused.contains("refused by rule access.role: tech (technician) may not release"), "{refused}");
    insta::assert_snapshot!("tui_access_technician_presses_release", refused);
    assert_eq!(b.batch_status(), BatchStatus::Quarantined);
    b.key(KeyCode::Esc);

    // The quality manager is offered it.
    b.press(KeyCode::Char('o'), KeyModifiers::CONTROL);
    b.sign_in("qm", PASSWORD);
    b.tab(Tab::Batches);
    b.key(KeyCode::Char('?'));
    assert!(b.screen().contains("release the shown batch"));
}

#[test]
fn an_investigator_is_offered_no_write() {
    let mut b = bench();
    b.sign_in("inv", PASSWORD);
    let writes = [
        (Tab::Donors, vec!["register a donor", "record a screening", "defer the selected"]),
        (Tab::Donations, vec!["print the last donation"]),
        (Tab::Batches, vec!["make a batch", "enter a QC", "release the", "discard the", "print the unit"]),
        (Tab::Inventory, vec!["set the selected unit's location"]),
        (Tab::Dispense, vec!["register a new recipient"]),
        (Tab::Recall, vec!["apply: quarantine"]),
        (Tab::Followup, vec!["enter a visit", "report an adverse event"]),
    ];
    for (tab, offered) in writes {
        b.tab(tab);
        b.key(KeyCode::F(1));
        let help = b.screen();
        for w in offered {
            assert!(!help.contains(w), "{} offers `{w}`:\n{help}", tab.title());
        }
        b.key(KeyCode::Esc);
    }
    // Reads stay: the recall's export (without identity) and its dry run.
    b.tab(Tab::Recall);
    b.key(KeyCode::F(1));
    assert!(b.screen().contains("export the affected list"));
}

#[test]
fn signing_out_over_unsaved_work_asks_first() {
    let mut b = bench();
    b.sign_in("tech", PASSWORD);
    b.tab(Tab::Batches);
    b.key(KeyCode::Char('m'));
    b.typed("G1");
    b.press(KeyCode::Char('o'), KeyModifiers::CONTROL);
    assert!(b.screen().contains("Sign out anyway"));
    b.key(KeyCode::Char('n'));
    assert!(!b.app.signed_out() && b.screen().contains("Make a batch"));
    b.press(KeyCode::Char('o'), KeyModifiers::CONTROL);
    b.key(KeyCode::Char('y'));
    assert!(b.app.signed_out() && b.screen().contains("Sign in"));
    assert!(b.app.bank.counts(*b.now.lock().unwrap()).is_err(), "the bank is signed out too");
}

#[test]
fn a_discard_and_a_dispense_are_signed_with_their_meaning() {
    let mut b = bench();
    b.sign_in("qm", PASSWORD);
    b.tab(Tab::Batches);
    b.key(KeyCode::Char('x'));
    b.key(KeyCode::Char('y'));
    b.typed("spilled");
    b.key(KeyCode::Enter);
    assert!(b.screen().contains("Sign: discarded: spilled — batch"), "{}", b.screen());
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    assert_eq!(b.batch_status(), BatchStatus::Discarded);
    let meanings: Vec<String> = b.app.bank.signatures(&b.batch).unwrap().into_iter().map(|s| s.meaning).collect();
    assert_eq!(meanings, ["discarded: spilled"]);
}

#[test]
fn a_clinician_signs_a_dispense_and_a_wrong_password_dispenses_nothing() {
    let mut b = bench();
    b.sign_in("qm", PASSWORD);
    let now = *b.now.lock().unwrap();
    b.app.bank.sign(PASSWORD).unwrap();
    let unit = b.app.bank.release_batch(&b.batch, now).unwrap().units[0].id.clone().into_value().unwrap();
    b.press(KeyCode::Char('o'), KeyModifiers::CONTROL);
    b.sign_in("clin", PASSWORD);
    let new = NewRecipient {
        sex: Sex::M,
        birth_date: day("1950-01-01"),
        indication: "rCDI".into(),
        consent: Consent::Signed,
        cohort: None,
        identity: Identity::default(),
    };
    let recipient = b.app.bank.register_recipient(new, now).unwrap().id.into_value().unwrap();
    b.tab(Tab::Dispense);
    b.app.update(Msg::Scan(unit.display()));
    b.app.update(Msg::Scan(recipient.display()));
    b.press(KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert!(b.screen().contains(&format!("Sign: dispensed to {} — unit {unit}", recipient.display())));
    b.typed("wrong wrong wrong");
    b.key(KeyCode::Enter);
    assert!(b.screen().contains("wrong password for clin"));
    b.key(KeyCode::Esc);
    assert_eq!(b.app.bank.unit_view(&unit, now).unwrap().status.value(), Ok(UnitStatus::Released));

    b.press(KeyCode::Char('s'), KeyModifiers::CONTROL);
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    assert_eq!(b.app.bank.unit_view(&unit, now).unwrap().status.value(), Ok(UnitStatus::Dispensed));
    assert!(b.screen().contains("dispensed to"), "{}", b.screen());
}

#[test]
fn wrong_signatures_lock_the_user_out_and_sign_them_out() {
    let mut b = bench();
    b.sign_in("qm", PASSWORD);
    b.tab(Tab::Batches);
    b.key(KeyCode::Char('r'));
    for _ in 0..5 {
        b.typed("guess");
        b.key(KeyCode::Enter);
    }
    let screen = b.screen();
    assert!(b.app.signed_out() && screen.contains("qm is locked out after 5"), "{screen}");
    b.app.bank.sign_in("tech", PASSWORD).unwrap();
    assert_eq!(b.batch_status(), BatchStatus::Quarantined);
}

#[test]
fn a_recall_applied_under_four_eyes_asks_a_second_users_countersign_after_the_signature() {
    let mut b = bench();
    let now = *b.now.lock().unwrap();
    b.app.bank.sign_in("admin", PASSWORD).unwrap();
    b.app.bank.add_user("qm2", &[Role::QualityManager], PASSWORD, now).unwrap();
    let policy = Config { tui_idle_lock_minutes: 5, recall_apply_second_person: true, ..Config::default() };
    b.app.bank.set_policy(&policy, now).unwrap();
    b.app.bank.sign_out();
    b.sign_in("qm", PASSWORD);
    b.tab(Tab::Recall);
    b.key(KeyCode::Right); // by batch
    b.key(KeyCode::Down);
    b.app.update(Msg::Scan(b.batch.display()));
    b.key(KeyCode::Down);
    b.key(KeyCode::Down);
    b.typed("sterility");
    b.key(KeyCode::Enter);
    b.key(KeyCode::Char('a'));
    assert!(b.screen().contains("a second user countersigns next"), "{}", b.screen());
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    let asked = b.screen();
    assert!(asked.contains("signed by qm. Four eyes"), "{asked}");
    insta::assert_snapshot!("tui_access_countersign_a_recall", asked);

    let countersign = |b: &mut Bench, user: &str, password: &str| {
        b.key(KeyCode::BackTab);
        for _ in 0..10 {
            b.key(KeyCode::Backspace);
        }
        b.typed(user);
        b.key(KeyCode::Tab);
        b.typed(password);
        b.key(KeyCode::Enter);
        b.screen()
    };
    // Tab goes from the user name to the password and back: start on the password field for BackTab to return.
    b.key(KeyCode::Tab);
    for (user, password, why) in [
        ("qm", PASSWORD, "qm signed it already"),
        ("tech", PASSWORD, "tech (technician) may not apply recalls"),
        ("qm2", "not the password", "wrong password"),
    ] {
        let s = countersign(&mut b, user, password);
        assert!(s.contains("recall.four-eyes") && s.contains(why), "{user}: {s}");
        assert_eq!(b.batch_status(), BatchStatus::Quarantined, "{user}: nothing is done");
    }
    // Esc cancels both: the next try asks the signer's password again, not the countersign.
    b.key(KeyCode::Esc);
    assert!(b.screen().contains("not signed: nothing was done"));
    b.key(KeyCode::Char('a'));
    assert!(b.screen().contains("qm's password"), "{}", b.screen());
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    b.key(KeyCode::Tab);
    let s = countersign(&mut b, "qm2", PASSWORD);
    assert!(s.contains("recall applied"), "{s}");
    assert_eq!(b.batch_status(), BatchStatus::Recalled);
    let c = rusqlite::Connection::open(b.app.bank.path()).unwrap();
    let mut stmt = c.prepare("SELECT signer, meaning FROM signatures WHERE entity = 'recalls' ORDER BY id").unwrap();
    let sigs: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    assert_eq!(
        sigs,
        [
            ("qm".to_string(), "recall applied: sterility".to_string()),
            ("qm2".to_string(), "recall countersigned: sterility".to_string())
        ]
    );
}

#[test]
fn signing_in_as_an_identity_viewer_unlocks_identity_and_a_non_viewer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let now = at("2024-02-10", 10);
    let mut b = Bank::init(&dir.path().join("bank.db"), Some("G1517"), BenchPrefs::default(), "setup")
        .unwrap()
        .with_clock(move || now);
    b.use_key_file(&dir.path().join("bank.key"), true).unwrap();
    b.set_policy(&Config { identity_viewers: vec![Role::QualityManager], ..Config::default() }, now).unwrap();
    let identity =
        Identity { name: Some("Zhao Lei".into()), phone: Some("+86 138 0000 1111".into()), national_id: None };
    let new = NewDonor { sex: Sex::F, birth_date: day("1990-01-01"), identity };
    let donor = b.register_donor(new, at("2024-01-02", 9)).unwrap().id.into_value().unwrap();
    b.add_user("admin", &[Role::Admin], PASSWORD, now).unwrap();
    b.sign_in("admin", PASSWORD).unwrap();
    b.add_user("qm", &[Role::QualityManager], PASSWORD, now).unwrap();
    b.add_user("tech", &[Role::Technician], PASSWORD, now).unwrap();
    b.sign_out();
    // No batch in this bank: the bench's record is the donor.
    let mut t =
        Bench { app: App::new(b, "bank.db".into()), now: Arc::new(Mutex::new(now)), batch: donor.clone(), _dir: dir };

    t.sign_in("qm", PASSWORD);
    t.tab(Tab::Donors);
    t.key(KeyCode::Char('i'));
    t.key(KeyCode::Char('y'));
    let shown = t.screen();
    assert!(shown.contains("Zhao Lei") && shown.contains(&format!("identity of donor {donor} shown")), "{shown}");

    t.press(KeyCode::Char('o'), KeyModifiers::CONTROL);
    t.sign_in("tech", PASSWORD);
    t.tab(Tab::Donors);
    t.key(KeyCode::Char('i'));
    t.key(KeyCode::Char('y'));
    let refused = t.screen();
    assert!(refused.contains("refused by rule identity.viewer"), "{refused}");
    assert!(!refused.contains("Zhao Lei"), "{refused}");
}

#[test]
fn a_report_answered_behind_the_idle_lock_is_not_shown_and_the_unlock_reads_it_again() {
    let mut b = bench();
    b.sign_in("qm", PASSWORD);
    // The switch answers at once; the report is read off the event loop, and the lock comes before its answer.
    b.app.update(Msg::Key(KeyEvent::new(KeyCode::F(Tab::Reports.function_key()), KeyModifiers::NONE)));
    b.later(6);
    b.app.update(Msg::Tick);
    assert!(b.app.signed_out());
    b.app.settle(std::time::Duration::from_secs(30));
    let locked = b.screen();
    assert!(!locked.contains("Remission") && locked.contains("Password"), "nothing shows behind the lock:\n{locked}");
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    let back = b.screen();
    assert!(back.contains("Remission (%, 95% CI)") && !back.contains("loading"), "the unlock reads it again:\n{back}");
}
