//! How a controller reaches a runner or another replica: over QUIC, or —
//! in the deterministic simulation — through the simulated network.

use crate::rpc::{CtlRequest, CtlResponse};
use crate::sim::SimLink;
use halo_net::Client;
use halo_proto::wire::{MonitorEvent, Request, Response};
use halo_proto::{ActionRequest, ActionResult};
use std::time::Duration;

pub enum Link {
    Quic(Box<Client>),
    Sim(SimLink),
}

/// Monitor events from one runner.
pub enum Events {
    Quic(halo_net::client::Events),
    Sim(tokio::sync::mpsc::UnboundedReceiver<Response>),
}

impl Events {
    /// The next event; `None` when the stream ended.
    pub async fn next(&mut self) -> Result<Option<MonitorEvent>, String> {
        match self {
            Events::Quic(e) => e.next().await,
            Events::Sim(rx) => loop {
                match rx.recv().await {
                    None => return Ok(None),
                    Some(Response::Event(e)) => return Ok(Some(e)),
                    Some(Response::Refused { why }) => return Err(format!("refused: {why}")),
                    Some(_) => {}
                }
            },
        }
    }
}

impl Link {
    /// One request to a runner and its answer.
    pub async fn call(&self, req: &Request) -> Result<Response, String> {
        match self {
            Link::Quic(c) => c.call(req).await,
            Link::Sim(s) => s.runner(req.clone(), None).await,
        }
    }

    /// Forgets the connection, so that the next request makes a new one.
    pub async fn reconnect(&self) {
        if let Link::Quic(c) = self {
            c.reconnect().await;
        }
    }

    /// Like `call`, giving up after `limit`.
    pub async fn call_within(&self, req: &Request, limit: Duration) -> Result<Response, String> {
        match self {
            Link::Quic(c) => c.request_within(req, limit).await,
            Link::Sim(s) => s.runner(req.clone(), Some(limit)).await,
        }
    }

    /// Carries out an action; its result survives a lost connection.
    pub async fn execute(
        &self,
        id: u64,
        epoch: Option<u64>,
        action: &ActionRequest,
    ) -> Result<ActionResult, String> {
        match self {
            Link::Quic(c) => c.execute(id, epoch, action).await,
            Link::Sim(s) => {
                let action = action.clone();
                s.result(Request::Execute { epoch, id, action }, id).await
            }
        }
    }

    /// Fences `action.target` with the fence device `action` names.
    pub async fn fence(
        &self,
        id: u64,
        epoch: Option<u64>,
        action: &ActionRequest,
    ) -> Result<ActionResult, String> {
        match self {
            Link::Quic(c) => c.fence(id, epoch, action).await,
            Link::Sim(s) => {
                let action = action.clone();
                s.result(Request::Fence { epoch, id, action }, id).await
            }
        }
    }

    pub async fn subscribe(&self) -> Result<Events, String> {
        match self {
            Link::Quic(c) => c.subscribe().await.map(Events::Quic),
            Link::Sim(s) => s.subscribe().await.map(Events::Sim),
        }
    }

    /// One request to another controller replica, giving up after `limit`.
    pub async fn ctl(&self, req: CtlRequest, limit: Duration) -> Result<CtlResponse, String> {
        match self {
            Link::Quic(c) => c.request_within(&req, limit).await,
            Link::Sim(s) => s.controller(req, limit).await,
        }
    }
}
