//! `kandy connect`: one user against any gateway.

use std::time::Duration;

use futures_lite::{future, StreamExt};
use kandy::{Client, Config, Credentials, Event};
use serde_json::json;

use crate::report::Report;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gateway, `https://host[:port]` (REST and WebSocket on the same
    /// host; `http://` for plain ws).
    #[arg(long)]
    server: String,
    /// The user, with domain (`alice@example.com`).
    #[arg(long)]
    user: String,
    /// Environment variable holding the password (never pass a password on
    /// the command line). Without it, the password is asked for on the
    /// terminal.
    #[arg(long, default_value = "KANDY_PASSWORD")]
    password_env: String,
    /// Stay connected this many seconds, then disconnect (default: until
    /// Ctrl-C).
    #[arg(long)]
    duration: Option<u64>,
    /// Extra root certificate (PEM), e.g. for an emulator with its own CA.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// `https://host:port` → (host, secure, port).
fn parse_server(url: &str) -> Result<(String, bool, u16), String> {
    let (secure, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url}: expected http:// or https://"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse() {
            Ok(port) => (h, port),
            Err(_) => (authority, if secure { 443 } else { 80 }),
        },
        _ => (authority, if secure { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok((host.to_owned(), secure, port))
}

pub fn run(args: Args) -> Result<(), String> {
    let (host, secure, port) = parse_server(&args.server)?;
    let password = match std::env::var(&args.password_env) {
        Ok(p) if !p.is_empty() => p,
        _ => rpassword::prompt_password(format!("password for {}: ", args.user))
            .map_err(|e| format!("cannot read the password: {e}"))?,
    };
    let report = Report::new(args.json);
    let mut builder = Client::builder(Config::for_server(&host, secure, port), 1);
    if let Some(ca) = &args.ca {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        builder = builder
            .add_root_certificates_pem(&pem)
            .map_err(|e| e.to_string())?;
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;
    smol::block_on(async {
        let mut events = client.events();
        client
            .connect(Credentials::password(args.user.as_str(), password))
            .await
            .map_err(|e| format!("connect failed: {e}"))?;
        let services = client.services().await.map_err(|e| e.to_string())?;
        report.step(
            &args.user,
            "connected",
            &format!(
                "connected; services {} ({:?})",
                services.received.join(", "),
                services.status
            ),
            json!({"services": services.received}),
        );
        let watch = async {
            while let Some(event) = events.next().await {
                report.step(
                    &args.user,
                    "event",
                    &format!("{event:?}"),
                    json!({"event": event}),
                );
                if matches!(
                    event,
                    Event::AuthChange {
                        status: kandy::ConnectionStatus::Disconnected,
                        ..
                    }
                ) {
                    break;
                }
            }
        };
        let stop = async {
            match args.duration {
                Some(s) => {
                    future::or(
                        async {
                            smol::Timer::after(Duration::from_secs(s)).await;
                        },
                        async {
                            let _ = stop_rx.recv().await;
                        },
                    )
                    .await
                }
                None => {
                    let _ = stop_rx.recv().await;
                }
            }
        };
        future::or(watch, stop).await;
        if client
            .connection()
            .await
            .map(|c| c.is_connected)
            .unwrap_or(false)
        {
            client
                .disconnect()
                .await
                .map_err(|e| format!("disconnect failed: {e}"))?;
            report.step(&args.user, "disconnected", "disconnected", json!({}));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_server;

    #[test]
    fn server_urls() {
        assert_eq!(
            parse_server("https://gw.example.com").unwrap(),
            ("gw.example.com".into(), true, 443)
        );
        assert_eq!(
            parse_server("http://127.0.0.1:8080/").unwrap(),
            ("127.0.0.1".into(), false, 8080)
        );
        assert_eq!(
            parse_server("https://[::1]:9443").unwrap(),
            ("::1".into(), true, 9443)
        );
        assert!(parse_server("gw.example.com").is_err());
        assert!(parse_server("https://").is_err());
    }
}
