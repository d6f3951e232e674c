//! Calls: the call state machine of the Kandy Link 4.8.0 client
//! (02-calls.md), driven by the public call API, the gateway's REST answers
//! and call notifications, and a media engine reached only through
//! serializable commands and events ([`media`]).
//!
//! A call goes `Initiating → Initiated → Ringing → Connected ⇄ On Hold →
//! Ended` (outgoing) or `Ringing → Connected ... → Ended` (incoming); hold is
//! the `On Hold` state plus the `local_hold` / `remote_hold` flags. Every SDP
//! passes the pipeline: the application's handlers (an engine round trip,
//! since the core cannot hold functions and stay replayable), then the
//! built-ins (trickle and BUNDLE clean-up, codec remover, SDES remover,
//! bandwidth lines). Remote hold is recognised from SDP directions
//! ([`sdp::classify`]).
//!
//! Where 4.8.0 has a defect the module says so where it departs from it: an
//! operation illegal in the current state is refused with `Err` (4.8.0 emits
//! an event), glare fails the pending operation instead of leaving it
//! pending forever, a refused remote answer ends the call on the gateway
//! too, join reports its result, a leg the gateway no longer knows (audit 42)
//! ends the call locally.

pub mod fake;
pub mod media;
pub mod normalize;
pub mod sdp;

mod engine;
mod notify;
mod ops;
mod rest;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::BasicError;
use media::{MediaOptions, Track, TrackId};
use sdp::Bandwidth;

pub use ops::{BandwidthOptions, CallCommand};
pub use rest::CallRequest;

pub(crate) use engine::{end_all, on_media, CallCx};
pub(crate) use notify::{handles as handles_notification, on_notification};
pub(crate) use ops::{command, on_http, on_timeout};

/// A call's client-side id. Never on the wire: the gateway names legs with
/// `sessionData`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallId(pub String);

impl CallId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> Self {
        CallId(id.into())
    }
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `call.states`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CallState {
    /// Outgoing, being set up.
    Initiating,
    /// Outgoing, sent; the gateway has a leg.
    Initiated,
    /// Both sides know about the call; waiting for an answer.
    Ringing,
    /// Defined by the JS SDK, never entered on Link.
    Cancelled,
    /// Media flowing.
    Connected,
    /// Held by either side.
    #[serde(rename = "On Hold")]
    OnHold,
    /// Over.
    Ended,
}

/// `incoming` / `outgoing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CallDirection {
    /// Someone called us.
    Incoming,
    /// We called.
    Outgoing,
}

/// The far end as the gateway describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// `user@domain`.
    pub display_number: String,
    /// A name, possibly empty.
    pub display_name: String,
}

/// Why a call's state changed, as the gateway said (`transition`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// A SIP-like code, or the JS SDK's codes for complex operations (9905
    /// transfer done, 9906 join done, -1 transfer failed, -2 join failed).
    pub status_code: Option<i64>,
    /// The reason text.
    pub reason_text: Option<String>,
    /// The state before, when the gateway gave no reason.
    pub prev_state: Option<CallState>,
}

/// The call as it was before a change (`previous` of `call:stateChange`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Previous {
    /// State.
    pub state: CallState,
    /// Local hold flag.
    pub local_hold: bool,
    /// Remote hold flag.
    pub remote_hold: bool,
}

/// A local operation waiting for the gateway (`localOp`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum LocalOp {
    /// Blind transfer.
    DirectTransfer,
    /// Attended transfer with another call.
    ConsultativeTransfer {
        /// The other call.
        other: CallId,
    },
    /// The original calls of a join.
    Join,
}

/// What the current negotiation of a call is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "goal", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Goal {
    /// An outgoing call: offer, POST, then the answer notification.
    Make,
    /// Answering a regular incoming call: answer, PUT.
    Answer,
    /// Answering a slow-start incoming call: offer in the answer PUT, then
    /// the answer notification.
    AnswerSlowStart,
    /// Applying an incoming call's offer, then the ringing PUT.
    Incoming,
    /// Local hold.
    Hold,
    /// Local unhold.
    Unhold,
    /// Local tracks added.
    AddMedia {
        /// The new tracks.
        tracks: Vec<TrackId>,
    },
    /// Local tracks removed.
    RemoveMedia {
        /// The removed tracks.
        tracks: Vec<TrackId>,
    },
    /// Answering a remote offer.
    Respond {
        /// What the offer does.
        op: sdp::RemoteOperation,
    },
    /// Answering an SDP-less remote update with an offer of our own; `op`
    /// is what the far end's answer turned out to do.
    RespondSlowStart {
        /// Known once the answer arrives.
        op: Option<sdp::RemoteOperation>,
    },
    /// The new call of a join.
    Join {
        /// The first original call.
        first: CallId,
        /// The second original call.
        second: CallId,
    },
}

/// Where the current negotiation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// The engine is acquiring media.
    Opening,
    /// The engine is creating a description.
    Describing,
    /// The application's handlers are running.
    Handlers {
        /// Offer or answer.
        kind: media::SdpKind,
        /// Local or remote.
        endpoint: media::SdpEndpoint,
        /// Replace the peer when applying (remote only).
        fresh_peer: bool,
    },
    /// The engine is applying our description and gathering candidates.
    Gathering,
    /// The engine is applying the far end's description.
    ApplyingRemote {
        /// Offer or answer.
        kind: media::SdpKind,
    },
    /// A REST request is in flight.
    Requesting,
    /// Waiting for the far end's answer (a `respondCallUpdate`).
    AwaitingAnswer,
}

/// A negotiation in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiation {
    /// What for.
    #[serde(flatten)]
    pub goal: Goal,
    /// Where it stands.
    pub step: Step,
}

/// An anonymous (`callMe`) call's identity: the undocumented `make`
/// options `isAnonymous`, `account` and `from` of the JS SDK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anonymous {
    /// The account the call is made on (`/anonymous/{account}/callMe`).
    pub account: String,
    /// The caller's address as given.
    pub from: String,
}

/// One call (`CallObject`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// Its id.
    pub id: CallId,
    /// Incoming or outgoing.
    pub direction: CallDirection,
    /// Its state.
    pub state: CallState,
    /// We hold it.
    pub local_hold: bool,
    /// The far end holds it.
    pub remote_hold: bool,
    /// Our tracks on the call.
    pub local_tracks: Vec<TrackId>,
    /// The far end's tracks.
    pub remote_tracks: Vec<TrackId>,
    /// Every track the call has had, by id (`media.getTrackById`).
    pub tracks: BTreeMap<TrackId, Track>,
    /// The far end.
    pub remote_participant: Participant,
    /// Bandwidth limits for what we receive.
    pub bandwidth: Bandwidth,
    /// When it connected (epoch ms).
    pub start_time: Option<u64>,
    /// When it ended (epoch ms).
    pub end_time: Option<u64>,
    /// Called address (outgoing: normalised destination; incoming: us).
    pub to: String,
    /// Caller address.
    pub from: String,
    /// The gateway's leg id (`sessionData`), once known.
    pub leg: Option<String>,
    /// The media asked for.
    pub media: MediaOptions,
    /// The display name given to `make`.
    pub display_name: Option<String>,
    /// An incoming call whose offer comes from us.
    pub slow_start: bool,
    /// The new call of a join.
    pub joined: bool,
    /// An incoming call announced with `call:receive`.
    pub announced: bool,
    /// A complex operation waiting for the gateway.
    pub local_op: Option<LocalOp>,
    /// The negotiation in progress.
    pub negotiation: Option<Negotiation>,
    /// The far end's last SDP (to classify its next offer).
    pub remote_sdp: Option<String>,
    /// A `callCancel` takes effect then (monotonic ms).
    pub cancel_at: Option<u64>,
    /// The next audit (monotonic ms).
    pub audit_at: Option<u64>,
    /// The last error of an operation on this call.
    pub error: Option<BasicError>,
    /// Set for anonymous (`callMe`) calls.
    pub anonymous: Option<Anonymous>,
}

impl Call {
    fn new(id: CallId, direction: CallDirection, state: CallState) -> Self {
        Call {
            id,
            direction,
            state,
            local_hold: false,
            remote_hold: false,
            local_tracks: Vec::new(),
            remote_tracks: Vec::new(),
            tracks: BTreeMap::new(),
            remote_participant: Participant::default(),
            bandwidth: Bandwidth::default(),
            start_time: None,
            end_time: None,
            to: String::new(),
            from: String::new(),
            leg: None,
            media: MediaOptions::default(),
            display_name: None,
            slow_start: false,
            joined: false,
            announced: false,
            local_op: None,
            negotiation: None,
            remote_sdp: None,
            cancel_at: None,
            audit_at: None,
            error: None,
            anonymous: None,
        }
    }

    /// The call as `previous` of a state change.
    pub fn previous(&self) -> Previous {
        Previous {
            state: self.state,
            local_hold: self.local_hold,
            remote_hold: self.remote_hold,
        }
    }

    /// Whether the call is over.
    pub fn ended(&self) -> bool {
        self.state == CallState::Ended
    }
}

/// Every call of the session.
///
/// Live calls and ended calls are kept apart so that what runs per input
/// (deadlines, lookups of live calls) is bounded by `call.maxCalls`, however
/// many ended calls are kept for `getAll`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallsState {
    /// Calls not yet ended, by id.
    pub calls: BTreeMap<CallId, Call>,
    /// Ended calls, by id (at most `call.maxEndedCalls`).
    pub ended: BTreeMap<CallId, Call>,
    /// Ended calls, oldest first (for the bound).
    pub ended_order: std::collections::VecDeque<CallId>,
    /// Leg id → live call.
    pub by_leg: BTreeMap<String, CallId>,
}

impl CallsState {
    /// The earliest call deadline.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.calls
            .values()
            .flat_map(|c| [c.cancel_at, c.audit_at])
            .flatten()
            .min()
    }

    /// Calls not yet ended.
    pub fn live(&self) -> usize {
        self.calls.len()
    }

    /// A call, live or ended.
    pub fn get(&self, id: &CallId) -> Option<&Call> {
        self.calls.get(id).or_else(|| self.ended.get(id))
    }

    /// A call, live or ended.
    pub(crate) fn get_mut(&mut self, id: &CallId) -> Option<&mut Call> {
        match self.calls.get_mut(id) {
            Some(c) => Some(c),
            None => self.ended.get_mut(id),
        }
    }

    /// Whether the id is taken.
    pub fn contains(&self, id: &CallId) -> bool {
        self.calls.contains_key(id) || self.ended.contains_key(id)
    }

    /// `call.getAll()`: live calls, then ended ones.
    pub fn all(&self) -> Vec<&Call> {
        self.calls.values().chain(self.ended.values()).collect()
    }

    /// Moves an ended call out of the live table, keeping at most `max`.
    pub(crate) fn retire(&mut self, id: &CallId, max: usize) {
        if let Some(call) = self.calls.remove(id) {
            if let Some(leg) = &call.leg {
                self.by_leg.remove(leg);
            }
            self.ended.insert(id.clone(), call);
            self.ended_order.push_back(id.clone());
        }
        while self.ended_order.len() > max {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
    }
}
