//! Call notifications from the gateway (02-calls §3): `call`, `ringing`,
//! `respondCallUpdate`, `startCallUpdate`, `callEnd` / `sessionComplete`,
//! `callCancel`, `sessionFail`.

use serde::Deserialize;
use serde_json::Value;

use crate::config::LogLevel;
use crate::error::{BasicError, ErrorCode};
use crate::notification::RawJson;

use super::engine::{self, CallCx, CANCEL_DELAY_MS};
use super::media::SdpKind;
use super::normalize;
use super::ops::transition;
use super::sdp::{self, RemoteOperation, Sdp};
use super::{
    Call, CallDirection, CallId, CallState, CallsState, Goal, LocalOp, Participant, Step,
    Transition,
};

/// The event types this module handles.
pub(crate) const EVENT_TYPES: &[&str] = &[
    "call",
    "ringing",
    "respondCallUpdate",
    "startCallUpdate",
    "callEnd",
    "sessionComplete",
    "callCancel",
    "sessionFail",
];

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "notificationMessage")]
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "eventType", default)]
    event_type: String,
    #[serde(rename = "statusCode", default)]
    status_code: Option<Value>,
    #[serde(rename = "sessionParams", default)]
    session: Option<SessionParams>,
    #[serde(rename = "callNotificationParams", default)]
    params: Option<CallParams>,
}

#[derive(Deserialize, Default)]
struct SessionParams {
    #[serde(rename = "sessionData", default)]
    session_data: Option<String>,
    #[serde(default)]
    sdp: Option<String>,
    #[serde(rename = "statusCode", default)]
    status_code: Option<Value>,
    #[serde(rename = "reasonText", default)]
    reason_text: Option<String>,
    #[serde(rename = "retryAfter", default)]
    retry_after: Option<Value>,
}

#[derive(Deserialize, Default)]
struct CallParams {
    #[serde(rename = "callerName", default)]
    caller_name: Option<String>,
    #[serde(rename = "callerDisplayNumber", default)]
    caller_number: Option<String>,
    #[serde(rename = "remoteName", default)]
    remote_name: Option<String>,
    #[serde(rename = "remoteDisplayNumber", default)]
    remote_number: Option<String>,
}

fn number(v: &Option<Value>) -> Option<i64> {
    v.as_ref().and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

fn truthy(v: &Option<Value>) -> bool {
    !matches!(v, None | Some(Value::Null) | Some(Value::Bool(false)))
        && v.as_ref().and_then(Value::as_i64) != Some(0)
}

/// The far end per §3.10, with the one fix: a number without a domain gets
/// `@domain` (4.8.0 appends the domain without the `@`).
fn participant(call: &Call, params: Option<&CallParams>, own_domain: &str) -> Participant {
    let Some(p) = params else {
        return call.remote_participant.clone();
    };
    let (name, num) = match call.direction {
        CallDirection::Incoming => (&p.caller_name, &p.caller_number),
        CallDirection::Outgoing => (&p.remote_name, &p.remote_number),
    };
    let display_number = match num.as_deref().filter(|n| !n.is_empty()) {
        Some(n) if !n.contains('@') && !own_domain.is_empty() => format!("{n}@{own_domain}"),
        Some(n) => n.to_owned(),
        None => call.remote_participant.display_number.clone(),
    };
    Participant {
        display_number,
        display_name: name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| call.remote_participant.display_name.clone()),
    }
}

/// Reduces one call notification.
pub(crate) fn on_notification(calls: &mut CallsState, cx: &mut CallCx<'_, '_>, payload: &RawJson) {
    let message = match payload.parse::<Envelope>() {
        Ok(e) => e.message,
        Err(e) => {
            cx.log(LogLevel::Warn, || {
                format!("malformed call notification dropped: {e}")
            });
            return;
        }
    };
    let Some(session) = message.session.as_ref() else {
        cx.log(LogLevel::Warn, || {
            format!("{} without sessionParams dropped", message.event_type)
        });
        return;
    };
    let Some(leg) = session.session_data.clone().filter(|s| !s.is_empty()) else {
        cx.log(LogLevel::Warn, || {
            format!("{} without sessionData dropped", message.event_type)
        });
        return;
    };
    if message.event_type == "call" {
        incoming(calls, cx, leg, &message);
        return;
    }
    let Some(id) = calls.by_leg.get(&leg).cloned() else {
        // 4.8.0 crashes its handler here and may lose other notifications.
        cx.log(LogLevel::Warn, || {
            format!("{} for an unknown leg ignored", message.event_type)
        });
        return;
    };
    let own_domain = cx
        .session
        .endpoint
        .as_ref()
        .map(|e| normalize::domain_of(&e.username).to_owned())
        .unwrap_or_default();
    let Some(call) = calls.get_mut(&id) else {
        return;
    };
    if call.ended() {
        return;
    }
    let who = participant(call, message.params.as_ref(), &own_domain);
    match message.event_type.as_str() {
        "ringing" => {
            if call.state == CallState::Initiated {
                let previous = call.previous();
                call.state = CallState::Ringing;
                call.remote_participant = who;
                engine::state_change(cx, call, previous, None, None);
            }
        }
        "respondCallUpdate" => {
            call.remote_participant = who;
            respond_call_update(calls, cx, &id, &message, session);
        }
        "startCallUpdate" => {
            call.remote_participant = who;
            start_call_update(calls, cx, &id, session.sdp.clone());
        }
        "callEnd" | "sessionComplete" => {
            call.remote_participant = who;
            let mut t = Transition {
                status_code: number(&session.status_code),
                reason_text: session.reason_text.clone(),
                prev_state: None,
            };
            if t.reason_text.is_none() {
                t.prev_state = Some(call.state);
            } else if t.status_code.is_none() {
                t.status_code = match t.reason_text.as_deref() {
                    Some("Direct Transfer Successful") | Some("Transfer Successful") => Some(9905),
                    Some("Join Successful") => Some(9906),
                    _ => None,
                };
            }
            let t = match call.local_op {
                Some(LocalOp::DirectTransfer) => transition(9905, "Direct Transfer Successful"),
                Some(LocalOp::ConsultativeTransfer { .. }) => {
                    transition(9905, "Transfer Successful")
                }
                Some(LocalOp::Join) => transition(9906, "Join Successful"),
                None => t,
            };
            engine::end_call(calls, cx, &id, Some(t), None);
        }
        "callCancel" => {
            if matches!(call.state, CallState::Ringing | CallState::Initiated) {
                call.cancel_at = Some(cx.now_mono() + CANCEL_DELAY_MS);
            }
        }
        "sessionFail" => {
            let op = call.local_op.take();
            let (t, e) = match op {
                Some(LocalOp::DirectTransfer) => (
                    Some(transition(-1, "Direct Transfer Failed")),
                    Some("DIRECT_TRANSFER"),
                ),
                Some(LocalOp::ConsultativeTransfer { .. }) => (
                    Some(transition(-1, "Transfer Failed")),
                    Some("CONSULTATIVE_TRANSFER"),
                ),
                Some(LocalOp::Join) => (Some(transition(-2, "Join Failed")), Some("JOIN")),
                None => (None, None),
            };
            let error = e.map(|op| {
                BasicError::new(
                    ErrorCode::CallGenericError,
                    format!("Operation {op} failed."),
                )
            });
            engine::state_change(cx, call, call.previous(), t, error);
        }
        other => cx.log(LogLevel::Debug, || {
            format!("call notification {other} ignored")
        }),
    }
}

/// `call`: a new incoming call.
fn incoming(calls: &mut CallsState, cx: &mut CallCx<'_, '_>, leg: String, message: &Message) {
    if calls.by_leg.contains_key(&leg) {
        cx.log(LogLevel::Warn, || {
            "second call notification for a known leg ignored".to_owned()
        });
        return;
    }
    if calls.live() >= cx.ctx.config.call.max_calls {
        cx.log(LogLevel::Warn, || {
            "incoming call declined: call.maxCalls reached".to_owned()
        });
        let body =
            serde_json::json!({"callDispositionRequest": {"action": "reject", "sessionData": leg}});
        let id = CallId(format!("declined-{leg}"));
        cx.send(
            &id,
            super::rest::CallRequest::Reject,
            crate::effect::Method::Post,
            "/calldisposition",
            Some(body),
        );
        return;
    }
    let id = cx.mint_id();
    let mut call = Call::new(id.clone(), CallDirection::Incoming, CallState::Ringing);
    let p = message.params.as_ref();
    call.remote_participant = Participant {
        display_number: p.and_then(|p| p.caller_number.clone()).unwrap_or_default(),
        display_name: p.and_then(|p| p.caller_name.clone()).unwrap_or_default(),
    };
    call.from = call.remote_participant.display_number.clone();
    call.to = cx
        .session
        .endpoint
        .as_ref()
        .map(|e| e.username.clone())
        .unwrap_or_default();
    call.leg = Some(leg.clone());
    let offer = message
        .session
        .as_ref()
        .and_then(|s| s.sdp.clone())
        .filter(|s| !s.is_empty());
    call.slow_start = offer.is_none();
    calls.by_leg.insert(leg.clone(), id.clone());
    calls.calls.insert(id.clone(), call);
    let Some(call) = calls.get_mut(&id) else {
        return;
    };
    match offer {
        Some(sdp_text) => {
            engine::start(call, Goal::Incoming, Step::Describing);
            if let Err(e) = engine::apply_remote(cx, call, SdpKind::Offer, sdp_text, true) {
                engine::media_failed(calls, cx, &id, &e);
            }
        }
        None => {
            engine::start(call, Goal::Incoming, Step::Requesting);
            let body = super::rest::control(serde_json::json!({"type": "ringing"}));
            cx.send(
                &id,
                super::rest::CallRequest::Ringing,
                crate::effect::Method::Put,
                &super::rest::leg_path(&leg),
                Some(body),
            );
        }
    }
}

fn respond_call_update(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    id: &CallId,
    message: &Message,
    session: &SessionParams,
) {
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    let awaiting = call
        .negotiation
        .as_ref()
        .is_some_and(|n| n.step == Step::AwaitingAnswer);
    match session.sdp.clone().filter(|s| !s.is_empty()) {
        None => {
            let glare = number(&message.status_code) == Some(49) && truthy(&session.retry_after);
            if glare && awaiting {
                // 4.8.0 leaves the operation pending forever; kandy-rs fails
                // it so the application can retry.
                let goal = call.negotiation.take().map(|n| n.goal);
                let e = BasicError::new(
                    ErrorCode::CallGenericError,
                    "The gateway refused the update (glare); try again.",
                );
                call.error = Some(e.clone());
                let snapshot = call.clone();
                if let Some(g) = goal {
                    engine::operation_failed(cx, &snapshot, &g, e);
                }
            } else {
                cx.log(LogLevel::Warn, || {
                    "respondCallUpdate without SDP ignored".to_owned()
                });
            }
        }
        Some(sdp_text) if awaiting => {
            if let Some(n) = &mut call.negotiation {
                if let Goal::RespondSlowStart { op } = &mut n.goal {
                    let old = call.remote_sdp.as_deref().and_then(|s| Sdp::parse(s).ok());
                    *op = match (old, Sdp::parse(&sdp_text).ok()) {
                        (Some(old), Some(new)) => Some(sdp::classify(&old, &new)),
                        _ => Some(RemoteOperation::Unknown),
                    };
                }
            }
            if let Err(e) = engine::apply_remote(cx, call, SdpKind::Answer, sdp_text, false) {
                engine::media_failed(calls, cx, id, &e);
            }
        }
        Some(sdp_text) => {
            if matches!(call.state, CallState::Connected | CallState::OnHold)
                && call.negotiation.is_none()
            {
                // A generic update: the state follows the media it describes.
                let flowing = Sdp::parse(&sdp_text)
                    .map(|s| s.has_media_flowing())
                    .unwrap_or(true);
                let previous = call.previous();
                call.state = if flowing {
                    CallState::Connected
                } else {
                    CallState::OnHold
                };
                engine::state_change(cx, call, previous, None, None);
            } else {
                cx.log(LogLevel::Warn, || {
                    "respondCallUpdate without an outstanding offer ignored".to_owned()
                });
            }
        }
    }
}

fn start_call_update(
    calls: &mut CallsState,
    cx: &mut CallCx<'_, '_>,
    id: &CallId,
    offer: Option<String>,
) {
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    if !matches!(call.state, CallState::Connected | CallState::OnHold) {
        cx.log(LogLevel::Warn, || {
            format!("startCallUpdate on a {:?} call ignored", call.state)
        });
        return;
    }
    if let Some(n) = call.negotiation.take() {
        // Glare the gateway let through: the remote offer wins (browsers
        // roll back implicitly); our operation fails.
        let e = BasicError::new(
            ErrorCode::CallGenericError,
            "A remote update superseded the operation; try again.",
        );
        engine::operation_failed(cx, call, &n.goal, e);
    }
    let Some(call) = calls.get_mut(id) else {
        return;
    };
    match offer.filter(|s| !s.is_empty()) {
        Some(text) => {
            let previous = call.remote_sdp.as_deref().and_then(|s| Sdp::parse(s).ok());
            let new = Sdp::parse(&text).ok();
            let (op, fresh) = match (&previous, &new) {
                (Some(old), Some(new)) => {
                    let mut op = sdp::classify(old, new);
                    if op == RemoteOperation::Unknown && call.remote_hold && new.has_media_flowing()
                    {
                        op = RemoteOperation::Unhold;
                    }
                    (op, old.session_id() != new.session_id())
                }
                _ => (RemoteOperation::Unknown, true),
            };
            engine::start(call, Goal::Respond { op }, Step::Describing);
            if let Err(e) = engine::apply_remote(cx, call, SdpKind::Offer, text, fresh) {
                engine::media_failed(calls, cx, id, &e);
            }
        }
        None => {
            engine::start(call, Goal::RespondSlowStart { op: None }, Step::Describing);
            let direction = call.local_hold.then_some(sdp::Direction::Inactive);
            engine::describe(cx, call, SdpKind::Offer, direction);
        }
    }
}

/// Whether the event type is a call notification.
pub(crate) fn handles(event_type: &str) -> bool {
    EVENT_TYPES.contains(&event_type)
}
