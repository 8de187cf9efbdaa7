//! Halo's wire protocol: what a controller or an admin client asks of a node's
//! runner, and what the runner answers. The agent action types live here
//! because both sides share them: a request names an agent and an action with
//! concrete parameters (the runner knows nothing of the policy language), and
//! a result says what the agent did.
//!
//! This crate is data and its encoding only: it does no I/O.

mod agent;
pub mod watchdog;
pub mod wire;

pub use agent::{
    ActionRequest, ActionResult, AgentRef, AttributeChange, ClusterView, Outcome, PromotionChange,
};
