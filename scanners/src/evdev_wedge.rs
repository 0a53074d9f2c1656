//! Keyboard-wedge scanners read from their evdev device (`/dev/input/event*`) with an exclusive grab, so their
//! keystrokes never reach the terminal: the key codes are mapped to characters under the profile's layout and
//! framed like serial bytes (Enter → CR, Tab → TAB).

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use evdev::{Device, EventType};

use crate::framing::Framer;
use crate::keymap::{Key, KeyDecoder};
use crate::serial::emit_outcome;
use crate::{Profile, Sink};

/// The bytes a key contributes to a frame.
pub fn key_bytes(key: Key) -> Vec<u8> {
    match key {
        Key::Enter => b"\r".to_vec(),
        Key::Tab => b"\t".to_vec(),
        Key::Char(c) => c.to_string().into_bytes(),
    }
}

/// Reads an evdev keyboard until `stop`, grabbed so its keys never reach the terminal, reopening it when the
/// scanner is unplugged and plugged back.
pub fn run(profile: &Profile, device: &str, sink: &Sink, stop: &AtomicBool) {
    let open = || {
        let mut d = Device::open(device).map_err(|e| format!("cannot open: {e}"))?;
        d.grab().map_err(|e| format!("cannot grab (is another program holding it?): {e}"))?;
        Ok(d)
    };
    crate::supervise(device, sink, stop, open, |dev| {
        let mut keys = KeyDecoder::new(profile.layout);
        let mut framer = Framer::new(profile.framing.clone());
        loop {
            if stop.load(Ordering::SeqCst) {
                let _ = dev.ungrab();
                return None;
            }
            if !crate::readable(dev.as_raw_fd(), 50) {
                if let Some(o) = framer.poll(Instant::now()) {
                    emit_outcome(sink, device, o);
                }
                continue;
            }
            match dev.fetch_events() {
                Ok(events) => {
                    let mut bytes = Vec::new();
                    for e in events.filter(|e| e.event_type() == EventType::KEY) {
                        if let Some(k) = keys.feed(e.code(), e.value()) {
                            bytes.extend(key_bytes(k));
                        }
                    }
                    framer.push(&bytes, Instant::now()).into_iter().for_each(|o| emit_outcome(sink, device, o));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Some(format!("read failed: {e}")),
            }
        }
    });
}
