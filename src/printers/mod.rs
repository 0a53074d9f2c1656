//! Print targets: raw TCP 9100, device files, CUPS queues.
