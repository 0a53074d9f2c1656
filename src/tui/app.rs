//! The TUI's state and its update: messages (keys, scans, ticks) in, state changed through `Bank` operations
//! (the same ones the CLI calls), rendered from state. No rule and no SQL lives here.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;
use unicode_width::UnicodeWidthStr;

use super::access::{self as gate, Gate, GateEvent, SignEvent, Signing};
use super::keys::{self, Action, Binding};
use super::loading::{Failure, Loaded, Loader};
use super::printing::{Printed, Printer};
use super::screen::{Ctx, Level, Outbox, Reload, Screen, Tab};
use super::screens::{audit, batches, dispense, donations, donors, followup, home, inventory, recall, reports, trace};
use super::watch::Watch;
use super::{theme, words};
use crate::app::{AppError, Bank, IdentityAccess, Session, SignInError};
use scanners::wedge::WedgeOutput;

/// What reaches the app: from the terminal, the scanners, and the clock.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// A whole scan, from a scanner device or the terminal wedge rule.
    Scan(String),
    /// A scanner's state, for the status bar.
    Scanner(String),
    /// A print job finished (on its own thread), with the audit entries it appended (this bench's own changes).
    Printed(Printed, Vec<i64>),
    /// A read of the whole bank finished (on its own thread), for the session numbered here; true when it was
    /// asked for quietly (a refresh after a change to the bank).
    Loaded(u64, Box<Loaded>, bool),
    /// Time to ask whether the bank changed: the event loop sends it about once a second (tests send it when
    /// they mean it). See `tui::watch`.
    Poll,
    /// Where the bank stands (its audit chain's newest entry), for the watcher numbered here.
    Head(u64, Result<i64, Failure>),
    Tick,
    Resize,
}

pub struct App {
    pub bank: Bank,
    pub tab: Tab,
    pub db_label: String,
    pub scanner: String,
    out: Outbox,
    /// Where finished print jobs report (and, under `run`, keys and scans too).
    tx: Sender<Msg>,
    rx: Option<Receiver<Msg>>,
    printer: Printer,
    /// Print jobs started and not yet reported.
    printing: usize,
    loader: Loader,
    /// Loads started in this session and not yet answered, and how many of them were asked for quietly.
    loading: usize,
    quiet: usize,
    /// Asks where the bank stands, off the event loop, while someone is signed in.
    watch: Watch,
    /// An ask is under way, sent at this poll.
    polling: bool,
    asked_at: u64,
    /// Polls so far (the event loop sends one about every second): the app's clock for spacing reads and for
    /// noticing a watcher that does not answer, so that tests drive it by messages, not by waiting.
    polls: u64,
    /// Where the bank stood when the tab last read it (None: not known this session).
    seen: Option<i64>,
    /// The audit entries this bench appended itself (its own connection's writes, its print jobs') past `seen`:
    /// the entries are numbered one after another, so a change is another bench's exactly when more entries
    /// came than these.
    own: Vec<i64>,
    /// When (in polls) the tab last read again after a change; a quiet load under way for it, and where `seen`
    /// stood before it (put back when it fails).
    reloaded_at: Option<u64>,
    quiet_reading: bool,
    before_quiet: Option<i64>,
    /// The local day the tab was last read on: a view of the day (eligibility, expiry, visits due) changes with
    /// it, which is no bench's change.
    read_day: Option<chrono::NaiveDate>,
    /// Why the last ask failed, why the last read again failed, and whether the watcher's silence was said: each
    /// said once rather than every second.
    watch_failed: Option<String>,
    reload_failed: Option<String>,
    hung_said: bool,
    /// The key that asked the open question, delivered again after a yes.
    asked_by: Option<KeyEvent>,
    help: bool,
    /// The message log is open (lines scrolled away from its end).
    log: Option<u16>,
    help_scroll: u16,
    /// Asking whether to quit, or to sign out, over unsaved work.
    confirm_leave: Option<Leave>,
    pub quit: bool,
    /// The sign-in or lock screen, over everything: no key reaches the screens while it shows.
    gate: Option<Gate>,
    /// A signed act waiting for the signer's password.
    signing: Option<Signing>,
    /// The last key or scan, by the bank's clock: the idle lock counts from it.
    last_input: DateTime<Utc>,
    /// Identifier characters typed outside any form (a keyboard-wedge scan, or a person typing one).
    typed: String,
    /// A keyboard-wedge scanner typing into this terminal, recognised by its profile's prefix.
    pub wedge: Option<scanners::wedge::WedgeDetector>,
    screens: Screens,
}

/// Polls (about seconds) an ask may go unanswered before its watcher is taken for hung.
const HUNG: u64 = 10;
/// Polls between two reads again after a change: on the event loop, and off it (a read of the whole bank, on a
/// connection of its own, where idle benches sit), so that a busy bank does not keep every bench reading.
const SPACED: u64 = 2;
const SPACED_LOADS: u64 = 5;

/// What the quit question leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    Quit,
    SignOut,
}

/// The tabs' own state (forms, selections, what they show).
struct Screens {
    home: home::Home,
    donors: donors::Donors,
    donations: donations::Donations,
    batches: batches::Batches,
    inventory: inventory::Inventory,
    dispense: dispense::Dispense,
    trace: trace::Trace,
    recall: recall::Recall,
    audit: audit::Audit,
    followup: followup::Followup,
    reports: reports::Reports,
}

impl Screens {
    fn new(config: &crate::core::config::Config) -> Screens {
        Screens {
            home: home::Home::default(),
            donors: donors::Donors::default(),
            donations: donations::Donations::new(config),
            batches: batches::Batches::new(config),
            inventory: inventory::Inventory::default(),
            dispense: dispense::Dispense::new(config),
            trace: trace::Trace::default(),
            recall: recall::Recall::default(),
            audit: audit::Audit::default(),
            followup: followup::Followup::default(),
            reports: reports::Reports::default(),
        }
    }
}

macro_rules! with_screen {
    ($self:ident, $tab:expr, |$s:ident, $ctx:ident| $body:expr) => {{
        let now = $self.now();
        #[allow(unused_mut, unused_variables)]
        let mut $ctx = Ctx { bank: &mut $self.bank, now, out: &mut $self.out };
        let $s: &mut dyn Screen = match $tab {
            Tab::Home => &mut $self.screens.home,
            Tab::Donors => &mut $self.screens.donors,
            Tab::Donations => &mut $self.screens.donations,
            Tab::Batches => &mut $self.screens.batches,
            Tab::Inventory => &mut $self.screens.inventory,
            Tab::Dispense => &mut $self.screens.dispense,
            Tab::Trace => &mut $self.screens.trace,
            Tab::Recall => &mut $self.screens.recall,
            Tab::Audit => &mut $self.screens.audit,
            Tab::Followup => &mut $self.screens.followup,
            Tab::Reports => &mut $self.screens.reports,
        };
        $body
    }};
}

impl App {
    /// The app over `bank`: on the sign-in screen when the bank has users and nobody is signed in, else on Home.
    pub fn new(bank: Bank, db_label: String) -> App {
        let config = bank.config().clone();
        let (tx, rx) = mpsc::channel();
        let printer = Printer::new(&bank);
        let loader = Loader::new(&bank, 0);
        let signed_out = matches!(bank.session(), crate::app::Session::SignedOut);
        let watch = if signed_out { Watch::off() } else { Watch::start(&bank, 0, tx.clone()) };
        let last_input = bank.now();
        let mut app = App {
            bank,
            tx,
            rx: Some(rx),
            printer,
            printing: 0,
            loader,
            loading: 0,
            quiet: 0,
            watch,
            polling: false,
            asked_at: 0,
            polls: 0,
            seen: None,
            own: Vec::new(),
            reloaded_at: None,
            quiet_reading: false,
            before_quiet: None,
            read_day: None,
            watch_failed: None,
            reload_failed: None,
            hung_said: false,
            tab: Tab::Home,
            db_label,
            scanner: "no scanner".into(),
            out: Outbox::default(),
            asked_by: None,
            help: false,
            log: None,
            help_scroll: 0,
            confirm_leave: None,
            quit: false,
            gate: signed_out.then(|| Gate::sign_in(None)),
            signing: None,
            last_input,
            typed: String::new(),
            wedge: None,
            screens: Screens::new(&config),
        };
        if app.gate.is_none() {
            app.seed();
            app.switch(Tab::Home);
            app.start_jobs();
        }
        app
    }

    /// Types `user` into the sign-in screen's user name (the command line's `--as`).
    pub fn offer_user(&mut self, user: &str) {
        if let Some(g) = &mut self.gate {
            if g.locked.is_none() {
                *g = Gate::sign_in(Some(user));
            }
        }
    }

    /// Whether the app asks the bank whether other benches changed it (only while someone is signed in).
    pub fn watching(&self) -> bool {
        self.watch.watching()
    }

    /// Whether the sign-in or lock screen shows.
    pub fn signed_out(&self) -> bool {
        self.gate.is_some()
    }

    /// Locks the bench when the policy's idle time has passed since the last key or scan (by the bank's clock).
    fn lock_when_idle(&mut self) {
        let now = self.now();
        // A clock set back counts from now, never from a moment still to come.
        self.last_input = self.last_input.min(now);
        let minutes = self.bank.config().tui_idle_lock_minutes;
        if self.gate.is_some()
            || !self.bank.access_control()
            || now - self.last_input < chrono::Duration::minutes(minutes.into())
        {
            return;
        }
        let user = self.bank.actor().to_string();
        self.bank.sign_out();
        self.stop_watching();
        self.close_overlays();
        self.gate = Some(Gate::lock(&user, minutes));
    }

    /// Closes the boxes that wait for an answer (a signature waiting is dropped, its password wiped); a refusal or
    /// a warning stays, to be read after the sign-in.
    fn close_overlays(&mut self) {
        self.signing = None;
        self.out.question = None;
        self.out.signature = None;
        self.asked_by = None;
        self.help = false;
        self.log = None;
        self.confirm_leave = None;
        self.typed.clear();
    }

    /// Signs out to the sign-in screen: the screens start over, and the session's messages go with them.
    fn sign_out(&mut self, why: Option<String>) {
        self.bank.sign_out();
        self.stop_watching();
        self.close_overlays();
        self.start_over();
        let mut g = Gate::sign_in(None);
        g.message = why;
        self.gate = Some(g);
    }

    fn start_over(&mut self) {
        self.screens = Screens::new(&self.bank.config().clone());
        self.out = Outbox::default();
        self.tab = Tab::Home;
        // What the screens asked for before is no longer anyone's to see.
        self.loader.session += 1;
        self.loading = 0;
        self.quiet = 0;
    }

    /// Nobody is signed in: nothing asks the bank where it stands until the next sign-in.
    fn stop_watching(&mut self) {
        self.watch.stop();
        self.polling = false;
        self.seen = None;
        self.own.clear();
        self.quiet_reading = false;
    }

    /// Where the bank stands as the tab is read at a sign-in (on this bench's connection): the watcher's first
    /// answer then reads nothing again for nothing.
    fn seed(&mut self) {
        self.seen = self.bank.last_change().ok();
        self.bank.take_appended();
        self.own.clear();
    }

    /// Checks the sign-in screen's name and password with the bank; the password is wiped either way.
    fn sign_in(&mut self) {
        let Some(g) = self.gate.as_mut() else { return };
        let name = g.user.clone();
        let result = self.bank.sign_in(&name, g.password.as_str());
        g.password.clear();
        let identity = match result {
            Ok(identity) => identity,
            Err(e) => {
                g.message = Some(words::error(&e));
                return;
            }
        };
        let held = self.gate.take().and_then(|g| g.locked).map(|(user, _)| user);
        // Print jobs and loads run on their own connections, as the user signed in now.
        self.printer = Printer::new(&self.bank);
        self.loader = Loader::new(&self.bank, self.loader.session);
        self.watch = Watch::start(&self.bank, self.watch.session + 1, self.tx.clone());
        self.watch_failed = None;
        self.reload_failed = None;
        self.hung_said = false;
        self.seed();
        self.last_input = self.now();
        match held {
            Some(user) if user == name => {
                self.switch(self.tab);
                self.say(Level::Info, format!("unlocked: welcome back, {name}"));
            }
            Some(user) => {
                let lost = self.dirty();
                self.start_over();
                self.switch(Tab::Home);
                let m = if lost { format!("; {user}'s unsaved work was discarded") } else { String::new() };
                self.say(Level::Info, format!("signed in as {name}{m}"));
            }
            None => {
                self.switch(Tab::Home);
                self.say(Level::Info, format!("signed in as {name}"));
            }
        }
        // Signed in all the same: the status line says why identity stays closed to them this session.
        if let IdentityAccess::Locked(why) = identity {
            self.say(Level::Error, format!("signed in as {name}; identity stays locked: {why}"));
        }
    }

    fn gate_key(&mut self, k: KeyEvent) {
        let Some(g) = self.gate.as_mut() else { return };
        match g.key(k) {
            GateEvent::SignIn => self.sign_in(),
            GateEvent::Quit => self.confirm_leave = Some(Leave::Quit),
            GateEvent::None => {}
        }
    }

    /// The signature box: Enter signs with the password (the bank checks it) and delivers again the key that
    /// asked; a wrong password leaves the box open with the reason, nothing done.
    fn signing_key(&mut self, k: KeyEvent) {
        let Some(s) = self.signing.as_mut() else { return };
        match s.key(k) {
            SignEvent::None => {}
            SignEvent::Cancel => {
                self.signing = None;
                self.asked_by = None;
                // A signature given before the countersign was cancelled signs nothing later.
                self.bank.drop_signatures();
                self.say(Level::Info, "not signed: nothing was done".into());
            }
            SignEvent::Sign => {
                let result = self.bank.sign(s.password.as_str());
                s.password.clear();
                match result {
                    Ok(()) if s.request.countersign => s.ask_countersign(),
                    Ok(()) => self.signed(),
                    // Locked out by wrong signatures: nobody stays signed in as that user.
                    Err(e @ AppError::SignIn(SignInError::Locked { .. })) => self.sign_out(Some(words::error(&e))),
                    Err(e) => s.message = Some(words::error(&e)),
                }
            }
            SignEvent::Countersign => {
                let Some(c) = s.second.as_mut() else { return };
                let result = self.bank.countersign(&c.user, c.password.as_str());
                c.password.clear();
                match result {
                    Ok(()) => self.signed(),
                    Err(e) => s.message = Some(words::error(&e)),
                }
            }
        }
    }

    /// The act is signed (and countersigned where it takes four eyes): the key that asked is delivered again.
    fn signed(&mut self) {
        self.signing = None;
        if let Some(key) = self.asked_by.take() {
            self.out.confirmed = true;
            with_screen!(self, self.tab, |s, ctx| s.on_key(&mut ctx, key));
            self.out.confirmed = false;
        }
    }

    /// Whether the signed-in user is offered a key (in help): the bank says whether they may do its operation.
    fn offered(&self, b: &Binding) -> bool {
        match b.action {
            Action::SignOut => self.bank.access_control(),
            a => gate::operation(a).is_none_or(|op| self.bank.may(op)),
        }
    }

    /// A key whose operation the signed-in user may not do does nothing but say why; true when it was one.
    fn refused_by_role(&mut self, k: &KeyEvent) -> bool {
        let table = with_screen!(self, self.tab, |s, ctx| s.keys());
        let Some(op) = keys::action(table, k).and_then(gate::operation) else { return false };
        let Err(e) = self.bank.authorize(op) else { return false };
        let now = self.now();
        Ctx { bank: &mut self.bank, now, out: &mut self.out }.fail(e);
        true
    }

    /// The app's channel: what is sent on it is for [`App::update`] (the event loop takes the receiver).
    pub fn channel(&mut self) -> (Sender<Msg>, Receiver<Msg>) {
        let rx = self.rx.take().unwrap_or_else(|| {
            let (tx, rx) = mpsc::channel();
            self.tx = tx;
            rx
        });
        (self.tx.clone(), rx)
    }

    /// Waits for the print jobs, loads and asks under way to report, up to `timeout` (for tests and benchmarks
    /// driving the app without `run`).
    pub fn settle(&mut self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.printing + self.loading + usize::from(self.polling) > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.as_ref().map(|rx| rx.recv_timeout(left)) {
                Some(Ok(msg)) => self.update(msg),
                _ => return,
            }
        }
    }

    /// Now, by the bank's clock (the wall clock at the bench, a frozen one in tests).
    pub fn now(&self) -> DateTime<Utc> {
        self.bank.now()
    }

    /// Starts the print jobs and loads the screens asked for, each on its own thread.
    fn start_jobs(&mut self) {
        for job in std::mem::take(&mut self.out.prints) {
            self.printing += 1;
            self.printer.start(job, self.tx.clone());
        }
        for (load, quiet) in std::mem::take(&mut self.out.loads) {
            self.loading += 1;
            self.quiet += usize::from(quiet);
            self.loader.start(load, quiet, self.tx.clone());
        }
    }

    /// A load's answer, to the screen that asked for it.
    fn loaded(&mut self, answer: Loaded) {
        let now = self.now();
        let mut ctx = Ctx { bank: &mut self.bank, now, out: &mut self.out };
        match answer {
            Loaded::Counts(r) => self.screens.home.loaded(&mut ctx, r),
            Loaded::Reports(r) => self.screens.reports.loaded(&mut ctx, r),
            Loaded::FollowupsDue(r) => self.screens.followup.loaded(&mut ctx, r, self.tab == Tab::Followup),
        }
    }

    /// A poll: asks where the bank stands (off the event loop), unless an ask is under way or nobody is signed
    /// in. An ask unanswered for [`HUNG`] polls (a half-open connection, a thread gone) is said once, and a new
    /// watcher takes over; the old one's late answer is dropped by its number.
    fn poll(&mut self) {
        self.polls += 1;
        if self.gate.is_some() {
            return;
        }
        if self.polling {
            if self.polls - self.asked_at < HUNG {
                return;
            }
            if !std::mem::replace(&mut self.hung_said, true) {
                self.error("cannot see other benches' changes: the bank does not answer".into());
            }
            self.watch = Watch::start(&self.bank, self.watch.session + 1, self.tx.clone());
            self.polling = false;
        }
        if self.watch.ask() {
            self.polling = true;
            self.asked_at = self.polls;
        }
    }

    /// Where the bank stands: when it moved since the tab read it, the tab reads again, at most once every
    /// [`SPACED`] polls ([`SPACED_LOADS`] for a read of the whole bank off the event loop); a read asked sooner
    /// waits for a later answer. When more entries came than this bench appended, a quiet note says another
    /// bench's change was read, and a message names the open record when that changed.
    fn head(&mut self, answer: Result<i64, Failure>) {
        let seq = match answer {
            Ok(seq) => seq,
            // A session that may read nothing has nothing to refresh: it stops asking.
            Err(f) if f.refused => return self.watch.stop(),
            Err(f) => {
                if self.watch_failed.as_ref() != Some(&f.message) {
                    self.error(format!("cannot see other benches' changes: {}", f.message));
                    self.watch_failed = Some(f.message);
                }
                return;
            }
        };
        self.watch_failed = None;
        self.hung_said = false;
        // A question or a signature box asks about what the tab shows now: it is read again once answered.
        let asking = self.out.question.is_some() || self.signing.is_some() || self.confirm_leave.is_some();
        // A print job's entries are told as this bench's when it reports: until then the read waits (a job takes
        // seconds at most), since the job's entries could not be told from another bench's.
        if self.seen == Some(seq) || self.gate.is_some() || asking || self.printing > 0 {
            return;
        }
        let gap = if self.tab.loads() { SPACED_LOADS } else { SPACED };
        if self.reloaded_at.is_some_and(|at| self.polls < at + gap) {
            return;
        }
        // A tab the user may not read has nothing to read again (and no refusal to show every second).
        if !self.bank.may(self.tab.reads()) {
            return self.saw(seq);
        }
        // The first answer of a session without a known start reads again without a word.
        let other = self.seen.is_some_and(|seen| {
            let own = self.own.iter().filter(|s| **s > seen && **s <= seq).count();
            seq - seen > i64::try_from(own).unwrap_or(i64::MAX)
        });
        let before = self.seen;
        let now = self.now();
        // A record read on another day may differ by the day alone: it is read again, not marked.
        let today = crate::time::local_day(now);
        let mark = other && self.read_day == Some(today);
        self.out.reloading = true;
        let reloaded = with_screen!(self, self.tab, |s, ctx| s.reload(&mut ctx, mark));
        self.out.reloading = false;
        if reloaded == Reload::Busy {
            return;
        }
        if let Some(m) = self.out.reload_failed.take() {
            // Not seen: the next answer tries again.
            return self.reload_failed(m);
        }
        self.reloaded_at = Some(self.polls);
        self.read_day = Some(today);
        self.saw(seq);
        if self.tab.loads() && reloaded != Reload::Nothing {
            self.quiet_reading = true;
            self.before_quiet = before;
        } else {
            self.reload_failed = None;
        }
        let mut ctx = Ctx { bank: &mut self.bank, now, out: &mut self.out };
        match reloaded {
            Reload::Changed(what) if mark => ctx.info(format!("updated: another bench changed {what}, open here")),
            Reload::Left(what) if mark => {
                ctx.info(format!("updated: another bench changed {what}, which left this list"));
            }
            Reload::Read | Reload::Changed(_) | Reload::Left(_) if other => {
                ctx.note("updated: another bench changed the bank");
            }
            _ => {}
        }
    }

    /// The tab shows the bank as of `seq`: this bench's entries up to it are accounted for.
    fn saw(&mut self, seq: i64) {
        self.seen = Some(seq);
        self.own.retain(|s| *s > seq);
    }

    /// A read again after a change failed: said once (not in a box), and the change is read again at a later
    /// answer.
    fn reload_failed(&mut self, m: String) {
        if self.reload_failed.as_ref() != Some(&m) {
            self.error(format!("cannot read other benches' changes: {m}"));
            self.reload_failed = Some(m);
        }
    }

    pub fn switch(&mut self, tab: Tab) {
        self.tab = tab;
        self.read_day = Some(crate::time::local_day(self.now()));
        with_screen!(self, tab, |s, ctx| s.refresh(&mut ctx));
    }

    fn dirty(&mut self) -> bool {
        Tab::ALL.into_iter().any(|t| with_screen!(self, t, |s, ctx| s.dirty()))
    }

    fn say(&mut self, level: Level, m: String) {
        let now = self.now();
        let mut ctx = Ctx { bank: &mut self.bank, now, out: &mut self.out };
        match level {
            Level::Info => ctx.info(m),
            Level::Error => ctx.error(m),
        }
    }

    fn error(&mut self, m: String) {
        self.say(Level::Error, m);
    }

    pub fn update(&mut self, msg: Msg) {
        if matches!(msg, Msg::Key(_) | Msg::Scan(_) | Msg::Tick) {
            self.lock_when_idle();
        }
        if matches!(msg, Msg::Key(_) | Msg::Scan(_)) {
            self.last_input = self.now();
        }
        if matches!(msg, Msg::Key(_) | Msg::Scan(_) | Msg::Poll) {
            self.out.fresh = false;
        }
        match msg {
            Msg::Key(k) => self.wedge_key(k),
            Msg::Scan(data) => self.scan(&data),
            Msg::Scanner(state) => self.scanner = state,
            Msg::Printed(report, appended) => {
                self.printing = self.printing.saturating_sub(1);
                self.own.extend(appended);
                match report {
                    Printed::Done(m) => self.say(Level::Info, m),
                    Printed::Failed(f) => {
                        let now = self.now();
                        Ctx { bank: &mut self.bank, now, out: &mut self.out }.failed(f);
                    }
                }
            }
            Msg::Loaded(session, answer, quiet) => {
                if session == self.loader.session {
                    self.loading = self.loading.saturating_sub(1);
                    if quiet {
                        self.quiet = self.quiet.saturating_sub(1);
                    }
                    // Behind the idle lock nothing is shown; the unlock reloads the tab.
                    if self.gate.is_none() {
                        self.out.reloading = quiet;
                        self.loaded(*answer);
                        self.out.reloading = false;
                        if quiet {
                            let reading = std::mem::take(&mut self.quiet_reading);
                            match self.out.reload_failed.take() {
                                Some(m) => {
                                    // Not read: the next answer asks again.
                                    if reading {
                                        self.seen = self.before_quiet;
                                    }
                                    self.reload_failed(m);
                                }
                                None => self.reload_failed = None,
                            }
                        }
                    } else {
                        match *answer {
                            Loaded::Counts(_) => self.screens.home.load_dropped(),
                            Loaded::Reports(_) => self.screens.reports.load_dropped(),
                            Loaded::FollowupsDue(_) => self.screens.followup.load_dropped(),
                        }
                    }
                }
            }
            Msg::Poll => self.poll(),
            Msg::Head(session, answer) => {
                if session == self.watch.session {
                    self.polling = false;
                    self.head(answer);
                }
            }
            Msg::Tick | Msg::Resize => {
                let rejected = self.wedge.as_mut().and_then(|w| w.poll(std::time::Instant::now()));
                if let Some(WedgeOutput::Rejected { reason, .. }) = rejected {
                    self.error(format!("scan rejected: {reason}"));
                }
            }
        }
        if let Some(id) = self.out.goto.take() {
            self.tab = Tab::Trace;
            let now = self.now();
            let mut ctx = Ctx { bank: &mut self.bank, now, out: &mut self.out };
            self.screens.trace.open(&mut ctx, id);
        }
        if let Some(r) = self.out.recall.take() {
            self.tab = Tab::Recall;
            let now = self.now();
            let mut ctx = Ctx { bank: &mut self.bank, now, out: &mut self.out };
            self.screens.recall.prepare(&mut ctx, &r);
        }
        self.start_jobs();
        // This bench's own changes, told from other benches' by their entries (see `head`).
        let appended = self.bank.take_appended();
        self.own.extend(appended);
    }

    fn scan(&mut self, data: &str) {
        let data = data.trim();
        if data.is_empty() {
            return;
        }
        // Not kept for after the sign-in: it could act on a screen nobody is looking at, for another user.
        if let Some(g) = &mut self.gate {
            g.message = Some("a scan is not used while signed out: sign in, then scan it again".into());
            return;
        }
        if self.signing.is_some() {
            return self.error("a scan is not used while a signature is asked for: sign or cancel first".into());
        }
        let taken = with_screen!(self, self.tab, |s, ctx| s.on_scan(&mut ctx, data));
        if !taken {
            // No field waits for it: open the record's trace (validated by its check character).
            match self.bank.lookup(data) {
                Ok(id) => self.out.goto = Some(id),
                Err(e) => self.error(words::error(&e)),
            }
        }
    }

    /// Keys pass through the terminal wedge detector when one is configured: what its prefix marks becomes a
    /// scan, everything else is a key as typed.
    fn wedge_key(&mut self, k: KeyEvent) {
        if k.kind != ratatui::crossterm::event::KeyEventKind::Press {
            return;
        }
        let c = match k.code {
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => c,
            KeyCode::Enter => '\r',
            KeyCode::Tab => '\t',
            _ => return self.key(k),
        };
        let Some(wedge) = self.wedge.as_mut() else { return self.key(k) };
        for out in wedge.feed(c, std::time::Instant::now()) {
            match out {
                WedgeOutput::Key('\t') => self.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE)),
                WedgeOutput::Key(c) => self.key(KeyEvent::new(KeyCode::Char(c), k.modifiers)),
                WedgeOutput::Enter { .. } => self.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
                WedgeOutput::Scan(data) => self.scan(&data),
                WedgeOutput::Rejected { reason, .. } => self.error(format!("scan rejected: {reason}")),
            }
        }
    }

    /// The boxes over the screen take keys first, the topmost first; true when one took the key.
    fn overlay_key(&mut self, k: KeyEvent) -> bool {
        if self.out.warning.is_some() || self.out.popup.is_some() {
            if matches!(k.code, KeyCode::Esc | KeyCode::Enter) && self.out.warning.take().is_none() {
                self.out.popup = None;
            }
            return true;
        }
        if let Some(scroll) = self.log.as_mut() {
            match keys::action(keys::NAV, &k) {
                Some(Action::Up) => *scroll = scroll.saturating_add(1),
                Some(Action::Down) => *scroll = scroll.saturating_sub(1),
                Some(Action::PageUp) => *scroll = scroll.saturating_add(10),
                Some(Action::PageDown) => *scroll = scroll.saturating_sub(10),
                _ => self.log = None,
            }
            return true;
        }
        if self.help {
            match keys::action(keys::NAV, &k) {
                Some(Action::Down) => self.help_scroll = self.help_scroll.saturating_add(1),
                Some(Action::Up) => self.help_scroll = self.help_scroll.saturating_sub(1),
                _ => self.help = false,
            }
            return true;
        }
        if self.out.question.take().is_some() {
            let asked_by = self.asked_by.take();
            if let (Some(Action::Yes), Some(key)) = (keys::action(keys::CONFIRM, &k), asked_by) {
                self.out.confirmed = true;
                with_screen!(self, self.tab, |s, ctx| s.on_key(&mut ctx, key));
                self.out.confirmed = false;
            }
            return true;
        }
        false
    }

    fn key(&mut self, k: KeyEvent) {
        if let Some(leave) = self.confirm_leave.take() {
            if keys::action(keys::CONFIRM, &k) == Some(Action::Yes) {
                match leave {
                    Leave::Quit => self.quit = true,
                    Leave::SignOut => self.sign_out(None),
                }
            }
            return;
        }
        if self.gate.is_some() {
            return self.gate_key(k);
        }
        if self.signing.is_some() {
            return self.signing_key(k);
        }
        if self.overlay_key(k) {
            return;
        }
        let global = keys::action(keys::GLOBAL, &k);
        match global {
            Some(Action::Interrupt) => return self.confirm_leave = Some(Leave::Quit),
            Some(Action::SignOut) if self.bank.access_control() => {
                return if self.dirty() { self.confirm_leave = Some(Leave::SignOut) } else { self.sign_out(None) };
            }
            Some(Action::Help) if k.code != KeyCode::Char('?') => return self.open_help(),
            Some(Action::Log) => return self.log = Some(0),
            // Function keys switch tabs from anywhere, forms included (what was typed stays in its form).
            Some(Action::Tab) => {
                if let Some(tab) = match k.code {
                    KeyCode::F(n) => Tab::from_function_key(n),
                    _ => None,
                } {
                    self.switch(tab);
                }
                return;
            }
            _ => {}
        }
        let (editing, text) = with_screen!(self, self.tab, |s, ctx| (s.editing(), s.typing_text()));
        // Outside a form every command key is checked; inside one only Ctrl keys are commands, the rest typed.
        let command = !editing || k.modifiers.contains(KeyModifiers::CONTROL);
        if command && self.refused_by_role(&k) {
            return;
        }
        if editing {
            // `?` and `q` are typed only into free text; in an identifier, a number or a choice they are commands.
            if text || !matches!(global, Some(Action::Help | Action::Quit)) {
                self.screen_key(k);
                return;
            }
        } else if self.typed_identifier(k) {
            return;
        }
        match global {
            Some(Action::Quit) => {
                if self.dirty() {
                    self.confirm_leave = Some(Leave::Quit);
                } else {
                    self.quit = true;
                }
            }
            Some(Action::Help) => self.open_help(),
            Some(Action::PrevTab) => self.switch(self.tab.step(-1)),
            Some(Action::NextTab) => self.switch(self.tab.step(1)),
            _ => self.screen_key(k),
        }
    }

    fn screen_key(&mut self, k: KeyEvent) {
        with_screen!(self, self.tab, |s, ctx| s.on_key(&mut ctx, k));
        if self.out.question.is_some() {
            self.asked_by = Some(k);
        }
        if let Some(request) = self.out.signature.take() {
            self.signing = Some(Signing::new(request));
            self.asked_by = Some(k);
        }
    }

    /// Outside a form, identifier characters collect into a would-be identifier (the scan rule):
    /// that is why no command key is an upper-case letter or a digit. True when the key was part of one.
    fn typed_identifier(&mut self, k: KeyEvent) -> bool {
        match k.code {
            KeyCode::Char(c)
                if (c.is_ascii_uppercase() || c.is_ascii_digit() || c == '=')
                    && !k.modifiers.contains(KeyModifiers::CONTROL) =>
            {
                self.typed.push(c);
            }
            KeyCode::Backspace if !self.typed.is_empty() => {
                self.typed.pop();
            }
            KeyCode::Enter if !self.typed.is_empty() => {
                let data = std::mem::take(&mut self.typed);
                self.scan(&data);
            }
            KeyCode::Esc if !self.typed.is_empty() => self.typed.clear(),
            _ => return false,
        }
        true
    }

    fn open_help(&mut self) {
        self.help = true;
        self.help_scroll = 0;
    }

    pub fn render(&mut self, f: &mut Frame) {
        if let Some(g) = &self.gate {
            g.render(f, &self.db_label);
            self.render_leave(f);
            return;
        }
        let [tabs, body, status] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(2)]).areas(f.area());
        // Names only (their function keys are in the help). All eleven take 85 columns: on a narrower terminal
        // the bar starts late enough for the selected tab to show, and `‹` says that tabs lie to the left.
        let selected = self.tab.index();
        let room = |from: usize| -> usize {
            let names: usize = Tab::ALL[from..=selected].iter().map(|t| t.title().width() + 1).sum();
            names + usize::from(from > 0)
        };
        let first = (0..selected).find(|&i| room(i) <= usize::from(tabs.width)).unwrap_or(selected);
        let titles: Vec<Line> = Tab::ALL[first..]
            .iter()
            .enumerate()
            .map(|(i, t)| Line::from(if i == 0 && first > 0 { format!("‹{}", t.title()) } else { t.title().into() }))
            .collect();
        f.render_widget(
            Tabs::new(titles).select(selected - first).highlight_style(theme::selected()).padding("", "").divider("│"),
            tabs,
        );
        with_screen!(self, self.tab, |s, ctx| s.render(f, body));

        let user = match self.bank.session() {
            Session::User { name, roles } => {
                format!("{} · {}", words::clean(name), roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))
            }
            _ => format!("{} · access control off (set-up mode)", words::clean(self.bank.actor())),
        };
        let line1 = Line::from(vec![
            Span::styled(format!(" {user} "), theme::selected()),
            Span::raw(format!(" {}  ", words::clean(&self.db_label))),
            Span::styled(format!("⌁ {}", self.scanner), theme::dim()),
            Span::raw(if self.typed.is_empty() { String::new() } else { format!("   scan: {}▏", self.typed) }),
            Span::styled(if self.printing > 0 { "   printing…" } else { "" }, theme::warn()),
            Span::styled(if self.loading > self.quiet { "   loading…" } else { "" }, theme::warn()),
        ]);
        let line2 = match &self.out.status {
            Some((level, m)) => {
                let (mark, style) = if *level == Level::Error { ("✗", theme::error()) } else { ("✓", theme::ok()) };
                // A message longer than the line says where the rest is.
                let room = usize::from(status.width).saturating_sub(3);
                let text = if m.chars().count() > room {
                    let keep = room.saturating_sub(keys::LOG_HINT.chars().count() + 2);
                    format!("{}… {}", m.chars().take(keep).collect::<String>(), keys::LOG_HINT)
                } else {
                    m.clone()
                };
                Line::from(Span::styled(format!(" {mark} {text}"), style))
            }
            None if self.bank.access_control() => {
                Line::from(Span::styled(" F1 or ? keys · Ctrl-L messages · Ctrl-O sign out · q quit", theme::dim()))
            }
            None => Line::from(Span::styled(" F1 or ? keys · Ctrl-L messages · q quit", theme::dim())),
        };
        f.render_widget(Paragraph::new(vec![line1, line2]), status);

        if self.help {
            self.render_help(f);
        }
        if let Some(scroll) = self.log {
            let mut lines: Vec<Line> = self
                .out
                .log
                .iter()
                .map(|(at, level, m)| {
                    let style = if *level == Level::Error { theme::error() } else { Style::new() };
                    Line::from(Span::styled(format!("{} {m}", crate::time::show(*at)), style))
                })
                .collect();
            if lines.is_empty() {
                lines.push(Line::from("No messages yet."));
            }
            let area = f.area();
            let inner = area.height.saturating_sub(2);
            let total = lines.len() as u16;
            let top = total.saturating_sub(inner).saturating_sub(scroll);
            let title = format!("Messages ({total}) · ↑↓ PgUp PgDn scroll · any other key closes");
            f.render_widget(Clear, area);
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((top, 0))
                    .block(Block::default().borders(Borders::ALL).title(title)),
                area,
            );
        }
        self.render_leave(f);
        if let Some(q) = &self.out.question {
            let lines = vec![
                Line::from(Span::styled(words::clean(q), theme::warn())),
                Line::from(""),
                Line::from("y: yes · any other key: no"),
            ];
            popup(f, lines, "Confirm", 0);
        }
        if let Some(s) = &self.signing {
            popup(f, s.lines(self.bank.actor()), "Signature", 0);
        }
        if let Some(m) = &self.out.popup {
            let lines = vec![
                Line::from(Span::styled(m.clone(), theme::error())),
                Line::from(""),
                Line::from(Span::styled("Esc or Enter to dismiss", theme::dim())),
            ];
            popup(f, lines, "Refused", 0);
        }
        if let Some(w) = &self.out.warning {
            let area = f.area();
            f.render_widget(Clear, area);
            let mut text = vec![
                Line::from(Span::styled("STOP — DO NOT USE THIS UNIT", theme::error().add_modifier(Modifier::BOLD))),
                Line::from(""),
            ];
            text.extend(w.lines().map(|l| Line::from(l.to_string())));
            text.extend([Line::from(""), Line::from(Span::styled("Esc or Enter to dismiss", theme::dim()))]);
            f.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: true })
                    .block(Block::default().borders(Borders::ALL).border_style(theme::error()).title("Warning")),
                area,
            );
        }
    }

    fn render_leave(&self, f: &mut Frame) {
        match self.confirm_leave {
            Some(Leave::Quit) => popup(f, vec![Line::from("Unsaved work in a form. Quit anyway? (y/n)")], "Quit", 0),
            Some(Leave::SignOut) => popup(
                f,
                vec![Line::from("Unsaved work in a form. Sign out anyway (the work is discarded)? (y/n)")],
                "Sign out",
                0,
            ),
            None => {}
        }
    }

    /// The keys of `table` the signed-in user is offered.
    fn offered_keys(&self, table: &[Binding]) -> Vec<Binding> {
        table.iter().filter(|b| self.offered(b)).copied().collect()
    }

    fn render_help(&mut self, f: &mut Frame) {
        let (table, list, forms, hint) =
            with_screen!(self, self.tab, |s, ctx| (s.keys(), s.list(), s.forms(), s.scan_hint()));
        let mut groups: Vec<(String, Vec<(String, &str)>)> =
            vec![(self.tab.title().to_string(), keys::help_lines(&self.offered_keys(table)))];
        if list {
            groups.push(("In a list".into(), keys::help_lines(keys::NAV)));
        }
        if forms {
            groups.push(("In a form".into(), keys::help_lines(keys::FORM)));
        }
        let mut everywhere = keys::help_lines(&self.offered_keys(keys::GLOBAL));
        everywhere.push((keys::TYPED_IDENTIFIER.0.to_string(), keys::TYPED_IDENTIFIER.1));
        groups.push(("Everywhere".into(), everywhere));
        let tabs: Vec<String> = Tab::ALL.iter().map(|t| format!("F{} {}", t.function_key(), t.title())).collect();
        let width = groups.iter().flat_map(|(_, g)| g.iter().map(|(k, _)| k.chars().count())).max().unwrap_or(0);
        let mut lines = Vec::new();
        for (title, group) in groups {
            lines.push(Line::from(Span::styled(title, theme::title())));
            lines.extend(group.into_iter().map(|(k, d)| Line::from(format!("{k:>width$}  {d}"))));
        }
        lines.push(Line::from(format!("{} · {}", tabs[1..5].join(" · "), tabs[9])));
        lines.push(Line::from(format!("{} · {} · {}", tabs[5..9].join(" · "), tabs[0], tabs[10])));
        if let Some(hint) = hint {
            lines.push(Line::from(format!("Scan: {hint}")));
        }
        lines.push(Line::from(Span::styled("any key closes", theme::dim())));
        let title = if lines.len() + 2 > f.area().height as usize {
            "Help · j/k scroll · any other key closes"
        } else {
            "Help"
        };
        popup(f, lines, title, self.help_scroll);
    }
}

/// A centred box over the whole screen, its lines wrapped and scrolled by `scroll` (help taller than a small
/// terminal).
fn popup(f: &mut Frame, lines: Vec<Line>, title: &str, scroll: u16) {
    let area = f.area();
    let w = lines.iter().map(|l| l.width() as u16 + 4).max().unwrap_or(20).clamp(20, area.width);
    let inner = usize::from(w.saturating_sub(4)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let h = (rows as u16 + 2).min(area.height);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(Block::default().borders(Borders::ALL).title(title.to_string()).style(Style::new())),
        r,
    );
}
