//! Print targets: raw TCP (Zebra port 9100), a device or file path (/dev/usb/lp0), or a CUPS raw queue. A
//! send succeeds only once every byte has been accepted; only then is a label recorded as printed.

use std::io::Write;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintTarget {
    Tcp { host: String, port: u16 },
    Device(PathBuf),
    Cups(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("`{0}` is not a print target: use tcp://HOST:PORT, lp:QUEUE, or a device or file path")]
    BadTarget(String),
    #[error("printer {target}: cannot resolve the host: {why}")]
    Resolve { target: String, why: String },
    #[error("printer {target} refused the connection (is it on, and is raw printing on port {port} enabled?)")]
    Refused { target: String, port: u16 },
    #[error("printer {target}: cannot reach it within {seconds} s")]
    Unreachable { target: String, seconds: u64 },
    #[error("printer {target}: {why}")]
    Io { target: String, why: String },
    #[error("lp is not installed (install the CUPS client, e.g. the cups-client package)")]
    NoLp,
    #[error("CUPS queue `{queue}`: {why}")]
    Cups { queue: String, why: String },
}

const TIMEOUT: Duration = Duration::from_secs(5);

impl PrintTarget {
    pub fn parse(s: &str) -> Result<PrintTarget, PrintError> {
        let t = s.trim();
        if let Some(rest) = t.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| PrintError::BadTarget(t.into()))?),
                None => (rest, 9100),
            };
            if host.is_empty() {
                return Err(PrintError::BadTarget(t.into()));
            }
            return Ok(PrintTarget::Tcp { host: host.trim_matches(['[', ']']).into(), port });
        }
        if let Some(queue) = t.strip_prefix("lp:") {
            if queue.is_empty() || queue.contains(char::is_whitespace) {
                return Err(PrintError::BadTarget(t.into()));
            }
            return Ok(PrintTarget::Cups(queue.into()));
        }
        if t.is_empty() || t.contains("://") {
            return Err(PrintError::BadTarget(t.into()));
        }
        Ok(PrintTarget::Device(PathBuf::from(t)))
    }
}

impl std::fmt::Display for PrintTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrintTarget::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            PrintTarget::Device(p) => write!(f, "{}", p.display()),
            PrintTarget::Cups(q) => write!(f, "lp:{q}"),
        }
    }
}

/// Something labels can be sent to (a trait so that the app can be tested without a printer).
pub trait Printer {
    fn send(&self, bytes: &[u8]) -> Result<(), PrintError>;
    fn describe(&self) -> String;
}

impl Printer for PrintTarget {
    fn describe(&self) -> String {
        self.to_string()
    }

    fn send(&self, bytes: &[u8]) -> Result<(), PrintError> {
        let target = self.to_string();
        match self {
            PrintTarget::Tcp { host, port } => {
                let addrs: Vec<_> = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| PrintError::Resolve { target: target.clone(), why: e.to_string() })?
                    .collect();
                let mut last = PrintError::Unreachable { target: target.clone(), seconds: TIMEOUT.as_secs() };
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, TIMEOUT) {
                        Ok(mut s) => {
                            let io = |e: std::io::Error| PrintError::Io { target: target.clone(), why: e.to_string() };
                            s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
                            s.write_all(bytes).map_err(io)?;
                            s.flush().map_err(io)?;
                            s.shutdown(Shutdown::Write).map_err(io)?;
                            return Ok(());
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                            last = PrintError::Refused { target: target.clone(), port: *port }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(e) => last = PrintError::Io { target: target.clone(), why: e.to_string() },
                    }
                }
                Err(last)
            }
            PrintTarget::Device(path) => {
                let io = |e: std::io::Error| PrintError::Io { target: target.clone(), why: e.to_string() };
                // Device nodes must exist; an ordinary path is a spool file, created when missing.
                let is_device = path.starts_with("/dev");
                let mut f = std::fs::OpenOptions::new().append(true).create(!is_device).open(path).map_err(io)?;
                f.write_all(bytes).map_err(io)?;
                f.flush().map_err(io)?;
                if !is_device {
                    f.sync_all().map_err(io)?;
                }
                Ok(())
            }
            PrintTarget::Cups(queue) => {
                let mut child = Command::new("lp")
                    .args(["-d", queue, "-o", "raw"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::NotFound => PrintError::NoLp,
                        _ => PrintError::Cups { queue: queue.clone(), why: e.to_string() },
                    })?;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin
                        .write_all(bytes)
                        .map_err(|e| PrintError::Cups { queue: queue.clone(), why: e.to_string() })?;
                }
                let out = child
                    .wait_with_output()
                    .map_err(|e| PrintError::Cups { queue: queue.clone(), why: e.to_string() })?;
                if out.status.success() {
                    Ok(())
                } else {
                    let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
                    Err(PrintError::Cups {
                        queue: queue.clone(),
                        why: if why.is_empty() { out.status.to_string() } else { why },
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            PrintTarget::parse("tcp://10.0.0.5").unwrap(),
            PrintTarget::Tcp { host: "10.0.0.5".into(), port: 9100 }
        );
        assert_eq!(
            PrintTarget::parse("tcp://zebra:6101").unwrap(),
            PrintTarget::Tcp { host: "zebra".into(), port: 6101 }
        );
        assert_eq!(PrintTarget::parse("lp:zebra_raw").unwrap(), PrintTarget::Cups("zebra_raw".into()));
        assert_eq!(PrintTarget::parse("/dev/usb/lp0").unwrap(), PrintTarget::Device("/dev/usb/lp0".into()));
        assert!(PrintTarget::parse("http://printer").is_err());
        assert!(PrintTarget::parse("tcp://host:port").is_err());
        assert!(PrintTarget::parse("lp:").is_err());
    }
}
