//! The domain core: identifiers, rules and state transitions. Plain data in, decisions out: no SQL, no clock,
//! no terminal.
pub mod access;
pub mod config;
pub mod followup;
pub mod ids;
pub mod input;
pub mod model;
pub mod rules;
pub mod state;
pub mod stats;
