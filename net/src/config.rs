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
    /// Present when this node also runs a controller replica.
    pub controller: Option<ControllerSection>,
    /// Every controller replica's address (nodes and witnesses).
    #[serde(default)]
    pub controllers: BTreeMap<String, SocketAddr>,
    #[serde(default)]
    pub timing: Timing,
}

/// A node's controller replica: where it listens, and its certificate (with
/// the controller role).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerSection {
    pub listen: SocketAddr,
    /// Where the replica serves its metrics and status page (HTTP on a
    /// loopback address, otherwise HTTPS for admin certificates only).
    #[serde(default)]
    pub http: Option<SocketAddr>,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A controller replica, beside a node's runner or alone (a witness).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerConfig {
    pub cluster: String,
    /// The replica's name: its node's, or the witness's.
    pub name: String,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Every controller replica's address, this one's included.
    pub controllers: BTreeMap<String, SocketAddr>,
    /// Every node's runner address.
    #[serde(default)]
    pub nodes: BTreeMap<String, SocketAddr>,
    #[serde(default)]
    pub timing: Timing,
    /// Where the replica serves its metrics and status page (HTTP on a
    /// loopback address, otherwise HTTPS for admin certificates only).
    #[serde(default)]
    pub http: Option<SocketAddr>,
}

/// How fast the cluster notices failures. Defaults suit a LAN.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Timing {
    /// The leader asks each runner this often whether it is there.
    pub heartbeat_ms: u64,
    /// A runner silent this long is lost.
    pub timeout_ms: u64,
    /// With fencing off: a runner that has not heard from the leader for
    /// this long stops its resources itself, and the leader starts them
    /// elsewhere only after this long (plus the stops' timeouts) has passed.
    pub lease_ms: u64,
    /// With fencing off: a node's watchdog process fires this long after
    /// its runner last fed it (it feeds only while its lease is valid),
    /// kills the node process and stops what the node ran; the leader
    /// waits twice this long on top of the lease and the stop timeouts.
    pub watchdog_ms: u64,
    /// Controllers elect a new leader after hearing nothing from the old one
    /// for this long (up to a third more); the leader heartbeats them every
    /// third of it.
    pub election_ms: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            heartbeat_ms: 50,
            timeout_ms: 250,
            lease_ms: 1000,
            watchdog_ms: 2000,
            election_ms: 150,
        }
    }
}

impl Timing {
    /// Fencing off: how long after the leader declares a node lost it
    /// starts the node's resources elsewhere, when stopping them there may
    /// take `stops`. The last renewal of the node's lease may still have
    /// been on its way for up to the timeout; the lease then runs (a tenth
    /// more for clock drift); a runner that hangs instead of stopping is
    /// stopped by its watchdog within twice the watchdog's timeout (as
    /// Pacemaker's `stonith-watchdog-timeout` is twice SBD's); then the
    /// stops themselves.
    pub fn lease_wait(&self, stops: std::time::Duration) -> std::time::Duration {
        let ms = std::time::Duration::from_millis;
        ms(self.timeout_ms)
            + ms(self.lease_ms)
            + ms(self.lease_ms / 10)
            + 2 * ms(self.watchdog_ms)
            + stops
    }

    /// Refuses settings that cannot work, saying which and why.
    pub fn check(&self) -> Result<(), String> {
        if self.heartbeat_ms == 0 || self.heartbeat_ms * 2 > self.timeout_ms {
            return Err(format!(
                "[timing] timeout_ms ({}) must be at least twice heartbeat_ms ({}), which must not be 0",
                self.timeout_ms, self.heartbeat_ms
            ));
        }
        if self.lease_ms < self.timeout_ms {
            return Err(format!(
                "[timing] lease_ms ({}) must be at least timeout_ms ({})",
                self.lease_ms, self.timeout_ms
            ));
        }
        if self.watchdog_ms < 100 {
            return Err(format!(
                "[timing] watchdog_ms ({}) must be at least 100: the runner feeds its \
                 watchdog every 20 ms, and a busy machine must not make it fire",
                self.watchdog_ms
            ));
        }
        if self.election_ms < 50 {
            return Err(format!(
                "[timing] election_ms ({}) must be at least 50",
                self.election_ms
            ));
        }
        Ok(())
    }
}

/// Where the node's agents are (Debian's locations by default).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agents {
    pub ocf_root: Option<PathBuf>,
    pub lsb_dir: Option<PathBuf>,
    pub fence_dirs: Option<Vec<PathBuf>>,
    /// The node's runtime directory for agents (`HA_RSCTMP`, `HA_VARRUN`);
    /// needed when several nodes share one machine.
    pub run_dir: Option<PathBuf>,
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
    /// Every controller replica's address: `status`, `apply` and the other
    /// cluster commands go to the leader among them.
    #[serde(default)]
    pub controllers: BTreeMap<String, SocketAddr>,
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
        c.agents.run_dir = c.agents.run_dir.map(|p| beside(path, &p));
        if let Some(ctl) = &mut c.controller {
            ctl.cert = beside(path, &ctl.cert);
            ctl.key = beside(path, &ctl.key);
        }
        c.timing
            .check()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(c)
    }

    /// The node's controller replica, when it runs one.
    pub fn controller(&self) -> Option<ControllerConfig> {
        let ctl = self.controller.as_ref()?;
        Some(ControllerConfig {
            cluster: self.cluster.clone(),
            name: self.node.clone(),
            listen: ctl.listen,
            state_dir: self.state_dir.join("controller"),
            ca: self.ca.clone(),
            cert: ctl.cert.clone(),
            key: ctl.key.clone(),
            controllers: self.controllers.clone(),
            nodes: self.nodes.clone(),
            timing: self.timing,
            http: ctl.http,
        })
    }
}

impl ControllerConfig {
    /// A witness's config file.
    pub fn load(path: &Path) -> Result<ControllerConfig, String> {
        let mut c: ControllerConfig = parse(path)?;
        c.state_dir = beside(path, &c.state_dir);
        c.ca = beside(path, &c.ca);
        c.cert = beside(path, &c.cert);
        c.key = beside(path, &c.key);
        c.timing
            .check()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !c.controllers.contains_key(&c.name) {
            return Err(format!(
                "{}: [controllers] does not list this replica, `{}`",
                path.display(),
                c.name
            ));
        }
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
