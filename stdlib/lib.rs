//! Halo's standard library: agent type declarations written in the `.ha` language
//! (`agents.ha`), embedded in the binary so `halo check` works offline.
//!
//! This crate holds text only; it does no I/O at run time.

/// The standard library's files: (name, text).
pub const FILES: &[(&str, &str)] = &[("stdlib/agents.ha", include_str!("agents.ha"))];
