//! The controllers' protocol: Raft's messages between replicas, and the
//! operator's requests (from an admin certificate) to the leader. Both ride
//! on QUIC streams, one request and one answer per stream, framed like the
//! runners' messages.

use crate::doc::{AdminOp, Doc};
use crate::link::Link;
use crate::store::{NodeId, TypeConfig};
use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum CtlRequest {
    Vote {
        rpc: VoteRequest<NodeId>,
    },
    Append {
        rpc: AppendEntriesRequest<TypeConfig>,
    },
    Snapshot {
        rpc: InstallSnapshotRequest<TypeConfig>,
    },
    /// Would you vote for me? Asked before an election (Raft's pre-vote):
    /// a replica that still hears a leader says no, so a replica that
    /// restarted or was cut off cannot depose a leader the others hear.
    /// Nothing changes on the replica asked.
    PreVote {
        last_log: Option<openraft::LogId<NodeId>>,
    },
    /// From the leader, which lost `target`'s runner while `target` runs
    /// the cluster's most important resources: take the lead if you still
    /// reach it (and a majority would vote for you), so that it need not be
    /// fenced. Answered `TookOver` or `Refused` with the reason.
    TakeOver {
        target: String,
    },
    /// The cluster's document and liveness, from the leader.
    Status,
    /// Apply a policy. With `expect_seq`, only if the document has not
    /// changed since the operator saw it.
    Apply {
        name: String,
        text: String,
        expect_seq: Option<u64>,
    },
    /// An operator's command; a ban with `lifetime_s` lapses after it.
    Admin {
        op: AdminOp,
        lifetime_s: Option<u64>,
    },
    /// The decision journal: transition `id` whole, or (without) every kept
    /// transition without its state.
    History {
        id: Option<u64>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum CtlResponse {
    Vote {
        rpc: Result<VoteResponse<NodeId>, RaftError<NodeId>>,
    },
    Append {
        rpc: Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>,
    },
    Snapshot {
        rpc: Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    },
    PreVote {
        granted: bool,
    },
    /// This replica stood for election to take the lead (see `TakeOver`).
    TookOver,
    Status {
        status: Box<Status>,
    },
    /// Done; the document's sequence number after it.
    Done {
        seq: u64,
    },
    /// Ask the leader (if one is known).
    NotLeader {
        leader: Option<String>,
    },
    Refused {
        why: String,
    },
    History {
        history: Box<History>,
    },
}

/// What `halo history` and the replays get: transitions, with the policy
/// sources they planned with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct History {
    pub cluster: String,
    pub transitions: Vec<crate::journal::Transition>,
    pub policies: BTreeMap<u64, crate::doc::PolicySource>,
    /// Transitions recorded before the oldest kept one were dropped (the
    /// journal is bounded).
    pub first_kept: Option<u64>,
}

/// What `halo status` shows: the leader's view.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    pub cluster: String,
    /// The replica that answered, and the leader.
    pub replica: String,
    pub leader: Option<String>,
    pub term: u64,
    /// Every replica, and whether the leader hears from it.
    pub replicas: BTreeMap<String, bool>,
    /// Every node's runner, and whether it answers heartbeats.
    pub runners: BTreeMap<String, bool>,
    /// Actions running now (`start web on n2`).
    pub running: Vec<String>,
    /// The leader's last failed alert runs.
    #[serde(default)]
    pub alert_failures: Vec<String>,
    pub doc: Doc,
}

/// Replicas by Raft id: ids are 1, 2, ... in the order of the names.
#[derive(Clone)]
pub struct Replicas {
    pub names: BTreeMap<NodeId, String>,
    pub clients: BTreeMap<NodeId, Arc<Link>>,
}

impl Replicas {
    pub fn name_of(&self, id: NodeId) -> Option<&str> {
        self.names.get(&id).map(String::as_str)
    }
}

/// openraft's view of the network: a connection per peer replica.
#[derive(Clone)]
pub struct Network {
    pub replicas: Arc<Replicas>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Peer {
        Peer {
            target,
            client: self.replicas.clients.get(&target).cloned(),
        }
    }
}

pub struct Peer {
    target: NodeId,
    client: Option<Arc<Link>>,
}

fn unreachable<E: std::error::Error>(why: impl Into<String>) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why.into())))
}

impl Peer {
    async fn call(&self, req: CtlRequest, option: &RPCOption) -> Result<CtlResponse, String> {
        let Some(client) = &self.client else {
            return Err(format!("no replica {}", self.target));
        };
        client.ctl(req, option.hard_ttl()).await
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(CtlRequest::Append { rpc }, &option).await {
            Ok(CtlResponse::Append { rpc }) => rpc.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            Ok(other) => Err(unreachable(format!("unexpected answer {other:?}"))),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.call(CtlRequest::Snapshot { rpc }, &option).await {
            Ok(CtlResponse::Snapshot { rpc }) => rpc.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            Ok(other) => Err(unreachable(format!("unexpected answer {other:?}"))),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(CtlRequest::Vote { rpc }, &option).await {
            Ok(CtlResponse::Vote { rpc }) => rpc.map_err(|e| {
                RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e))
            }),
            Ok(other) => Err(unreachable(format!("unexpected answer {other:?}"))),
            Err(e) => Err(unreachable(e)),
        }
    }
}
