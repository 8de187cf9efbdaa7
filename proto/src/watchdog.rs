//! What a node's runner tells its watchdog process, over a pipe: length
//! (4 bytes, big-endian) then MessagePack.

use crate::ActionRequest;
use serde::{Deserialize, Serialize};

/// The longest message the watchdog reads: a node's stop requests.
pub const MESSAGE_MAX: usize = 16 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchdogMsg {
    /// The runner is alive and holds a valid lease: the watchdog is armed
    /// and its countdown starts again.
    Feed,
    /// What runs on the node, as the stop requests that undo it: what the
    /// watchdog stops when it fires.
    Stops(Vec<ActionRequest>),
    /// The runner holds no lease (fencing is on, or its resources were
    /// stopped when its lease ran out): nothing to guard.
    Disarm,
}

impl WatchdogMsg {
    /// The message as it goes down the pipe.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let body = rmp_serde::to_vec_named(self)
            .map_err(|e| format!("cannot encode a watchdog message: {e}"))?;
        let len = u32::try_from(body.len())
            .ok()
            .filter(|n| (*n as usize) <= MESSAGE_MAX)
            .ok_or_else(|| format!("a watchdog message of {} bytes is too long", body.len()))?;
        let mut out = len.to_be_bytes().to_vec();
        out.extend(body);
        Ok(out)
    }

    /// A message's body (after its length).
    pub fn decode(body: &[u8]) -> Result<WatchdogMsg, String> {
        rmp_serde::from_slice(body).map_err(|e| format!("not a watchdog message: {e}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn messages_read_back() {
        for m in [
            WatchdogMsg::Feed,
            WatchdogMsg::Disarm,
            WatchdogMsg::Stops(Vec::new()),
        ] {
            let bytes = m.encode().unwrap();
            let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(len, bytes.len() - 4);
            assert_eq!(WatchdogMsg::decode(&bytes[4..]).unwrap(), m);
        }
        assert!(WatchdogMsg::decode(b"\xc1").is_err());
    }
}
