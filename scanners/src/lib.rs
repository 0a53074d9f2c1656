//! Bench barcode scanners as one stream of scan events.
//!
//! Every kind of scanner a stool bank uses — serial (RS-232 or USB-CDC), USB HID POS, USB keyboard-wedge read
//! from its evdev device, or a wedge whose keystrokes arrive in the terminal — ends up as the same
//! [`ScannerEvent`]: a [`Scan`], a [`Rejected`] read with its reason (never delivered as a scan), or a change
//! of a source's [`SourceState`]. Devices are read on their own threads and delivered to a sink the caller
//! gives (the TUI merges them with key presses), so nothing blocks the UI thread. This crate knows nothing of
//! donors or units.

pub mod aim;
pub mod cli;
pub mod discover;
#[cfg(target_os = "linux")]
pub mod evdev_wedge;
pub mod framing;
pub mod hidpos;
pub mod keymap;
pub mod profile;
pub mod serial;
pub mod wedge;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

pub use profile::{Profile, Transport};

/// Every profile available by name (built-ins and the model files), for the TUI's settings.
pub fn profile_names() -> Vec<String> {
    profile::names()
}

/// One successful read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scan {
    /// The decoded data, with prefix, suffix and AIM symbology identifier removed.
    pub data: String,
    /// The symbology, when the scanner sent an AIM identifier (e.g. `code128`, `datamatrix`).
    pub symbology: Option<String>,
    /// Which scanner: the device path, or `terminal` for a wedge typing into the terminal.
    pub source: String,
    #[serde(skip)]
    pub at: SystemTime,
}

/// A read that is not a scan, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    pub reason: String,
    /// The bytes received, escaped for display.
    pub raw: String,
    pub source: String,
    #[serde(skip)]
    pub at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    Connected,
    /// The device went away (unplugged, port closed) or cannot be opened yet; the reader keeps reopening it,
    /// waiting 250 ms doubling to 4 s between attempts, until it returns ([`State::Connected`]) or the handle
    /// is stopped. Reported once per distinct reason, so a scanner left unplugged does not flood the UI.
    Disconnected {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceState {
    pub source: String,
    #[serde(flatten)]
    pub state: State,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ScannerEvent {
    Scan(Scan),
    Rejected(Rejected),
    State(SourceState),
}

/// Where events go: the caller maps them into its own message type.
pub type Sink = Arc<dyn Fn(ScannerEvent) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("scanner profile `{0}` not found (built-in: {1})")]
    UnknownProfile(String, String),
    #[error("scanner profile {path}: {message}")]
    BadProfile { path: String, message: String },
    #[error("profile `{0}` needs a device path (--device)")]
    NoDevice(String),
    #[error("the `{0}` transport reads keystrokes in the terminal; use it through the TUI")]
    TerminalOnly(String),
    #[error("{0} is not available on this platform")]
    Unsupported(&'static str),
    #[error("{device}: {source}")]
    Io { device: String, source: std::io::Error },
}

/// A running scanner: its threads stop when this is dropped (or on [`ScannerHandle::stop`]).
pub struct ScannerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub source: String,
}

impl ScannerHandle {
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ScannerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts reading a scanner described by `profile` on `device` (or the profile's default device); every event
/// goes to `sink` from the scanner's own thread. The device need not be present yet: it is (re)opened as it
/// appears, with state events along the way.
pub fn spawn(profile: &Profile, device: Option<&str>, sink: Sink) -> Result<ScannerHandle, Error> {
    let device = device.map(str::to_string).or_else(|| profile.device.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let p = profile.clone();
    let (source, thread) = match profile.transport {
        Transport::Serial => {
            let dev = device.ok_or_else(|| Error::NoDevice(profile.name.clone()))?;
            let src = dev.clone();
            (src, std::thread::spawn(move || serial::run(&p, &dev, &sink, &flag)))
        }
        Transport::HidPos => {
            #[cfg(target_os = "linux")]
            {
                let dev = device.ok_or_else(|| Error::NoDevice(profile.name.clone()))?;
                let src = dev.clone();
                (src, std::thread::spawn(move || hidpos::run(&p, &dev, &sink, &flag)))
            }
            #[cfg(not(target_os = "linux"))]
            return Err(Error::Unsupported("hidraw"));
        }
        Transport::Evdev => {
            #[cfg(target_os = "linux")]
            {
                let dev = device.ok_or_else(|| Error::NoDevice(profile.name.clone()))?;
                let src = dev.clone();
                (src, std::thread::spawn(move || evdev_wedge::run(&p, &dev, &sink, &flag)))
            }
            #[cfg(not(target_os = "linux"))]
            return Err(Error::Unsupported("evdev"));
        }
        Transport::Terminal => return Err(Error::TerminalOnly(profile.name.clone())),
    };
    Ok(ScannerHandle { stop, thread: Some(thread), source })
}

/// Escapes bytes for display in a rejection (`\r`, `\x07`, …).
pub fn escape(bytes: &[u8]) -> String {
    bytes.iter().flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect()
}

/// The first wait before reopening a device that went away; it doubles on every failed attempt up to
/// [`REOPEN_MAX`], so a scanner plugged back in is found quickly without a missing one spinning the CPU.
const REOPEN_FIRST: Duration = Duration::from_millis(250);
const REOPEN_MAX: Duration = Duration::from_secs(4);
/// How often a waiting supervisor looks at the stop flag, so [`ScannerHandle::stop`] returns promptly.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// Sleeps `total` in slices, returning early (false) when `stop` is set.
fn wait_unless_stopped(total: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + total;
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep(STOP_CHECK.min(end - now));
    }
}

/// Keeps a device open until `stop`: opens it, reads it until it is lost (`read` returns the reason, or None
/// when stopped), and reopens it with backoff when it comes back — reporting each change of state once, so a
/// scanner left unplugged does not flood the UI.
pub(crate) fn supervise<D>(
    device: &str,
    sink: &Sink,
    stop: &AtomicBool,
    mut open: impl FnMut() -> Result<D, String>,
    mut read: impl FnMut(&mut D) -> Option<String>,
) {
    let mut last_problem: Option<String> = None;
    let mut backoff = REOPEN_FIRST;
    while !stop.load(Ordering::SeqCst) {
        match open() {
            Ok(mut d) => {
                serial::emit_state(sink, device, State::Connected);
                backoff = REOPEN_FIRST;
                let Some(reason) = read(&mut d) else { return };
                drop(d);
                serial::emit_state(sink, device, State::Disconnected { reason: reason.clone() });
                last_problem = Some(reason);
            }
            Err(reason) => {
                if last_problem.as_deref() != Some(reason.as_str()) {
                    serial::emit_state(sink, device, State::Disconnected { reason: reason.clone() });
                    last_problem = Some(reason);
                }
                backoff = (backoff * 2).min(REOPEN_MAX);
            }
        }
        if !wait_unless_stopped(backoff, stop) {
            return;
        }
    }
}

/// Waits up to `ms` for `fd` to be readable, so a reader thread sees the stop flag even when nobody scans
/// (hidraw and evdev reads otherwise block until the next key or report). True also on error or hang-up:
/// the read that follows reports it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // the one system call without a safe wrapper here; the only unsafe block in the workspace
pub(crate) fn readable(fd: std::os::fd::RawFd, ms: i32) -> bool {
    let mut fds = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, alive for the duration of the call.
    let n = unsafe { libc::poll(&raw mut fds, 1, ms) };
    n > 0 || (n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted)
}
