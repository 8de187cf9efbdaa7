//! Halo's transport: QUIC (quinn) with mutual TLS (rustls, ring). Every peer
//! has a certificate signed by the cluster's CA, and its role — a node's
//! runner, a controller, an admin client — is written in the certificate
//! (`urn:halo:ROLE:NAME`), so a runner can refuse a node certificate where a
//! controller or admin one is required. `cluster init` makes the CA, the
//! certificates and one config file per node.
//!
//! Messages are those of `halo_proto::wire`, one frame per message on QUIC
//! streams. The client reconnects with backoff, and results outlive lost
//! connections: an action's result is collected after reconnecting.

pub mod client;
pub mod config;
pub mod frame;
pub mod identity;
pub mod server;
pub mod tls;

pub use client::Client;
pub use config::{AdminConfig, ControllerConfig, NodeConfig, Timing};
pub use identity::{Identity, Role};
