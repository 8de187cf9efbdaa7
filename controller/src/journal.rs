//! The decision journal: every transition the leader computed — why it
//! planned (what changed since the last one), the exact inputs (the policy
//! in force, the state as given to the engine, the time), the plan as the
//! engine's canonical text, and each action's outcome and timing. It is part
//! of the replicated document, so it survives restarts and leader changes,
//! and it is bounded by count and by size, the oldest transitions going
//! first. Because the engine is a pure function of (policy, state, time),
//! `halo simulate --at N` recomputes transition N's plan exactly.
//!
//! Pure like the document: no clock, no I/O.

use crate::doc::PolicySource;
use halo_model::{ClusterState, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Transitions kept at most.
pub const JOURNAL_MAX: usize = 500;
/// Bytes the kept transitions take at most (encoded), their policies aside.
pub const JOURNAL_BYTES: usize = 8 << 20;
/// Causes kept per transition at most.
pub const CAUSES_MAX: usize = 20;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Oldest first.
    pub transitions: VecDeque<Transition>,
    /// The policy sources the kept transitions planned with, by version.
    pub policies: BTreeMap<u64, PolicySource>,
    /// The number the next transition gets (numbers are never reused).
    pub next: u64,
    /// What happened since the last transition: its cause.
    pub pending_causes: Vec<String>,
    /// The encoded size of the kept transitions.
    pub bytes: usize,
}

/// One transition: a plan the leader computed and executed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Given by the journal when recorded.
    pub id: u64,
    /// The leader's Raft term, and its replica.
    pub term: u64,
    pub leader: String,
    /// What happened since the previous transition (events, operator
    /// commands), oldest first.
    pub cause: Vec<String>,
    /// The policy in force: a version in [`Journal::policies`].
    pub policy: u64,
    /// The time the engine was given.
    pub at: Timestamp,
    /// The state the engine was given, exactly.
    #[serde(with = "state_codec")]
    pub state: ClusterState,
    /// `Plan::to_text` of the plan.
    pub plan: String,
    /// Each action's outcome, in the order they finished.
    pub outcomes: Vec<Outcome>,
    /// How long executing the plan took (None until it is done).
    pub duration_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The action as the plan names it (`start web on n2`).
    pub action: String,
    pub ok: bool,
    /// When it started, in milliseconds after the plan's execution began,
    /// and how long it took.
    pub started_ms: u64,
    pub took_ms: u64,
}

/// The state in a transition. The Raft log stores commands by position
/// (MessagePack arrays), and the state's own encoding skips empty fields
/// (it is the `--state` file's): positions would shift and the entry could
/// not be read back. So the state travels as a JSON value — maps with named
/// fields, in any encoding (MessagePack maps in the log, objects in JSON).
mod state_codec {
    use halo_model::ClusterState;
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(state: &ClusterState, s: S) -> Result<S::Ok, S::Error> {
        serde_json::to_value(state)
            .map_err(S::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ClusterState, D::Error> {
        serde_json::from_value(serde_json::Value::deserialize(d)?).map_err(D::Error::custom)
    }
}

fn encoded_len(t: &Transition) -> usize {
    rmp_serde::to_vec(t).map_or(0, |b| b.len())
}

impl Journal {
    /// Remembers an event as a cause of the next transition.
    pub fn cause(&mut self, text: &str) {
        self.pending_causes.push(text.to_string());
        if self.pending_causes.len() > CAUSES_MAX {
            let extra = self.pending_causes.len() - CAUSES_MAX;
            self.pending_causes.drain(..extra);
        }
    }

    /// Records a transition planned with `policy` (at `version`); returns
    /// its number.
    pub fn record(&mut self, mut t: Transition, version: u64, policy: &PolicySource) -> u64 {
        t.id = self.next;
        t.policy = version;
        t.cause = std::mem::take(&mut self.pending_causes);
        self.next += 1;
        self.policies
            .entry(version)
            .or_insert_with(|| policy.clone());
        self.bytes += encoded_len(&t);
        self.transitions.push_back(t);
        while self.transitions.len() > JOURNAL_MAX
            || (self.bytes > JOURNAL_BYTES && self.transitions.len() > 1)
        {
            if let Some(old) = self.transitions.pop_front() {
                self.bytes = self.bytes.saturating_sub(encoded_len(&old));
            }
        }
        let used: BTreeSet<u64> = self.transitions.iter().map(|t| t.policy).collect();
        self.policies.retain(|v, _| used.contains(v));
        self.next - 1
    }

    /// Adds outcomes to transition `id` (if still kept).
    pub fn finish(&mut self, id: u64, outcomes: &[Outcome], duration_ms: u64) {
        let Some(t) = self.transitions.iter_mut().find(|t| t.id == id) else {
            return;
        };
        let before = encoded_len(t);
        t.outcomes.extend_from_slice(outcomes);
        t.duration_ms = Some(duration_ms);
        let after = encoded_len(t);
        self.bytes = self.bytes.saturating_sub(before) + after;
    }

    pub fn get(&self, id: u64) -> Option<&Transition> {
        self.transitions.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn t(plan: &str) -> Transition {
        Transition {
            id: 0,
            term: 1,
            leader: "n1".into(),
            cause: vec![],
            policy: 0,
            at: Timestamp(0),
            state: ClusterState::default(),
            plan: plan.into(),
            outcomes: vec![],
            duration_ms: None,
        }
    }

    fn src(text: &str) -> PolicySource {
        PolicySource {
            name: "p.ha".into(),
            text: text.into(),
        }
    }

    #[test]
    fn numbers_grow_causes_move_over_and_policies_are_kept_while_used() {
        let mut j = Journal::default();
        j.cause("node n1 lost");
        assert_eq!(j.record(t("1. start a on n2\n"), 3, &src("v3")), 0);
        assert_eq!(j.transitions[0].cause, vec!["node n1 lost".to_string()]);
        assert!(j.pending_causes.is_empty());
        assert_eq!(j.record(t(""), 7, &src("v7")), 1);
        assert_eq!(j.policies.len(), 2);
        j.finish(
            1,
            &[Outcome {
                action: "start a on n2".into(),
                ok: true,
                started_ms: 0,
                took_ms: 5,
            }],
            9,
        );
        assert_eq!(j.get(1).and_then(|t| t.duration_ms), Some(9));
        let total: usize = j.transitions.iter().map(encoded_len).sum();
        assert_eq!(j.bytes, total);
    }

    /// The regression behind `state_codec`: a transition whose state has
    /// skipped fields is read back from the log's positional encoding.
    #[test]
    fn a_transition_reads_back_from_the_raft_log_encoding() {
        let mut state = ClusterState {
            quorate: Some(true),
            ..Default::default()
        };
        let on = state.resources.entry("db".into()).or_default();
        on.insert(
            "n1".into(),
            halo_model::ResourceState {
                role: halo_model::Role::Promoted,
                promotion: Some(10),
                ..Default::default()
            },
        );
        on.insert("n2".into(), halo_model::ResourceState::default());
        let cmd = crate::doc::Command::Transition(Box::new(Transition {
            state,
            ..t("1. x\n")
        }));
        let bytes = rmp_serde::to_vec(&cmd).unwrap();
        let back: crate::doc::Command = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, cmd);
        let json: Transition = match &cmd {
            crate::doc::Command::Transition(t) => {
                serde_json::from_str(&serde_json::to_string(t).unwrap()).unwrap()
            }
            _ => unreachable!(),
        };
        assert_eq!(json.state.resources["db"]["n1"].promotion, Some(10));
    }

    #[test]
    fn the_oldest_go_first_and_take_their_unused_policies() {
        let mut j = Journal::default();
        for i in 0..(JOURNAL_MAX as u64 + 10) {
            j.record(t("x"), i / 100, &src("p"));
        }
        assert_eq!(j.transitions.len(), JOURNAL_MAX);
        assert_eq!(j.transitions.front().map(|t| t.id), Some(10));
        assert_eq!(j.next, JOURNAL_MAX as u64 + 10);
        let used: BTreeSet<u64> = j.transitions.iter().map(|t| t.policy).collect();
        assert_eq!(j.policies.keys().copied().collect::<BTreeSet<_>>(), used);
        let big = "y".repeat(JOURNAL_BYTES / 4);
        for _ in 0..6 {
            j.record(t(&big), 99, &src("p"));
        }
        assert!(j.bytes <= JOURNAL_BYTES, "{} bytes kept", j.bytes);
        assert_eq!(j.policies.keys().copied().collect::<Vec<_>>(), vec![99]);
    }
}
