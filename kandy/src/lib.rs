//! # kandy
//!
//! A Rust SDK for the Kandy Link (SPiDR) WebRTC gateway. This is the crate
//! applications depend on; it adds no code of its own and re-exports the
//! two layers below it:
//!
//! * **`kandy-core`** — the client as a pure state machine (sans-IO): inputs
//!   in, effects out, no IO, no clock, randomness only from a seed. It is
//!   what makes sessions reproducible: the same configuration, seed and
//!   inputs always give the same effects, so a recorded session replays
//!   exactly and many clients simulate on virtual time. Its types
//!   ([`Config`], [`Credentials`], [`Event`], [`BasicError`], ...) are the
//!   vocabulary of this API, re-exported here. The whole crate is at
//!   [`kandy_core`], for drivers and tools of your own.
//! * **`kandy-transport-ws`** — runs one core for real on smol: REST over
//!   hyper 1, the notification WebSocket over async-tungstenite, TLS with
//!   rustls, timers, and the async [`Client`] API below.
//!
//! ```no_run
//! use futures_lite::StreamExt;
//! use kandy::{Client, Config, Credentials, Event};
//!
//! # fn main() -> Result<(), kandy::Error> {
//! smol::block_on(async {
//!     let config = Config::for_server("gw.example.com", true, 443);
//!     let client = Client::new(config, 42)?;
//!     let mut events = client.events();
//!
//!     client
//!         .connect(Credentials::password("alice@example.com", "alice"))
//!         .await?;
//!     println!("granted: {:?}", client.services().await?.received);
//!     client.connectivity().enable_checking(true).await?;
//!
//!     while let Some(event) = events.next().await {
//!         if let Event::NotificationReceived { payload, .. } = &event {
//!             println!("notification: {payload:?}");
//!         }
//!     }
//!     client.disconnect().await
//! })
//! # }
//! ```
//!
//! Errors: a command returns [`Error::Refused`] when the core rejects it
//! outright (nothing happened), [`Error::Failed`] with the Kandy error code
//! when the operation failed (`authentication:4` for a refused
//! subscription, ...), and [`Error::Closed`] once the client stopped.
//!
//! ## Calls
//!
//! [`Client::call`] makes, answers, holds and ends calls; [`Client::media`]
//! mutes tracks. As in the JS SDK, a call operation resolves once the
//! client accepted it and its outcome arrives as events (`call:start`,
//! `call:stateChange`, ...). The media itself is done by a [`MediaEngine`]
//! set with [`ClientBuilder::media_engine`]; [`FakeEngine`] negotiates
//! without any media, for tests and demos. Without an engine, calls fail
//! with `call:4`.
//!
//! ```no_run
//! use futures_lite::StreamExt;
//! use kandy::{CallState, Client, Config, Credentials, Event, FakeEngine, MakeOptions, MediaOptions};
//!
//! # fn main() -> Result<(), kandy::Error> {
//! smol::block_on(async {
//!     let config = Config::for_server("gw.example.com", true, 443);
//!     let client = Client::builder(config, 42)
//!         .media_engine(FakeEngine::new("alice"))
//!         .build()?;
//!     let mut events = client.events();
//!     client
//!         .connect(Credentials::password("alice@example.com", "alice"))
//!         .await?;
//!
//!     let id = client
//!         .call()
//!         .make("bob", MediaOptions::audio(), MakeOptions::default())
//!         .await?;
//!     while let Some(event) = events.next().await {
//!         match event {
//!             Event::CallStateChange { call_id, state: CallState::Connected, .. } if call_id == id => {
//!                 client.call().send_dtmf(&id, "123#", None, None).await?;
//!                 client.call().end(&id).await?;
//!             }
//!             Event::CallStateChange { call_id, state: CallState::Ended, error, .. } if call_id == id => {
//!                 println!("call over: {error:?}");
//!                 break;
//!             }
//!             _ => {}
//!         }
//!     }
//!     client.disconnect().await
//! })
//! # }
//! ```
//!
//! Logs go to [`tracing`](https://docs.rs/tracing) (target `kandy_core` for
//! the core's records, `kandy_transport_ws::*` for the driver's); secrets
//! are redacted unless `logs.exposeSecrets` is set.

pub use kandy_transport_ws::{
    Calls, Client, ClientBuilder, Connectivity, Error, Events, FileRecorder, Limits, MakeOptions,
    Media, MediaEngine, MediaSink, Notifications, Recorder, SinkError, StateChanges,
    DTMF_DURATION_MS, DTMF_GAP_MS, RECORD_ENV,
};

/// The media-engine plug: [`MediaEngine`], [`MediaSink`] and its queue
/// policy, and the engine of a client without one.
pub use kandy_transport_ws::media;

pub use kandy_core::call::fake::FakeEngine;
pub use kandy_core::call::media::{
    AudioOptions, Constraint, IceServer, MediaCommand, MediaEvent, MediaEventKind, MediaOp,
    MediaOptions, SdpEndpoint, SdpKind, Track, TrackId, TrackKind, VideoOptions,
};
pub use kandy_core::call::{
    BandwidthOptions, Call, CallDirection, CallId, CallState, Participant, Previous, Transition,
};

pub use kandy_core::config::{self, LogLevel};
pub use kandy_core::notification::RawJson;
pub use kandy_core::platform::PlatformDetails;
pub use kandy_core::session::{
    ConnectionInfo, ConnectionStatus, DisconnectReason, ServicesInfo, SocketState, SocketStatus,
    SubscriptionStatus, UserInfo,
};
pub use kandy_core::{
    BasicError, Config, Credentials, Effect, ErrorCode, Event, Input, NotificationChannel, Secret,
    State, TokenUpdate,
};

/// The sans-IO core, for drivers and tools of your own (replay,
/// simulation). Applications do not need it. (Not re-exported as `core`,
/// which would clash with the standard `core` crate under `use kandy::*`.)
pub use kandy_core;
