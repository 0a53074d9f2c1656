//! Two benches on one bank: the TUI, driven by key events, sees the other bench's work once it has asked the bank
//! where it stands (`Msg::Poll`, which the event loop sends about once a second), without the user moving away
//! and back; what the user selected and what they are typing stay. On a file, or with
//! `STOOLBANK_TEST_STORE=postgres` on a PostgreSQL server.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration as Wait;

use chrono::{DateTime, Duration, Utc};
use common::{day, local as at};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use stoolbank::app::records::Identity;
use stoolbank::app::{AppError, Bank, NewDonation, NewDonor, NewRecipient, ScreeningInput, SignInError, VisitInput};
use stoolbank::core::access::Role;
use stoolbank::core::config::{BenchPrefs, Config};
use stoolbank::core::ids::Id;
use stoolbank::core::model::{Consent, QcResult, ScreeningKind, Sex};
use stoolbank::tui::screen::Tab;
use stoolbank::tui::{App, Msg};

const PASSWORD: &str = "correct horse battery";

struct Benches {
    /// This bench's TUI.
    app: App,
    /// The other bench, on the same bank.
    other: Bank,
    /// Both benches' clock, frozen.
    now: Arc<Mutex<DateTime<Utc>>>,
    _dir: tempfile::TempDir,
    _server: Option<common::pg::PgDb>,
}

/// Stock in the bank: donors `donors`, and a released batch of three units.
struct Stock {
    donors: Vec<Id>,
    batch: Id,
    units: Vec<Id>,
}

fn clock(now: &Arc<Mutex<DateTime<Utc>>>) -> impl Fn() -> DateTime<Utc> + Send + 'static {
    let now = Arc::clone(now);
    move || *now.lock().unwrap()
}

fn new_donor(b: &mut Bank) -> Id {
    let new = NewDonor { sex: Sex::F, birth_date: day("1990-01-01"), identity: Identity::default() };
    b.register_donor(new, at("2024-01-02", 9)).unwrap().id.into_value().unwrap()
}

/// Two benches on a new bank in set-up mode (no users), with stock made by the other bench.
fn benches() -> (Benches, Stock) {
    benches_printing(None)
}

/// [`benches`], this bench printing to `printer`.
fn benches_printing(printer: Option<String>) -> (Benches, Stock) {
    let dir = tempfile::tempdir().unwrap();
    let (db, server) = common::new_db(&dir);
    let now = Arc::new(Mutex::new(at("2024-02-10", 10)));
    let mut other =
        Bank::init(&db, Some("G1517"), BenchPrefs::default(), "other bench").unwrap().with_clock(clock(&now));
    let clean = ScreeningInput { all_negative: true, tests: vec![] };
    let donor = new_donor(&mut other);
    for k in ScreeningKind::ALL {
        other.record_screening(&donor, *k, day("2024-01-10"), &clean, at("2024-01-10", 9)).unwrap();
    }
    let donation = other
        .add_donation(NewDonation {
            donor: donor.clone(),
            collected_at: at("2024-01-10", 8),
            received_at: None,
            mass_g: Some(120.0),
            bristol: Some(4),
        })
        .unwrap();
    let view = other.make_batch(donation.id.get().unwrap(), "F0001", 3, Some(50.0), at("2024-01-10", 10)).unwrap();
    let batch = view.id.into_value().unwrap();
    let units: Vec<Id> = view.units.iter().map(|u| u.id.clone().into_value().unwrap()).collect();
    for test in ["appearance", "viable-count", "pathogen-screen"] {
        other.add_qc(&batch, test, QcResult::Pass, None, at("2024-01-11", 9)).unwrap();
    }
    for k in [ScreeningKind::Questionnaire, ScreeningKind::Blood, ScreeningKind::Stool] {
        other.record_screening(&donor, k, day("2024-02-09"), &clean, at("2024-02-09", 9)).unwrap();
    }
    other.release_batch(&batch, at("2024-02-10", 10)).unwrap();
    let second = new_donor(&mut other);
    let prefs = BenchPrefs { printer, ..BenchPrefs::default() };
    let bank = Bank::open(&db, prefs, "this bench").unwrap().with_clock(clock(&now));
    let app = App::new(bank, "bank".into());
    let b = Benches { app, other, now, _dir: dir, _server: server };
    (b, Stock { donors: vec![donor, second], batch, units })
}

impl Benches {
    /// A key, and what it started off the event loop answered.
    fn press(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        self.app.update(Msg::Key(KeyEvent::new(code, modifiers)));
        self.app.settle(Wait::from_secs(30));
    }
    fn key(&mut self, code: KeyCode) {
        self.press(code, KeyModifiers::NONE);
    }
    fn typed(&mut self, text: &str) {
        text.chars().for_each(|c| self.key(KeyCode::Char(c)));
    }
    fn tab(&mut self, tab: Tab) {
        self.key(KeyCode::F(tab.function_key()));
    }
    /// The event loop's second: the app asks where the bank stands, and reads again what changed when a read is
    /// due (reads again are spaced).
    fn second(&mut self) {
        self.app.update(Msg::Poll);
        self.app.settle(Wait::from_secs(30));
    }
    /// Five of the event loop's seconds: whatever changed before is read again by their end.
    fn poll(&mut self) {
        (0..5).for_each(|_| self.second());
    }
    fn screen(&mut self) -> String {
        let (w, h) = (100, 30);
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| self.app.render(f)).unwrap();
        let buf = t.backend().buffer();
        (0..h).map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>().trim_end().to_string() + "\n").collect()
    }
    fn dispense(&mut self, unit: &Id) -> Id {
        let now = *self.now.lock().unwrap();
        let recipient = self
            .other
            .register_recipient(
                NewRecipient {
                    sex: Sex::M,
                    birth_date: day("1970-05-05"),
                    indication: "rCDI".into(),
                    consent: Consent::Signed,
                    cohort: None,
                    identity: Identity::default(),
                },
                now,
            )
            .unwrap()
            .id
            .into_value()
            .unwrap();
        self.other.dispense(unit, &recipient, "colonoscopy", None, now).unwrap();
        recipient
    }
}

/// The status line (the screen's last line).
fn status(screen: &str) -> &str {
    screen.lines().last().unwrap_or("")
}

/// The app's messages taken by the test itself (as the event loop takes them), so that it decides when each
/// answer arrives.
struct Held(std::sync::mpsc::Receiver<Msg>);

impl Held {
    fn take(app: &mut App) -> Held {
        Held(app.channel().1)
    }
    /// The next message from the app's threads (a bounded wait: the test fails rather than hangs).
    fn next(&self) -> Msg {
        self.0.recv_timeout(Wait::from_secs(30)).expect("an answer from the app's threads")
    }
    /// A poll and its answer, delivered.
    fn poll(&self, app: &mut App) {
        app.update(Msg::Poll);
        match self.next() {
            head @ Msg::Head(..) => app.update(head),
            other => panic!("expected the bank's head, got {other:?}"),
        }
    }
}

/// The message log as shown (each message with its time).
fn log_text(b: &mut Benches) -> String {
    b.press(KeyCode::Char('l'), KeyModifiers::CONTROL);
    let s = b.screen();
    b.key(KeyCode::Esc);
    s
}

/// How many messages the log holds (its title counts them).
fn logged(b: &mut Benches) -> usize {
    b.press(KeyCode::Char('l'), KeyModifiers::CONTROL);
    let s = b.screen();
    b.key(KeyCode::Esc);
    let title = s.lines().find_map(|l| l.split("Messages (").nth(1)).expect("the message log");
    title.split(')').next().unwrap().parse().unwrap()
}

#[test]
fn a_unit_dispensed_at_another_bench_leaves_the_inventory_and_the_selection_stays_on_its_unit() {
    let (mut b, stock) = benches();
    b.tab(Tab::Inventory);
    b.key(KeyCode::Down);
    b.poll();
    let before = b.screen();
    assert!(before.contains(&stock.units[0].to_string()) && before.contains("2 of 3"), "{before}");

    b.dispense(&stock.units[0]);
    assert!(b.screen().contains(&stock.units[0].to_string()), "nothing is read before the poll");
    b.poll();
    let after = b.screen();
    assert!(!after.contains(&stock.units[0].to_string()), "the dispensed unit left the stock:\n{after}");
    assert!(after.contains("1 of 2"), "the selection moved with its unit:\n{after}");
    assert!(status(&after).contains("updated: another bench changed the bank"), "{after}");

    // The selection is the unit it was on: Enter traces it.
    b.key(KeyCode::Enter);
    let trace = b.screen();
    assert!(status(&trace).contains(&format!("trace of unit {}", stock.units[1])), "{trace}");
}

#[test]
fn an_open_trace_shows_a_unit_dispensed_at_another_bench_and_says_it_changed() {
    let (mut b, stock) = benches();
    let unit = stock.units[0].to_string();
    b.app.update(Msg::Scan(unit.clone()));
    b.poll();
    let before = b.screen();
    assert!(before.contains(&format!("unit {unit}  released")) && !before.contains("changed by"), "{before}");

    let recipient = b.dispense(&stock.units[0]);
    b.poll();
    let after = b.screen();
    assert!(after.contains(&format!("unit {unit}  dispensed")), "the unit's new state:\n{after}");
    assert!(after.contains(&format!("→ recipient {recipient}")), "{after}");
    assert!(after.contains("Chain · changed by another bench"), "{after}");
    assert!(status(&after).contains(&format!("another bench changed the chain of unit {unit}, open here")), "{after}");

    // Nothing changed since: the next seconds (a minute later) read nothing again and say nothing new.
    b.key(KeyCode::Char('k'));
    let (line, log) = (status(&b.screen()).to_string(), log_text(&mut b));
    *b.now.lock().unwrap() += Duration::minutes(1);
    b.poll();
    assert_eq!(status(&b.screen()), line);
    assert_eq!(log_text(&mut b), log, "no message again, not even at a later time");
}

#[test]
fn a_donor_registered_and_deferred_at_another_bench_show_in_the_list_and_the_open_donor() {
    let (mut b, stock) = benches();
    b.tab(Tab::Donors);
    b.key(KeyCode::Down);
    b.poll();
    let second = stock.donors[1].to_string();
    assert!(b.screen().contains("2 of 2"));

    let third = new_donor(&mut b.other).to_string();
    b.poll();
    let after = b.screen();
    assert!(after.contains(&third) && after.contains("2 of 3"), "the new donor, the selection kept:\n{after}");
    assert!(after.contains(&format!("{second}  F  born")), "the open donor is still shown:\n{after}");
    assert!(!after.contains("changed by another bench"), "the donor shown did not change:\n{after}");

    let now = *b.now.lock().unwrap();
    b.other.defer_donor(&stock.donors[1], "travel abroad", Some(day("2024-06-01")), false, now).unwrap();
    b.poll();
    let deferred = b.screen();
    assert!(deferred.contains("deferred since") && deferred.contains("travel abroad"), "{deferred}");
    assert!(deferred.contains("Donor · changed by another bench"), "{deferred}");
    assert!(status(&deferred).contains(&format!("another bench changed donor {second}, open here")), "{deferred}");

    // Moving to another donor drops the mark: it was about the donor that was open.
    b.key(KeyCode::Up);
    assert!(!b.screen().contains("changed by another bench"));
}

#[test]
fn a_form_being_typed_is_not_disturbed_by_a_refresh() {
    let (mut b, stock) = benches();
    b.tab(Tab::Donors);
    b.key(KeyCode::Char('d'));
    b.key(KeyCode::Char('y'));
    b.typed("fever last wee");
    b.poll();
    let third = new_donor(&mut b.other).to_string();
    let now = *b.now.lock().unwrap();
    b.other.defer_donor(&stock.donors[0], "from the other bench", None, true, now).unwrap();
    b.poll();
    let during = b.screen();
    assert!(during.contains("Defer a donor") && during.contains("fever last wee"), "the form as typed:\n{during}");
    assert!(during.contains(&third), "the list beside it is read again:\n{during}");
    // The typing goes on where it was, and the form saves what was typed.
    b.typed("k");
    assert!(b.screen().contains("fever last week"));

    // A search being typed stays too, and the list it filters is read again.
    b.key(KeyCode::Esc);
    b.key(KeyCode::Char('/'));
    b.typed("D");
    b.poll();
    let fourth = new_donor(&mut b.other).to_string();
    b.poll();
    let searching = b.screen();
    assert!(searching.contains("Donors /D") && searching.contains(&fourth), "{searching}");
}

#[test]
fn this_benchs_own_change_is_read_again_without_a_word() {
    let (mut b, stock) = benches();
    b.tab(Tab::Inventory);
    b.key(KeyCode::Down);
    b.poll();
    // An ask under way while the change is made may or may not see it: either way, no word of another bench.
    b.app.update(Msg::Poll);
    for c in "ly".chars() {
        b.app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    for c in "freezer 2".chars() {
        b.app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    b.app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    b.app.settle(Wait::from_secs(30));
    let saved = b.screen();
    assert!(status(&saved).contains(&format!("unit {} is at freezer 2", stock.units[1])), "{saved}");
    b.poll();
    b.poll();
    let after = b.screen();
    assert_eq!(status(&after), status(&saved), "no note for this bench's own change:\n{after}");
    assert!(after.contains("2 of 3") && after.contains("freezer 2"), "{after}");
}

/// Two benches on a bank with users (admin, tech) and `policy`: the other signed in as tech, this one's TUI signed
/// out; `before` sees this bench's bank before the TUI takes it.
fn staffed(policy: Option<Config>, before: impl FnOnce(&mut Bank)) -> Benches {
    let dir = tempfile::tempdir().unwrap();
    let (db, server) = common::new_db(&dir);
    let now = Arc::new(Mutex::new(at("2024-02-10", 10)));
    let mut other = Bank::init(&db, Some("G1517"), BenchPrefs::default(), "setup").unwrap().with_clock(clock(&now));
    let t = *now.lock().unwrap();
    other.add_user("admin", &[Role::Admin], PASSWORD, t).unwrap();
    other.sign_in("admin", PASSWORD).unwrap();
    other.add_user("tech", &[Role::Technician], PASSWORD, t).unwrap();
    if let Some(policy) = policy {
        other.set_policy(&policy, t).unwrap();
    }
    other.sign_in("tech", PASSWORD).unwrap();
    let mut bank = Bank::open(&db, BenchPrefs::default(), "").unwrap().with_clock(clock(&now));
    before(&mut bank);
    Benches { app: App::new(bank, "bank".into()), other, now, _dir: dir, _server: server }
}

#[test]
fn nothing_asks_the_bank_while_signed_out_or_locked() {
    let mut b = staffed(Some(Config { tui_idle_lock_minutes: 5, ..Config::default() }), |bank| {
        // The operation itself refuses a session nobody is signed in to.
        assert!(matches!(bank.last_change(), Err(AppError::SignIn(SignInError::SignedOut))));
    });
    let first = new_donor(&mut b.other).to_string();
    assert!(b.app.signed_out() && !b.app.watching());
    b.poll();

    b.typed("tech");
    b.key(KeyCode::Tab);
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    assert!(b.app.watching(), "signed in, the bench watches the bank");
    b.tab(Tab::Donors);
    b.poll();
    assert!(b.screen().contains(&first));

    // Idle: the lock stops the watching; another bench's change is not read behind it.
    *b.now.lock().unwrap() += Duration::minutes(6);
    b.app.update(Msg::Tick);
    assert!(b.app.signed_out() && !b.app.watching());
    let second = new_donor(&mut b.other).to_string();
    b.poll();
    let locked = b.screen();
    assert!(!locked.contains(&second) && !locked.contains("updated"), "{locked}");

    // Unlocked, the tab is read again, and the watching goes on.
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    assert!(b.app.watching());
    assert!(b.screen().contains(&second));
    let third = new_donor(&mut b.other).to_string();
    b.poll();
    b.poll();
    assert!(b.screen().contains(&third));
}

#[test]
fn the_home_counts_follow_another_benchs_work() {
    let (mut b, stock) = benches();
    b.poll();
    let before = b.screen();
    assert!(before.contains("2  donors") && before.contains("3  units in stock"), "{before}");
    b.dispense(&stock.units[2]);
    new_donor(&mut b.other);
    b.poll();
    let after = b.screen();
    assert!(after.contains("3  donors") && after.contains("2  units in stock"), "{after}");
    assert!(after.contains("1  units dispensed to 1 recipients"), "{after}");
}

#[test]
fn an_open_batch_shows_another_benchs_qc_result_and_the_work_list_its_new_batch() {
    let (mut b, _) = benches();
    let now = *b.now.lock().unwrap();
    let clean = ScreeningInput { all_negative: true, tests: vec![] };
    let donor = new_donor(&mut b.other);
    for k in ScreeningKind::ALL {
        b.other.record_screening(&donor, *k, day("2024-02-01"), &clean, at("2024-02-01", 9)).unwrap();
    }
    let new =
        |at| NewDonation { donor: donor.clone(), collected_at: at, received_at: None, mass_g: None, bristol: None };
    let first = b.other.add_donation(new(at("2024-02-02", 8))).unwrap().id.into_value().unwrap();
    let second = b.other.add_donation(new(at("2024-02-03", 8))).unwrap().id.into_value().unwrap();
    let batch = b.other.make_batch(&first, "F0001", 2, None, at("2024-02-02", 10)).unwrap().id.into_value().unwrap();
    b.tab(Tab::Batches);
    b.poll();
    let before = b.screen();
    assert!(before.contains(&format!("{batch}  F0001  quarantined")), "{before}");
    assert!(!before.contains("appearance pass"), "{before}");

    b.other.add_qc(&batch, "appearance", QcResult::Pass, None, now).unwrap();
    let made = b.other.make_batch(&second, "F0001", 2, None, at("2024-02-03", 10)).unwrap().id.into_value().unwrap();
    b.poll();
    let after = b.screen();
    assert!(after.contains("appearance pass"), "the open batch read again:\n{after}");
    assert!(after.contains("Batch · changed by another bench"), "{after}");
    assert!(after.contains(&made.to_string()), "the new batch in the work list:\n{after}");
    assert!(status(&after).contains(&format!("another bench changed batch {batch}, open here")), "{after}");
}

#[test]
fn the_follow_up_work_list_shows_a_dispense_made_at_another_bench() {
    let (mut b, stock) = benches();
    b.tab(Tab::Followup);
    b.poll();
    assert!(b.screen().contains("Visits due by today (0)"));
    let recipient = b.dispense(&stock.units[0]).to_string();
    // Both benches' clock a season later: the first visits are due.
    *b.now.lock().unwrap() += Duration::days(120);
    b.poll();
    let after = b.screen();
    assert!(!after.contains("Visits due by today (0)") && after.contains(&recipient), "{after}");
    assert!(status(&after).contains("updated: another bench changed the bank"), "{after}");
}

#[test]
fn a_change_while_the_home_counts_are_read_is_counted_once_they_answer() {
    let (mut b, stock) = benches();
    let held = Held::take(&mut b.app);
    // The counts asked for at the start have read the bank; their answer waits.
    let counted = held.next();
    assert!(matches!(counted, Msg::Loaded(..)), "{counted:?}");
    b.dispense(&stock.units[2]);
    new_donor(&mut b.other);
    // The change is seen while those counts are still under way: they read before it.
    held.poll(&mut b.app);
    b.app.update(counted);
    let stale = b.screen();
    assert!(stale.contains("2  donors"), "{stale}");
    // A later second reads the counts again, although the bank has not moved since.
    held.poll(&mut b.app);
    b.app.update(held.next());
    let after = b.screen();
    assert!(after.contains("3  donors") && after.contains("2  units in stock"), "{after}");
}

#[test]
fn a_tab_the_user_may_not_read_is_not_read_again_and_opens_no_box() {
    let mut b = staffed(None, |_| {});
    // The administrator reads the audit trail, not the bench's records: Home's counts are refused at sign-in.
    b.typed("admin");
    b.key(KeyCode::Tab);
    b.typed(PASSWORD);
    b.key(KeyCode::Enter);
    assert!(b.app.watching());
    b.key(KeyCode::Esc);
    let before = logged(&mut b);
    for _ in 0..3 {
        new_donor(&mut b.other);
        b.poll();
        let s = b.screen();
        assert!(!s.contains("Refused"), "a refresh opens no box:\n{s}");
    }
    assert_eq!(logged(&mut b), before, "a refresh the user may not read logs nothing");
    // The audit trail, which they may read, follows the other bench.
    b.tab(Tab::Audit);
    let fourth = new_donor(&mut b.other).to_string();
    b.poll();
    assert!(b.screen().contains(&fourth));
}

#[test]
fn the_home_counts_are_read_again_at_most_every_five_seconds_and_none_is_lost() {
    let (mut b, stock) = benches();
    b.poll();
    new_donor(&mut b.other);
    b.second();
    assert!(b.screen().contains("3  donors"));
    // Another change a second later waits for its turn, and is read at it.
    b.dispense(&stock.units[2]);
    for _ in 0..4 {
        b.second();
        let s = b.screen();
        assert!(s.contains("3  units in stock"), "{s}");
    }
    b.second();
    let after = b.screen();
    assert!(after.contains("2  units in stock"), "{after}");
}

#[test]
fn a_list_on_the_event_loop_is_read_again_at_most_every_other_second() {
    let (mut b, _) = benches();
    b.tab(Tab::Donors);
    b.poll();
    let third = new_donor(&mut b.other).to_string();
    b.second();
    assert!(b.screen().contains(&third));
    let fourth = new_donor(&mut b.other).to_string();
    b.second();
    assert!(!b.screen().contains(&fourth), "read again only every other second");
    b.second();
    assert!(b.screen().contains(&fourth), "and not lost");
}

#[test]
fn a_watcher_that_does_not_answer_is_said_once_and_replaced() {
    let (mut b, stock) = benches();
    b.tab(Tab::Inventory);
    b.poll();
    // The answers are not taken (as from a bank that does not answer) for ten seconds and more.
    for _ in 0..12 {
        b.app.update(Msg::Poll);
    }
    let s = b.screen();
    assert!(status(&s).contains("cannot see other benches' changes: the bank does not answer"), "{s}");
    b.dispense(&stock.units[0]);
    b.poll();
    let after = b.screen();
    assert!(after.contains("1 of 2"), "a new watcher sees the change:\n{after}");
    assert!(status(&after).contains("updated: another bench changed"), "{after}");
    assert_eq!(log_text(&mut b).matches("the bank does not answer").count(), 1, "said once");
}

#[test]
fn another_benchs_change_while_the_user_types_gets_its_note() {
    let (mut b, _) = benches();
    b.tab(Tab::Donors);
    b.poll();
    b.key(KeyCode::Char('/'));
    b.typed("D");
    let third = new_donor(&mut b.other).to_string();
    b.typed("0");
    b.key(KeyCode::Backspace);
    b.poll();
    let s = b.screen();
    assert!(s.contains(&third), "{s}");
    assert!(status(&s).contains("updated: another bench changed the bank"), "{s}");
}

#[test]
fn this_benchs_own_change_and_another_benchs_in_the_same_second_get_the_note() {
    let (mut b, stock) = benches();
    b.tab(Tab::Inventory);
    b.poll();
    b.key(KeyCode::Char('l'));
    b.key(KeyCode::Char('y'));
    b.typed("freezer 2");
    b.key(KeyCode::Enter);
    let saved = b.screen();
    assert!(status(&saved).contains("is at freezer 2"), "{saved}");
    b.dispense(&stock.units[2]);
    b.poll();
    let after = b.screen();
    assert!(status(&after).contains("updated: another bench changed the bank"), "{after}");
}

#[cfg(unix)]
#[test]
fn a_print_is_this_benchs_own_change_however_slow_the_printer() {
    let spool = tempfile::tempdir().unwrap();
    let fifo = spool.path().join("printer");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (mut b, stock) = benches_printing(Some(format!("file:{}", fifo.display())));
    b.tab(Tab::Batches);
    b.poll();
    let held = Held::take(&mut b.app);
    b.app.update(Msg::Scan(stock.batch.to_string()));
    b.app.update(Msg::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE)));
    b.app.update(Msg::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)));
    // The printer takes the labels only when the test reads them: meanwhile the bank is asked, twice.
    held.poll(&mut b.app);
    held.poll(&mut b.app);
    let reader = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::read(fifo).unwrap()
    });
    // The job recorded its print before it reports: a second meanwhile sees its entries.
    let printed = held.next();
    assert!(matches!(printed, Msg::Printed(..)), "{printed:?}");
    assert!(!reader.join().unwrap().is_empty());
    held.poll(&mut b.app);
    let during = b.screen();
    assert!(!status(&during).contains("another bench"), "the job's own entries:\n{during}");
    b.app.update(printed);
    for _ in 0..6 {
        held.poll(&mut b.app);
    }
    let after = b.screen();
    assert!(status(&after).contains("printed 4 label(s)"), "no word of another bench:\n{after}");
}

#[test]
fn a_selected_unit_that_leaves_the_list_is_said_and_the_selection_moves_to_its_neighbour() {
    let (mut b, stock) = benches();
    b.tab(Tab::Inventory);
    b.poll();
    assert!(b.screen().contains("1 of 3"));
    b.dispense(&stock.units[0]);
    b.poll();
    let after = b.screen();
    assert!(after.contains("1 of 2"), "{after}");
    let said = format!("updated: another bench changed unit {}, which left this list", stock.units[0]);
    assert!(status(&after).contains(&said), "{after}");
    b.key(KeyCode::Enter);
    assert!(status(&b.screen()).contains(&format!("trace of unit {}", stock.units[1])));
}

#[test]
fn a_record_read_on_another_day_is_not_marked_changed_by_another_bench() {
    let (mut b, stock) = benches();
    let unit = stock.units[0].to_string();
    b.app.update(Msg::Scan(unit.clone()));
    b.poll();
    assert!(b.screen().contains(&format!("unit {unit}  released")));
    // Half a year later the unit has expired, by the day alone; another bench's unrelated change reads it again.
    *b.now.lock().unwrap() += Duration::days(200);
    new_donor(&mut b.other);
    b.poll();
    let after = b.screen();
    assert!(!after.contains(&format!("unit {unit}  released")), "read again as of today:\n{after}");
    assert!(!after.contains("changed by another bench") && !after.contains("open here"), "{after}");
    assert!(status(&after).contains("updated: another bench changed the bank"), "{after}");
}

#[test]
fn a_follow_up_change_read_after_the_user_left_the_tab_is_not_said_there() {
    let (mut b, stock) = benches();
    let recipient = b.dispense(&stock.units[0]);
    *b.now.lock().unwrap() += Duration::days(120);
    b.tab(Tab::Followup);
    b.poll();
    assert!(b.screen().contains(&recipient.to_string()));
    let held = Held::take(&mut b.app);
    let now = *b.now.lock().unwrap();
    let visit = VisitInput {
        timepoint: "3m".parse().unwrap(),
        outcome: "remission".parse().unwrap(),
        scores: vec![],
        corrects: None,
    };
    b.other.add_followup(&recipient, visit, now).unwrap();
    held.poll(&mut b.app);
    // The work list is being read again; the user goes Home before it answers.
    b.app.update(Msg::Key(KeyEvent::new(KeyCode::F(Tab::Home.function_key()), KeyModifiers::NONE)));
    for _ in 0..2 {
        let m = held.next();
        b.app.update(m);
    }
    let home = b.screen();
    assert!(home.contains("units in stock") && !home.contains("open here"), "{home}");
}
