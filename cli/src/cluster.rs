//! `halo cluster init` and `halo runner`: a cluster's identity, and a node's
//! runner daemon.

use crate::load::InputError;
use crate::Exit;
use clap::{Args, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster's CA, a certificate and a config file per node, and an
    /// admin client's certificate and config.
    ///
    /// Example:
    ///   halo cluster init --name demo --node n1=127.0.0.2 --node n2=127.0.0.3 --out demo/
    ///   halo runner --config demo/n1.toml        (on n1)
    ///   halo agent exec --config demo/admin.toml --node n1 ocf:heartbeat:Dummy start
    ///
    /// Keys are written with mode 0600. Copy each node's files to it; keep
    /// ca.key away from the nodes (it signs new certificates).
    Init(InitArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// The cluster's name.
    #[arg(long)]
    name: String,
    /// A node and the address its runner listens on: NAME=HOST[:PORT]
    /// (port 7420 unless given).
    #[arg(long = "node", value_name = "NAME=ADDR", required = true)]
    nodes: Vec<String>,
    /// A witness (a controller replica without resources, for two-node
    /// clusters) and its address: NAME=HOST[:PORT] (port 7421 unless given).
    #[arg(long = "witness", value_name = "NAME=ADDR")]
    witnesses: Vec<String>,
    /// The directory to write (it must not hold a cluster already).
    #[arg(long)]
    out: PathBuf,
    /// The port of each controller replica's metrics and status page,
    /// served on the loopback only (see docs/operations.md to open it to
    /// admin certificates); 0: none.
    #[arg(long, default_value_t = halo_net::identity::HTTP_PORT)]
    http_port: u16,
    /// Where each node keeps its state: DIR/NODE, relative to its config
    /// file or absolute (the packages' units expect /var/lib/halo).
    #[arg(long, value_name = "DIR", default_value = "state")]
    state_dir: String,
}

#[derive(Args)]
pub struct RunnerArgs {
    /// The node's config file, as `halo cluster init` wrote it.
    #[arg(long)]
    pub config: PathBuf,
}

pub fn run(cmd: &ClusterCommand) -> Result<Exit, InputError> {
    match cmd {
        ClusterCommand::Init(a) => init(a),
    }
}

fn node_addr(spec: &str, flag: &str, port: u16) -> Result<(String, SocketAddr), InputError> {
    let bad =
        |why: &str| InputError::usage(format!("{flag} {spec}: {why} (write NAME=HOST[:PORT])"));
    let (name, addr) = spec.split_once('=').ok_or_else(|| bad("no `=`"))?;
    // An address with a port, an IP address without one, or a host name.
    let resolved = match (addr.parse::<SocketAddr>(), addr.parse::<std::net::IpAddr>()) {
        (Ok(sa), _) => Some(sa),
        (_, Ok(ip)) => Some(SocketAddr::new(ip, port)),
        _ => {
            let found = match addr.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
                Some((host, Ok(p))) => (host, p).to_socket_addrs(),
                _ => (addr, port).to_socket_addrs(),
            };
            found
                .map_err(|e| bad(&format!("`{addr}` is not an address: {e}")))?
                .next()
        }
    };
    let resolved = resolved.ok_or_else(|| bad(&format!("`{addr}` resolves to no address")))?;
    Ok((name.to_string(), resolved))
}

fn init(a: &InitArgs) -> Result<Exit, InputError> {
    let nodes = a
        .nodes
        .iter()
        .map(|n| node_addr(n, "--node", halo_net::identity::DEFAULT_PORT))
        .collect::<Result<Vec<_>, _>>()?;
    let witnesses = a
        .witnesses
        .iter()
        .map(|n| node_addr(n, "--witness", halo_net::identity::DEFAULT_PORT + 1))
        .collect::<Result<Vec<_>, _>>()?;
    if nodes.len() == 2 && witnesses.is_empty() {
        errln!(
            "halo: warning: two nodes and no witness: if one fails, the other has no majority \
             and the cluster stops. Add --witness NAME=ADDR on a third machine."
        );
    }
    let written = halo_net::identity::init(
        &a.name,
        &nodes,
        &witnesses,
        &a.out,
        &halo_net::identity::InitOptions {
            http_port: (a.http_port != 0).then_some(a.http_port),
            state_dir: a.state_dir.clone(),
        },
    )
    .map_err(InputError::usage)?;
    let mut out = format!("cluster {} in {}:\n", a.name, a.out.display());
    for p in written {
        out.push_str(&format!("  {}\n", p.display()));
    }
    out.push_str(&format!(
        "\nstart each node:             halo runner --config {dir}/NODE.toml\n\
         and each witness:             halo witness --config {dir}/WITNESS.toml\n\
         then, from an admin machine:  halo apply --config {dir}/admin.toml POLICY.ha\n\
         \x20                             halo status --config {dir}/admin.toml\n",
        dir = a.out.display()
    ));
    crate::write_stdout(&out)?;
    Ok(Exit::Ok)
}
