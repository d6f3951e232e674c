//! The loopback harness: the real gateway server and real clients.

use std::sync::{Arc, Mutex};

use futures_lite::{future, StreamExt};
use kandy::Client;
use kandy_core::{BasicError, Config, Credentials, ErrorCode, Event};
use kandy_gateway::server::{Server, ServerConfig, ServerHandle};
use kandy_gateway::{Gateway, Users};

use crate::{gateway_config, ClientNo, Harness, Hook, Tweak, Until, WAIT};

struct Slot {
    client: Client,
    events: Arc<Mutex<Vec<Event>>>,
    changed: async_channel::Receiver<()>,
    _collector: smol::Task<()>,
}

/// The gateway server on `127.0.0.1:0` and [`kandy::Client`]s.
pub struct Loopback {
    server: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    clients: Vec<Slot>,
}

impl std::fmt::Debug for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loopback")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Loopback {
    /// Starts the server (stopped by [`Harness::finish`] or on drop).
    pub fn start() -> Self {
        let gateway = Gateway::new(gateway_config(), Users::builtin(), [7; 32]);
        let server = Server::bind(ServerConfig::loopback(0), gateway).expect("bind 127.0.0.1:0");
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.run_blocking());
        Loopback {
            server: handle,
            thread: Some(thread),
            clients: Vec::new(),
        }
    }

    /// The running server.
    pub fn server(&self) -> &ServerHandle {
        &self.server
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.server.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn basic(e: kandy::Error) -> BasicError {
    match e.basic() {
        Some(b) => b.clone(),
        None => BasicError::new(ErrorCode::NoCode, e.to_string()),
    }
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
    future::or(async { Some(f.await) }, async {
        smol::Timer::after(WAIT).await;
        None
    })
    .await
}

#[async_trait::async_trait]
impl Harness for Loopback {
    fn name(&self) -> &'static str {
        "loopback"
    }

    async fn add_client(&mut self, tweak: &Tweak) -> ClientNo {
        let mut config = Config::for_server("127.0.0.1", false, self.server.local_addr().port());
        tweak(&mut config);
        let client = Client::new(config, self.clients.len() as u64 + 1).expect("client");
        let events = Arc::new(Mutex::new(Vec::new()));
        let (tx, changed) = async_channel::bounded(1);
        let mut stream = client.events();
        let sink = Arc::clone(&events);
        let collector = smol::spawn(async move {
            while let Some(e) = stream.next().await {
                sink.lock().expect("events lock").push(e);
                let _ = tx.try_send(());
            }
        });
        self.clients.push(Slot {
            client,
            events,
            changed,
            _collector: collector,
        });
        self.clients.len() - 1
    }

    async fn connect(
        &mut self,
        client: ClientNo,
        credentials: Credentials,
    ) -> Result<(), BasicError> {
        let c = &self.clients[client].client;
        match bounded(c.connect(credentials)).await {
            Some(r) => r.map_err(basic),
            None => Err(BasicError::new(ErrorCode::NoCode, "no outcome in time")),
        }
    }

    async fn disconnect(&mut self, client: ClientNo) -> Result<(), BasicError> {
        let c = &self.clients[client].client;
        match bounded(c.disconnect()).await {
            Some(r) => r.map_err(basic),
            None => Err(BasicError::new(ErrorCode::NoCode, "no outcome in time")),
        }
    }

    async fn wait_for(&mut self, client: ClientNo, done: &Until) -> bool {
        let slot = &self.clients[client];
        bounded(async {
            loop {
                if done(&slot.events.lock().expect("events lock")) {
                    return;
                }
                if slot.changed.recv().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_some()
            && done(&slot.events.lock().expect("events lock"))
    }

    fn events(&self, client: ClientNo) -> Vec<Event> {
        self.clients[client]
            .events
            .lock()
            .expect("events lock")
            .clone()
    }

    async fn with_gateway(&mut self, f: Hook) {
        self.server.with_gateway(f);
    }

    async fn finish(&mut self) {
        self.clients.clear();
        self.server.shutdown();
    }
}
