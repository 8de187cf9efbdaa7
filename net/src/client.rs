//! A client of one runner: connects (again) with backoff, sends requests, and
//! collects an action's result after a connection lost mid-action.

use crate::{frame, tls, AdminConfig};
use halo_proto::wire::{MonitorEvent, Request, Response};
use halo_proto::{ActionRequest, ActionResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Client {
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
    node: String,
    /// How errors name the peer: "the runner of n1".
    label: String,
    conn: tokio::sync::Mutex<Option<quinn::Connection>>,
    /// How long to keep trying to reach the runner before giving up.
    pub patience: Duration,
}

/// Why a connection attempt failed, and whether trying again can help.
struct Failure {
    why: String,
    /// The peer refused us (certificate, role): retrying will not help.
    refused: bool,
}

fn failure(e: &quinn::ConnectionError) -> Failure {
    use quinn::ConnectionError as E;
    let refused = match e {
        E::ApplicationClosed(_) | E::ConnectionClosed(_) => true,
        // TLS alerts (a refused certificate) travel as QUIC's crypto error
        // codes, 0x100 + the alert.
        E::TransportError(t) => (0x100..0x200).contains(&u64::from(t.code)),
        _ => false,
    };
    Failure {
        why: e.to_string(),
        refused,
    }
}

impl Client {
    pub fn new(tls: rustls::ClientConfig, addr: SocketAddr, node: &str) -> Result<Client, String> {
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| format!("cannot use the TLS settings for QUIC: {e}"))?;
        let mut config = quinn::ClientConfig::new(Arc::new(quic));
        config.transport_config(tls::transport());
        let bind: SocketAddr = if addr.is_ipv6() {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0u8; 4], 0))
        };
        let endpoint =
            quinn::Endpoint::client(bind).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        Ok(Client {
            endpoint,
            config,
            addr,
            node: node.to_string(),
            label: format!("the runner of {node}"),
            conn: tokio::sync::Mutex::new(None),
            patience: Duration::from_secs(10),
        })
    }

    /// A client of `node` as the admin config describes the cluster.
    pub fn for_node(cfg: &AdminConfig, node: &str) -> Result<Client, String> {
        let cert = match (&cfg.cert, &cfg.key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            (None, None) => None,
            _ => return Err("give both `cert` and `key`, or neither".into()),
        };
        Client::new(tls::client(&cfg.ca, cert)?, cfg.address(node)?, node)
    }

    /// Names the peer in errors as `label` (e.g. "the controller on n1").
    pub fn labelled(mut self, label: impl Into<String>) -> Client {
        self.label = label.into();
        self
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The connection, made (again) if there is none: with backoff from 50 ms
    /// to 2 s, for at most `patience`; at once if the runner refuses us.
    async fn connection(&self) -> Result<quinn::Connection, String> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(c.clone());
        }
        let deadline = Instant::now() + self.patience;
        let mut backoff = Duration::from_millis(50);
        loop {
            let attempt =
                match self
                    .endpoint
                    .connect_with(self.config.clone(), self.addr, &self.node)
                {
                    Ok(connecting) => match connecting.await {
                        Ok(c) => {
                            *guard = Some(c.clone());
                            return Ok(c);
                        }
                        Err(e) => failure(&e),
                    },
                    Err(e) => Failure {
                        why: e.to_string(),
                        refused: true,
                    },
                };
            if attempt.refused || Instant::now() + backoff >= deadline {
                return Err(format!(
                    "cannot reach {} at {}: {}",
                    self.label, self.addr, attempt.why
                ));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Forgets a broken connection, so that the next call reconnects.
    async fn drop_connection(&self) {
        *self.conn.lock().await = None;
    }

    /// Forgets the connection, whatever its state: the next call makes a
    /// new one. A connection kept from a while ago may lead to a process
    /// that has since restarted, which QUIC notices only after its idle
    /// timeout.
    /// Never waits: while another call holds the connection's lock it is
    /// making a new connection (for up to `patience` when the peer is
    /// gone), which is what this asks for anyway. Waiting for it held a new
    /// leader's heartbeats back for seconds when the old leader's node had
    /// died.
    pub async fn reconnect(&self) {
        if let Ok(mut guard) = self.conn.try_lock() {
            *guard = None;
        }
    }

    /// One request and its one answer.
    pub async fn call(&self, req: &Request) -> Result<Response, String> {
        self.try_call(req).await.map_err(|f| f.why)
    }

    async fn try_call(&self, req: &Request) -> Result<Response, Failure> {
        self.try_request(req).await
    }

    /// Like `request`, but gives up after `limit`; the connection is then
    /// dropped, since a peer that stopped answering may have restarted
    /// behind it (a new connection reaches the new process).
    pub async fn request_within<Q: Serialize, A: DeserializeOwned>(
        &self,
        req: &Q,
        limit: Duration,
    ) -> Result<A, String> {
        match tokio::time::timeout(limit, self.try_request(req)).await {
            Ok(r) => r.map_err(|f| f.why),
            Err(_) => {
                if let Ok(mut guard) = self.conn.try_lock() {
                    *guard = None;
                }
                Err(format!(
                    "{} at {} did not answer within {} ms",
                    self.label,
                    self.addr,
                    limit.as_millis()
                ))
            }
        }
    }

    /// One request of any message type and its one answer: for the
    /// controllers' own protocol, which rides on the same connections.
    pub async fn request<Q: Serialize, A: DeserializeOwned>(&self, req: &Q) -> Result<A, String> {
        self.try_request(req).await.map_err(|f| f.why)
    }

    async fn try_request<Q: Serialize, A: DeserializeOwned>(&self, req: &Q) -> Result<A, Failure> {
        let conn = self
            .connection()
            .await
            .map_err(|why| Failure { why, refused: true })?;
        let result = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
            frame::write(&mut send, req).await?;
            send.finish().map_err(|e| format!("cannot send: {e}"))?;
            frame::read::<A>(&mut recv)
                .await?
                .ok_or_else(|| "the peer closed the stream without an answer".to_string())
        }
        .await;
        let Err(why) = result else {
            return result.map_err(|why| Failure {
                why,
                refused: false,
            });
        };
        // Why the connection ended says more than the stream error.
        match conn.close_reason() {
            Some(reason) => {
                self.drop_connection().await;
                let f = failure(&reason);
                Err(Failure {
                    why: format!(
                        "{} at {}: {}",
                        self.label,
                        self.addr,
                        explain(&reason, f.why)
                    ),
                    refused: f.refused,
                })
            }
            None => Err(Failure {
                why: format!("{}: {why}", self.label),
                refused: false,
            }),
        }
    }

    fn lost(&self, e: &quinn::ConnectionError) -> String {
        format!("lost the connection to {}: {e}", self.label)
    }

    /// Carries out `action` as `id`. If the connection is lost while it runs,
    /// reconnects and collects its result: the runner kept it.
    pub async fn execute(
        &self,
        id: u64,
        epoch: Option<u64>,
        action: &ActionRequest,
    ) -> Result<ActionResult, String> {
        let req = Request::Execute {
            epoch,
            id,
            action: action.clone(),
        };
        self.deliver(&req, id).await
    }

    /// Fences `action.target` with the fence agent `action` names; like
    /// `execute`, the result survives a lost connection.
    pub async fn fence(
        &self,
        id: u64,
        epoch: Option<u64>,
        action: &ActionRequest,
    ) -> Result<ActionResult, String> {
        let req = Request::Fence {
            epoch,
            id,
            action: action.clone(),
        };
        self.deliver(&req, id).await
    }

    /// Sends a request that answers with the result of action `id`, collecting
    /// the result after reconnecting when the connection is lost meanwhile.
    async fn deliver(&self, req: &Request, id: u64) -> Result<ActionResult, String> {
        match self.try_call(req).await {
            Ok(resp) => result_of(resp, id),
            Err(f) if f.refused => Err(f.why),
            Err(f) => {
                // The request may or may not have arrived: ask for the result;
                // a runner that never saw it says so.
                tracing::warn!(node = %self.node, id, "{}; collecting the result after reconnecting", f.why);
                self.collect(id).await
            }
        }
    }

    /// The result of an earlier `execute` (waiting for it if it still runs).
    pub async fn collect(&self, id: u64) -> Result<ActionResult, String> {
        result_of(self.call(&Request::Collect { ids: vec![id] }).await?, id)
    }

    /// Monitor events as they happen, on a stream of their own.
    pub async fn subscribe(&self) -> Result<Events, String> {
        let conn = self.connection().await?;
        let (mut send, recv) = conn.open_bi().await.map_err(|e| self.lost(&e))?;
        frame::write(&mut send, &Request::Subscribe).await?;
        send.finish().map_err(|e| format!("cannot send: {e}"))?;
        Ok(Events { recv, _send: send })
    }
}

/// A refusal in words: the runner's own reason when it gave one.
fn explain(e: &quinn::ConnectionError, plain: String) -> String {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) if !c.reason.is_empty() => {
            format!("refused: {}", String::from_utf8_lossy(&c.reason))
        }
        _ => format!("refused: {plain}"),
    }
}

/// The result of action `id` in an answer, or why there is none.
pub fn result_of(resp: Response, id: u64) -> Result<ActionResult, String> {
    match resp {
        Response::Result { id: got, result } if got == id => Ok(result),
        Response::Refused { why } => Err(format!("refused: {why}")),
        other => Err(format!("unexpected answer: {other:?}")),
    }
}

/// Monitor events from one runner.
pub struct Events {
    recv: quinn::RecvStream,
    _send: quinn::SendStream,
}

impl Events {
    /// The next event; `None` when the runner ends the stream.
    pub async fn next(&mut self) -> Result<Option<MonitorEvent>, String> {
        loop {
            match frame::read::<Response>(&mut self.recv).await? {
                None => return Ok(None),
                Some(Response::Event(e)) => return Ok(Some(e)),
                Some(Response::Refused { why }) => return Err(format!("refused: {why}")),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A new leader starts its heartbeats with `reconnect`; a call still
    /// trying to reach a node that died must not hold it back.
    #[tokio::test]
    async fn reconnect_does_not_wait_for_a_connection_being_made() {
        let dir = std::env::temp_dir().join(format!("halo-net-reconnect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        let authority = crate::identity::Authority::new("t").unwrap();
        std::fs::write(&ca, authority.cert_pem()).unwrap();
        // A port nobody listens on: the handshake gets no answer.
        let free = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let client = Arc::new(Client::new(tls::client(&ca, None).unwrap(), addr, "n1").unwrap());
        let calling = {
            let c = client.clone();
            tokio::spawn(async move { c.call(&Request::Hello).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let waited = Instant::now();
        tokio::time::timeout(Duration::from_secs(1), client.reconnect())
            .await
            .unwrap();
        assert!(waited.elapsed() < Duration::from_millis(500));
        calling.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
