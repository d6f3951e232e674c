//! # kandy-core
//!
//! The pure heart of kandy-rs: a Kandy Link client as a state machine with
//! no IO, no clock and no global randomness, in the sans-IO style of
//! [str0m] and [quinn-proto].
//!
//! * [`Input`]s go in: public API [`Command`]s, the outcomes of HTTP
//!   requests, WebSocket happenings, and the passing of a deadline. Each
//!   carries the driver's clocks ([`Now`]).
//! * [`Effect`]s come out: HTTP requests, WebSocket open/send/close, typed
//!   public [`Event`]s and [`LogRecord`]s.
//! * [`Client::poll_timeout`] gives the one deadline the driver must honour.
//!
//! Because nothing else goes in, the same `(Config, seed, inputs)` always
//! give the same effects and [`State`]: a session recorded live replays
//! step by step, and many clients simulate on virtual time in one process.
//! `Config`, `Input`, `Effect`, `Event` and `State` are serde-serializable
//! with secrets redacted (see [`secret`]).
//!
//! ```
//! use kandy_core::{Client, Command, Config, Credentials, Effect, Input, Now};
//!
//! let config = Config::for_server("gw.example.com", true, 443);
//! let mut client = Client::new(config, 42);
//! let now = Now::at(0);
//! client
//!     .handle(Input::command(now, Command::Connect(Credentials::password("alice@example.com", "secret"))))
//!     .unwrap();
//! let mut effects = std::iter::from_fn(|| client.poll_effect());
//! // The first effects: an action log, `auth:change` (connecting), then the subscribe request.
//! let request = effects.find_map(|e| match e { Effect::Http(r) => Some(r), _ => None }).unwrap();
//! assert_eq!(request.url, "https://gw.example.com:443/rest/version/1/user/alice@example.com/subscription");
//! ```
//!
//! Features live in one module each (today: [`session`] and the
//! [`notification`] pipeline), with their state, inputs and effects side by
//! side.
//!
//! [str0m]: https://crates.io/crates/str0m
//! [quinn-proto]: https://crates.io/crates/quinn-proto

#![deny(missing_docs)]

pub mod call;
mod client;
pub mod config;
mod ctx;
pub mod effect;
pub mod error;
pub mod event;
mod http;
pub mod input;
pub mod notification;
mod out;
pub mod platform;
pub mod replay;
mod rng;
pub mod secret;
pub mod session;
mod time;

pub use client::{Client, State};
pub use config::Config;
pub use ctx::{HttpTracker, Pending, Purpose};
pub use effect::{Effect, HttpRequest, LogRecord, Method};
pub use error::{BasicError, Error, ErrorCode};
pub use event::Event;
pub use http::AuthCarrier;
pub use input::{
    Command, Credentials, HttpOutcome, HttpResponse, Input, InputKind, NotificationChannel,
    RequestId, SocketId, TokenUpdate, TransportFailure,
};
pub use rng::Rng;
pub use secret::Secret;
pub use time::Now;
