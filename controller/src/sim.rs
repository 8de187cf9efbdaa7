//! The seam for the deterministic simulation: a `SimLink` hands requests to
//! a simulated network (implemented by the simulation test, which owns the
//! runners and the fault schedule) instead of QUIC.

use crate::rpc::{CtlRequest, CtlResponse};
use halo_net::client::result_of;
use halo_proto::wire::{Request, Response};
use halo_proto::ActionResult;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A simulated network between replicas and runners.
pub trait SimNet: Send + Sync {
    /// A request from replica `from` to the runner of node `to`.
    fn runner(
        &self,
        from: &str,
        to: &str,
        req: Request,
        limit: Option<Duration>,
    ) -> Pending<'_, Result<Response, String>>;
    /// Monitor events of the runner of `to`, as seen by `from`.
    fn subscribe(
        &self,
        from: &str,
        to: &str,
    ) -> Pending<'_, Result<UnboundedReceiver<Response>, String>>;
    /// A request from replica `from` to replica `to`.
    fn controller(
        &self,
        from: &str,
        to: &str,
        req: CtlRequest,
        limit: Duration,
    ) -> Pending<'_, Result<CtlResponse, String>>;
}

/// One direction of a simulated link.
pub struct SimLink {
    pub net: Arc<dyn SimNet>,
    pub from: String,
    pub to: String,
}

impl SimLink {
    pub async fn runner(&self, req: Request, limit: Option<Duration>) -> Result<Response, String> {
        self.net.runner(&self.from, &self.to, req, limit).await
    }

    /// An `Execute` or `Fence` request `id`, answered with its result.
    pub async fn result(&self, req: Request, id: u64) -> Result<ActionResult, String> {
        result_of(self.runner(req, None).await?, id)
    }

    pub async fn subscribe(&self) -> Result<UnboundedReceiver<Response>, String> {
        self.net.subscribe(&self.from, &self.to).await
    }

    pub async fn controller(
        &self,
        req: CtlRequest,
        limit: Duration,
    ) -> Result<CtlResponse, String> {
        self.net.controller(&self.from, &self.to, req, limit).await
    }
}
