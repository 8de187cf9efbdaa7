//! The serving side: a QUIC endpoint that asks every peer for a certificate
//! the cluster's CA signed, and the role and name written in it.

use crate::identity::{identity_of, Identity};
use crate::tls;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// A QUIC endpoint listening on `listen` with this peer's certificate.
pub fn endpoint(
    ca: &Path,
    cert: &Path,
    key: &Path,
    listen: SocketAddr,
) -> Result<quinn::Endpoint, String> {
    let crypto = tls::server(ca, cert, key)?;
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)
        .map_err(|e| format!("cannot use the TLS settings for QUIC: {e}"))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
    server.transport_config(tls::transport());
    quinn::Endpoint::server(server, listen).map_err(|e| format!("cannot listen on {listen}: {e}"))
}

/// Completes an incoming connection and reads who the peer is. The error
/// says why the peer was refused (no certificate, another CA, no role).
pub async fn accept(incoming: quinn::Incoming) -> Result<(quinn::Connection, Identity), String> {
    let conn = incoming.await.map_err(|e| match e {
        // The peer went away, or the packets did: nothing about who it is.
        quinn::ConnectionError::TimedOut
        | quinn::ConnectionError::Reset
        | quinn::ConnectionError::LocallyClosed
        | quinn::ConnectionError::ApplicationClosed(_) => e.to_string(),
        _ => format!("{e} (no certificate, or one the cluster's CA did not sign)"),
    })?;
    let who = conn
        .peer_identity()
        .and_then(|any| {
            any.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .and_then(|certs| certs.first().map(|c| identity_of(c)))
        .unwrap_or_else(|| Err("no client certificate".into()));
    match who {
        Ok(w) => Ok((conn, w)),
        Err(e) => {
            conn.close(1u32.into(), e.as_bytes());
            Err(e)
        }
    }
}
