//! The config files `halo cluster init` writes: one per node (its runner) and
//! one for admin clients. Paths in them are relative to the file's directory.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A node's runner.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub cluster: String,
    pub node: String,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default)]
    pub agents: Agents,
    #[serde(default)]
    pub limits: Limits,
    /// Every node's runner address.
    #[serde(default)]
    pub nodes: BTreeMap<String, SocketAddr>,
}

/// Where the node's agents are (Debian's locations by default).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agents {
    pub ocf_root: Option<PathBuf>,
    pub lsb_dir: Option<PathBuf>,
    pub fence_dirs: Option<Vec<PathBuf>>,
}

/// Bounds on the runner.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Actions at once (default 8).
    pub parallel_max: Option<usize>,
    /// Bytes of output kept per stream and action (default 64 KiB).
    pub output_max: Option<usize>,
}

/// An admin client (or anything else that commands runners).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub cluster: String,
    pub ca: PathBuf,
    /// Without a certificate the client connects anonymously, and runners
    /// refuse it (useful only to see that they do).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub nodes: BTreeMap<String, SocketAddr>,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn parse<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    toml::from_str(&read(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

/// `p` relative to the directory of `file`.
fn beside(file: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<NodeConfig, String> {
        let mut c: NodeConfig = parse(path)?;
        c.state_dir = beside(path, &c.state_dir);
        c.ca = beside(path, &c.ca);
        c.cert = beside(path, &c.cert);
        c.key = beside(path, &c.key);
        Ok(c)
    }
}

impl AdminConfig {
    pub fn load(path: &Path) -> Result<AdminConfig, String> {
        let mut c: AdminConfig = parse(path)?;
        c.ca = beside(path, &c.ca);
        c.cert = c.cert.map(|p| beside(path, &p));
        c.key = c.key.map(|p| beside(path, &p));
        Ok(c)
    }

    /// A node's address, or an error listing the nodes there are.
    pub fn address(&self, node: &str) -> Result<SocketAddr, String> {
        self.nodes.get(node).copied().ok_or_else(|| {
            format!(
                "no node `{node}` in cluster {}: its nodes are {}",
                self.cluster,
                self.nodes.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}
