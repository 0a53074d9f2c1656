//! Standard output that its reader may close early (`stoolbank recall --apply | head -1`). Once the reader
//! is gone, what was done stands (the recall is committed): the rest of the output is dropped instead of
//! turning a done operation into a failure that a script would retry, and long-running commands are told
//! to stop.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Out<'a> {
    inner: Box<dyn Write + 'a>,
    closed: &'a AtomicBool,
}

impl<'a> Out<'a> {
    /// `closed` becomes true when the reader has gone.
    pub fn new(inner: impl Write + 'a, closed: &'a AtomicBool) -> Out<'a> {
        Out { inner: Box::new(inner), closed }
    }

    /// Set once the reader has gone; a command that prints until interrupted stops on it.
    pub fn closed(&self) -> &'a AtomicBool {
        self.closed
    }

    fn tolerate<T>(&self, result: io::Result<T>, gone: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed.store(true, Ordering::SeqCst);
                Ok(gone)
            }
            other => other,
        }
    }
}

impl Write for Out<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed.load(Ordering::SeqCst) {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.tolerate(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        let result = self.inner.flush();
        self.tolerate(result, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Gone;
    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_reader_ends_the_output_not_the_command() {
        let closed = AtomicBool::new(false);
        let mut out = Out::new(Gone, &closed);
        assert!(writeln!(out, "RECALL APPLIED").is_ok());
        assert!(out.flush().is_ok());
        assert!(closed.load(Ordering::SeqCst));
    }

    #[test]
    fn other_write_errors_still_fail() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let closed = AtomicBool::new(false);
        let mut out = Out::new(Full, &closed);
        assert!(writeln!(out, "x").is_err());
        assert!(!closed.load(Ordering::SeqCst));
    }
}
