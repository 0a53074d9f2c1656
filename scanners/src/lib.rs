//! placeholder replaced by the scanners work
