//! The cluster's certificates: a CA, and one certificate per node, controller
//! and admin client, each naming its role and name in a URI
//! (`urn:halo:node:n1`). `init` writes them with one config file per node.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What a certificate allows its holder to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A node's runner: serves actions, commands nothing.
    Node,
    /// A controller replica: commands runners.
    Controller,
    /// An operator's client: commands runners and controllers.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Controller => "controller",
            Role::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "node" => Some(Role::Node),
            "controller" => Some(Role::Controller),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a peer is, as its certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub role: Role,
    pub name: String,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.role, self.name)
    }
}

const URN: &str = "urn:halo:";

/// The identity a certificate (DER) carries; an error names what is missing.
pub fn identity_of(der: &[u8]) -> Result<Identity, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("unreadable subject alternative names: {e}"))?
        .ok_or("the certificate names no Halo role (no subject alternative names)")?;
    san.value
        .general_names
        .iter()
        .find_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(u) => u.strip_prefix(URN),
            _ => None,
        })
        .and_then(|rest| {
            let (role, name) = rest.split_once(':')?;
            Some(Identity {
                role: Role::parse(role)?,
                name: name.to_string(),
            })
        })
        .ok_or_else(|| "the certificate names no Halo role (urn:halo:ROLE:NAME)".to_string())
}

/// A certificate and its key, PEM-encoded.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The cluster's CA, able to issue certificates.
pub struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Authority {
    pub fn new(cluster: &str) -> Result<Authority, String> {
        let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        p.distinguished_name
            .push(DnType::CommonName, format!("Halo cluster {cluster} CA"));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p
            .self_signed(&key)
            .map_err(|e| format!("cannot make the CA certificate: {e}"))?;
        Ok(Authority { cert, key })
    }

    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A certificate for `role` `name`, valid as both TLS server and client,
    /// for the DNS name `name` and, when given, the address `ip`.
    pub fn issue(
        &self,
        role: Role,
        name: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Issued, String> {
        let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let mut p = CertificateParams::new(vec![name.to_string()])
            .map_err(|e| format!("`{name}` cannot be a certificate name: {e}"))?;
        p.distinguished_name.push(DnType::CommonName, name);
        p.distinguished_name
            .push(DnType::OrganizationalUnitName, role.as_str());
        if let Some(ip) = ip {
            p.subject_alt_names.push(SanType::IpAddress(ip));
        }
        let uri = format!("{URN}{role}:{name}");
        p.subject_alt_names.push(SanType::URI(
            uri.clone()
                .try_into()
                .map_err(|e| format!("`{uri}` is not a valid URI: {e}"))?,
        ));
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p
            .signed_by(&key, &self.cert, &self.key)
            .map_err(|e| format!("cannot sign the certificate of {role} {name}: {e}"))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The default port of runners.
pub const DEFAULT_PORT: u16 = 7420;

/// Writes a new cluster's files into `out`: `ca.pem` and `ca.key`, for each node
/// `NODE.pem`, `NODE.key`, `NODE-controller.pem`, `NODE-controller.key` and
/// `NODE.toml`, and `admin.pem`, `admin.key`, `admin.toml`. Keys are mode
/// 0600. See [`InitOptions`] for the rest: with `http_port`, each controller replica serves its metrics and
/// status page on the loopback (its own address when that is a loopback
/// one, 127.0.0.1 otherwise) at that port, or the next free one when several
/// replicas share an address. Refuses to overwrite an existing cluster.
/// Returns the files written.
pub fn init(
    cluster: &str,
    nodes: &[(String, SocketAddr)],
    witnesses: &[(String, SocketAddr)],
    out: &Path,
    options: &InitOptions,
) -> Result<Vec<PathBuf>, String> {
    let (http_port, state) = (options.http_port, &options.state_dir);
    if nodes.is_empty() {
        return Err("give at least one node: --node NAME=ADDRESS".into());
    }
    let everyone: Vec<&(String, SocketAddr)> = nodes.iter().chain(witnesses).collect();
    for (i, (n, _)) in everyone.iter().enumerate() {
        if everyone[..i].iter().any(|(m, _)| m == n) {
            return Err(format!("`{n}` is given twice"));
        }
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(format!(
                "`{n}` is not a node name (letters, digits, '-' and '.')"
            ));
        }
    }
    if out.join("ca.pem").exists() {
        return Err(format!(
            "{} already holds a cluster (ca.pem): choose another directory; nothing was written",
            out.display()
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let ca = Authority::new(cluster)?;
    let mut written = Vec::new();
    let mut write = |name: &str, text: &str, secret: bool| -> Result<(), String> {
        let path = out.join(name);
        write_file(&path, text, secret)?;
        written.push(path);
        Ok(())
    };
    write("ca.pem", &ca.cert_pem(), false)?;
    write("ca.key", &ca.key_pem(), true)?;
    let table: String = nodes
        .iter()
        .map(|(n, a)| format!("{} = \"{a}\"\n", toml_key(n)))
        .collect();
    // Up to five controller replicas: the first nodes, and every witness.
    let voters = CONTROLLERS_MAX.saturating_sub(witnesses.len()).max(1);
    let controllers: Vec<(String, SocketAddr)> = nodes
        .iter()
        .take(voters)
        .map(|(n, a)| (n.clone(), controller_addr(*a)))
        .chain(witnesses.iter().cloned())
        .collect();
    let ctl_table: String = controllers
        .iter()
        .map(|(n, a)| format!("{} = \"{a}\"\n", toml_key(n)))
        .collect();
    let http = http_addrs(&controllers, http_port);
    let http_line = |name: &str| match http.get(name) {
        Some(a) => format!(
            "# Metrics (/metrics) and the status page (/): loopback only, see docs/operations.md.\n\
             http = \"{a}\"\n"
        ),
        None => String::new(),
    };
    for (name, addr) in nodes {
        let node = ca.issue(Role::Node, name, Some(addr.ip()))?;
        write(&format!("{name}.pem"), &node.cert_pem, false)?;
        write(&format!("{name}.key"), &node.key_pem, true)?;
        let ctl = ca.issue(Role::Controller, name, Some(addr.ip()))?;
        write(&format!("{name}-controller.pem"), &ctl.cert_pem, false)?;
        write(&format!("{name}-controller.key"), &ctl.key_pem, true)?;
        let replica = match controllers.iter().find(|(n, _)| n == name) {
            Some((_, listen)) => format!(
                "\n# This node also runs a controller replica.\n[controller]\n\
                 listen = \"{listen}\"\ncert = \"{name}-controller.pem\"\nkey = \"{name}-controller.key\"\n{}",
                http_line(name)
            ),
            None => String::new(),
        };
        let cfg = format!(
            "# Node {name} of cluster {cluster}: halo runner --config {name}.toml\n\
             cluster = \"{cluster}\"\nnode = \"{name}\"\nlisten = \"{addr}\"\n\
             state_dir = \"{state}/{name}\"\nca = \"ca.pem\"\ncert = \"{name}.pem\"\nkey = \"{name}.key\"\n\n\
             # Every node's runner address.\n[nodes]\n{table}{replica}\n\
             # Every controller replica's address.\n[controllers]\n{ctl_table}"
        );
        write(&format!("{name}.toml"), &cfg, false)?;
    }
    for (name, addr) in witnesses {
        let ctl = ca.issue(Role::Controller, name, Some(addr.ip()))?;
        write(&format!("{name}-controller.pem"), &ctl.cert_pem, false)?;
        write(&format!("{name}-controller.key"), &ctl.key_pem, true)?;
        let cfg = format!(
            "# The witness {name} of cluster {cluster}: a controller replica without resources.\n\
             # halo witness --config {name}.toml\n\
             cluster = \"{cluster}\"\nname = \"{name}\"\nlisten = \"{addr}\"\n\
             state_dir = \"{state}/{name}\"\nca = \"ca.pem\"\ncert = \"{name}-controller.pem\"\nkey = \"{name}-controller.key\"\n{}\n\
             # Every node's runner address.\n[nodes]\n{table}\n\
             # Every controller replica's address.\n[controllers]\n{ctl_table}",
            http_line(name)
        );
        write(&format!("{name}.toml"), &cfg, false)?;
    }
    let admin = ca.issue(Role::Admin, "admin", None)?;
    write("admin.pem", &admin.cert_pem, false)?;
    write("admin.key", &admin.key_pem, true)?;
    let cfg = format!(
        "# An operator's client of cluster {cluster}: halo agent exec --config admin.toml --node NODE ...\n\
         cluster = \"{cluster}\"\nca = \"ca.pem\"\ncert = \"admin.pem\"\nkey = \"admin.key\"\n\n\
         [nodes]\n{table}\n[controllers]\n{ctl_table}"
    );
    write("admin.toml", &cfg, false)?;
    Ok(written)
}

/// What `init` writes besides names and addresses.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The port of each replica's metrics and status page (None: none).
    pub http_port: Option<u16>,
    /// Where each node keeps its state (`DIR/NAME`), relative to the config
    /// file or absolute (`/var/lib/halo` on real machines).
    pub state_dir: String,
}

impl Default for InitOptions {
    fn default() -> InitOptions {
        InitOptions {
            http_port: Some(HTTP_PORT),
            state_dir: "state".into(),
        }
    }
}

/// The default port of the replicas' metrics and status page (the one
/// ha_cluster_exporter uses).
pub const HTTP_PORT: u16 = 9664;

/// Each replica's metrics and status page address: on its own address when
/// that is a loopback one (test clusters on one machine), else on
/// 127.0.0.1; replicas sharing an address take the next ports.
fn http_addrs(
    controllers: &[(String, SocketAddr)],
    port: Option<u16>,
) -> std::collections::BTreeMap<String, SocketAddr> {
    let mut out = std::collections::BTreeMap::new();
    let Some(port) = port else { return out };
    let mut taken = std::collections::BTreeSet::new();
    for (name, a) in controllers {
        let ip = if a.ip().is_loopback() {
            a.ip()
        } else {
            std::net::IpAddr::from([127, 0, 0, 1])
        };
        let mut addr = SocketAddr::new(ip, port);
        while !taken.insert(addr) {
            addr.set_port(addr.port().wrapping_add(1));
        }
        out.insert(name.clone(), addr);
    }
    out
}

/// At most this many controller replicas (Raft groups beyond five gain
/// nothing but latency).
pub const CONTROLLERS_MAX: usize = 5;

/// A node's controller listens on the port after its runner's.
pub fn controller_addr(runner: SocketAddr) -> SocketAddr {
    SocketAddr::new(runner.ip(), runner.port().wrapping_add(1))
}

fn toml_key(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        k.to_string()
    } else {
        format!("\"{k}\"")
    }
}

/// Writes a file; a secret one is created with mode 0600 from the start.
fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    if secret {
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn certificates_carry_their_role() {
        let ca = Authority::new("t").unwrap();
        for role in [Role::Node, Role::Controller, Role::Admin] {
            let c = ca.issue(role, "n1", "127.0.0.2".parse().ok()).unwrap();
            let der = CertificateDer::from_pem_slice(c.cert_pem.as_bytes()).unwrap();
            assert_eq!(
                identity_of(&der).unwrap(),
                Identity {
                    role,
                    name: "n1".into()
                }
            );
        }
        let ca_der = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap();
        assert!(identity_of(&ca_der).unwrap_err().contains("no Halo role"));
    }
}
