//! The negotiation pipeline: engine round trips, the SDP handlers, and what
//! completes each goal. Shared helpers of the call module live here too.

use serde_json::json;

use crate::config::LogLevel;
use crate::ctx::Ctx;
use crate::effect::{Effect, Method};
use crate::error::{BasicError, ErrorCode};
use crate::event::Event;
use crate::rng::Rng;
use crate::session::SessionState;

use super::media::{
    IceServer, MediaCommand, MediaEvent, MediaEventKind, MediaOp, SdpEndpoint, SdpKind, TrackId,
};
use super::rest::{self, CallRequest};
use super::sdp::{self, Direction, RemoteOperation, Sdp};
use super::{Call, CallId, CallState, CallsState, Goal, Negotiation, Previous, Step, Transition};

pub(crate) const TARGET: &str = "kandy::call";

/// Audits run this often on a connected call (02-calls §2.10).
pub(crate) const AUDIT_PERIOD_MS: u64 = 25_000;
/// ... and this soon again after a failed one.
pub(crate) const AUDIT_RETRY_MS: u64 = 5_000;
/// A `callCancel` takes effect this long after it arrives (§3.8: the real
/// gateway sends one right after an answer; the delay lets the answer win).
pub(crate) const CANCEL_DELAY_MS: u64 = 3_000;

/// What the call module needs besides its own state.
pub(crate) struct CallCx<'a, 'b> {
    pub ctx: &'a mut Ctx<'b>,
    pub session: &'a SessionState,
    pub rng: &'a mut Rng,
}

impl CallCx<'_, '_> {
    pub fn media(&mut self, call: &CallId, op: MediaOp) {
        self.ctx.push(Effect::Media(MediaCommand {
            call: call.clone(),
            op,
        }));
    }

    pub fn event(&mut self, event: Event) {
        self.ctx.event(event);
    }

    pub fn now_wall(&self) -> u64 {
        self.ctx.now.wall_ms
    }

    pub fn now_mono(&self) -> u64 {
        self.ctx.now.mono_ms
    }

    /// A fresh call id from the seeded generator (incoming and joined
    /// calls; outgoing ones are chosen by the caller of `make`).
    pub fn mint_id(&mut self) -> CallId {
        CallId(self.rng.hex_id())
    }

    pub fn log<M: Into<std::borrow::Cow<'static, str>>>(
        &mut self,
        level: LogLevel,
        message: impl FnOnce() -> M,
    ) {
        self.ctx.log(level, TARGET, message);
    }

    /// The ICE servers for a new peer: the configured ones, with the
    /// subscription's TURN credentials filled in when both exist and
    /// `serverTurnCredentials` is on (02-calls §4.7).
    pub fn ice_servers(&self) -> Vec<IceServer> {
        let c = &self.ctx.config.call;
        let turn = self
            .session
            .subscription
            .as_ref()
            .and_then(|s| s.turn_credentials.as_ref());
        c.ice_servers
            .iter()
            .chain(c.iceserver.iter().flatten())
            .map(|s| {
                let mut s = s.clone();
                if let (true, Some(t)) = (c.server_turn_credentials, turn) {
                    s.username = Some(t.username.clone());
                    s.credential = Some(t.password.clone());
                }
                s
            })
            .collect()
    }

    pub fn send(
        &mut self,
        call: &CallId,
        request: CallRequest,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> bool {
        rest::send(self.ctx, self.session, call, request, method, path, body)
    }

    /// A `callControl` request on a call (optionally on its leg), or the
    /// `callMe` form for an anonymous call: the same request under
    /// `/anonymous/{account}/callMe` with a `callMeRequest` wrapper.
    pub fn send_control(
        &mut self,
        call: &Call,
        request: CallRequest,
        method: Method,
        leg: Option<&str>,
        fields: Option<serde_json::Value>,
    ) -> bool {
        let (base, resource, wrapper) = match &call.anonymous {
            Some(a) => (
                rest::anonymous_base(self.session, &a.account),
                "/callMe",
                "callMeRequest",
            ),
            None => (
                rest::base(self.session),
                "/callControl",
                "callControlRequest",
            ),
        };
        let Some(base) = base else { return false };
        let mut url = format!("{base}{resource}");
        if let Some(leg) = leg {
            url.push_str("/callSessions/");
            url.push_str(&crate::http::path_segment(leg));
        }
        let body = fields.map(|f| {
            let mut m = serde_json::Map::new();
            m.insert(wrapper.to_owned(), f);
            serde_json::Value::Object(m)
        });
        rest::send_url(
            self.ctx,
            self.session,
            &call.id,
            request,
            method,
            &url,
            body,
        );
        true
    }
}

/// `call:stateChange`.
pub(crate) fn state_change(
    cx: &mut CallCx<'_, '_>,
    call: &Call,
    previous: Previous,
    transition: Option<Transition>,
    error: Option<BasicError>,
) {
    cx.event(Event::CallStateChange {
        call_id: call.id.clone(),
        state: call.state,
        previous,
        transition,
        error,
    });
}

/// Ends a call locally: media closed, timers stopped, `call:stateChange`.
pub(crate) fn end_call(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    id: &CallId,
    transition: Option<Transition>,
    error: Option<BasicError>,
) {
    let max_ended = cx.ctx.config.call.max_ended_calls;
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    if call.ended() {
        return;
    }
    let previous = call.previous();
    call.state = CallState::Ended;
    call.end_time = Some(cx.now_wall());
    call.negotiation = None;
    call.cancel_at = None;
    call.audit_at = None;
    call.local_op = None;
    call.local_tracks.clear();
    call.remote_tracks.clear();
    if error.is_some() {
        call.error = error.clone();
    }
    let snapshot = call.clone();
    cx.media(id, MediaOp::Close);
    state_change(cx, &snapshot, previous, transition, error);
    calls.retire(id, max_ended);
}

/// Starts a local description (offer or answer) for the call's goal.
pub(crate) fn describe(
    cx: &mut CallCx<'_, '_>,
    call: &mut Call,
    kind: SdpKind,
    direction: Option<Direction>,
) {
    if let Some(n) = &mut call.negotiation {
        n.step = Step::Describing;
    }
    let op = match kind {
        SdpKind::Offer => MediaOp::CreateOffer {
            direction,
            restart: matches!(
                call.negotiation.as_ref().map(|n| &n.goal),
                Some(Goal::RespondSlowStart { .. })
            ),
        },
        SdpKind::Answer => MediaOp::CreateAnswer { direction },
    };
    cx.media(&call.id, op);
}

/// Sends a remote description through the pipeline, then to the engine.
pub(crate) fn apply_remote(
    cx: &mut CallCx<'_, '_>,
    call: &mut Call,
    kind: SdpKind,
    text: String,
    fresh_peer: bool,
) -> Result<(), String> {
    match run_app_handlers(cx, call, kind, SdpEndpoint::Remote, fresh_peer, text) {
        None => Ok(()),
        Some(text) => finish_remote(cx, call, kind, text, fresh_peer),
    }
}

/// Hands the SDP to the application's handlers (run by the driver) when
/// there are any, and returns `None`; otherwise gives the SDP back to go on
/// with the built-in handlers at once.
fn run_app_handlers(
    cx: &mut CallCx<'_, '_>,
    call: &mut Call,
    kind: SdpKind,
    endpoint: SdpEndpoint,
    fresh_peer: bool,
    text: String,
) -> Option<String> {
    if cx.ctx.config.call.sdp_handlers == 0 {
        return Some(text);
    }
    if let Some(n) = &mut call.negotiation {
        n.step = Step::Handlers {
            kind,
            endpoint,
            fresh_peer,
        };
    }
    let bandwidth = call.bandwidth;
    cx.media(
        &call.id,
        MediaOp::RunSdpHandlers {
            sdp: text,
            kind,
            endpoint,
            bandwidth,
        },
    );
    None
}

/// The built-in remote handlers, then `ApplyRemote`.
fn finish_remote(
    cx: &mut CallCx<'_, '_>,
    call: &mut Call,
    kind: SdpKind,
    text: String,
    fresh_peer: bool,
) -> Result<(), String> {
    let mut parsed = match Sdp::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            return Err(format!("remote SDP refused: {e}"));
        }
    };
    if cx.ctx.config.call.remove_h264_codecs {
        parsed.remove_codecs(&[sdp::CodecSpec::named("H264")]);
    }
    parsed.remove_sdes();
    if kind == SdpKind::Offer {
        // A locally held call answers without media (§4.6.2 step 3).
        if call.local_hold && parsed.has_media_flowing() {
            parsed.deactivate();
        }
        // `setup:active` in an offer is invalid; read it as actpass (step 5).
        for l in parsed
            .session
            .iter_mut()
            .chain(parsed.media.iter_mut().flat_map(|m| m.lines.iter_mut()))
        {
            if l.kind == 'a' && l.value == "setup:active" {
                l.value = "setup:actpass".to_owned();
            }
        }
    }
    if let Some(n) = &mut call.negotiation {
        n.step = Step::ApplyingRemote { kind };
    }
    call.remote_sdp = Some(text);
    cx.media(
        &call.id,
        MediaOp::ApplyRemote {
            kind,
            sdp: parsed.to_string(),
            fresh_peer,
        },
    );
    Ok(())
}

/// Sends a local description through the pipeline, then to the engine.
fn local_description(
    cx: &mut CallCx<'_, '_>,
    call: &mut Call,
    kind: SdpKind,
    text: String,
) -> Result<(), String> {
    match run_app_handlers(cx, call, kind, SdpEndpoint::Local, false, text) {
        None => Ok(()),
        Some(text) => finish_local(cx, call, kind, text),
    }
}

/// The built-in local handlers (trickle and BUNDLE clean-up, codec and SDES
/// removers, bandwidth), then `ApplyLocal`.
fn finish_local(
    cx: &mut CallCx<'_, '_>,
    call: &mut Call,
    kind: SdpKind,
    text: String,
) -> Result<(), String> {
    let mut parsed = match Sdp::parse(&text) {
        Ok(s) => s,
        Err(e) => {
            return Err(format!("the media engine produced an invalid SDP: {e}"));
        }
    };
    parsed.remove_trickle_and_groups();
    if cx.ctx.config.call.remove_h264_codecs {
        parsed.remove_codecs(&[sdp::CodecSpec::named("H264")]);
    }
    parsed.remove_sdes();
    let no_bandwidth = matches!(
        call.negotiation.as_ref().map(|n| &n.goal),
        Some(Goal::Join { .. }) | Some(Goal::RespondSlowStart { .. })
    );
    if !no_bandwidth {
        parsed.set_bandwidth(call.bandwidth);
    }
    if let Some(n) = &mut call.negotiation {
        n.step = Step::Gathering;
    }
    cx.media(
        &call.id,
        MediaOp::ApplyLocal {
            kind,
            sdp: parsed.to_string(),
        },
    );
    Ok(())
}

/// Reduces one engine report.
pub(crate) fn on_media(calls: &mut CallsState, cx: &mut CallCx<'_, '_>, event: MediaEvent) {
    let MediaEvent { call: id, kind } = event;
    let Some(call) = calls.get_mut(&id) else {
        cx.log(LogLevel::Debug, || {
            format!("media event for unknown call {id} ignored")
        });
        return;
    };
    if call.ended() && !matches!(kind, MediaEventKind::TrackEnded { .. }) {
        return;
    }
    let step = call.negotiation.as_ref().map(|n| n.step);
    match (kind, step) {
        (MediaEventKind::Opened { tracks }, Some(Step::Opening)) => {
            for t in tracks {
                call.local_tracks.push(t.id.clone());
                call.tracks.insert(t.id.clone(), t);
            }
            let goal = call.negotiation.as_ref().map(|n| n.goal.clone());
            match goal {
                Some(Goal::Answer) => describe(cx, call, SdpKind::Answer, None),
                Some(_) => describe(cx, call, SdpKind::Offer, None),
                None => {}
            }
        }
        (MediaEventKind::Described { kind, sdp }, Some(Step::Describing)) => {
            if let Err(e) = local_description(cx, call, kind, sdp) {
                media_failed(calls, cx, &id, &e);
            }
        }
        (
            MediaEventKind::SdpHandled { sdp },
            Some(Step::Handlers {
                kind,
                endpoint,
                fresh_peer,
            }),
        ) => {
            let result = match endpoint {
                SdpEndpoint::Local => finish_local(cx, call, kind, sdp),
                SdpEndpoint::Remote => finish_remote(cx, call, kind, sdp, fresh_peer),
            };
            if let Err(e) = result {
                media_failed(calls, cx, &id, &e);
            }
        }
        (MediaEventKind::LocalReady { sdp, .. }, Some(Step::Gathering)) => {
            let id = call.id.clone();
            send_description(calls, cx, &id, sdp);
        }
        (MediaEventKind::RemoteApplied, Some(Step::ApplyingRemote { kind })) => {
            let id = call.id.clone();
            remote_applied(calls, cx, &id, kind);
        }
        (MediaEventKind::TracksAdded { tracks }, _) => {
            for t in tracks {
                call.local_tracks.push(t.id.clone());
                if let Some(Negotiation {
                    goal: Goal::AddMedia { tracks: added },
                    ..
                }) = &mut call.negotiation
                {
                    added.push(t.id.clone());
                }
                call.tracks.insert(t.id.clone(), t);
            }
        }
        (MediaEventKind::TrackAdded { track }, _) => {
            let (id, local, track_id) = (call.id.clone(), track.local, track.id.clone());
            if local {
                call.local_tracks.push(track_id.clone());
            } else {
                call.remote_tracks.push(track_id.clone());
            }
            call.tracks.insert(track_id.clone(), track);
            cx.event(Event::CallNewTrack {
                call_id: id,
                track_id,
                local,
            });
        }
        (MediaEventKind::TrackEnded { track, local }, _) => {
            call.local_tracks.retain(|t| *t != track);
            call.remote_tracks.retain(|t| *t != track);
            cx.event(Event::CallTrackEnded {
                call_id: call.id.clone(),
                track_id: track,
                local,
            });
        }
        (MediaEventKind::TrackReplaced { old, new }, _) => {
            let new_id = new.id.clone();
            for t in &mut call.local_tracks {
                if *t == old {
                    *t = new_id.clone();
                }
            }
            let old_track = call.tracks.get(&old).cloned();
            call.tracks.insert(new_id.clone(), new);
            cx.event(Event::CallTrackReplaced {
                call_id: call.id.clone(),
                new_track_id: Some(new_id),
                old_track,
                error: None,
            });
        }
        (MediaEventKind::Stats { track, report }, _) => cx.event(Event::CallStatsReceived {
            call_id: call.id.clone(),
            track_id: track,
            result: report,
            error: None,
        }),
        (MediaEventKind::Failed { message }, Some(_)) => {
            let id = call.id.clone();
            media_failed(calls, cx, &id, &message);
        }
        (other, step) => cx.log(LogLevel::Warn, || {
            format!("unexpected media event {other:?} for call {id} at {step:?} ignored")
        }),
    }
}

/// A local description is ready: the request it belongs in goes out.
fn send_description(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    id: &CallId,
    sdp_text: String,
) {
    let leg_of = |c: &CallId| calls.get(c).and_then(|c| c.leg.clone()).unwrap_or_default();
    let join_legs = match calls
        .get(id)
        .and_then(|c| c.negotiation.as_ref())
        .map(|n| &n.goal)
    {
        Some(Goal::Join { first, second }) => Some((leg_of(first), leg_of(second))),
        _ => None,
    };
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    let Some(n) = &mut call.negotiation else {
        return;
    };
    n.step = Step::Requesting;
    let goal = n.goal.clone();
    let leg = call.leg.clone().unwrap_or_default();
    let sent = match goal {
        Goal::Make => {
            let mut body = json!({"type": "callStart", "to": call.to, "sdp": sdp_text, "from": own_from(cx, call)});
            if let Some(a) = &call.anonymous {
                body["from"] = json!(a.from);
                // The part of the channel path after `/websocket/` (its last
                // segment when the gateway lays paths out differently).
                let channel = cx
                    .session
                    .subscription
                    .as_ref()
                    .map(|s| s.notification_channel.expose().to_owned())
                    .unwrap_or_default();
                let id_part = channel
                    .split_once("/websocket/")
                    .map(|(_, id)| id.to_owned())
                    .or_else(|| channel.rsplit('/').next().map(str::to_owned))
                    .unwrap_or_default();
                body["notifyChannelId"] = json!(id_part);
            }
            cx.send_control(call, CallRequest::Start, Method::Post, None, Some(body))
        }
        Goal::Answer | Goal::AnswerSlowStart => cx.send(
            id,
            CallRequest::Answer,
            Method::Put,
            &rest::leg_path(&leg),
            Some(rest::control(
                json!({"type": "callAnswer", "sdp": sdp_text}),
            )),
        ),
        Goal::Hold | Goal::Unhold | Goal::AddMedia { .. } | Goal::RemoveMedia { .. } => cx
            .send_control(
                call,
                CallRequest::Update,
                Method::Put,
                Some(&leg),
                Some(json!({"type": "startCallUpdate", "sdp": sdp_text})),
            ),
        Goal::Respond { .. } | Goal::RespondSlowStart { .. } => cx.send_control(
            call,
            CallRequest::Respond,
            Method::Put,
            Some(&leg),
            Some(json!({"type": "respondCallUpdate", "sdp": sdp_text})),
        ),
        Goal::Join { .. } => {
            let (l1, l2) = join_legs.unwrap_or_default();
            cx.send(
                id,
                CallRequest::Join,
                Method::Post,
                "/callControl",
                Some(rest::control(json!({"type": "join", "firstSessionData": l1, "secondSessionData": l2, "sdp": sdp_text}))),
            )
        }
        Goal::Incoming => false,
    };
    if !sent {
        media_failed(calls, cx, id, "no session to send the call request on");
    }
}

/// `from` of a call start: our normalised address, with the display name.
fn own_from(cx: &CallCx<'_, '_>, call: &Call) -> String {
    let user = cx
        .session
        .endpoint
        .as_ref()
        .map(|e| e.username.as_str())
        .unwrap_or("");
    let uri =
        super::normalize::normalize(user, super::normalize::domain_of(user)).unwrap_or_default();
    match &call.display_name {
        Some(name) if !name.is_empty() => format!("{name}<{uri}>"),
        _ => uri,
    }
}

/// The engine applied a remote description.
fn remote_applied(calls: &mut CallsState, cx: &mut CallCx<'_, '_>, id: &CallId, kind: SdpKind) {
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    let Some(goal) = call.negotiation.as_ref().map(|n| n.goal.clone()) else {
        return;
    };
    match (kind, goal) {
        (SdpKind::Offer, Goal::Incoming) => {
            if let Some(n) = &mut call.negotiation {
                n.step = Step::Requesting;
            }
            let leg = call.leg.clone().unwrap_or_default();
            cx.send(
                id,
                CallRequest::Ringing,
                Method::Put,
                &rest::leg_path(&leg),
                Some(rest::control(json!({"type": "ringing"}))),
            );
        }
        (SdpKind::Offer, Goal::Respond { .. }) => {
            let direction = call.local_hold.then_some(Direction::Inactive);
            describe(cx, call, SdpKind::Answer, direction);
        }
        (SdpKind::Answer, goal) => {
            call.negotiation = None;
            complete(calls, cx, id, goal);
        }
        (SdpKind::Offer, other) => cx.log(LogLevel::Warn, || {
            format!("remote offer applied for {other:?}: ignored")
        }),
    }
}

/// The far end's answer is applied: the goal is reached.
fn complete(calls: &mut CallsState, cx: &mut CallCx<'_, '_>, id: &CallId, goal: Goal) {
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    let previous = call.previous();
    match goal {
        Goal::Make | Goal::AnswerSlowStart | Goal::Join { .. } => {
            call.state = CallState::Connected;
            call.local_hold = false;
            call.remote_hold = false;
            call.start_time = Some(cx.now_wall());
            call.audit_at = Some(cx.now_mono() + AUDIT_PERIOD_MS);
            state_change(cx, call, previous, None, None);
        }
        Goal::Hold => {
            call.local_hold = true;
            call.state = CallState::OnHold;
            state_change(cx, call, previous, None, None);
        }
        Goal::Unhold => {
            call.local_hold = false;
            // An answer without media means the far end holds too (it held
            // while we did, which read as "no change" then): 02-calls §6.6.
            let flowing = call
                .remote_sdp
                .as_deref()
                .and_then(|s| Sdp::parse(s).ok())
                .is_none_or(|s| s.has_media_flowing());
            if !flowing {
                call.remote_hold = true;
            }
            call.state = if call.remote_hold {
                CallState::OnHold
            } else {
                CallState::Connected
            };
            state_change(cx, call, previous, None, None);
        }
        Goal::AddMedia { tracks } => cx.event(Event::CallNewMedia {
            call_id: id.clone(),
            local: true,
            tracks,
            error: None,
        }),
        Goal::RemoveMedia { tracks } => cx.event(Event::CallRemovedMedia {
            call_id: id.clone(),
            local: true,
            tracks,
            error: None,
        }),
        Goal::RespondSlowStart { op } => {
            // The answer to our offer tells what the far end did (§4.6.4).
            apply_remote_op(calls, cx, id, op.unwrap_or(RemoteOperation::NoChange), true);
        }
        other => cx.log(LogLevel::Warn, || {
            format!("answer applied for {other:?}: nothing to complete")
        }),
    }
}

/// Applies a remote operation to the call's state (§4.6.2 table).
pub(crate) fn apply_remote_op(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    id: &CallId,
    op: RemoteOperation,
    from_answer: bool,
) {
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    let previous = call.previous();
    let flowing = call
        .remote_sdp
        .as_deref()
        .and_then(|s| Sdp::parse(s).ok())
        .map(|s| s.has_media_flowing())
        .unwrap_or(true);
    match op {
        RemoteOperation::Hold => {
            call.remote_hold = true;
            call.state = CallState::OnHold;
        }
        RemoteOperation::Unhold => {
            if from_answer && !flowing {
                call.remote_hold = true;
                call.state = CallState::OnHold;
            } else {
                call.remote_hold = false;
                call.state = if call.local_hold {
                    CallState::OnHold
                } else {
                    CallState::Connected
                };
            }
        }
        RemoteOperation::NoChange | RemoteOperation::Unknown => {}
        _ => return,
    }
    state_change(cx, call, previous, None, None);
}

/// The engine failed the current step.
pub(crate) fn media_failed(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    id: &CallId,
    message: &str,
) {
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    let Some(n) = call.negotiation.clone() else {
        return;
    };
    cx.log(LogLevel::Warn, || format!("call {id}: {message}"));
    call.negotiation = None;
    match (n.goal, n.step) {
        (Goal::Make, Step::Opening) | (Goal::Join { .. }, Step::Opening) => {
            let e = BasicError::new(
                ErrorCode::CallUserMediaError,
                format!("Could not get user media: {message}."),
            );
            if call.joined {
                cx.event(Event::CallJoin {
                    call_id: id.clone(),
                    error: Some(e.clone()),
                });
            }
            end_call(calls, cx, id, None, Some(e));
        }
        (Goal::Incoming, _) => {
            // 4.8.0 drops such a call silently and leaves the caller ringing;
            // kandy-rs declines it so the caller learns at once.
            let leg = call.leg.clone().unwrap_or_default();
            calls.calls.remove(id);
            calls.by_leg.remove(&leg);
            let body = json!({"callDispositionRequest": {"action": "reject", "sessionData": leg}});
            cx.send(
                id,
                CallRequest::Reject,
                Method::Post,
                "/calldisposition",
                Some(body),
            );
            cx.media(id, MediaOp::Close);
        }
        (
            goal @ (Goal::Make | Goal::Join { .. } | Goal::AnswerSlowStart),
            Step::ApplyingRemote { .. },
        ) => {
            // The far end's answer is unusable. 4.8.0 ends the call without
            // telling the gateway; kandy-rs hangs up the leg too.
            let _ = goal;
            if let Some(leg) = call.leg.clone() {
                cx.send_control(call, CallRequest::End, Method::Delete, Some(&leg), None);
            }
            let e = BasicError::new(
                ErrorCode::CallGenericError,
                format!("Media negotiation failed: {message}."),
            );
            end_call(calls, cx, id, None, Some(e));
        }
        (goal, _) => {
            let e = BasicError::new(
                ErrorCode::CallGenericError,
                format!("Media operation failed: {message}."),
            );
            call.error = Some(e.clone());
            operation_failed(cx, call, &goal, e);
        }
    }
}

/// Reports a failed operation with the event its API has.
pub(crate) fn operation_failed(
    cx: &mut CallCx<'_, '_>,
    call: &Call,
    goal: &Goal,
    error: BasicError,
) {
    match goal {
        Goal::AddMedia { tracks } => cx.event(Event::CallNewMedia {
            call_id: call.id.clone(),
            local: true,
            tracks: tracks.clone(),
            error: Some(error),
        }),
        Goal::RemoveMedia { tracks } => cx.event(Event::CallRemovedMedia {
            call_id: call.id.clone(),
            local: true,
            tracks: tracks.clone(),
            error: Some(error),
        }),
        _ => state_change(cx, call, call.previous(), None, Some(error)),
    }
}

/// The tracks of a kind (for `removeMedia` bookkeeping).
pub(crate) fn known_local(call: &Call, ids: &[TrackId]) -> bool {
    ids.iter().all(|t| call.local_tracks.contains(t))
}

/// Starts a negotiation with the engine's first step.
pub(crate) fn start(call: &mut Call, goal: Goal, step: Step) {
    call.negotiation = Some(Negotiation { goal, step });
}

/// Ends every live call locally (the session is gone), each with a
/// `call:8` error saying why.
pub(crate) fn end_all(calls: &mut CallsState, cx: &mut CallCx<'_, '_>, why: &str) {
    let ids: Vec<CallId> = calls.calls.keys().cloned().collect();
    for id in ids {
        let error = BasicError::new(
            ErrorCode::CallStateDesync,
            format!("The call ended because {why}."),
        );
        end_call(calls, cx, &id, None, Some(error));
    }
}
