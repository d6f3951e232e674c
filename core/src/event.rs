//! Typed public events: what the JS SDK emits with `client.on(name, ...)`.
//!
//! Each variant serializes with the JS event name as its `type`, so a JSON
//! stream of events reads like the JS SDK's, and payload fields keep their
//! JS names in `camelCase`.

use serde::{Deserialize, Serialize};

use crate::call::media::{Track, TrackId};
use crate::call::{CallId, CallState, Previous, Transition};
use crate::error::BasicError;
use crate::input::NotificationChannel;
use crate::notification::RawJson;
use crate::session::{ConnectionStatus, DisconnectReason, SocketStatus};

/// A public event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum Event {
    /// `auth:change`: a connect or disconnect started or finished, a service
    /// update or token update finished.
    #[serde(rename = "auth:change", rename_all = "camelCase")]
    AuthChange {
        /// The connection status after the change.
        status: ConnectionStatus,
        /// Why the session ended, when the user did not ask for it.
        reason: Option<DisconnectReason>,
        /// True when the gateway ended the session (`GONE`).
        forced: bool,
    },
    /// `auth:error`: connect, disconnect, a service update or a token
    /// refresh failed.
    #[serde(rename = "auth:error")]
    AuthError {
        /// What failed.
        error: BasicError,
    },
    /// `auth:resub`: a timed subscription refresh finished.
    #[serde(rename = "auth:resub", rename_all = "camelCase")]
    AuthResub {
        /// 1 after a success; counts up over consecutive failures.
        attempt_num: u32,
        /// Whether this attempt failed.
        is_failure: bool,
        /// The failure.
        error: Option<BasicError>,
    },
    /// `ws:change`: the notification socket is connecting, connected, lost or
    /// closed.
    #[serde(rename = "ws:change")]
    WsChange {
        /// Always `link`.
        platform: String,
        /// The socket's new status.
        status: SocketStatus,
    },
    /// `notifications:change`: a notification channel was enabled or
    /// disabled.
    #[serde(rename = "notifications:change", rename_all = "camelCase")]
    NotificationsChange {
        /// Which channel.
        channel: NotificationChannel,
        /// Whether it is now enabled.
        enabled: bool,
    },
    /// `notifications:error`.
    #[serde(rename = "notifications:error")]
    NotificationsError {
        /// Which channel.
        channel: NotificationChannel,
        /// What failed.
        error: BasicError,
    },
    /// `notification:received`: a notification passed the channel gate and
    /// de-duplication. Emitted after the events the notification caused.
    #[serde(rename = "notification:received")]
    NotificationReceived {
        /// Where it came from.
        channel: NotificationChannel,
        /// The whole envelope, as JSON text (parse it with
        /// [`RawJson::parse`] or [`RawJson::to_value`]).
        payload: RawJson,
    },
    /// `notification:unknown` (kandy-rs): a notification of a type no
    /// feature of the core handles. It is not an error: gateways add types.
    #[serde(rename = "notification:unknown", rename_all = "camelCase")]
    UnknownNotification {
        /// Its `eventType` (empty when missing).
        event_type: String,
        /// Its `eventId`, if any.
        event_id: Option<String>,
    },
    /// `call:start`: an outgoing call reached the gateway (`Initiated`).
    #[serde(rename = "call:start", rename_all = "camelCase")]
    CallStart {
        /// The call.
        call_id: CallId,
        /// Never set: a failed start is a `call:stateChange` with an error.
        error: Option<BasicError>,
    },
    /// `call:receive`: a new incoming call is ringing.
    #[serde(rename = "call:receive", rename_all = "camelCase")]
    CallReceive {
        /// The call.
        call_id: CallId,
    },
    /// `call:join`: the joined call was created (or, with `error`, not).
    #[serde(rename = "call:join", rename_all = "camelCase")]
    CallJoin {
        /// The new call.
        call_id: CallId,
        /// Why it failed.
        error: Option<BasicError>,
    },
    /// `call:stateChange`: state or hold flags changed, or an operation failed.
    #[serde(rename = "call:stateChange", rename_all = "camelCase")]
    CallStateChange {
        /// The call.
        call_id: CallId,
        /// The state now (the JS SDK makes you look it up).
        state: CallState,
        /// The call before the change.
        previous: Previous,
        /// Why, as the gateway said.
        transition: Option<Transition>,
        /// What failed.
        error: Option<BasicError>,
    },
    /// `call:newMedia`: `addMedia` finished.
    #[serde(rename = "call:newMedia", rename_all = "camelCase")]
    CallNewMedia {
        /// The call.
        call_id: CallId,
        /// Ours.
        local: bool,
        /// The added tracks.
        tracks: Vec<TrackId>,
        /// What failed.
        error: Option<BasicError>,
    },
    /// `call:removedMedia`: `removeMedia` finished.
    #[serde(rename = "call:removedMedia", rename_all = "camelCase")]
    CallRemovedMedia {
        /// The call.
        call_id: CallId,
        /// Ours.
        local: bool,
        /// The removed tracks.
        tracks: Vec<TrackId>,
        /// What failed.
        error: Option<BasicError>,
    },
    /// `call:newTrack`.
    #[serde(rename = "call:newTrack", rename_all = "camelCase")]
    CallNewTrack {
        /// The call.
        call_id: CallId,
        /// The track.
        track_id: TrackId,
        /// Ours or the far end's.
        local: bool,
    },
    /// `call:trackEnded`.
    #[serde(rename = "call:trackEnded", rename_all = "camelCase")]
    CallTrackEnded {
        /// The call.
        call_id: CallId,
        /// The track.
        track_id: TrackId,
        /// Ours or the far end's.
        local: bool,
    },
    /// `call:statsReceived`.
    #[serde(rename = "call:statsReceived", rename_all = "camelCase")]
    CallStatsReceived {
        /// The call.
        call_id: CallId,
        /// The track asked about.
        track_id: Option<TrackId>,
        /// The report.
        result: serde_json::Value,
        /// What failed.
        error: Option<BasicError>,
    },
    /// `call:trackReplaced`.
    #[serde(rename = "call:trackReplaced", rename_all = "camelCase")]
    CallTrackReplaced {
        /// The call.
        call_id: CallId,
        /// The new track.
        new_track_id: Option<TrackId>,
        /// The old track.
        old_track: Option<Track>,
        /// What failed.
        error: Option<BasicError>,
    },
    /// `media:muted`.
    #[serde(rename = "media:muted")]
    MediaMuted {
        /// The tracks.
        tracks: Vec<TrackId>,
    },
    /// `media:unmuted`.
    #[serde(rename = "media:unmuted")]
    MediaUnmuted {
        /// The tracks.
        tracks: Vec<TrackId>,
    },
}
