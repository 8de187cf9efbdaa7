//! The `.ha` policy language: parsing (pest), lowering to the policy IR of
//! `halo-model`, whole-policy checks, the canonical formatter and diagnostics.
//!
//! This crate does no I/O, reads no clock and uses no randomness: it takes source
//! text and returns data. Parsing never panics and never fails outright — it returns
//! what it understood plus located diagnostics; lowering collects every error it
//! finds rather than stopping at the first.

pub mod agents;
mod check;
pub mod code;
pub mod diag;
pub mod fmt;
mod lower;
pub mod print;
pub mod syntax;

pub use code::Code;
pub use diag::{Diagnostic, FileId, Severity, SourceFile, Sources, Span};
pub use lower::{compile, compile_text, Compiled, Library};
