//! The bench TUI (ratatui + crossterm): one event loop over terminal keys, scanner events and a tick; the app
//! state is updated by messages and rendered from state. Database work goes through the same `Bank`
//! operations as the CLI, and lists are paged from `SQLite`.

mod access;
pub mod app;
mod form;
pub mod keys;
mod loading;
mod picker;
mod printing;
pub mod screen;
mod screens;
mod theme;
mod watch;
mod words;

use std::sync::Arc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};

pub use app::{App, Msg};

use crate::app::Bank;

/// How the TUI is started: what the status bar names, and an optional scanner to read.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    pub db_label: String,
    /// The user name the sign-in screen starts with (`--as`).
    pub user: Option<String>,
    /// A scanner profile (name or .toml path) and device, read on its own thread.
    pub scanner: Option<(String, Option<String>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Scanner(#[from] scanners::Error),
}

/// The terminal wedge's rules from a profile: its framing prefix marks a scan, its timeout bounds it.
pub fn wedge_rules(p: &scanners::Profile) -> scanners::wedge::WedgeRules {
    scanners::wedge::WedgeRules {
        prefix: p.framing.prefix.clone(),
        suffix: if p.framing.suffix.contains(&scanners::framing::Suffix::Tab) { '\t' } else { '\r' },
        timeout: Duration::from_millis(p.framing.timeout_ms),
        ..scanners::wedge::WedgeRules::default()
    }
}

const TICK: Duration = Duration::from_millis(250);
/// How often the bank is asked whether another bench changed it (see `watch`): a change shows within about this.
const POLL: Duration = Duration::from_secs(1);

/// Runs the TUI until the user quits. The terminal is restored on every exit path, panics included.
pub fn run(bank: Bank, options: TuiOptions) -> Result<(), TuiError> {
    let mut app = App::new(bank, options.db_label.clone());
    if let Some(user) = &options.user {
        app.offer_user(user);
    }
    // Keys, scans and finished print jobs all arrive on the app's channel.
    let (tx, rx) = app.channel();
    // Scanner events arrive on the same channel as keys.
    let _scanner = match &options.scanner {
        Some((profile, _)) if scanners::Profile::load(profile)?.transport == scanners::Transport::Terminal => {
            let p = scanners::Profile::load(profile)?;
            app.wedge = Some(scanners::wedge::WedgeDetector::new(wedge_rules(&p)));
            app.scanner = format!("{profile} (keyboard wedge in this terminal)");
            None
        }
        Some((profile, device)) => {
            let p = scanners::Profile::load(profile)?;
            let tx = std::sync::Mutex::new(tx.clone());
            let sink: scanners::Sink = Arc::new(move |e| {
                let msg = match e {
                    scanners::ScannerEvent::Scan(s) => Msg::Scan(s.data),
                    scanners::ScannerEvent::Rejected(r) => {
                        Msg::Scanner(format!("{}: rejected read: {}", r.source, r.reason))
                    }
                    scanners::ScannerEvent::State(s) => Msg::Scanner(match s.state {
                        scanners::State::Connected => format!("{} connected", s.source),
                        scanners::State::Disconnected { reason } => format!("{} disconnected: {reason}", s.source),
                    }),
                };
                let _ = tx.lock().map(|t| t.send(msg));
            });
            app.scanner = format!("{profile} starting");
            Some(scanners::spawn(&p, device.as_deref(), sink)?)
        }
        None => None,
    };
    let mut terminal = ratatui::try_init()?;
    let keys = tx.clone();
    std::thread::spawn(move || loop {
        let msg = match event::read() {
            Ok(Event::Key(k)) => Msg::Key(k),
            Ok(Event::Resize(..)) => Msg::Resize,
            Ok(_) => continue,
            Err(_) => break,
        };
        if keys.send(msg).is_err() {
            break;
        }
    });
    let result = (|| -> Result<(), TuiError> {
        let mut polled = std::time::Instant::now();
        loop {
            terminal.draw(|f| app.render(f))?;
            let msg = rx.recv_timeout(TICK).unwrap_or(Msg::Tick);
            app.update(msg);
            // Drain what queued meanwhile (a scanner burst) before drawing again.
            while let Ok(m) = rx.try_recv() {
                app.update(m);
            }
            // Checked at every turn, ticks and keys alike, so that typing does not hold it off.
            if polled.elapsed() >= POLL {
                polled = std::time::Instant::now();
                app.update(Msg::Poll);
            }
            if app.quit {
                return Ok(());
            }
        }
    })();
    ratatui::restore();
    result
}
