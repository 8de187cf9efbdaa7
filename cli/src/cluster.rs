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
    /// The directory to write (it must not hold a cluster already).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
pub struct RunnerArgs {
    /// The node's config file, as `halo cluster init` wrote it.
    #[arg(long)]
    config: PathBuf,
}

pub fn run(cmd: &ClusterCommand) -> Result<Exit, InputError> {
    match cmd {
        ClusterCommand::Init(a) => init(a),
    }
}

fn node_addr(spec: &str) -> Result<(String, SocketAddr), InputError> {
    let bad =
        |why: &str| InputError::usage(format!("--node {spec}: {why} (write NAME=HOST[:PORT])"));
    let (name, addr) = spec.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let port = halo_net::identity::DEFAULT_PORT;
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
        .map(|n| node_addr(n))
        .collect::<Result<Vec<_>, _>>()?;
    let written = halo_net::identity::init(&a.name, &nodes, &a.out).map_err(InputError::usage)?;
    let mut out = format!("cluster {} in {}:\n", a.name, a.out.display());
    for p in written {
        out.push_str(&format!("  {}\n", p.display()));
    }
    out.push_str(&format!(
        "\nstart each node's runner:   halo runner --config {}/NODE.toml\n\
         then, from an admin machine: halo agent exec --config {}/admin.toml --node NODE AGENT ACTION\n",
        a.out.display(),
        a.out.display()
    ));
    crate::write_stdout(&out)?;
    Ok(Exit::Ok)
}

pub fn runner(a: &RunnerArgs) -> Result<Exit, InputError> {
    let cfg = halo_net::NodeConfig::load(&a.config).map_err(InputError::usage)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HALO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let shim = std::env::current_exe().ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| InputError::usage(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        tokio::select! {
            r = halo_runner::daemon::serve(cfg, shim) => r.map_err(InputError::usage),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted: stopping");
                Ok(())
            }
        }
    })?;
    Ok(Exit::Ok)
}
