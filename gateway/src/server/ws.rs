//! One WebSocket session after an accepted upgrade: text frames to the
//! model, the model's frames to the client, Ping control frames for
//! liveness.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use hyper::upgrade::{OnUpgrade, Upgraded};
use smol::io::{AsyncRead, AsyncWrite};
use smol::stream::StreamExt;
use smol::{future, Timer};
use tracing::debug;

use super::shared::{Accepted, Cmd, Shared, WebSocketGuard};
use crate::SocketId;

/// An upgrade the model accepted, waiting for hyper to hand the connection
/// over.
#[derive(Debug)]
pub(crate) struct PendingSocket {
    pub(crate) accepted: Accepted,
    pub(crate) upgrade: OnUpgrade,
}

/// Runs the session until either side closes it or the server kills it,
/// then tells the model.
pub(crate) async fn run(shared: Arc<Shared>, pending: PendingSocket) {
    let _live = WebSocketGuard::new(&shared);
    let PendingSocket {
        accepted: Accepted { id, rx, kill },
        upgrade,
    } = pending;
    let session = async {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                debug!(socket = id.0, error = %e, "WebSocket upgrade did not complete");
                return;
            }
        };
        let config = WebSocketConfig {
            max_message_size: Some(shared.config.ws_max_message_bytes),
            max_frame_size: Some(shared.config.ws_max_message_bytes),
            ..WebSocketConfig::default()
        };
        // `from_partially_read` with nothing read yet: unlike
        // `from_raw_socket` it does not reserve a 4 KiB buffer up front, which
        // matters with thousands of idle sockets.
        let ws = Box::pin(WebSocketStream::from_partially_read(
            UpgradedIo(upgraded),
            Vec::new(),
            Role::Server,
            Some(config),
        ))
        .await;
        session(&shared, id, ws, &rx).await;
    };
    // A kill (slow client, shutdown) drops the connection whatever the
    // session is blocked on, a write to a client that does not read
    // included.
    future::or(session, kill.wait()).await;
    shared.socket_ended(id, &kill);
}

enum Event {
    Incoming(Option<Result<Message, async_tungstenite::tungstenite::Error>>),
    Outgoing(Result<Cmd, smol::channel::RecvError>),
    Tick,
}

async fn session(
    shared: &Shared,
    id: SocketId,
    mut ws: WebSocketStream<UpgradedIo>,
    rx: &smol::channel::Receiver<Cmd>,
) {
    let config = &shared.config;
    let mut ticker = config.ws_ping_interval.map(Timer::interval);
    let mut last_heard = Instant::now();
    loop {
        let event = {
            let incoming = async { Event::Incoming(ws.next().await) };
            let outgoing = async { Event::Outgoing(rx.recv().await) };
            let tick = async {
                match ticker.as_mut() {
                    Some(t) => {
                        t.next().await;
                        Event::Tick
                    }
                    None => future::pending().await,
                }
            };
            // Random bias: a client that floods frames cannot starve its
            // own outgoing queue, nor the other way round. All three are
            // cancel-safe (state lives in the stream, channel and timer).
            future::race(incoming, future::race(outgoing, tick)).await
        };
        match event {
            Event::Incoming(None) => break,
            Event::Incoming(Some(Err(e))) => {
                debug!(socket = id.0, error = %e, "WebSocket read failed");
                break;
            }
            Event::Incoming(Some(Ok(message))) => {
                last_heard = Instant::now();
                match message {
                    Message::Text(text) => {
                        shared.with_model(|g, now| g.handle_ws_frame(now, id, &text));
                    }
                    // Binary frames mean nothing to the gateway; tungstenite
                    // answers Pings and the client's Close by itself while we
                    // keep reading.
                    Message::Binary(_)
                    | Message::Ping(_)
                    | Message::Pong(_)
                    | Message::Close(_)
                    | Message::Frame(_) => {}
                }
            }
            Event::Outgoing(Ok(Cmd::Text(text))) => {
                if let Err(e) = ws.send(Message::Text(text)).await {
                    debug!(socket = id.0, error = %e, "WebSocket write failed");
                    break;
                }
            }
            Event::Outgoing(Ok(Cmd::Close(code))) => {
                close(&mut ws, code, shared).await;
                break;
            }
            // The server forgot the socket without a Close: cannot happen
            // today, close politely anyway.
            Event::Outgoing(Err(_)) => {
                close(&mut ws, CloseCode::Away, shared).await;
                break;
            }
            Event::Tick => {
                if config
                    .ws_dead_after
                    .is_some_and(|limit| last_heard.elapsed() > limit)
                {
                    debug!(
                        socket = id.0,
                        "WebSocket peer silent at control level: dropping it"
                    );
                    break;
                }
                if let Err(e) = ws.send(Message::Ping(Vec::new())).await {
                    debug!(socket = id.0, error = %e, "WebSocket ping failed");
                    break;
                }
            }
        }
    }
}

/// Sends our Close and waits (bounded) for the client's, so the client
/// sees a clean closure rather than a reset.
async fn close(ws: &mut WebSocketStream<UpgradedIo>, code: CloseCode, shared: &Shared) {
    let frame = CloseFrame {
        code,
        reason: "".into(),
    };
    if ws.close(Some(frame)).await.is_err() {
        return;
    }
    let drain = async { while let Some(Ok(_)) = ws.next().await {} };
    future::or(drain, async {
        Timer::after(shared.config.ws_close_timeout).await;
    })
    .await;
}

/// `hyper::upgrade::Upgraded` (hyper's IO traits) as a futures-io stream,
/// which is what async-tungstenite reads and writes.
#[derive(Debug)]
pub(crate) struct UpgradedIo(Upgraded);

impl AsyncRead for UpgradedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // `buf` is initialized, so hyper's cursor over it needs no unsafe.
        let mut read_buf = hyper::rt::ReadBuf::new(buf);
        ready!(hyper::rt::Read::poll_read(
            Pin::new(&mut self.0),
            cx,
            read_buf.unfilled()
        ))?;
        Poll::Ready(Ok(read_buf.filled().len()))
    }
}

impl AsyncWrite for UpgradedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.0), cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}
