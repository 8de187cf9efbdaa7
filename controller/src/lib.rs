//! The replicated controller. A few replicas (3 or 5, or 2 nodes and a
//! witness) keep one document — the policy's source, the observed cluster
//! state, the fail counts — in Raft (openraft). The leader runs the engine on
//! every change and drives the node runners over QUIC; a new leader carries on
//! from the replicated document without restarting healthy resources.

pub mod alerts;
pub mod doc;
mod driver;
pub mod http;
pub mod journal;
pub mod link;
pub mod metrics;
pub mod node;
pub mod rpc;
pub mod runtime;
pub mod sim;
pub mod store;

pub use driver::longest_stop;
pub use node::{run, Controller, ServeError, StartError};
