//! The media-engine boundary: what the core asks a media engine to do
//! ([`MediaCommand`], carried by `Effect::Media`) and what the engine reports
//! back ([`MediaEvent`], carried by `InputKind::Media`).
//!
//! Both are plain serializable data, so the core stays pure and replayable
//! and any engine plugs in: the str0m engine for real media, a scripted fake
//! in tests. An engine holds one peer per call, keyed by [`CallId`]. The
//! core never runs two negotiation steps on one call at once: it waits for
//! the event that answers each command that has one.

use serde::{Deserialize, Serialize};

use super::sdp::{Bandwidth, Direction};
use super::CallId;

/// A track, by the id the engine gave it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrackId(pub String);

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TrackKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

/// A track as the media API shows it (`TrackObject`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    /// Its id.
    pub id: TrackId,
    /// Audio or video.
    pub kind: TrackKind,
    /// The source's label (device name).
    pub label: String,
    /// The stream (media) it belongs to.
    pub stream_id: String,
    /// Ours (true) or the far end's.
    pub local: bool,
    /// Muted by the application.
    pub muted: bool,
}

/// A constraint on a capture setting (`MediaConstraint`): `exact` wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    /// Must be met, or the media fails.
    pub exact: Option<String>,
    /// Preferred; the closest is taken.
    pub ideal: Option<String>,
}

/// `MediaOptions`: what media a call sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MediaOptions {
    /// Send audio.
    pub audio: bool,
    /// Audio source choice.
    pub audio_options: Option<AudioOptions>,
    /// Send video.
    pub video: bool,
    /// Video source choice.
    pub video_options: Option<VideoOptions>,
}

impl MediaOptions {
    /// Audio only, the usual call.
    pub fn audio() -> Self {
        MediaOptions {
            audio: true,
            ..MediaOptions::default()
        }
    }

    /// Audio and video.
    pub fn audio_video() -> Self {
        MediaOptions {
            audio: true,
            video: true,
            ..MediaOptions::default()
        }
    }
}

/// `audioOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AudioOptions {
    /// Which source.
    pub device_id: Option<Constraint>,
}

/// `videoOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VideoOptions {
    /// Which source.
    pub device_id: Option<Constraint>,
    /// Height.
    pub height: Option<Constraint>,
    /// Width.
    pub width: Option<Constraint>,
    /// Frame rate.
    pub frame_rate: Option<Constraint>,
}

/// An ICE server for the engine (`IceServer`, with the TURN credentials of
/// the subscription filled in when `serverTurnCredentials` is on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `stun:`/`turn:`/`turns:` URLs (one string is accepted too).
    #[serde(deserialize_with = "one_or_many")]
    pub urls: Vec<String>,
    /// TURN user name.
    #[serde(default)]
    pub username: Option<crate::secret::Secret>,
    /// TURN password.
    #[serde(default)]
    pub credential: Option<crate::secret::Secret>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Urls {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Urls::deserialize(d)? {
        Urls::One(u) => vec![u],
        Urls::Many(v) => v,
    })
}

/// Offer or answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SdpKind {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
}

/// Whose SDP an application handler is looking at (`SdpHandlerInfo.endpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SdpEndpoint {
    /// Ours, about to be applied and sent.
    Local,
    /// The far end's, about to be applied.
    Remote,
}

/// What the core asks the engine to do for one call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaOp {
    /// Acquire local media and create a peer. Answered by
    /// [`MediaEventKind::Opened`] or [`MediaEventKind::Failed`].
    Open {
        /// What to capture.
        media: MediaOptions,
        /// Where to find relays.
        ice_servers: Vec<IceServer>,
    },
    /// Create an offer (with the given direction forced on every audio and
    /// video section, for hold and unhold). Answered by `Described`.
    CreateOffer {
        /// Direction for every audio/video section, if forced.
        direction: Option<Direction>,
        /// Replace the peer first (new ICE and DTLS), for an SDP-less
        /// remote update (slow start).
        restart: bool,
    },
    /// Create an answer to the remote offer just applied (every section
    /// `inactive` when the call is held locally). Answered by `Described`.
    CreateAnswer {
        /// Direction for every section, if forced.
        direction: Option<Direction>,
    },
    /// Apply a local description (after the SDP pipeline) and gather
    /// candidates. Answered by `LocalReady` with the final SDP.
    ApplyLocal {
        /// Offer or answer.
        kind: SdpKind,
        /// The SDP.
        sdp: String,
    },
    /// Apply a remote description (after the SDP pipeline). A new far
    /// endpoint (`fresh_peer`) replaces the peer. Answered by
    /// `RemoteApplied` or `Failed`.
    ApplyRemote {
        /// Offer or answer.
        kind: SdpKind,
        /// The SDP.
        sdp: String,
        /// Replace the peer first (a different `o=` session id).
        fresh_peer: bool,
    },
    /// Run the application's SDP handlers (functions the core cannot hold).
    /// Answered by `SdpHandled`.
    RunSdpHandlers {
        /// The SDP so far.
        sdp: String,
        /// Offer or answer.
        kind: SdpKind,
        /// Local or remote.
        endpoint: SdpEndpoint,
        /// The call's bandwidth settings.
        bandwidth: Bandwidth,
    },
    /// Add local tracks (addMedia); an offer follows.
    AddMedia {
        /// What to add.
        media: MediaOptions,
    },
    /// Stop and remove local tracks (removeMedia); an offer follows.
    RemoveTracks {
        /// Which.
        tracks: Vec<TrackId>,
    },
    /// Replace a local track's source without renegotiation.
    ReplaceTrack {
        /// Which track.
        track: TrackId,
        /// The new source.
        media: MediaOptions,
    },
    /// Send DTMF tones (RFC 4733 when the far end takes telephone-event,
    /// else in-band).
    InsertDtmf {
        /// Tones (`0-9`, `*`, `#`, `,` for a pause).
        tones: String,
        /// Tone length (ms).
        duration_ms: u32,
        /// Gap between tones (ms).
        gap_ms: u32,
    },
    /// Report statistics. Answered by `Stats`.
    GetStats {
        /// One track, or the whole call.
        track: Option<TrackId>,
    },
    /// Mute or unmute tracks (silence / black frames when local).
    SetMuted {
        /// Which.
        tracks: Vec<TrackId>,
        /// Muted or not.
        muted: bool,
    },
    /// Stop local tracks and close the peer.
    Close,
}

/// A command to the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaCommand {
    /// The call (the engine's peer).
    pub call: CallId,
    /// What to do.
    #[serde(flatten)]
    pub op: MediaOp,
}

/// What the engine reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MediaEventKind {
    /// Local media acquired and a peer created.
    Opened {
        /// The local tracks.
        tracks: Vec<Track>,
    },
    /// The last command failed (no media, SDP refused, ...).
    Failed {
        /// Why.
        message: String,
    },
    /// A raw local description from `CreateOffer` / `CreateAnswer`.
    Described {
        /// Offer or answer.
        kind: SdpKind,
        /// The SDP.
        sdp: String,
    },
    /// The SDP after the application's handlers.
    SdpHandled {
        /// The SDP.
        sdp: String,
    },
    /// The local description is applied and candidates gathered: this SDP
    /// goes on the wire.
    LocalReady {
        /// Offer or answer.
        kind: SdpKind,
        /// The SDP.
        sdp: String,
    },
    /// The remote description is applied.
    RemoteApplied,
    /// Local tracks added (`AddMedia`).
    TracksAdded {
        /// The new tracks.
        tracks: Vec<Track>,
    },
    /// A track joined the call (remote tracks as the far end's media arrives).
    TrackAdded {
        /// The track.
        track: Track,
    },
    /// A track left the call.
    TrackEnded {
        /// Which.
        track: TrackId,
        /// Ours or the far end's.
        local: bool,
    },
    /// `ReplaceTrack` finished.
    TrackReplaced {
        /// The old track.
        old: TrackId,
        /// The new one.
        new: Track,
    },
    /// `GetStats` result.
    Stats {
        /// The track asked about, if any.
        track: Option<TrackId>,
        /// The report.
        report: serde_json::Value,
    },
}

/// An engine report about one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaEvent {
    /// The call.
    pub call: CallId,
    /// What happened.
    #[serde(flatten)]
    pub kind: MediaEventKind,
}
