//! Print targets: raw TCP (Zebra's port 9100), a device or file path (/dev/usb/lp0), or a CUPS raw queue
//! (`lp -d QUEUE -o raw`). A send succeeds only once every byte has been accepted, so the caller records a label
//! as printed only after that:
//! - TCP: the labels and then ZPL's `~HS` are written, the write side is shut down cleanly, and the printer's
//!   Host Status Return is read. The printer answers `~HS` only after reading every byte before it, so the answer
//!   is the proof; a printer that closes, drops the connection or stays silent for [`TIMEOUT`] is an error;
//! - a device or file: written, flushed and (a file) synced; the kernel's driver, not the printer, took it;
//! - CUPS: queued by `lp` with a zero exit status (the queue, not the printer, took it).
//!
//! Every kind has a time limit ([`TIMEOUT`], [`SPOOL_TIMEOUT`] for `lp`): a jammed printer is an error, not a
//! wait without end.
//!
//! Every error names the target.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// Where labels go: `tcp://HOST[:PORT]` (port 9100 when omitted; `[v6-address]` in brackets), `lp:QUEUE`, a
/// device path under `/dev/`, or `file:PATH`. Nothing else: a mistyped queue or host must not become a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintTarget {
    Tcp {
        host: String,
        port: u16,
    },
    /// A device node (`/dev/usb/lp0`): never created, since a missing one means the printer is unplugged.
    Device(PathBuf),
    /// A spool file, appended to and created when missing.
    File(PathBuf),
    Cups(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("no printer named, and no `printer` set in the policy")]
    NoPrinter,
    #[error("`{0}` is not a print target: use tcp://HOST[:PORT], lp:QUEUE, a device under /dev/, or file:PATH")]
    BadTarget(String),
    #[error("printer {target}: cannot resolve the host name ({why})")]
    Resolve { target: String, why: String },
    #[error("printer {target} refused the connection (is it on, and is raw printing on port {port} enabled?)")]
    Refused { target: String, port: u16 },
    #[error("cannot reach printer {target} within {seconds} s")]
    Unreachable { target: String, seconds: u64 },
    #[error(
        "printer {target}: the connection failed after {sent} of {total} bytes ({why}); the label may be incomplete"
    )]
    Interrupted { target: String, sent: usize, total: usize, why: String },
    #[error(
        "printer {target} closed the connection without answering the status request (~HS): it may not have \
         taken the label, so it is not recorded as printed"
    )]
    ClosedWithoutStatus { target: String },
    #[error(
        "printer {target} dropped the connection ({why}) before answering the status request (~HS): it did not \
         take every byte, so the label is not recorded as printed"
    )]
    Dropped { target: String, why: String },
    #[error(
        "printer {target} did not answer the status request (~HS) within {seconds} s (a Zebra printer stays silent \
         while out of media or ribbon or with its head open): the label is not recorded as printed; if it comes \
         out later, it is unrecorded"
    )]
    NoStatus { target: String, seconds: u64 },
    #[error("printer {target} answered the status request (~HS) with `{answer}`, not a ZPL Host Status Return")]
    BadStatus { target: String, answer: String },
    #[error("printer {target}: {why}")]
    Io { target: String, why: String },
    #[error("cannot open {path}: {why}")]
    Open { path: String, why: String },
    #[error("cannot write to {path}: {why}")]
    Write { path: String, why: String },
    #[error("lp is not installed, so CUPS queue `{queue}` cannot be used (install the CUPS client: cups-client)")]
    NoLp { queue: String },
    #[error("CUPS queue `{queue}` does not exist (lp: {why})")]
    NoQueue { queue: String, why: String },
    #[error("CUPS queue `{queue}` did not accept the job (lp: {why})")]
    Cups { queue: String, why: String },
    #[error(
        "{path} did not take the labels within {seconds} s (is the printer jammed, off-line or out of media?): \
         they are not recorded as printed; if they come out later, they are unrecorded"
    )]
    DeviceTimeout { path: String, seconds: u64 },
    #[error(
        "CUPS queue `{queue}`: lp did not finish within {seconds} s and was stopped: the job is not recorded as \
         printed, but may be queued; check the queue (lpstat -o {queue}) before printing again"
    )]
    SpoolTimeout { queue: String, seconds: u64 },
}

/// How long a printer may take to accept a connection, each write, its status answer, and a device the labels.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How long the CUPS client (`lp`) may take to queue a job.
pub const SPOOL_TIMEOUT: Duration = Duration::from_secs(15);

impl PrintTarget {
    pub fn parse(s: &str) -> Result<PrintTarget, PrintError> {
        let t = s.trim();
        let bad = || PrintError::BadTarget(t.to_string());
        if let Some(rest) = t.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
                let (host, after) = v6.split_once(']').ok_or_else(bad)?;
                match after {
                    "" => (host, 9100),
                    p => (host, p.strip_prefix(':').and_then(|p| p.parse().ok()).ok_or_else(bad)?),
                }
            } else {
                match rest.split_once(':') {
                    Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
                    None => (rest, 9100),
                }
            };
            if host.is_empty() || port == 0 || host.contains(['/', '@', ' ']) {
                return Err(bad());
            }
            return Ok(PrintTarget::Tcp { host: host.to_string(), port });
        }
        if let Some(queue) = t.strip_prefix("lp:") {
            if queue.is_empty() || queue.starts_with('-') || queue.contains(char::is_whitespace) {
                return Err(bad());
            }
            return Ok(PrintTarget::Cups(queue.to_string()));
        }
        if let Some(path) = t.strip_prefix("file:") {
            if path.is_empty() || path.contains("://") {
                return Err(bad());
            }
            return Ok(PrintTarget::File(PathBuf::from(path)));
        }
        match t.strip_prefix("/dev/") {
            Some(rest) if !rest.is_empty() => Ok(PrintTarget::Device(PathBuf::from(t))),
            _ => Err(bad()),
        }
    }
}

impl PrintTarget {
    /// `host:port` (`[v6]:port`) of a TCP target; the path or queue otherwise.
    fn address(&self) -> String {
        match self {
            PrintTarget::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            PrintTarget::Tcp { host, port } => format!("{host}:{port}"),
            PrintTarget::Device(p) | PrintTarget::File(p) => p.display().to_string(),
            PrintTarget::Cups(q) => q.clone(),
        }
    }
}

impl std::fmt::Display for PrintTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrintTarget::Tcp { .. } => write!(f, "tcp://{}", self.address()),
            PrintTarget::Device(p) => write!(f, "{}", p.display()),
            PrintTarget::File(p) => write!(f, "file:{}", p.display()),
            PrintTarget::Cups(q) => write!(f, "lp:{q}"),
        }
    }
}

/// Something labels can be sent to (a trait so that the app can be tested without a printer).
pub trait Printer {
    /// Sends the bytes; Ok only once the printer (or spooler, or file) has accepted all of them, with what the
    /// printer reported that keeps the labels from coming out now (paper out, paused, ...).
    fn send(&self, bytes: &[u8]) -> Result<Vec<String>, PrintError>;
    /// The target as recorded in the print log, e.g. `tcp://10.0.0.5:9100`, `/dev/usb/lp0`, `lp:zebra`.
    fn describe(&self) -> String;
}

impl Printer for PrintTarget {
    fn describe(&self) -> String {
        self.to_string()
    }

    fn send(&self, bytes: &[u8]) -> Result<Vec<String>, PrintError> {
        send(self, bytes)
    }
}

/// Sends `bytes` to `target` (see [`Printer::send`]).
pub fn send(target: &PrintTarget, bytes: &[u8]) -> Result<Vec<String>, PrintError> {
    match target {
        PrintTarget::Tcp { host, port } => send_tcp(&target.address(), host, *port, bytes),
        PrintTarget::Device(path) => send_file(path, false, bytes).map(|()| Vec::new()),
        PrintTarget::File(path) => send_file(path, true, bytes).map(|()| Vec::new()),
        PrintTarget::Cups(queue) => send_lp(queue, bytes).map(|()| Vec::new()),
    }
}

fn send_tcp(target: &str, host: &str, port: u16, bytes: &[u8]) -> Result<Vec<String>, PrintError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| PrintError::Resolve { target: target.to_string(), why: e.to_string() })?
        .collect();
    let unreachable = || PrintError::Unreachable { target: target.to_string(), seconds: TIMEOUT.as_secs() };
    let mut last = None;
    for addr in addrs {
        let mut s = match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(s) => s,
            Err(e) => {
                last = Some(match e.kind() {
                    ErrorKind::ConnectionRefused => PrintError::Refused { target: target.to_string(), port },
                    ErrorKind::TimedOut
                    | ErrorKind::WouldBlock
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable => unreachable(),
                    _ => PrintError::Io { target: target.to_string(), why: e.to_string() },
                });
                continue;
            }
        };
        let io = |e: std::io::Error| PrintError::Io { target: target.to_string(), why: e.to_string() };
        s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
        // The labels, then the status request: written in chunks so that a failure can say how much went out.
        let mut sent = 0;
        for chunk in bytes.chunks(16 * 1024).chain(std::iter::once(STATUS_REQUEST)) {
            s.write_all(chunk).map_err(|e| PrintError::Interrupted {
                target: target.to_string(),
                sent,
                total: bytes.len(),
                why: e.to_string(),
            })?;
            sent = (sent + chunk.len()).min(bytes.len());
        }
        s.flush().map_err(io)?;
        // A clean shutdown sends FIN after the data; the answer to ~HS, which the printer sends only once it has
        // read everything before it, says it took every byte.
        s.shutdown(Shutdown::Write).map_err(io)?;
        let status = read_status(&mut s, target)?;
        return Ok(status.notes(target));
    }
    Err(last.unwrap_or_else(unreachable))
}

/// ZPL's Host Status Return request (a tilde command: answered as soon as it is read, after every byte before it).
const STATUS_REQUEST: &[u8] = b"~HS";
const STX: u8 = 0x02;
const ETX: u8 = 0x03;

/// What a Zebra printer answers to `~HS` (ZPL II Programming Guide, ~HS): three strings, each
/// `<STX>…<ETX><CR><LF>`: `aaa,b,c,dddd,eee,f,g,h,iii,j,k,l` (b paper out, c paused),
/// `mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www` (o head up, p ribbon out) and `xxxx,y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStatus {
    pub paper_out: bool,
    pub paused: bool,
    pub head_up: bool,
    pub ribbon_out: bool,
}

impl HostStatus {
    /// Parses the three strings; None unless the answer has exactly the documented shape.
    pub fn parse(answer: &[u8]) -> Option<HostStatus> {
        let text = std::str::from_utf8(answer).ok()?;
        let strings: Vec<Vec<&str>> = text
            .split(char::from(ETX))
            .map(|s| s.trim_matches(['\r', '\n']))
            .filter(|s| !s.is_empty())
            .map(|s| s.strip_prefix(char::from(STX)).map(|body| body.split(',').collect()))
            .collect::<Option<_>>()?;
        let [one, two, three] = strings.as_slice() else { return None };
        if one.len() != 12 || two.len() != 11 || three.len() != 2 {
            return None;
        }
        let flag = |v: &str| match v {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        };
        Some(HostStatus {
            paper_out: flag(one[1])?,
            paused: flag(one[2])?,
            head_up: flag(two[2])?,
            ribbon_out: flag(two[3])?,
        })
    }

    /// What the printer reports that keeps the label from coming out now (it has the label and prints it once
    /// the condition is cleared).
    fn notes(&self, target: &str) -> Vec<String> {
        [
            (self.paper_out, "is out of paper"),
            (self.paused, "is paused"),
            (self.head_up, "has its head open"),
            (self.ribbon_out, "is out of ribbon"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| format!("printer {target} took the label but {what}: it prints once that is cleared"))
        .collect()
    }
}

/// Reads the answer to ~HS until its three strings are in, the printer closes, or [`TIMEOUT`] passes.
fn read_status(s: &mut TcpStream, target: &str) -> Result<HostStatus, PrintError> {
    let deadline = Instant::now() + TIMEOUT;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 512];
    while answer.iter().filter(|b| **b == ETX).count() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let no_answer = || PrintError::NoStatus { target: target.to_string(), seconds: TIMEOUT.as_secs() };
        if left.is_zero() {
            return Err(no_answer());
        }
        s.set_read_timeout(Some(left))
            .map_err(|e| PrintError::Io { target: target.to_string(), why: e.to_string() })?;
        match s.read(&mut chunk) {
            Ok(0) => return Err(PrintError::ClosedWithoutStatus { target: target.to_string() }),
            Ok(n) if answer.len() + n <= 4096 => answer.extend_from_slice(&chunk[..n]),
            Ok(_) => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Err(no_answer()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(PrintError::Dropped { target: target.to_string(), why: e.to_string() }),
        }
    }
    HostStatus::parse(&answer).ok_or_else(|| PrintError::BadStatus {
        target: target.to_string(),
        answer: String::from_utf8_lossy(&answer).chars().take(80).collect(),
    })
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// Appends to a device node or (`create`) a spool file, within [`TIMEOUT`]: a jammed printer blocks its device's
/// open or write for ever, so they run on a thread of their own, left behind (blocked) when the time is up.
fn send_file(path: &Path, create: bool, bytes: &[u8]) -> Result<(), PrintError> {
    let (done, outcome) = std::sync::mpsc::channel();
    let (owned, data) = (path.to_path_buf(), bytes.to_vec());
    std::thread::spawn(move || done.send(write_file(&owned, create, &data)));
    outcome.recv_timeout(TIMEOUT).unwrap_or_else(|_| {
        Err(PrintError::DeviceTimeout { path: path.display().to_string(), seconds: TIMEOUT.as_secs() })
    })
}

fn write_file(path: &Path, create: bool, bytes: &[u8]) -> Result<(), PrintError> {
    let shown = path.display().to_string();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(create)
        .open(path)
        .map_err(|e| PrintError::Open { path: shown.clone(), why: describe_io(&e) })?;
    let write = |e: std::io::Error| PrintError::Write { path: shown.clone(), why: describe_io(&e) };
    f.write_all(bytes).map_err(write)?;
    f.flush().map_err(write)?;
    if f.metadata().is_ok_and(|m| m.is_file()) {
        f.sync_all().map_err(write)?;
    }
    Ok(())
}

fn send_lp(queue: &str, bytes: &[u8]) -> Result<(), PrintError> {
    let cups = |why: String| PrintError::Cups { queue: queue.to_string(), why };
    let mut child = Command::new("lp")
        .args(["-d", queue, "-o", "raw"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => PrintError::NoLp { queue: queue.to_string() },
            _ => cups(e.to_string()),
        })?;
    // The job and lp's messages go through pipes on threads of their own, so that an lp that stops reading
    // cannot hold this one past the time limit. lp may exit early (unknown queue) and close its stdin: that
    // error is reported from its stderr below.
    let writer = child.stdin.take().map(|mut stdin| {
        let job = bytes.to_vec();
        std::thread::spawn(move || stdin.write_all(&job))
    });
    let reader = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        })
    });
    let Some(status) = child.wait_timeout(SPOOL_TIMEOUT).map_err(|e| cups(e.to_string()))? else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(PrintError::SpoolTimeout { queue: queue.to_string(), seconds: SPOOL_TIMEOUT.as_secs() });
    };
    let written = writer.map(|w| w.join().unwrap_or_else(|_| Err(std::io::Error::other("the writer stopped"))));
    let stderr = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let why = stderr.trim().trim_start_matches("lp:").trim().to_string();
    if !status.success() {
        let why = if why.is_empty() { status.to_string() } else { why };
        let lower = why.to_lowercase();
        // CUPS says "The printer or class does not exist." or "Unknown destination".
        if lower.contains("does not exist") || lower.contains("unknown destination") || lower.contains("not found") {
            return Err(PrintError::NoQueue { queue: queue.to_string(), why });
        }
        return Err(cups(why));
    }
    if let Some(Err(e)) = written {
        return Err(cups(format!("writing the job: {e}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let tcp = |h: &str, p| PrintTarget::Tcp { host: h.into(), port: p };
        assert_eq!(PrintTarget::parse("tcp://10.0.0.5").unwrap(), tcp("10.0.0.5", 9100));
        assert_eq!(PrintTarget::parse(" tcp://zebra:6101/ ").unwrap(), tcp("zebra", 6101));
        assert_eq!(PrintTarget::parse("tcp://[::1]:9101").unwrap(), tcp("::1", 9101));
        assert_eq!(PrintTarget::parse("tcp://[fe80::1]").unwrap(), tcp("fe80::1", 9100));
        assert_eq!(PrintTarget::parse("tcp://[::1]:9101").unwrap().to_string(), "tcp://[::1]:9101");
        assert_eq!(PrintTarget::parse("lp:zebra_raw").unwrap(), PrintTarget::Cups("zebra_raw".into()));
        assert_eq!(PrintTarget::parse("/dev/usb/lp0").unwrap(), PrintTarget::Device("/dev/usb/lp0".into()));
        assert_eq!(PrintTarget::parse("file:out/labels.zpl").unwrap(), PrintTarget::File("out/labels.zpl".into()));
        assert_eq!(PrintTarget::parse("file:/tmp/l.zpl").unwrap().to_string(), "file:/tmp/l.zpl");
        for bad in [
            "zebra1",
            "./zebra1",
            "/tmp/labels.zpl",
            "/dev/",
            "file:",
            "http://printer",
            "tcp://host:port",
            "tcp://",
            "tcp://:9100",
            "tcp://h:0",
            "tcp://[::1",
            "lp:",
            "lp:-x",
            "",
        ] {
            let e = PrintTarget::parse(bad).unwrap_err().to_string();
            assert!(e.contains("not a print target"), "{bad}: {e}");
        }
    }
}
