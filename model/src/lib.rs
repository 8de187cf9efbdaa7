//! Plain data shared by Halo's language (`halo-lang`) and engine (`halo-engine`):
//! the policy IR that the compiler produces, the observed cluster state, scores and
//! durations.
//!
//! This crate holds data and the small, obviously-correct functions on it. It must
//! never do I/O, read a clock, or know about source text: policy items carry an
//! [`Origin`] id that the language crate maps back to a file, line and column.

mod policy;
mod score;
mod state;
mod time;

pub use policy::*;
pub use score::Score;
pub use state::*;
pub use time::{Duration, Timestamp};
