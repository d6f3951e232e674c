//! The call API (commands), the gateway's answers to call requests, and the
//! call timers (callCancel delay, audits).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::LogLevel;
use crate::effect::Method;
use crate::error::{BasicError, Error, ErrorCode};
use crate::event::Event;
use crate::http;
use crate::session::ConnectionStatus;

use super::engine::{self, CallCx, AUDIT_PERIOD_MS, AUDIT_RETRY_MS};
use super::media::{MediaOp, MediaOptions, TrackId};
use super::normalize;
use super::rest::{self, CallRequest, Outcome};
use super::sdp::{Bandwidth, Direction};
use super::{
    Call, CallDirection, CallId, CallState, CallsState, Goal, LocalOp, Participant, Step,
    Transition,
};

/// Bandwidth limits as the API takes them (`BandwidthControls`, kbps); a
/// missing value is 5000, as in the JS SDK.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandwidthOptions {
    /// Audio kbps.
    pub audio: Option<u32>,
    /// Video kbps.
    pub video: Option<u32>,
}

impl BandwidthOptions {
    fn resolve(self) -> Bandwidth {
        let d = Bandwidth::default();
        Bandwidth {
            audio: self.audio.unwrap_or(d.audio),
            video: self.video.unwrap_or(d.video),
        }
    }
}

/// The call API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call_command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallCommand {
    /// `call.make(destination, media, options)`. The caller picks the new
    /// call's id (the JS SDK returns it synchronously; here it is part of
    /// the recorded input).
    Make {
        /// The new call's id (unique).
        call_id: CallId,
        /// SIP or TEL address, or a bare user.
        destination: String,
        /// What to send (audio is required).
        media: MediaOptions,
        /// Bandwidth limits.
        #[serde(default)]
        bandwidth: BandwidthOptions,
        /// A display name for the far end (`Name<sip:...>` in `from`).
        #[serde(default)]
        display_name: Option<String>,
    },
    /// `call.make` with the JS SDK's undocumented `isAnonymous`, `account`
    /// and `from` options: an anonymous (`callMe`) call (02-calls §2.14).
    MakeAnonymous {
        /// The new call's id (unique).
        call_id: CallId,
        /// SIP or TEL address, or a bare user.
        destination: String,
        /// What to send (audio is required).
        media: MediaOptions,
        /// Bandwidth limits.
        #[serde(default)]
        bandwidth: BandwidthOptions,
        /// The account and caller address.
        anonymous: super::Anonymous,
    },
    /// `call.answer(callId, media, options)`.
    Answer {
        /// The call.
        call_id: CallId,
        /// What to send.
        media: MediaOptions,
        /// Bandwidth limits.
        #[serde(default)]
        bandwidth: BandwidthOptions,
    },
    /// `call.reject(callId)`.
    Reject {
        /// The call.
        call_id: CallId,
    },
    /// `call.ignore(callId)`: ends it here; the far end is not told.
    Ignore {
        /// The call.
        call_id: CallId,
    },
    /// `call.forward(callId, destination)`.
    Forward {
        /// The call.
        call_id: CallId,
        /// Where to.
        destination: String,
    },
    /// `call.end(callId)`.
    End {
        /// The call.
        call_id: CallId,
    },
    /// `call.hold(callId)`.
    Hold {
        /// The call.
        call_id: CallId,
    },
    /// `call.unhold(callId)`.
    Unhold {
        /// The call.
        call_id: CallId,
    },
    /// `call.addMedia(callId, media, options)`.
    AddMedia {
        /// The call.
        call_id: CallId,
        /// What to add.
        media: MediaOptions,
        /// Bandwidth limits.
        #[serde(default)]
        bandwidth: BandwidthOptions,
    },
    /// `call.removeMedia(callId, tracks, options)`.
    RemoveMedia {
        /// The call.
        call_id: CallId,
        /// Local tracks to remove.
        tracks: Vec<TrackId>,
        /// Bandwidth limits.
        #[serde(default)]
        bandwidth: BandwidthOptions,
    },
    /// `call.replaceTrack(callId, trackId, media)`.
    ReplaceTrack {
        /// The call.
        call_id: CallId,
        /// The local track.
        track: TrackId,
        /// The new source (one kind).
        media: MediaOptions,
    },
    /// `call.sendDTMF(callId, tone, duration, intertoneGap)`.
    SendDtmf {
        /// The call.
        call_id: CallId,
        /// `0-9`, `*`, `#`, `A-D`, `,` (pause).
        tones: String,
        /// Tone length in ms (default 100).
        duration_ms: u32,
        /// Gap in ms (default 70).
        gap_ms: u32,
    },
    /// `call.getStats(callId, trackId)`.
    GetStats {
        /// The call.
        call_id: CallId,
        /// One track, or the whole call.
        track: Option<TrackId>,
    },
    /// `call.directTransfer(callId, destination)`.
    DirectTransfer {
        /// The held call.
        call_id: CallId,
        /// Where to.
        destination: String,
    },
    /// `call.consultativeTransfer(callId, otherCallId)`.
    ConsultativeTransfer {
        /// A held call.
        call_id: CallId,
        /// The other held call.
        other: CallId,
    },
    /// `call.join(callId, otherCallId)`: a new audio-only call joins both.
    Join {
        /// A held call.
        call_id: CallId,
        /// The other held call.
        other: CallId,
    },
    /// `media.muteTracks(trackIds)`.
    MuteTracks {
        /// Which.
        tracks: Vec<TrackId>,
    },
    /// `media.unmuteTracks(trackIds)`.
    UnmuteTracks {
        /// Which.
        tracks: Vec<TrackId>,
    },
}

impl CallCommand {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            CallCommand::Make { .. } => "call:make",
            CallCommand::MakeAnonymous { .. } => "call:make_anonymous",
            CallCommand::Answer { .. } => "call:answer",
            CallCommand::Reject { .. } => "call:reject",
            CallCommand::Ignore { .. } => "call:ignore",
            CallCommand::Forward { .. } => "call:forward",
            CallCommand::End { .. } => "call:end",
            CallCommand::Hold { .. } => "call:hold",
            CallCommand::Unhold { .. } => "call:unhold",
            CallCommand::AddMedia { .. } => "call:add_media",
            CallCommand::RemoveMedia { .. } => "call:remove_media",
            CallCommand::ReplaceTrack { .. } => "call:replace_track",
            CallCommand::SendDtmf { .. } => "call:send_dtmf",
            CallCommand::GetStats { .. } => "call:get_stats",
            CallCommand::DirectTransfer { .. } => "call:direct_transfer",
            CallCommand::ConsultativeTransfer { .. } => "call:consultative_transfer",
            CallCommand::Join { .. } => "call:join",
            CallCommand::MuteTracks { .. } => "media:mute_tracks",
            CallCommand::UnmuteTracks { .. } => "media:unmute_tracks",
        }
    }
}

fn invalid(operation: &str, call: &Call) -> Error {
    Error::InvalidState {
        operation: operation.to_owned(),
        state: format!(
            "the call is {:?} ({}, local hold {}, remote hold {}{})",
            call.state,
            match call.direction {
                CallDirection::Incoming => "incoming",
                CallDirection::Outgoing => "outgoing",
            },
            call.local_hold,
            call.remote_hold,
            if call.negotiation.is_some() {
                ", negotiating"
            } else {
                ""
            }
        ),
    }
}

fn get<'c>(calls: &'c CallsState, id: &CallId) -> Result<&'c Call, Error> {
    calls
        .get(id)
        .ok_or_else(|| Error::Unknown(format!("call {id}")))
}

fn destination(cx: &CallCx<'_, '_>, d: &str) -> Result<String, Error> {
    let user = cx
        .session
        .endpoint
        .as_ref()
        .map(|e| e.username.as_str())
        .unwrap_or("");
    if cx.ctx.config.call.normalize_destination {
        normalize::normalize(d, normalize::domain_of(user))
            .ok_or_else(|| Error::InvalidArgument(format!("not a destination: {d:?}")))
    } else if d.trim().is_empty() {
        Err(Error::InvalidArgument("the destination is empty".into()))
    } else {
        Ok(d.trim().to_owned())
    }
}

/// Reduces a call command. Every check comes before any change.
pub(crate) fn command(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    command: CallCommand,
) -> Result<(), Error> {
    match command {
        CallCommand::Make {
            call_id,
            destination,
            media,
            bandwidth,
            display_name,
        } => make(
            calls,
            cx,
            call_id,
            &destination,
            media,
            bandwidth,
            display_name,
            None,
        ),
        CallCommand::MakeAnonymous {
            call_id,
            destination,
            media,
            bandwidth,
            anonymous,
        } => make(
            calls,
            cx,
            call_id,
            &destination,
            media,
            bandwidth,
            None,
            Some(anonymous),
        ),
        CallCommand::Answer {
            call_id,
            media,
            bandwidth,
        } => {
            let call = get(calls, &call_id)?;
            if call.direction != CallDirection::Incoming
                || call.state != CallState::Ringing
                || !call.announced
                || call.negotiation.is_some()
            {
                return Err(invalid("answer", call));
            }
            if !media.audio {
                return Err(Error::InvalidArgument(
                    "calls without audio are not supported".into(),
                ));
            }
            let ice_servers = cx.ice_servers();
            let audit = cx.now_mono() + AUDIT_PERIOD_MS;
            let Some(call) = calls.get_mut(&call_id) else {
                return Err(Error::Unknown(format!("call {call_id}")));
            };
            call.media = media.clone();
            call.bandwidth = bandwidth.resolve();
            // 4.8.0 starts the audit loop at answer(), whatever its outcome.
            call.audit_at = Some(audit);
            let goal = if call.slow_start {
                Goal::AnswerSlowStart
            } else {
                Goal::Answer
            };
            engine::start(call, goal, Step::Opening);
            cx.media(&call_id, MediaOp::Open { media, ice_servers });
            Ok(())
        }
        CallCommand::Reject { call_id } => {
            let call = get(calls, &call_id)?;
            ringing_incoming(call, "reject")?;
            let leg = call.leg.clone().unwrap_or_default();
            cx.media(&call_id, MediaOp::Close);
            let body = json!({"callDispositionRequest": {"action": "reject", "sessionData": leg}});
            cx.send(
                &call_id,
                CallRequest::Reject,
                Method::Post,
                "/calldisposition",
                Some(body),
            );
            Ok(())
        }
        CallCommand::Ignore { call_id } => {
            let call = get(calls, &call_id)?;
            ringing_incoming(call, "ignore")?;
            engine::end_call(calls, cx, &call_id, None, None);
            Ok(())
        }
        CallCommand::Forward {
            call_id,
            destination: dest,
        } => {
            let call = get(calls, &call_id)?;
            ringing_incoming(call, "forward")?;
            let address = destination(cx, &dest)?;
            let leg = call.leg.clone().unwrap_or_default();
            let body = json!({"callDispositionRequest": {"action": "forward", "sessionData": leg, "address": address}});
            cx.send(
                &call_id,
                CallRequest::Forward,
                Method::Post,
                "/calldisposition",
                Some(body),
            );
            Ok(())
        }
        CallCommand::End { call_id } => {
            let call = get(calls, &call_id)?;
            if call.ended() {
                return Err(invalid("end", call));
            }
            if let Some(leg) = call.leg.clone() {
                cx.send_control(call, CallRequest::End, Method::Delete, Some(&leg), None);
            }
            // Without a leg yet (Initiating), the leg is deleted when the
            // start request answers (4.8.0 resurrects the call instead).
            engine::end_call(calls, cx, &call_id, None, None);
            Ok(())
        }
        CallCommand::Hold { call_id } => {
            let call = get(calls, &call_id)?;
            if !matches!(call.state, CallState::Connected | CallState::OnHold)
                || call.local_hold
                || call.negotiation.is_some()
            {
                return Err(invalid("hold", call));
            }
            local_update(calls, cx, &call_id, Goal::Hold, Some(Direction::Inactive));
            Ok(())
        }
        CallCommand::Unhold { call_id } => {
            let call = get(calls, &call_id)?;
            if call.state != CallState::OnHold || !call.local_hold || call.negotiation.is_some() {
                return Err(invalid("unhold", call));
            }
            local_update(calls, cx, &call_id, Goal::Unhold, Some(Direction::Sendrecv));
            Ok(())
        }
        CallCommand::AddMedia {
            call_id,
            media,
            bandwidth,
        } => {
            let call = get(calls, &call_id)?;
            if call.state != CallState::Connected || call.negotiation.is_some() {
                return Err(invalid("add media", call));
            }
            if !media.audio && !media.video {
                return Err(Error::InvalidArgument("no media to add".into()));
            }
            let Some(call) = calls.get_mut(&call_id) else {
                return Err(Error::Unknown(format!("call {call_id}")));
            };
            call.bandwidth = bandwidth.resolve();
            engine::start(
                call,
                Goal::AddMedia { tracks: Vec::new() },
                Step::Describing,
            );
            cx.media(&call_id, MediaOp::AddMedia { media });
            cx.media(
                &call_id,
                MediaOp::CreateOffer {
                    direction: None,
                    restart: false,
                },
            );
            Ok(())
        }
        CallCommand::RemoveMedia {
            call_id,
            tracks,
            bandwidth,
        } => {
            let call = get(calls, &call_id)?;
            if tracks.is_empty() || !engine::known_local(call, &tracks) {
                return Err(Error::InvalidArgument(
                    "tracks must be a non-empty list of the call's local tracks".into(),
                ));
            }
            if call.state != CallState::Connected || call.negotiation.is_some() {
                return Err(invalid("remove media", call));
            }
            let Some(call) = calls.get_mut(&call_id) else {
                return Err(Error::Unknown(format!("call {call_id}")));
            };
            call.bandwidth = bandwidth.resolve();
            engine::start(
                call,
                Goal::RemoveMedia {
                    tracks: tracks.clone(),
                },
                Step::Describing,
            );
            cx.media(&call_id, MediaOp::RemoveTracks { tracks });
            cx.media(
                &call_id,
                MediaOp::CreateOffer {
                    direction: None,
                    restart: false,
                },
            );
            Ok(())
        }
        CallCommand::ReplaceTrack {
            call_id,
            track,
            media,
        } => {
            let call = get(calls, &call_id)?;
            if !call.local_tracks.contains(&track) {
                return Err(Error::InvalidArgument(format!(
                    "track {} is not a local track of the call",
                    track.0
                )));
            }
            if call.state != CallState::Connected {
                return Err(invalid("replace a track", call));
            }
            if media.audio == media.video {
                return Err(Error::InvalidArgument(
                    "replaceTrack takes exactly one kind of media".into(),
                ));
            }
            cx.media(&call_id, MediaOp::ReplaceTrack { track, media });
            Ok(())
        }
        CallCommand::SendDtmf {
            call_id,
            tones,
            duration_ms,
            gap_ms,
        } => {
            let call = get(calls, &call_id)?;
            if !matches!(call.state, CallState::Connected | CallState::Ringing) {
                return Err(invalid("send DTMF", call));
            }
            if tones.is_empty()
                || tones.len() > 256
                || !tones
                    .chars()
                    .all(|c| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D' | ','))
            {
                return Err(Error::InvalidArgument(format!(
                    "invalid DTMF tones {tones:?}"
                )));
            }
            if !(40..=6000).contains(&duration_ms) || !(30..=6000).contains(&gap_ms) {
                return Err(Error::InvalidArgument(
                    "DTMF duration must be 40-6000 ms and the gap 30-6000 ms".into(),
                ));
            }
            cx.media(
                &call_id,
                MediaOp::InsertDtmf {
                    tones,
                    duration_ms,
                    gap_ms,
                },
            );
            Ok(())
        }
        CallCommand::GetStats { call_id, track } => {
            get(calls, &call_id)?;
            cx.media(&call_id, MediaOp::GetStats { track });
            Ok(())
        }
        CallCommand::DirectTransfer {
            call_id,
            destination: dest,
        } => {
            let call = get(calls, &call_id)?;
            if call.state != CallState::OnHold
                || call.local_op.is_some()
                || call.negotiation.is_some()
            {
                return Err(invalid("transfer", call));
            }
            let address = destination(cx, &dest)?;
            let leg = call.leg.clone().unwrap_or_default();
            let fields = json!({"type": "transfer", "address": address});
            cx.send_control(
                call,
                CallRequest::Transfer,
                Method::Put,
                Some(&leg),
                Some(fields),
            );
            if let Some(c) = calls.get_mut(&call_id) {
                c.local_op = Some(LocalOp::DirectTransfer);
            }
            Ok(())
        }
        CallCommand::ConsultativeTransfer { call_id, other } => {
            let (a, b) = two_held(calls, &call_id, &other, "transfer")?;
            let leg = a.leg.clone().unwrap_or_default();
            let other_leg = b.leg.clone().unwrap_or_default();
            let address = match b.direction {
                CallDirection::Outgoing => b.to.clone(),
                CallDirection::Incoming => b.from.clone(),
            };
            let fields = json!({"type": "transfer", "sessionData": other_leg, "address": address});
            cx.send_control(
                a,
                CallRequest::Transfer,
                Method::Put,
                Some(&leg),
                Some(fields),
            );
            if let Some(c) = calls.get_mut(&call_id) {
                c.local_op = Some(LocalOp::ConsultativeTransfer {
                    other: other.clone(),
                });
            }
            if let Some(c) = calls.get_mut(&other) {
                c.local_op = Some(LocalOp::ConsultativeTransfer {
                    other: call_id.clone(),
                });
            }
            Ok(())
        }
        CallCommand::Join { call_id, other } => {
            let (a, _) = two_held(calls, &call_id, &other, "join")?;
            let new_id = cx.mint_id();
            let mut call = Call::new(
                new_id.clone(),
                CallDirection::Outgoing,
                CallState::Initiating,
            );
            call.joined = true;
            call.media = MediaOptions::audio();
            call.from = a.from.clone();
            call.to = a.to.clone();
            engine::start(
                &mut call,
                Goal::Join {
                    first: call_id.clone(),
                    second: other.clone(),
                },
                Step::Opening,
            );
            calls.calls.insert(new_id.clone(), call);
            for id in [&call_id, &other] {
                if let Some(c) = calls.get_mut(id) {
                    c.local_op = Some(LocalOp::Join);
                }
            }
            let ice_servers = cx.ice_servers();
            cx.media(
                &new_id,
                MediaOp::Open {
                    media: MediaOptions::audio(),
                    ice_servers,
                },
            );
            Ok(())
        }
        CallCommand::MuteTracks { tracks } => set_muted(calls, cx, tracks, true),
        CallCommand::UnmuteTracks { tracks } => set_muted(calls, cx, tracks, false),
    }
}

/// `make` and its anonymous form: every check first, then the call.
#[allow(clippy::too_many_arguments)]
fn make(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    call_id: CallId,
    dest: &str,
    media: MediaOptions,
    bandwidth: BandwidthOptions,
    display_name: Option<String>,
    anonymous: Option<super::Anonymous>,
) -> Result<(), Error> {
    if anonymous
        .as_ref()
        .is_some_and(|a| a.account.trim().is_empty() || a.from.trim().is_empty())
    {
        return Err(Error::InvalidArgument(
            "an anonymous call needs an account and a from address".into(),
        ));
    }
    if cx.session.status != ConnectionStatus::Connected {
        return Err(Error::InvalidState {
            operation: "make a call".into(),
            state: "not connected".into(),
        });
    }
    if call_id.0.is_empty() || calls.contains(&call_id) {
        return Err(Error::InvalidArgument(format!(
            "call id {call_id:?} is empty or in use"
        )));
    }
    if !media.audio {
        return Err(Error::InvalidArgument(
            "calls without audio are not supported".into(),
        ));
    }
    if calls.live() >= cx.ctx.config.call.max_calls {
        return Err(Error::InvalidState {
            operation: "make a call".into(),
            state: format!("{} calls already live (call.maxCalls)", calls.live()),
        });
    }
    let to = destination(cx, dest)?;
    let mut call = Call::new(
        call_id.clone(),
        CallDirection::Outgoing,
        CallState::Initiating,
    );
    call.remote_participant = Participant {
        display_number: normalize::display_number(&to),
        display_name: String::new(),
    };
    call.to = to;
    call.from = cx
        .session
        .endpoint
        .as_ref()
        .map(|e| e.username.clone())
        .unwrap_or_default();
    call.media = media.clone();
    call.bandwidth = bandwidth.resolve();
    call.display_name = display_name;
    call.anonymous = anonymous;
    engine::start(&mut call, Goal::Make, Step::Opening);
    calls.calls.insert(call_id.clone(), call);
    let ice_servers = cx.ice_servers();
    cx.media(&call_id, MediaOp::Open { media, ice_servers });
    Ok(())
}

/// Both calls of a transfer or join: distinct, held, nothing pending.
fn two_held<'c>(
    calls: &'c CallsState,
    id: &CallId,
    other: &CallId,
    op: &str,
) -> Result<(&'c Call, &'c Call), Error> {
    let (a, b) = (get(calls, id)?, get(calls, other)?);
    for c in [a, b] {
        if c.state != CallState::OnHold || c.local_op.is_some() || c.negotiation.is_some() {
            return Err(invalid(op, c));
        }
    }
    if id == other {
        return Err(Error::InvalidArgument(format!(
            "a call cannot {op} with itself"
        )));
    }
    Ok((a, b))
}

fn ringing_incoming(call: &Call, op: &str) -> Result<(), Error> {
    if call.direction != CallDirection::Incoming
        || call.state != CallState::Ringing
        || !call.announced
        || call.negotiation.is_some()
    {
        return Err(invalid(op, call));
    }
    Ok(())
}

fn local_update(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    id: &CallId,
    goal: Goal,
    direction: Option<Direction>,
) {
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    engine::start(call, goal, Step::Describing);
    cx.media(
        id,
        MediaOp::CreateOffer {
            direction,
            restart: false,
        },
    );
}

fn set_muted(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    tracks: Vec<TrackId>,
    muted: bool,
) -> Result<(), Error> {
    if tracks.is_empty() {
        return Err(Error::InvalidArgument("no tracks".into()));
    }
    let mut by_call: Vec<(CallId, Vec<TrackId>)> = Vec::new();
    for t in &tracks {
        let owner = calls
            .calls
            .values()
            .find(|c| !c.ended() && (c.local_tracks.contains(t) || c.remote_tracks.contains(t)))
            .map(|c| c.id.clone())
            .ok_or_else(|| Error::Unknown(format!("track {}", t.0)))?;
        match by_call.iter_mut().find(|(c, _)| *c == owner) {
            Some((_, v)) => v.push(t.clone()),
            None => by_call.push((owner, vec![t.clone()])),
        }
    }
    for (call_id, ts) in by_call {
        if let Some(call) = calls.get_mut(&call_id) {
            for t in &ts {
                if let Some(track) = call.tracks.get_mut(t) {
                    track.muted = muted;
                }
            }
        }
        cx.media(&call_id, MediaOp::SetMuted { tracks: ts, muted });
    }
    cx.event(if muted {
        Event::MediaMuted { tracks }
    } else {
        Event::MediaUnmuted { tracks }
    });
    Ok(())
}

/// Reads the gateway's answer to a call request.
pub(crate) fn on_http(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    id: &CallId,
    request: CallRequest,
    reply: http::Reply,
) {
    let outcome = rest::outcome(reply);
    let Some(call) = calls.get_mut(id) else {
        cx.log(LogLevel::Debug, || {
            format!("answer for unknown call {id} ignored")
        });
        return;
    };
    match (request, outcome) {
        (CallRequest::Start, Outcome::Ok(body)) => {
            let leg = rest::session_data(&body);
            if call.ended() {
                // Ended while the start was in flight: hang up the leg.
                if let Some(leg) = leg {
                    cx.send_control(call, CallRequest::End, Method::Delete, Some(&leg), None);
                }
                return;
            }
            match leg {
                Some(leg) => {
                    call.leg = Some(leg.clone());
                    calls.by_leg.insert(leg, id.clone());
                    let Some(call) = calls.get_mut(id) else {
                        return;
                    };
                    call.state = CallState::Initiated;
                    if let Some(n) = &mut call.negotiation {
                        n.step = Step::AwaitingAnswer;
                    }
                    cx.event(Event::CallStart {
                        call_id: id.clone(),
                        error: None,
                    });
                }
                None => {
                    let e = BasicError::new(
                        ErrorCode::CallGenericError,
                        "Request failed: no sessionData in the start call response.",
                    );
                    engine::end_call(calls, cx, id, None, Some(e));
                }
            }
        }
        (CallRequest::Start, Outcome::Err(e, _)) => {
            if !call.ended() {
                engine::end_call(calls, cx, id, None, Some(e));
            }
        }
        (CallRequest::Ringing, outcome) => {
            if let Outcome::Err(e, _) = &outcome {
                cx.log(LogLevel::Warn, || {
                    format!("ringing feedback for call {id} failed: {e}")
                });
            }
            if call.ended() {
                return;
            }
            call.negotiation = None;
            call.announced = true;
            cx.event(Event::CallReceive {
                call_id: id.clone(),
            });
        }
        (CallRequest::Answer, Outcome::Ok(_)) => {
            if call.slow_start {
                if let Some(n) = &mut call.negotiation {
                    n.step = Step::AwaitingAnswer;
                }
            } else {
                let previous = call.previous();
                call.negotiation = None;
                call.state = CallState::Connected;
                call.local_hold = false;
                call.remote_hold = false;
                call.start_time = Some(cx.now_wall());
                engine::state_change(cx, call, previous, None, None);
            }
        }
        (CallRequest::Answer | CallRequest::Update | CallRequest::Respond, Outcome::Err(e, _)) => {
            let goal = call.negotiation.take().map(|n| n.goal);
            call.error = Some(e.clone());
            let snapshot = call.clone();
            match goal {
                Some(g) => engine::operation_failed(cx, &snapshot, &g, e),
                None => engine::state_change(cx, &snapshot, snapshot.previous(), None, Some(e)),
            }
        }
        (CallRequest::Update, Outcome::Ok(_)) => {
            if let Some(n) = &mut call.negotiation {
                n.step = Step::AwaitingAnswer;
            }
        }
        (CallRequest::Respond, Outcome::Ok(_)) => {
            match call.negotiation.as_ref().map(|n| n.goal.clone()) {
                Some(Goal::RespondSlowStart { .. }) => {
                    if let Some(n) = &mut call.negotiation {
                        n.step = Step::AwaitingAnswer;
                    }
                }
                Some(Goal::Respond { op }) => {
                    call.negotiation = None;
                    engine::apply_remote_op(calls, cx, id, op, false);
                }
                _ => {}
            }
        }
        (CallRequest::Reject | CallRequest::Forward, Outcome::Ok(_)) => {
            engine::end_call(calls, cx, id, None, None);
        }
        (CallRequest::Reject | CallRequest::Forward, Outcome::Err(e, _)) => {
            call.error = Some(e.clone());
            engine::state_change(cx, call, call.previous(), None, Some(e));
        }
        (CallRequest::End, outcome) => {
            if let Outcome::Err(e, _) = outcome {
                cx.log(LogLevel::Debug, || {
                    format!("hanging up call {id} on the gateway failed: {e}")
                });
            }
        }
        (CallRequest::Audit, Outcome::Ok(_)) => {
            if !call.ended() {
                call.audit_at = Some(cx.now_mono() + AUDIT_PERIOD_MS);
            }
        }
        (CallRequest::Audit, Outcome::Err(e, code)) => {
            if call.ended() {
                return;
            }
            if code == Some(42) {
                // The gateway no longer has the leg. 4.8.0 only stops
                // auditing and keeps a dead call; kandy-rs ends it.
                let e = BasicError::new(
                    ErrorCode::CallStateDesync,
                    format!("The gateway no longer knows this call ({})", e.message),
                );
                engine::end_call(calls, cx, id, None, Some(e));
            } else {
                call.audit_at = Some(cx.now_mono() + AUDIT_RETRY_MS);
            }
        }
        (CallRequest::Transfer, Outcome::Ok(_)) => {}
        (CallRequest::Transfer, Outcome::Err(e, _)) => {
            let others: Vec<CallId> = match call.local_op.take() {
                Some(LocalOp::ConsultativeTransfer { other }) => vec![other],
                _ => vec![],
            };
            let snapshot = call.clone();
            engine::state_change(
                cx,
                &snapshot,
                snapshot.previous(),
                Some(transition(-1, "Transfer Failed")),
                Some(e.clone()),
            );
            for o in others {
                if let Some(c) = calls.get_mut(&o) {
                    c.local_op = None;
                    let snapshot = c.clone();
                    engine::state_change(
                        cx,
                        &snapshot,
                        snapshot.previous(),
                        Some(transition(-1, "Transfer Failed")),
                        Some(e.clone()),
                    );
                }
            }
        }
        (CallRequest::Join, outcome) => {
            let originals = match call.negotiation.as_ref().map(|n| &n.goal) {
                Some(Goal::Join { first, second }) => vec![first.clone(), second.clone()],
                _ => vec![],
            };
            let leg = match &outcome {
                Outcome::Ok(body) => rest::session_data(body),
                Outcome::Err(..) => None,
            };
            match (leg, outcome) {
                (Some(leg), _) if !call.ended() => {
                    call.leg = Some(leg.clone());
                    call.state = CallState::Initiated;
                    if let Some(n) = &mut call.negotiation {
                        n.step = Step::AwaitingAnswer;
                    }
                    calls.by_leg.insert(leg, id.clone());
                    cx.event(Event::CallJoin {
                        call_id: id.clone(),
                        error: None,
                    });
                }
                (_, outcome) => {
                    // 4.8.0 reports no join result at all; kandy-rs does.
                    let e = match outcome {
                        Outcome::Err(e, _) => e,
                        Outcome::Ok(_) => BasicError::new(
                            ErrorCode::CallGenericError,
                            "Request failed: no sessionData in the join response.",
                        ),
                    };
                    for o in &originals {
                        if let Some(c) = calls.get_mut(o) {
                            c.local_op = None;
                        }
                    }
                    cx.event(Event::CallJoin {
                        call_id: id.clone(),
                        error: Some(e.clone()),
                    });
                    engine::end_call(calls, cx, id, Some(transition(-2, "Join Failed")), Some(e));
                }
            }
        }
    }
}

/// A transition with a code and a reason.
pub(crate) fn transition(code: i64, reason: &str) -> Transition {
    Transition {
        status_code: Some(code),
        reason_text: Some(reason.to_owned()),
        prev_state: None,
    }
}

/// Fires the call timers that are due.
pub(crate) fn on_timeout(calls: &mut CallsState, cx: &mut CallCx<'_, '_>) {
    let now = cx.now_mono();
    let due: Vec<(CallId, bool, bool)> = calls
        .calls
        .values()
        .filter(|c| c.cancel_at.is_some_and(|t| t <= now) || c.audit_at.is_some_and(|t| t <= now))
        .map(|c| {
            (
                c.id.clone(),
                c.cancel_at.is_some_and(|t| t <= now),
                c.audit_at.is_some_and(|t| t <= now),
            )
        })
        .collect();
    for (id, cancel, audit) in due {
        if cancel {
            let live = calls.get_mut(&id).map(|c| {
                c.cancel_at = None;
                matches!(c.state, CallState::Ringing | CallState::Initiated)
            });
            if live == Some(true) {
                engine::end_call(calls, cx, &id, None, None);
            }
        }
        if audit {
            let Some(call) = calls.get_mut(&id) else {
                continue;
            };
            call.audit_at = None;
            if call.ended() {
                continue;
            }
            if let Some(leg) = call.leg.clone() {
                cx.send_control(
                    call,
                    CallRequest::Audit,
                    Method::Put,
                    Some(&leg),
                    Some(json!({"type": "audit"})),
                );
            }
        }
    }
}
