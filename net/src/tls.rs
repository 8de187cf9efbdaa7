//! rustls configurations: TLS 1.3 only, the ring provider, the cluster's CA as
//! the only root, and client certificates required by servers.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect();
    let certs = certs.map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("{}: not a PEM private key: {e}", path.display()))
}

fn roots(ca: &Path) -> Result<Arc<rustls::RootCertStore>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: not a usable CA certificate: {e}", ca.display()))?;
    }
    Ok(Arc::new(roots))
}

/// A server that requires a client certificate signed by the CA at `ca`.
pub fn server(ca: &Path, cert: &Path, key_path: &Path) -> Result<rustls::ServerConfig, String> {
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider())
            .build()
            .map_err(|e| format!("cannot use {} as the CA: {e}", ca.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert)?, key(key_path)?)
        .map_err(|e| {
            format!(
                "{} and {} do not make a certificate: {e}",
                cert.display(),
                key_path.display()
            )
        })?;
    cfg.alpn_protocols = vec![halo_proto::wire::ALPN.to_vec()];
    Ok(cfg)
}

/// A client trusting only the CA at `ca`, presenting `cert` when given.
pub fn client(ca: &Path, cert: Option<(&Path, &Path)>) -> Result<rustls::ClientConfig, String> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(ca)?);
    let mut cfg = match cert {
        Some((c, k)) => builder
            .with_client_auth_cert(certs(c)?, key(k)?)
            .map_err(|e| {
                format!(
                    "{} and {} do not make a certificate: {e}",
                    c.display(),
                    k.display()
                )
            })?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![halo_proto::wire::ALPN.to_vec()];
    Ok(cfg)
}

/// QUIC settings: keep-alives, so a quiet connection stays up and a dead peer
/// is noticed within seconds.
pub fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(std::time::Duration::from_millis(500)));
    if let Ok(idle) = quinn::IdleTimeout::try_from(std::time::Duration::from_secs(5)) {
        t.max_idle_timeout(Some(idle));
    }
    Arc::new(t)
}
