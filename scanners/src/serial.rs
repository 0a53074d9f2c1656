//! Serial scanners (RS-232, or USB-CDC virtual COM ports) through the `serialport` crate. A supervisor loop
//! reopens the port when it disappears (unplugged) and comes back, reporting each change of state.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serialport::{DataBits, Parity, SerialPort, StopBits};

use crate::framing::{Framer, Outcome};
use crate::{escape, Profile, Rejected, Scan, ScannerEvent, Sink, SourceState, State};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SerialSettings {
    pub baud: u32,
    pub data_bits: u8,
    /// none | odd | even
    pub parity: String,
    pub stop_bits: u8,
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings { baud: 9600, data_bits: 8, parity: "none".into(), stop_bits: 1 }
    }
}

impl SerialSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(5..=8).contains(&self.data_bits) {
            return Err(format!("data_bits {} (5 to 8)", self.data_bits));
        }
        if !matches!(self.parity.as_str(), "none" | "odd" | "even") {
            return Err(format!("parity `{}` (none, odd or even)", self.parity));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return Err(format!("stop_bits {} (1 or 2)", self.stop_bits));
        }
        if self.baud == 0 {
            return Err("baud 0".into());
        }
        Ok(())
    }
}

/// How long one read waits before the framer's timeout is checked and the stop flag looked at.
const READ_TICK: Duration = Duration::from_millis(50);

fn open(s: &SerialSettings, device: &str) -> serialport::Result<Box<dyn SerialPort>> {
    let data_bits = match s.data_bits {
        5 => DataBits::Five,
        6 => DataBits::Six,
        7 => DataBits::Seven,
        _ => DataBits::Eight,
    };
    let parity = match s.parity.as_str() {
        "odd" => Parity::Odd,
        "even" => Parity::Even,
        _ => Parity::None,
    };
    let stop_bits = if s.stop_bits == 2 { StopBits::Two } else { StopBits::One };
    serialport::new(device, s.baud).data_bits(data_bits).parity(parity).stop_bits(stop_bits).timeout(READ_TICK).open()
}

pub(crate) fn emit_outcome(sink: &Sink, source: &str, o: Outcome) {
    let at = SystemTime::now();
    sink(match o {
        Outcome::Scan { data, symbology } => ScannerEvent::Scan(Scan { data, symbology, source: source.into(), at }),
        Outcome::Rejected { reason, raw } => {
            ScannerEvent::Rejected(Rejected { reason, raw: escape(&raw), source: source.into(), at })
        }
    });
}

pub(crate) fn emit_state(sink: &Sink, source: &str, state: State) {
    sink(ScannerEvent::State(SourceState { source: source.into(), state }));
}

/// Reads `device` until `stop` is set, reopening it whenever it goes away.
pub fn run(profile: &Profile, device: &str, sink: &Sink, stop: &AtomicBool) {
    let open = || open(&profile.serial, device).map_err(|e| format!("cannot open: {e}"));
    crate::supervise(device, sink, stop, open, |port| {
        let mut framer = Framer::new(profile.framing.clone());
        let mut buf = [0u8; 256];
        loop {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            match port.read(&mut buf) {
                Ok(0) => return Some("the port closed".into()),
                Ok(n) => framer.push(&buf[..n], Instant::now()).into_iter().for_each(|o| emit_outcome(sink, device, o)),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    if let Some(o) = framer.poll(Instant::now()) {
                        emit_outcome(sink, device, o);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Some(format!("read failed: {e}")),
            }
        }
    });
}
