//! Accepting connections and serving each one: TLS, hyper's HTTP/1.1 loop,
//! then the WebSocket session if the connection was upgraded.

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_rustls::TlsAcceptor;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use smol::io::{AsyncRead, AsyncWrite};
use smol::{future, Async, Executor, Timer};
use smol_hyper::rt::{FuturesIo, SmolTimer};
use tracing::{debug, info, warn};

use super::rest::{self, PendingSlot};
use super::shared::{ConnectionGuard, Shared};
use super::ws;

/// After a failed `accept` (typically out of descriptors) the listener is
/// retried after this long rather than in a hot loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The server's main future: accept until stopped, then close the sockets.
pub(super) async fn serve(
    shared: Arc<Shared>,
    listener: Async<TcpListener>,
    tls: Option<TlsAcceptor>,
    executor: Arc<Executor<'static>>,
) {
    // Cancelled when dropped at the end of this function.
    let _timers = executor.spawn(Arc::clone(&shared).run_timers());
    accept_loop(&shared, listener, tls, &executor).await;
    info!("shutting down: closing WebSockets");
    shared.close_all_sockets();
    future::or(shared.websockets_gone(), async {
        Timer::after(shared.config.shutdown_grace).await;
    })
    .await;
}

async fn accept_loop(
    shared: &Arc<Shared>,
    listener: Async<TcpListener>,
    tls: Option<TlsAcceptor>,
    executor: &Executor<'static>,
) {
    while shared.connection_slot().await {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            shared.stop.wait().await;
            None
        })
        .await;
        let Some(accepted) = accepted else { break };
        match accepted {
            Ok((stream, peer)) => {
                debug!(%peer, "connection accepted");
                // Small JSON frames: do not let Nagle delay them.
                let _ = stream.get_ref().set_nodelay(true);
                let guard = ConnectionGuard::new(shared);
                let task = connection(Arc::clone(shared), stream, tls.clone(), guard);
                executor.spawn(task).detach();
            }
            Err(e) => {
                warn!(error = %e, "accept failed; retrying shortly");
                future::or(
                    async {
                        Timer::after(ACCEPT_BACKOFF).await;
                    },
                    shared.stop.wait(),
                )
                .await;
            }
        }
    }
    // The listener is dropped here: the port stops accepting.
}

/// One TCP connection, from accept to close.
async fn connection(
    shared: Arc<Shared>,
    stream: Async<TcpStream>,
    tls: Option<TlsAcceptor>,
    _guard: ConnectionGuard,
) {
    match tls {
        None => serve_http(shared, stream).await,
        Some(acceptor) => {
            let timeout = shared.config.tls_handshake_timeout;
            let accept = Box::pin(acceptor.accept(stream));
            let handshake = future::or(async { Some(accept.await) }, async {
                Timer::after(timeout).await;
                None
            })
            .await;
            match handshake {
                // Boxed: a rustls connection is large, and this branch
                // would otherwise size every connection's task.
                Some(Ok(tls_stream)) => Box::pin(serve_http(shared, tls_stream)).await,
                Some(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                None => debug!("TLS handshake timed out"),
            }
        }
    }
}

/// hyper's HTTP/1.1 loop with upgrades; an accepted WebSocket upgrade then
/// continues in this same task.
async fn serve_http<S>(shared: Arc<Shared>, io: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot: PendingSlot = Arc::new(Mutex::new(None));
    let service = {
        let shared = Arc::clone(&shared);
        let slot = Arc::clone(&slot);
        service_fn(move |req| rest::handle(Arc::clone(&shared), Arc::clone(&slot), req))
    };
    // Boxed (and the builder scoped): the task then keeps only the
    // WebSocket phase's state for the long life of an idle socket, not
    // hyper's as well.
    let conn = {
        let mut builder = http1::Builder::new();
        builder
            .timer(SmolTimer::new())
            .header_read_timeout(shared.config.http_timeout)
            .keep_alive(true);
        Box::pin(
            builder
                .serve_connection(FuturesIo::new(io), service)
                .with_upgrades(),
        )
    };
    if let Err(e) = conn.await {
        debug!(error = %e, "HTTP connection ended with an error");
    }
    let pending = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(pending) = pending {
        ws::run(shared, pending).await;
    }
}
