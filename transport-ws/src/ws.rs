//! The notification socket: one task per socket the core asks to open.
//!
//! The task opens the socket, reports `WsOpened` (or a `WsClosed` for a
//! failed open, as the core expects), then forwards text frames as
//! `WsFrame` and sends what the driver queues for it. It ends when either
//! side closes; the driver closes a socket by dropping its sending half,
//! which makes the task close the WebSocket normally (code 1000).

use std::time::Duration;

use async_channel::{Receiver, Sender};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_lite::{future, StreamExt};
use futures_rustls::TlsConnector;
use kandy_core::{InputKind, SocketId};

use crate::net::{self, Stream, Target};
use crate::Limits;

const TARGET: &str = "kandy_transport_ws::ws";

/// What the task needs besides its own channels.
#[derive(Clone)]
pub(crate) struct SocketSetup {
    pub(crate) tls: TlsConnector,
    pub(crate) limits: Limits,
}

/// Runs one socket to its end. `outgoing` carries text frames to send;
/// its closing (the driver dropped the sender) means "close normally".
/// Happenings go to `inputs`; nothing is reported after a close the driver
/// asked for (the core expects nothing back then).
pub(crate) async fn run(
    socket: SocketId,
    url: String,
    setup: SocketSetup,
    outgoing: Receiver<String>,
    inputs: Sender<InputKind>,
) {
    let report_closed = |reason: String| {
        let inputs = inputs.clone();
        async move {
            let _ = inputs.send(InputKind::WsClosed { socket, reason }).await;
        }
    };

    // Open, unless the driver gives up on the socket meanwhile.
    let open = async { Some(open(&url, &setup).await) };
    let abandoned = async {
        // Nothing is sent before the core saw the socket open; anything
        // that is would be stale. Wait for the driver to drop the sender.
        while outgoing.recv().await.is_ok() {}
        None
    };
    let mut ws = match future::or(open, abandoned).await {
        None => return,
        Some(Err(reason)) => {
            report_closed(reason).await;
            return;
        }
        Some(Ok(ws)) => ws,
    };
    if inputs.send(InputKind::WsOpened { socket }).await.is_err() {
        return;
    }

    enum Step {
        In(Option<Result<Message, WsError>>),
        Out(Option<String>),
    }
    loop {
        let read = async { Step::In(ws.next().await) };
        let write = async { Step::Out(outgoing.recv().await.ok()) };
        // `race` picks fairly, so a flood of incoming frames cannot starve
        // the keepalives. `next()` and `recv()` lose nothing when the other
        // one wins: the WebSocket keeps a partly read frame, the channel its
        // message.
        match future::race(read, write).await {
            Step::In(Some(Ok(Message::Text(text)))) => {
                if inputs
                    .send(InputKind::WsFrame { socket, text })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Step::In(Some(Ok(Message::Binary(data)))) => {
                // The protocol is JSON text only (01-session §5.1).
                tracing::debug!(target: TARGET, bytes = data.len(), "binary frame ignored");
            }
            Step::In(Some(Ok(Message::Close(frame)))) => {
                let reason = match frame {
                    Some(f) if f.reason.is_empty() => format!("closed by the server ({})", f.code),
                    Some(f) => format!("closed by the server ({}: {})", f.code, f.reason),
                    None => "closed by the server".to_owned(),
                };
                report_closed(reason).await;
                // Let tungstenite send its close reply, briefly.
                drain(&mut ws, setup.limits.ws_close_timeout).await;
                return;
            }
            // Pings are answered by tungstenite itself; pongs and raw frames
            // mean nothing to the protocol.
            Step::In(Some(Ok(_))) => {}
            Step::In(Some(Err(e))) => {
                report_closed(format!("connection failed: {e}")).await;
                return;
            }
            Step::In(None) => {
                report_closed("connection ended".to_owned()).await;
                return;
            }
            Step::Out(Some(text)) => {
                if let Err(e) = ws.send(Message::Text(text)).await {
                    report_closed(format!("send failed: {e}")).await;
                    return;
                }
            }
            Step::Out(None) => {
                close(&mut ws, setup.limits.ws_close_timeout).await;
                return;
            }
        }
    }
}

/// TCP, TLS and the upgrade, within `Limits::io_timeout`. The error is the
/// reason handed to the core; it never contains the URL's path or query.
async fn open(url: &str, setup: &SocketSetup) -> Result<WebSocketStream<Stream>, String> {
    let limit = setup.limits.io_timeout;
    let work = async {
        let target =
            Target::parse(url, "ws", "wss").ok_or_else(|| "invalid socket URL".to_owned())?;
        let stream = net::connect(&target, &setup.tls)
            .await
            .map_err(|f| f.message)?;
        let config = WebSocketConfig {
            max_message_size: Some(setup.limits.max_ws_message),
            max_frame_size: Some(setup.limits.max_ws_message),
            ..WebSocketConfig::default()
        };
        match async_tungstenite::client_async_with_config(url, stream, Some(config)).await {
            Ok((ws, _response)) => Ok(ws),
            Err(WsError::Http(response)) => {
                Err(format!("refused: HTTP {}", response.status().as_u16()))
            }
            Err(e) => Err(format!("handshake failed: {e}")),
        }
    };
    let timer = async {
        smol::Timer::after(limit).await;
        Err(format!("not open within {} ms", limit.as_millis()))
    };
    future::or(work, timer).await
}

/// A normal closure (1000), then waiting briefly for the server's reply.
async fn close(ws: &mut WebSocketStream<Stream>, limit: Duration) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    let sent = async { ws.close(Some(frame)).await.is_ok() };
    let timer = async {
        smol::Timer::after(limit).await;
        false
    };
    if future::or(sent, timer).await {
        drain(ws, limit).await;
    }
}

/// Reads until the close handshake completes or `limit` passes.
async fn drain(ws: &mut WebSocketStream<Stream>, limit: Duration) {
    let read = async { while let Some(Ok(_)) = ws.next().await {} };
    let timer = async {
        smol::Timer::after(limit).await;
    };
    future::or(read, timer).await;
}
