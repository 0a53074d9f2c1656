//! stoolbank: traceability for stool banks, from donor to recipient.
//!
//! Layers (data flows one way): `cli`/`tui` → `app` (one transaction per operation) → `core` (rules, no I/O)
//! and `store` (all SQL). `labels` renders label models; `printers` sends bytes to printers.
pub mod app;
pub mod cli;
pub mod demo;
pub mod escape;
pub mod export;
pub mod labels;
pub mod printers;
pub(crate) mod store;
pub mod time;
pub mod tui;

/// The domain core (its own crate, so that the compiler keeps it free of I/O).
pub use stoolbank_core as core;
