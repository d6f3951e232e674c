//! The loopback harness: the real gateway server and real clients.

use std::sync::{Arc, Mutex};

use futures_lite::{future, StreamExt};
use kandy::{Client, MakeOptions};
use kandy_core::call::fake::FakeEngine;
use kandy_core::call::{Call, CallCommand, CallId};
use kandy_core::{BasicError, Config, Credentials, ErrorCode, Event};
use kandy_gateway::server::{Server, ServerConfig, ServerHandle};
use kandy_gateway::{Gateway, Users};

use crate::{gateway_config, ClientNo, Harness, Hook, Tweak, Until, WAIT};

struct Slot {
    client: Client,
    engine: Arc<Mutex<FakeEngine>>,
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

/// The core's refusal behind an API error; any other failure (the client
/// stopped) becomes `Unknown`, which no scenario expects.
fn refusal(e: kandy::Error) -> kandy_core::Error {
    match e {
        kandy::Error::Refused(e) => e,
        other => kandy_core::Error::Unknown(format!("not a refusal: {other}")),
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
        let no = self.clients.len();
        // Named like the mock network's engines, so track ids agree.
        let engine = Arc::new(Mutex::new(FakeEngine::new(format!("u{no}"))));
        let client = Client::builder(config, no as u64 + 1)
            .media_engine(Arc::clone(&engine))
            .build()
            .expect("client");
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
            engine,
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

    async fn call(
        &mut self,
        client: ClientNo,
        command: CallCommand,
    ) -> Result<Option<CallId>, kandy_core::Error> {
        let c = &self.clients[client].client;
        let api = c.call();
        let done = match command {
            CallCommand::Make {
                destination,
                media,
                bandwidth,
                display_name,
                ..
            } => {
                let mut options = MakeOptions::new().bandwidth(bandwidth);
                if let Some(name) = display_name {
                    options = options.display_name(name);
                }
                return api
                    .make(destination, media, options)
                    .await
                    .map(Some)
                    .map_err(refusal);
            }
            CallCommand::Answer {
                call_id,
                media,
                bandwidth,
            } => api.answer(&call_id, media, bandwidth).await,
            CallCommand::Reject { call_id } => api.reject(&call_id).await,
            CallCommand::Ignore { call_id } => api.ignore(&call_id).await,
            CallCommand::Forward {
                call_id,
                destination,
            } => api.forward(&call_id, destination).await,
            CallCommand::End { call_id } => api.end(&call_id).await,
            CallCommand::Hold { call_id } => api.hold(&call_id).await,
            CallCommand::Unhold { call_id } => api.unhold(&call_id).await,
            CallCommand::AddMedia {
                call_id,
                media,
                bandwidth,
            } => api.add_media(&call_id, media, bandwidth).await,
            CallCommand::RemoveMedia {
                call_id,
                tracks,
                bandwidth,
            } => api.remove_media(&call_id, tracks, bandwidth).await,
            CallCommand::ReplaceTrack {
                call_id,
                track,
                media,
            } => api.replace_track(&call_id, &track, media).await,
            CallCommand::SendDtmf {
                call_id,
                tones,
                duration_ms,
                gap_ms,
            } => {
                api.send_dtmf(&call_id, tones, Some(duration_ms), Some(gap_ms))
                    .await
            }
            CallCommand::GetStats { call_id, track } => {
                api.get_stats(&call_id, track.as_ref()).await
            }
            CallCommand::DirectTransfer {
                call_id,
                destination,
            } => api.direct_transfer(&call_id, destination).await,
            CallCommand::ConsultativeTransfer { call_id, other } => {
                api.consultative_transfer(&call_id, &other).await
            }
            CallCommand::Join { call_id, other } => api.join(&call_id, &other).await,
            CallCommand::MuteTracks { tracks } => c.media().mute_tracks(tracks).await,
            CallCommand::UnmuteTracks { tracks } => c.media().unmute_tracks(tracks).await,
            other => {
                return Err(kandy_core::Error::InvalidArgument(format!(
                    "{} has no mapping onto the kandy API yet",
                    other.name()
                )))
            }
        };
        done.map(|()| None).map_err(refusal)
    }

    async fn call_info(&mut self, client: ClientNo, id: &CallId) -> Option<Call> {
        self.clients[client]
            .client
            .call()
            .get_by_id(id)
            .await
            .ok()
            .flatten()
    }

    fn engine(&self, client: ClientNo) -> FakeEngine {
        self.clients[client]
            .engine
            .lock()
            .expect("engine lock")
            .clone()
    }

    async fn finish(&mut self) {
        self.clients.clear();
        self.server.shutdown();
    }
}
