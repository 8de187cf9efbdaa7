//! The replica's web endpoint, beside its QUIC one: Prometheus metrics
//! (`/metrics`), the status page (`/`) and the JSON it shows
//! (`/api/status`). All read-only.
//!
//! Who may read it: on a loopback address, whoever is on the machine (plain
//! HTTP); on any other address only clients presenting the cluster's admin
//! or controller certificate (HTTPS with mutual TLS, the cluster's CA the
//! only root), so a status page never leaks to the network by accident.

use crate::node::Controller;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use halo_net::identity::{identity_of, Role};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::{info, warn};

/// The status page: one file, no external resources (it must work on a
/// machine without Internet access), polling `/api/status`.
const PAGE: &str = include_str!("status.html");

fn router(ctl: Arc<Controller>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/api/status", get(status))
        .with_state(ctl)
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn metrics(State(ctl): State<Arc<Controller>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ctl.metrics_text(),
    )
        .into_response()
}

async fn status(State(ctl): State<Arc<Controller>>) -> Response {
    match serde_json::to_string(&ctl.page_view()) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Serves the endpoint at `addr` until the process stops.
pub async fn serve(ctl: Arc<Controller>, addr: SocketAddr) -> Result<(), String> {
    let tls = if addr.ip().is_loopback() {
        None
    } else {
        let mut cfg = halo_net::tls::server(&ctl.cfg.ca, &ctl.cfg.cert, &ctl.cfg.key)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} for metrics and the status page: {e}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(replica = %ctl.cfg.name, "metrics and status page on {scheme}://{addr}/");
    let app = router(ctl);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!("metrics endpoint: cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (app, tls) = (app.clone(), tls.clone());
        tokio::spawn(async move {
            let service = TowerToHyperService::new(app);
            let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let served = match tls {
                None => http.serve_connection(TokioIo::new(tcp), service).await,
                Some(acceptor) => match accept_tls(&acceptor, tcp).await {
                    Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                    Err(why) => {
                        warn!(%peer, "metrics endpoint: refused a connection: {why}");
                        return;
                    }
                },
            };
            if let Err(e) = served {
                tracing::debug!(%peer, "metrics endpoint: connection ended: {e}");
            }
        });
    }
}

/// The TLS handshake, then the client's certificate must name an admin or a
/// controller of this cluster (the CA checked the signature).
async fn accept_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
) -> Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, String> {
    let stream = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
    let der = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no client certificate")?;
    let who = identity_of(der.as_ref())?;
    match who.role {
        Role::Admin | Role::Controller => Ok(stream),
        Role::Node => Err(format!("{who}: a node certificate may not read the status")),
    }
}

/// Transitions the status page lists.
pub const PAGE_TRANSITIONS: usize = 10;

/// What `/api/status` answers.
#[derive(serde::Serialize)]
pub struct PageView {
    pub status: crate::rpc::Status,
    /// The last transitions, newest first.
    pub transitions: Vec<TransitionView>,
}

#[derive(serde::Serialize)]
pub struct TransitionView {
    pub id: u64,
    pub at: i64,
    pub leader: String,
    pub cause: Vec<String>,
    pub plan: String,
    pub failed: usize,
    pub duration_ms: Option<u64>,
}

impl TransitionView {
    pub fn of(t: &crate::journal::Transition) -> TransitionView {
        TransitionView {
            id: t.id,
            at: t.at.0,
            leader: t.leader.clone(),
            cause: t.cause.clone(),
            plan: t.plan.clone(),
            failed: t.outcomes.iter().filter(|o| !o.ok).count(),
            duration_ms: t.duration_ms,
        }
    }
}
