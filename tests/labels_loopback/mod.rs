//! Loopback printers for the label tests: a Zebra that answers `~HS` (with or without trouble to report), and
//! printers that misbehave — close without reading, read then close without answering, read then hang.
// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{channel, Sender};
use std::thread::JoinHandle;

/// A Host Status Return of a printer ready to print (ZPL II guide, ~HS).
pub const READY: &str =
    "\x02030,0,0,0203,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n";
/// The same printer out of paper (string 1, field b).
pub const PAPER_OUT: &str =
    "\x02030,1,0,0203,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,1,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n";

#[derive(Clone, Copy)]
pub enum Behaviour {
    /// Reads up to `~HS`, answers with this status, then reads to the end.
    Answers(&'static str),
    ClosesWithoutReading,
    ReadsThenCloses,
    /// Reads to the end, then holds the connection open without a word until the test is done.
    ReadsThenHangs,
}

pub struct Loopback {
    pub target: String,
    server: JoinHandle<Vec<u8>>,
    done: Sender<()>,
}

impl Loopback {
    pub fn start(behaviour: Behaviour) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let (done, wait) = channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            match behaviour {
                Behaviour::ClosesWithoutReading => {}
                Behaviour::ReadsThenCloses => {
                    let _ = s.read_to_end(&mut got);
                }
                Behaviour::ReadsThenHangs => {
                    let _ = s.read_to_end(&mut got);
                    let _ = wait.recv();
                }
                Behaviour::Answers(status) => {
                    let mut chunk = [0u8; 4096];
                    while !got.ends_with(b"~HS") {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let _ = s.write_all(status.as_bytes());
                    let _ = s.read_to_end(&mut got);
                }
            }
            got
        });
        Loopback { target, server, done }
    }

    /// Everything the printer read.
    pub fn received(self) -> Vec<u8> {
        drop(self.done);
        self.server.join().unwrap()
    }
}
