//! The messages on the wire, and their encoding: each is one MessagePack
//! frame (rmp-serde) preceded by its length as a 4-byte big-endian number,
//! inside an envelope that carries the protocol version.

use crate::{ActionRequest, ActionResult};
use serde::{Deserialize, Serialize};

/// The protocol version. A peer speaking another one is refused, by name.
pub const VERSION: u32 = 1;

/// The largest frame either side accepts.
pub const FRAME_MAX: usize = 4 * 1024 * 1024;

/// The ALPN name of the protocol, for the TLS handshake.
pub const ALPN: &[u8] = b"halo/1";

/// What a controller or an admin client asks of a runner. Commands from a
/// controller carry its epoch: a runner refuses a command whose epoch is
/// lower than the highest it has seen (a stale controller). An admin client's
/// commands carry none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Request {
    /// Who are you and what do you speak?
    Hello,
    /// Are you there? (the answer carries the runner's view). With
    /// `lease_ms`, the runner stops every resource it runs when it hears no
    /// heartbeat for that long (fencing is off: this is how a cut-off node
    /// makes sure it runs nothing the others may start).
    Heartbeat {
        epoch: Option<u64>,
        #[serde(default)]
        lease_ms: Option<u64>,
        /// Answer, but do not renew the lease: the leader has given up on
        /// this node and is waiting its lease out.
        #[serde(default)]
        hold: bool,
    },
    /// Carry out an action. `id` names it for this client: its result is
    /// kept until collected, so a connection lost mid-action loses nothing.
    Execute {
        epoch: Option<u64>,
        id: u64,
        action: ActionRequest,
    },
    /// Fence a node: `action` is a fence agent's power action (`off`, `on`,
    /// `reboot`) with its `target`. Answered, like `Execute`, by a `Result`
    /// kept until delivered.
    Fence {
        epoch: Option<u64>,
        id: u64,
        action: ActionRequest,
    },
    /// The results of earlier `Execute`s, waiting for those still running.
    Collect { ids: Vec<u64> },
    /// Run `action` (a monitor with an interval) again and again, reporting
    /// changes (and every `digest_every`-th result) as `Event`s.
    MonitorStart {
        epoch: Option<u64>,
        action: ActionRequest,
        digest_every: u32,
    },
    /// Stop a recurring monitor.
    MonitorStop {
        epoch: Option<u64>,
        rsc: String,
        interval_ms: u64,
    },
    /// Keep this stream open and send monitor events on it as they happen.
    Subscribe,
    /// Which of these secrets does this node's store lack? (Names only:
    /// values never leave the node.)
    SecretsMissing { names: Vec<String> },
}

/// What a runner answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Response {
    Hello {
        node: String,
        version: u32,
    },
    Heartbeat {
        node: String,
        epoch: u64,
        running: usize,
        /// Names this run of the runner process: a change means the runner
        /// restarted (its monitors, and perhaps what it ran, are gone),
        /// however briefly it was away.
        #[serde(default)]
        boot: u64,
    },
    /// The result of `Execute` `id`.
    Result {
        id: u64,
        result: ActionResult,
    },
    /// Accepted (monitor start and stop).
    Ok,
    /// A recurring monitor's result changed (or a periodic digest).
    Event(MonitorEvent),
    /// The secrets asked about that the node's store lacks.
    Missing {
        names: Vec<String>,
    },
    /// Not done, and why.
    Refused {
        why: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorEvent {
    pub rsc: String,
    pub interval_ms: u64,
    /// Counts the monitor's runs, from 1.
    pub seq: u64,
    /// Whether the result differs from the one before (else a digest).
    pub changed: bool,
    pub result: ActionResult,
}

/// A message with the protocol version it was written in.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    body: T,
}

/// One frame: the length, then the enveloped message.
pub fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, String> {
    let bytes = rmp_serde::to_vec_named(&Envelope {
        version: VERSION,
        body,
    })
    .map_err(|e| format!("cannot encode a message: {e}"))?;
    if bytes.len() > FRAME_MAX {
        return Err(format!("a message of {} bytes is too large", bytes.len()));
    }
    let len = u32::try_from(bytes.len()).map_err(|_| "message too large".to_string())?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// The length a frame header announces, refusing oversized frames.
pub fn frame_len(header: [u8; 4]) -> Result<usize, String> {
    let n = u32::from_be_bytes(header) as usize;
    if n > FRAME_MAX {
        return Err(format!("a frame of {n} bytes is larger than {FRAME_MAX}"));
    }
    Ok(n)
}

/// A frame's message (without its length header), refusing other versions.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let v: Version =
        rmp_serde::from_slice(bytes).map_err(|e| format!("not a Halo message: {e}"))?;
    if v.version != VERSION {
        return Err(format!(
            "the peer speaks protocol version {}, this side {VERSION}: upgrade both to the same Halo",
            v.version
        ));
    }
    let e: Envelope<T> =
        rmp_serde::from_slice(bytes).map_err(|e| format!("malformed message: {e}"))?;
    Ok(e.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentRef, Outcome};
    use std::collections::BTreeMap;

    fn action() -> ActionRequest {
        ActionRequest {
            rsc: "web".into(),
            agent: AgentRef::parse("ocf:heartbeat:Dummy").unwrap(),
            action: "start".into(),
            params: BTreeMap::from([("state".into(), "/tmp/x".into())]),
            meta: BTreeMap::new(),
            interval_ms: 0,
            timeout_ms: 20_000,
            target: None,
            secrets: BTreeMap::new(),
            view: None,
        }
    }

    #[test]
    fn messages_round_trip() {
        let msgs = vec![
            Request::Hello,
            Request::Execute {
                epoch: Some(3),
                id: 9,
                action: action(),
            },
            Request::Collect { ids: vec![1, 2] },
        ];
        for m in msgs {
            let frame = encode(&m).unwrap();
            let n = frame_len(frame[..4].try_into().unwrap()).unwrap();
            assert_eq!(n, frame.len() - 4);
            assert_eq!(decode::<Request>(&frame[4..]).unwrap(), m);
        }
        let r = Response::Result {
            id: 9,
            result: ActionResult {
                rc: Some(0),
                outcome: Outcome::Success,
                duration_ms: 5,
                exit_reason: None,
                output: String::new(),
                promotion: None,
                attributes: Vec::new(),
                restart: None,
            },
        };
        assert_eq!(decode::<Response>(&encode(&r).unwrap()[4..]).unwrap(), r);
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        let other = rmp_serde::to_vec_named(&Envelope {
            version: 99,
            body: Request::Hello,
        })
        .unwrap();
        let e = decode::<Request>(&other).unwrap_err();
        assert!(e.contains("version 99"), "{e}");
        assert!(decode::<Request>(b"\xff\x00garbage").is_err());
        assert!(frame_len((FRAME_MAX as u32 + 1).to_be_bytes()).is_err());
    }
}
