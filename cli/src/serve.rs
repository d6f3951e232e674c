//! `kandy serve`: the gateway emulator as a process.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use kandy_gateway::server::{Server, ServerConfig, TlsFiles};
use kandy_gateway::{Gateway, GatewayConfig, Users};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to listen on (0 = any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind. Loopback by default: the built-in users are test
    /// accounts with well-known passwords.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Users file (JSON, see the kandy-gateway docs). Default: alice, bob and
    /// carol @example.com.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Gateway configuration file (JSON `GatewayConfig`; every key optional).
    #[arg(long)]
    config: Option<PathBuf>,
    /// PEM certificate chain: serve https and wss (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub fn run(args: Args) -> Result<(), String> {
    let users = match &args.users {
        Some(p) => Users::from_json(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?,
        None => Users::builtin(),
    };
    let gateway_config: GatewayConfig = match &args.config {
        Some(p) => serde_json::from_str(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?,
        None => GatewayConfig::default(),
    };
    let mut config = ServerConfig::loopback(args.port);
    config.addr = SocketAddr::new(args.bind, args.port);
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(TlsFiles::new(cert, key));
    }
    let names: Vec<String> = users.iter().map(|u| u.username.clone()).collect();
    let gateway = Gateway::new(gateway_config, users, crate::os_seed()?);
    let server = Server::bind(config, gateway).map_err(|e| e.to_string())?;
    let handle = server.handle();
    let base = handle.base_url();
    let ws = base.replacen("http", "ws", 1);
    println!("kandy gateway emulator listening on {base} (WebSocket {ws})");
    println!("users: {}", names.join(", "));
    println!("press Ctrl-C to stop");
    let stopper = handle.clone();
    ctrlc::set_handler(move || stopper.shutdown())
        .map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;
    server.run_blocking();
    let stats = handle.with_gateway(|g, _| g.stats());
    println!(
        "stopped: {} subscriptions created, {} still alive",
        stats.subscriptions_created, stats.subscriptions
    );
    Ok(())
}
