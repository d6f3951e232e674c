//! Call relay between subscribed users (02-calls §6, §7): signalling only,
//! SDP relayed verbatim, no media.
//!
//! ## Model
//!
//! A **leg** is one user's view of a call, named on the wire by its
//! `sessionData` (32 random hex digits: URL-safe and unguessable, §1.1). A
//! **call** pairs two live legs. Transfers re-pair legs: the transferee's
//! leg stays and gets a new peer (§6.9, §6.10), so a leg outlives the call
//! it was created in.
//!
//! * Caller legs go `Offered → Alerting → Connected → Ended`, callee legs
//!   `Notified → Ringing → Connected → Ended` (§7.3).
//! * A call has at most one offer/answer **transaction** (§7.5): opened by
//!   an accepted `startCallUpdate` (or by the gateway for a transfer),
//!   closed when the answer has been relayed. A second `startCallUpdate`
//!   meanwhile is glare ([`crate::GlareMode`]).
//! * Notifications for a leg go to one subscription of its owner with the
//!   `call` service (x-session's own for the caller, else the one with an
//!   open socket that expires last). The real gateway may fork an incoming
//!   call to every device of the callee (the SDK's "answered elsewhere"
//!   code 9904 hints at it); this emulator rings one, which needs no
//!   per-device bookkeeping and is enough for two clients to talk.
//! * Each leg has a notification **hold-back** (§7.4 rules 1 and 2): after
//!   the start-call POST (caller leg) and after the `ringing` PUT (callee
//!   leg) its notifications wait `first_notification_delay_ms`, and a
//!   callee leg notified with `call` holds everything until its `ringing`
//!   PUT, since the client only knows the leg from then on.
//! * An ended leg is forgotten as soon as its last queued notification has
//!   gone out; requests on it then answer 404 with `statusCode` 42 (§7.6),
//!   which is also what a leg that never existed answers, so no tombstones
//!   are needed. A cancelled callee leg that is still waiting for its
//!   `ringing` PUT is kept (up to `cancel_hold_ms`) so that PUT can get its
//!   200 and release the `callCancel`.
//!
//! Every request costs a few hash lookups, whatever the number of calls;
//! timers live in the gateway's ordered deadline index.
//!
//! ## Status codes and notifications
//!
//! See the crate docs for the table. Choices where 02-calls §9 says
//! UNCERTAIN are documented where they are made (search for "UNCERTAIN").

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth::{Principal, Via};
use crate::calllog::{CallDirection, CallLogRecord, CallLogs, CallResult, LogEntry};
use crate::callreq::{
    invalid_body, malformed, optional_str, parse_address, parse_wrapped, phone_digits,
    required_sdp, required_str, unknown_session, wrong_state, Address,
};
use crate::codes;
use crate::config::GlareMode;
use crate::error::ApiError;
use crate::http::{HttpRequest, HttpResponse};
use crate::subscription::SubscriptionId;
use crate::timers::Timer;
use crate::Gateway;

/// Which side of a call a leg was created for. Kept across transfers: it
/// decides the direction of the leg's call log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum LegRole {
    /// Created by the user's start-call POST.
    Caller,
    /// Created by the gateway to ring the user (incoming call, forward or
    /// direct-transfer target).
    Callee,
}

/// A leg's state as the gateway sees it (02-calls §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum LegState {
    /// Caller leg; the callee has not sent its `ringing` PUT yet.
    Offered,
    /// Caller leg; the callee is ringing (`ringing` notification sent).
    Alerting,
    /// Callee leg; `call` sent, `ringing` PUT not received yet.
    Notified,
    /// Callee leg; ringing.
    Ringing,
    /// Answered.
    Connected,
    /// Ended; only still known while it has notifications to deliver.
    Ended,
}

/// A read-only view of one leg, for tests and the CLI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LegInfo {
    /// The leg's `sessionData`.
    pub session_data: String,
    /// Canonical username of its owner.
    pub user: String,
    /// The subscription its notifications go to.
    pub subscription: SubscriptionId,
    /// Caller or callee.
    pub role: LegRole,
    /// Current state.
    pub state: LegState,
    /// The other leg of its call, if it is in one.
    pub peer: Option<String>,
    /// The far end's display name, as notifications describe it.
    pub remote_name: String,
    /// The far end as `user@domain`.
    pub remote_number: String,
    /// Notified without SDP (`callAnswer` carries an offer; direct-transfer
    /// targets).
    pub slow_start: bool,
    /// Creation time (epoch ms).
    pub created_at_ms: u64,
    /// Answer time (epoch ms), if answered.
    pub answered_at_ms: Option<u64>,
    /// Notifications held back for this leg.
    pub queued_notifications: usize,
}

/// A read-only view of one active call (two paired legs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CallInfo {
    /// The gateway's id of the call (not on the wire).
    pub id: u64,
    /// Its two legs; the first is the caller's for a call created by a
    /// start-call POST.
    pub legs: Vec<LegInfo>,
    /// Creation time (epoch ms).
    pub created_at_ms: u64,
    /// Whether an offer/answer transaction is open.
    pub transaction_open: bool,
}

/// Who a notification describes (§3.10).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Party {
    pub(crate) name: String,
    pub(crate) number: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TransferKind {
    Direct,
    Consultative,
}

impl TransferKind {
    /// The `reasonText` of the `sessionComplete` that finishes the
    /// transferor's legs; the client synthesizes 9905 from it (§3.7).
    fn success_text(self) -> &'static str {
        match self {
            TransferKind::Direct => "Direct Transfer Successful",
            TransferKind::Consultative => "Transfer Successful",
        }
    }
}

/// A leg's part in a transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum LegTransfer {
    /// Transferor's leg: a direct transfer to leg `target` is ringing; the
    /// leg's call is locked (no renegotiation) meanwhile.
    Ringing { target: String },
    /// Transferor's leg, detached from its call: the transferred parties
    /// are being connected in `call`; `sessionComplete` when its first
    /// transaction closes.
    Completing { call: u64 },
    /// Target of `transferor`'s direct transfer, ringing, in no call yet.
    Target { transferor: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Leg {
    pub(crate) sid: String,
    pub(crate) user: String,
    pub(crate) sub: SubscriptionId,
    pub(crate) role: LegRole,
    pub(crate) state: LegState,
    pub(crate) call: Option<u64>,
    pub(crate) peer: Option<String>,
    /// This user as the far end sees it.
    pub(crate) local: Party,
    /// The far end as this user sees it.
    pub(crate) remote: Party,
    pub(crate) slow_start: bool,
    /// The last SDP this side sent (a forward re-offers the caller's).
    pub(crate) last_sdp: Option<String>,
    pub(crate) created_at: u64,
    pub(crate) answered_at: Option<u64>,
    /// REST version segment of the creating request (for log locations).
    pub(crate) version: String,
    /// Deadline of `Timer::CallLeg` (see there).
    pub(crate) deadline: Option<u64>,
    /// Deadline of `Timer::CallRelease`: notifications are held until then.
    pub(crate) release_at: Option<u64>,
    /// `call` sent, `ringing` PUT not yet answered: hold notifications.
    pub(crate) awaiting_ringing: bool,
    /// Held-back notifications `(eventType, params)`, in order.
    pub(crate) pending: VecDeque<(String, Map<String, Value>)>,
    pub(crate) transfer: Option<LegTransfer>,
}

impl Leg {
    fn is_live(&self) -> bool {
        self.state != LegState::Ended
    }

    fn is_ringing_callee(&self) -> bool {
        self.role == LegRole::Callee && matches!(self.state, LegState::Notified | LegState::Ringing)
    }

    fn info(&self) -> LegInfo {
        LegInfo {
            session_data: self.sid.clone(),
            user: self.user.clone(),
            subscription: self.sub.clone(),
            role: self.role,
            state: self.state,
            peer: self.peer.clone(),
            remote_name: self.remote.name.clone(),
            remote_number: self.remote.number.clone(),
            slow_start: self.slow_start,
            created_at_ms: self.created_at,
            answered_at_ms: self.answered_at,
            queued_notifications: self.pending.len(),
        }
    }
}

/// Which half of an offer/answer exchange is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Awaiting {
    /// The offerer was sent an SDP-less `startCallUpdate` and owes an
    /// offer in its `respondCallUpdate` (consultative transfer, §6.10).
    Offer,
    /// The answerer owes the answer in its `respondCallUpdate`.
    Answer,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Txn {
    pub(crate) offerer: String,
    pub(crate) answerer: String,
    pub(crate) awaiting: Awaiting,
    /// Deadline of `Timer::CallUpdate`.
    pub(crate) deadline: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Call {
    pub(crate) id: u64,
    pub(crate) legs: [String; 2],
    pub(crate) txn: Option<Txn>,
    pub(crate) created_at: u64,
    /// Transferor legs finished with `sessionComplete` when the first
    /// transaction of this call closes.
    pub(crate) transferors: Vec<(String, TransferKind)>,
}

impl Call {
    fn other(&self, sid: &str) -> Option<&String> {
        match &self.legs {
            [a, b] if a == sid => Some(b),
            [a, b] if b == sid => Some(a),
            _ => None,
        }
    }
}

/// The call tables and their indexes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Calls {
    pub(crate) legs: HashMap<String, Leg>,
    pub(crate) calls: HashMap<u64, Call>,
    /// subscription -> its live legs
    by_sub: HashMap<SubscriptionId, BTreeSet<String>>,
    /// lower-case user -> its live legs
    by_user: HashMap<String, BTreeSet<String>>,
    next_call: u64,
    pub(crate) logs: CallLogs,
}

impl Calls {
    fn index(&mut self, sid: &str, user: &str, sub: &SubscriptionId) {
        self.by_sub
            .entry(sub.clone())
            .or_default()
            .insert(sid.to_owned());
        self.by_user
            .entry(user.to_ascii_lowercase())
            .or_default()
            .insert(sid.to_owned());
    }

    fn unindex(&mut self, sid: &str, user: &str, sub: &SubscriptionId) {
        if let Some(set) = self.by_sub.get_mut(sub) {
            set.remove(sid);
            if set.is_empty() {
                self.by_sub.remove(sub);
            }
        }
        let key = user.to_ascii_lowercase();
        if let Some(set) = self.by_user.get_mut(&key) {
            set.remove(sid);
            if set.is_empty() {
                self.by_user.remove(&key);
            }
        }
    }

    fn new_call_id(&mut self) -> u64 {
        loop {
            self.next_call = self.next_call.wrapping_add(1);
            if !self.calls.contains_key(&self.next_call) {
                return self.next_call;
            }
        }
    }

    fn live(&self, sid: &str) -> Option<&Leg> {
        self.legs.get(sid).filter(|l| l.is_live())
    }

    /// Whether a direct transfer is ringing on one of the call's legs.
    fn locked(&self, call: &Call) -> bool {
        call.legs.iter().any(|l| {
            self.legs
                .get(l)
                .is_some_and(|l| matches!(l.transfer, Some(LegTransfer::Ringing { .. })))
        })
    }

    pub(crate) fn live_legs(&self) -> usize {
        self.by_user.values().map(BTreeSet::len).sum()
    }
}

/// Which REST tree a call request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallTree {
    /// `/rest/version/{V}/user/{user}/callControl…`
    User,
    /// `/rest/version/{V}/anonymous/{account}/callMe…` (§2.14)
    Anonymous,
}

impl CallTree {
    /// Accepted request wrappers. The anonymous tree also takes
    /// `callControlRequest`: 4.8.0 uses `callMeRequest` for respond-update
    /// only when `account` is set.
    fn request_names(self) -> &'static [&'static str] {
        match self {
            CallTree::User => &["callControlRequest"],
            CallTree::Anonymous => &["callMeRequest", "callControlRequest"],
        }
    }

    /// The success wrapper (the client reads `sessionData` from it after a
    /// start call).
    fn response_name(self) -> &'static str {
        match self {
            CallTree::User => "callControlResponse",
            CallTree::Anonymous => "callMeResponse",
        }
    }
}

/// What a leg is told when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Note {
    Nothing,
    CallEnd(u32, &'static str),
    CallCancel,
}

/// Why a leg goes away; decides what everybody is told (§7.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// Its owner sent DELETE.
    Hangup,
    /// Its owner (a ringing callee) rejected it.
    Reject,
    /// It rang for `ringing_timeout_ms`.
    RingTimeout,
    /// It stopped auditing.
    AuditTimeout,
    /// Its subscription ended.
    Gone,
    /// The `end_calls_of` hook.
    Admin,
    /// Its `callAnswer` was unusable (§7.6: end both legs).
    BadAnswer,
}

/// `callEnd` of a normal hang-up (§7.6; the real code/text is UNCERTAIN,
/// §9 item 2; the 4.8.0 client passes them through untouched).
const NORMAL: (u32, &str) = (200, "Normal Clearing");
const DECLINE: (u32, &str) = (603, "Decline");
const NO_ANSWER: (u32, &str) = (480, "No Answer");
const UNAVAILABLE: (u32, &str) = (480, "Temporarily Unavailable");
const NOT_FOUND: (u32, &str) = (404, "Not Found");
const BUSY: (u32, &str) = (486, "Busy Here");
const AUDIT_TIMEOUT: (u32, &str) = (408, "Session Audit Timeout");
const UPDATE_TIMEOUT: (u32, &str) = (500, "Renegotiation Timeout");
/// An answer the gateway could not use (SIP's "Not Acceptable Here").
const BAD_ANSWER: (u32, &str) = (488, "Not Acceptable Here");
/// Calls ended by the `end_calls_of` hook (SIP's "Request Terminated").
const ADMIN: (u32, &str) = (487, "Request Terminated");

/// What everybody is told when leg `x` goes away for `cause`: `(note to x,
/// x's log result, note to its peer, the peer's log result, end reason for
/// transferors waiting on the call)`.
fn outcome(
    cause: Cause,
    x: &Leg,
    peer: Option<&Leg>,
) -> (Note, CallResult, Note, CallResult, (u32, &'static str)) {
    use CallResult as R;
    let end = |(c, t): (u32, &'static str)| Note::CallEnd(c, t);
    if x.state == LegState::Connected {
        return match cause {
            Cause::AuditTimeout => (
                Note::Nothing,
                R::Answered,
                end(AUDIT_TIMEOUT),
                R::Answered,
                AUDIT_TIMEOUT,
            ),
            Cause::Admin => (end(ADMIN), R::Answered, end(ADMIN), R::Answered, ADMIN),
            _ => (Note::Nothing, R::Answered, end(NORMAL), R::Answered, NORMAL),
        };
    }
    if x.is_ringing_callee() {
        return match cause {
            Cause::RingTimeout => (
                Note::CallCancel,
                R::NoAnswer,
                end(NO_ANSWER),
                R::NoAnswer,
                NO_ANSWER,
            ),
            Cause::Gone => (
                Note::Nothing,
                R::Unavailable,
                end(UNAVAILABLE),
                R::Unavailable,
                UNAVAILABLE,
            ),
            Cause::Admin => (Note::CallCancel, R::Failed, end(ADMIN), R::Failed, ADMIN),
            Cause::BadAnswer => (
                end(BAD_ANSWER),
                R::Failed,
                end(BAD_ANSWER),
                R::Failed,
                BAD_ANSWER,
            ),
            // A DELETE on a ringing incoming leg declines it, like reject.
            _ => (
                Note::Nothing,
                R::Rejected,
                end(DECLINE),
                R::Rejected,
                DECLINE,
            ),
        };
    }
    // x is an unanswered caller leg; its peer (if any) a ringing callee.
    // UNCERTAIN (§9 item 3): callCancel or callEnd for an abandoned ringing
    // call; callCancel is what the client's handler for exactly this case
    // expects (§3.8).
    let to_peer = if peer.is_some_and(Leg::is_ringing_callee) {
        Note::CallCancel
    } else {
        end(NORMAL)
    };
    match cause {
        Cause::Admin => (end(ADMIN), R::Failed, to_peer, R::Failed, ADMIN),
        _ => (Note::Nothing, R::Cancelled, to_peer, R::Cancelled, NORMAL),
    }
}

/// 200 `{"<wrapper>":{"statusCode":0[, "sessionData"]}}`.
fn call_ok(wrapper: &str, session: Option<&str>) -> HttpResponse {
    let mut inner = Map::new();
    inner.insert("statusCode".into(), json!(codes::SUCCESS));
    if let Some(s) = session {
        inner.insert("sessionData".into(), json!(s));
    }
    let mut outer = Map::new();
    outer.insert(wrapper.to_owned(), Value::Object(inner));
    HttpResponse::json(200, &Value::Object(outer))
}

/// Rewrites session-layer error codes into the ones the call client knows
/// (§7.1: a `{user}` that is not the authenticated one is 403/1004; an
/// oversized body is "invalid body"). Authentication failures keep their
/// session-layer codes (27/65 drive token refresh in later SDKs).
pub(crate) fn callify(mut e: ApiError) -> ApiError {
    e.code = match e.status {
        403 | 405 => codes::CALL_BAD_REQUEST,
        413 => codes::CALL_INVALID_BODY,
        400 if e.code == codes::BAD_REQUEST => codes::CALL_INVALID_BODY,
        _ => e.code,
    };
    e
}

/// The `sessionParams` (+ `callNotificationParams`) of a call notification
/// for `leg`. Both name/number pairs describe the far end of that leg, so
/// the client picks the right one whatever the leg's direction (§3.10).
fn leg_params(
    leg: &Leg,
    sdp: Option<&str>,
    status: Option<(u32, &str)>,
    with_party: bool,
) -> Map<String, Value> {
    let mut sp = Map::new();
    sp.insert("sessionData".into(), json!(leg.sid));
    if let Some(sdp) = sdp {
        sp.insert("sdp".into(), json!(sdp));
    }
    if let Some((code, text)) = status {
        sp.insert("statusCode".into(), json!(code));
        sp.insert("reasonText".into(), json!(text));
    }
    let mut params = Map::new();
    params.insert("sessionParams".into(), Value::Object(sp));
    if with_party {
        params.insert("callNotificationParams".into(), party_params(&leg.remote));
    }
    params
}

fn party_params(p: &Party) -> Value {
    json!({
        "callerName": p.name,
        "callerDisplayNumber": p.number,
        "remoteName": p.name,
        "remoteDisplayNumber": p.number,
    })
}

fn domain_of(user: &str) -> &str {
    user.rsplit_once('@').map_or("", |(_, d)| d)
}

impl Gateway {
    // ----- routing entry points --------------------------------------------

    /// `POST/DELETE {base}/callControl` (start call, join; DELETE without a
    /// leg is what a client ending an `Initiating` call sends, §2.7).
    pub(crate) fn call_control(
        &mut self,
        now: u64,
        req: &HttpRequest,
        tree: CallTree,
        version: &str,
        path_user: &str,
        method: &str,
    ) -> Result<HttpResponse, ApiError> {
        let (principal, user) = self.authenticate_request(now, req, path_user)?;
        if method == "DELETE" {
            return Err(unknown_session());
        }
        let body = parse_wrapped(&req.body, tree.request_names())?;
        match required_str(&body, "type")? {
            "callStart" => self.call_start(now, tree, version, &principal, &user, &body),
            "join" if tree == CallTree::User => self.call_join(&user, &body),
            other => Err(invalid_body(format!("unknown type {other:?}"))),
        }
    }

    /// `PUT/DELETE {base}/callControl/callSessions/{sid}`.
    pub(crate) fn call_session(
        &mut self,
        now: u64,
        req: &HttpRequest,
        tree: CallTree,
        path_user: &str,
        sid: &str,
        method: &str,
    ) -> Result<HttpResponse, ApiError> {
        let (_, user) = self.authenticate_request(now, req, path_user)?;
        let ok = call_ok(tree.response_name(), None);
        // A leg owned by someone else is "unknown" (§7.3).
        let Some(leg) = self.calls.legs.get(sid).filter(|l| l.user == user) else {
            return Err(unknown_session());
        };
        let (live, awaiting) = (leg.is_live(), leg.awaiting_ringing);
        if method == "DELETE" {
            if !live {
                return Err(unknown_session());
            }
            self.terminate(now, sid, Cause::Hangup);
            return Ok(ok);
        }
        let body = parse_wrapped(&req.body, tree.request_names())?;
        let kind = required_str(&body, "type")?;
        if !live {
            // A callee leg cancelled before its ringing PUT: the PUT gets
            // its 200 and releases the queued callCancel (§7.4 rule 2).
            if kind == "ringing" && awaiting {
                self.ringing_received(now, sid);
                return Ok(ok);
            }
            return Err(unknown_session());
        }
        match kind {
            "ringing" => self.ringing(now, sid)?,
            "callAnswer" => self.answer(now, sid, &body)?,
            "startCallUpdate" => {
                if self.start_update(now, sid, &body)? {
                    return Ok(ok);
                }
            }
            "respondCallUpdate" => self.respond_update(now, sid, &body)?,
            "audit" => self.audit(now, sid),
            "transfer" => self.transfer(now, sid, &user, &body)?,
            other => return Err(invalid_body(format!("unknown type {other:?}"))),
        }
        Ok(ok)
    }

    /// `POST {base}/calldisposition`: reject and forward (§2.4, §2.5).
    pub(crate) fn call_disposition(
        &mut self,
        now: u64,
        req: &HttpRequest,
        path_user: &str,
    ) -> Result<HttpResponse, ApiError> {
        let (_, user) = self.authenticate_request(now, req, path_user)?;
        let body = parse_wrapped(&req.body, &["callDispositionRequest"])?;
        let action = required_str(&body, "action")?;
        let sid = required_str(&body, "sessionData")?;
        let forward = match action {
            "reject" => false,
            "forward" => true,
            other => return Err(invalid_body(format!("unknown action {other:?}"))),
        };
        let address = if forward {
            Some(required_str(&body, "address")?)
        } else {
            None
        };
        let leg = self
            .calls
            .live(sid)
            .filter(|l| l.user == user)
            .ok_or_else(unknown_session)?;
        if !leg.is_ringing_callee() {
            return Err(wrong_state(
                "only a ringing incoming call can be rejected or forwarded",
            ));
        }
        match address {
            None => self.terminate(now, sid, Cause::Reject),
            Some(address) => {
                if leg.call.is_none() {
                    return Err(wrong_state("a transfer target cannot be forwarded"));
                }
                let addr =
                    parse_address(address).ok_or_else(|| malformed("address is not an address"))?;
                let sid = sid.to_owned();
                self.forward(now, &sid, &addr);
            }
        }
        // UNCERTAIN (§1.4, §7.2): the wrapper of a successful disposition;
        // the client ignores the body.
        Ok(call_ok("callDispositionResponse", None))
    }

    // ----- start call ----------------------------------------------------------

    fn call_start(
        &mut self,
        now: u64,
        tree: CallTree,
        version: &str,
        principal: &Principal,
        user: &str,
        body: &Map<String, Value>,
    ) -> Result<HttpResponse, ApiError> {
        let to = required_str(body, "to")?;
        let sdp = required_sdp(body, self.config.calls.max_sdp_bytes)?;
        let from = optional_str(body, "from")?;
        let target = parse_address(to).ok_or_else(|| malformed("to is not an address"))?;
        // Emulator choice: a call must belong to a subscription with the
        // call service, which is where its notifications go.
        let sub = self.caller_subscription(principal, user).ok_or_else(|| {
            ApiError::new(
                403,
                codes::CALL_BAD_REQUEST,
                "no subscription with the call service",
            )
        })?;
        let caller = Party {
            name: from
                .and_then(parse_address)
                .and_then(|a| a.display)
                .unwrap_or_else(|| self.display_name(user)),
            number: user.to_owned(),
        };
        let sa = self.new_leg_id();
        let mut leg = self.new_leg(
            now,
            &sa,
            user,
            sub,
            LegRole::Caller,
            LegState::Offered,
            version,
        );
        leg.local = caller.clone();
        leg.last_sdp = Some(sdp.clone());
        leg.remote = Party {
            name: target
                .display
                .clone()
                .unwrap_or_else(|| target.user.clone()),
            number: target.qualified(domain_of(user)),
        };
        self.insert_leg(leg);
        self.hold_leg(now, &sa);
        self.counters.calls_created += 1;

        match self.reach(&target, domain_of(user), &[user]) {
            Reach::Absent(why) => {
                // Emulator choice (§6.13): the POST succeeds and the failure
                // comes as callEnd once the client knows the leg.
                if let Some((callee, party)) = why.missed() {
                    self.log_missed(
                        now,
                        &callee,
                        version,
                        &caller,
                        &party,
                        CallResult::Unavailable,
                    );
                }
                if let (Some(party), Some(leg)) = (why.party(), self.calls.legs.get_mut(&sa)) {
                    leg.remote = party;
                }
                self.counters.calls_ended += 1;
                let (status, result) = why.status();
                self.end_leg(now, &sa, Note::CallEnd(status.0, status.1), result);
            }
            Reach::Present {
                user: callee,
                sub,
                party,
            } => {
                let sb = self.new_leg_id();
                let mut leg = self.new_leg(
                    now,
                    &sb,
                    &callee,
                    sub,
                    LegRole::Callee,
                    LegState::Notified,
                    version,
                );
                leg.local = party.clone();
                leg.remote = caller;
                self.insert_leg(leg);
                let cid = self.calls.new_call_id();
                self.calls.calls.insert(
                    cid,
                    Call {
                        id: cid,
                        legs: [sa.clone(), sb.clone()],
                        txn: None,
                        created_at: now,
                        transferors: Vec::new(),
                    },
                );
                for (me, other) in [(&sa, &sb), (&sb, &sa)] {
                    if let Some(l) = self.calls.legs.get_mut(me) {
                        l.call = Some(cid);
                        l.peer = Some(other.clone());
                    }
                }
                if let Some(l) = self.calls.legs.get_mut(&sa) {
                    l.remote = party;
                }
                self.ring(now, &sb, Some(&sdp));
            }
        }
        Ok(call_ok(tree.response_name(), Some(&sa)))
    }

    /// `join` (§2.13, §6.11): validated, then refused with 501/26 — a
    /// relay-only gateway has no mixer (the §6.11 emulator choice). The
    /// two calls are left as they were.
    fn call_join(
        &mut self,
        user: &str,
        body: &Map<String, Value>,
    ) -> Result<HttpResponse, ApiError> {
        let first = required_str(body, "firstSessionData")?;
        let second = required_str(body, "secondSessionData")?;
        let sdp = required_str(body, "sdp")?;
        let mut calls = Vec::new();
        for sid in [first, second] {
            let leg = self
                .calls
                .live(sid)
                .filter(|l| l.user == user)
                .ok_or_else(unknown_session)?;
            if leg.state != LegState::Connected || leg.call.is_none() {
                return Err(wrong_state("join needs two connected calls"));
            }
            calls.push(leg.call);
        }
        if calls[0] == calls[1] {
            return Err(wrong_state("join needs two different calls"));
        }
        crate::callreq::check_sdp(sdp, self.config.calls.max_sdp_bytes)
            .map_err(|why| malformed(format!("malformed SDP: {why}")))?;
        Err(ApiError::new(
            501,
            codes::CALL_SERVER_ERROR,
            "join needs a media endpoint (mixer); this gateway only relays signalling",
        ))
    }

    // ----- requests on a leg ---------------------------------------------------

    /// `ringing`: Notified → Ringing; the caller is told while `Offered`
    /// (§7.4 rule 3). A second `ringing` is a harmless 200.
    fn ringing(&mut self, now: u64, sid: &str) -> Result<(), ApiError> {
        let leg = self.leg_ref(sid)?;
        if leg.role != LegRole::Callee {
            return Err(wrong_state("ringing on an outgoing leg"));
        }
        match leg.state {
            LegState::Ringing => return Ok(()),
            LegState::Notified => {}
            _ => return Err(wrong_state("ringing on a leg that is not ringing")),
        }
        let peer = leg.peer.clone();
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.state = LegState::Ringing;
        }
        self.ringing_received(now, sid);
        if let Some(p) = peer {
            let Some(caller) = self.calls.legs.get_mut(&p) else {
                return Ok(());
            };
            if caller.state == LegState::Offered {
                caller.state = LegState::Alerting;
                let params = leg_params(caller, None, None, true);
                self.notify_leg(now, &p, "ringing", params);
            }
        }
        Ok(())
    }

    /// The client has the leg now: release its notifications after the
    /// hold-back.
    fn ringing_received(&mut self, now: u64, sid: &str) {
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.awaiting_ringing = false;
            if !leg.is_live() {
                // The wait for this PUT is over.
                self.timers
                    .reschedule(&mut leg.deadline, None, Timer::CallLeg(sid.to_owned()));
            }
        }
        self.hold_leg(now, sid);
        self.flush_leg(now, sid);
    }

    /// `callAnswer` (§2.3): connects a ringing incoming call and relays the
    /// answer to the caller as `respondCallUpdate` (§7.4 rule 4); on a
    /// direct-transfer target the SDP is an offer for the transferee. An
    /// unusable answer ends both legs (§7.6).
    fn answer(&mut self, now: u64, sid: &str, body: &Map<String, Value>) -> Result<(), ApiError> {
        if !self.leg_ref(sid)?.is_ringing_callee() {
            return Err(wrong_state("answer on a leg that is not ringing"));
        }
        let sdp = match required_sdp(body, self.config.calls.max_sdp_bytes) {
            Ok(sdp) => sdp,
            Err(e) => {
                // The 4.8.0 client cannot answer twice (§2.3 QUIRK).
                self.terminate(now, sid, Cause::BadAnswer);
                return Err(e);
            }
        };
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.awaiting_ringing = false;
        }
        self.flush_leg(now, sid);
        let leg = self.leg_ref(sid)?;
        if let Some(LegTransfer::Target { transferor }) = leg.transfer.clone() {
            self.complete_direct_transfer(now, sid, &transferor, sdp);
            return Ok(());
        }
        let Some(peer) = leg.peer.clone().filter(|p| self.calls.live(p).is_some()) else {
            self.terminate(now, sid, Cause::BadAnswer);
            return Err(ApiError::new(
                500,
                codes::CALL_SERVER_ERROR,
                "the caller is gone",
            ));
        };
        self.connect_leg(now, sid, Some(sdp.clone()));
        self.connect_leg(now, &peer, None);
        let params = self.relay_params(&peer, sid, Some(&sdp));
        self.notify_leg(now, &peer, "respondCallUpdate", params);
        Ok(())
    }

    /// `startCallUpdate` (§2.8): opens the call's transaction and relays
    /// the offer. Returns `true` when the glare notification mode already
    /// answered it.
    fn start_update(
        &mut self,
        now: u64,
        sid: &str,
        body: &Map<String, Value>,
    ) -> Result<bool, ApiError> {
        let leg = self.leg_ref(sid)?;
        let (Some(cid), Some(peer)) = (leg.call, leg.peer.clone()) else {
            return Err(wrong_state("call update on a leg in no call"));
        };
        let peer_connected = self
            .calls
            .live(&peer)
            .is_some_and(|p| p.state == LegState::Connected);
        if leg.state != LegState::Connected || !peer_connected {
            return Err(wrong_state("call update before the call is connected"));
        }
        let sdp = required_sdp(body, self.config.calls.max_sdp_bytes)?;
        let busy = self
            .calls
            .calls
            .get(&cid)
            .is_none_or(|c| c.txn.is_some() || self.calls.locked(c));
        if busy {
            return match self.config.calls.glare {
                GlareMode::Reject => Err(ApiError::new(
                    409,
                    codes::CALL_GLARE,
                    "an offer/answer transaction is open",
                )),
                GlareMode::Notify => {
                    let mut params = leg_params(self.leg_ref(sid)?, None, None, false);
                    if let Some(Value::Object(sp)) = params.get_mut("sessionParams") {
                        sp.insert("retryAfter".into(), json!(2));
                        sp.insert("reasonText".into(), json!("Glare"));
                    }
                    params.insert("statusCode".into(), json!(codes::CALL_GLARE));
                    self.notify_leg(now, sid, "respondCallUpdate", params);
                    Ok(true)
                }
            };
        }
        self.open_txn(now, cid, sid, &peer, Awaiting::Answer);
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.last_sdp = Some(sdp.clone());
        }
        let params = self.relay_params(&peer, sid, Some(&sdp));
        self.notify_leg(now, &peer, "startCallUpdate", params);
        Ok(false)
    }

    /// `respondCallUpdate` (§2.9): the answer (relayed to the offerer,
    /// closing the transaction) or, after an SDP-less `startCallUpdate`,
    /// an offer (relayed to the answerer).
    fn respond_update(
        &mut self,
        now: u64,
        sid: &str,
        body: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let txn = self
            .leg_ref(sid)?
            .call
            .and_then(|cid| self.calls.calls.get(&cid))
            .and_then(|c| c.txn.clone().map(|t| (c.id, t)));
        let Some((cid, txn)) = txn else {
            return Err(wrong_state("no open call update on this leg"));
        };
        let relay_to = match txn.awaiting {
            Awaiting::Answer if txn.answerer == sid => txn.offerer.clone(),
            Awaiting::Offer if txn.offerer == sid => txn.answerer.clone(),
            _ => return Err(wrong_state("no open call update on this leg")),
        };
        let sdp = required_sdp(body, self.config.calls.max_sdp_bytes)?;
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.last_sdp = Some(sdp.clone());
        }
        let params = self.relay_params(&relay_to, sid, Some(&sdp));
        match txn.awaiting {
            Awaiting::Offer => {
                let deadline = now.saturating_add(self.config.calls.update_timeout_ms);
                if let Some(t) = self.calls.calls.get_mut(&cid).and_then(|c| c.txn.as_mut()) {
                    self.timers.cancel(t.deadline, &Timer::CallUpdate(cid));
                    self.timers.schedule(deadline, Timer::CallUpdate(cid));
                    t.deadline = deadline;
                    t.awaiting = Awaiting::Answer;
                }
                self.notify_leg(now, &relay_to, "startCallUpdate", params);
            }
            Awaiting::Answer => {
                self.notify_leg(now, &relay_to, "respondCallUpdate", params);
                self.close_txn(now, cid);
            }
        }
        Ok(())
    }

    /// `audit` (§2.10): 200 on a live leg, and a connected leg's audit
    /// deadline moves on.
    fn audit(&mut self, now: u64, sid: &str) {
        let timeout = self.config.calls.audit_timeout_ms;
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            if leg.state == LegState::Connected {
                let at = now.saturating_add(timeout);
                self.timers
                    .reschedule(&mut leg.deadline, Some(at), Timer::CallLeg(sid.to_owned()));
            }
        }
    }

    /// `transfer` (§2.11, §2.12): direct with `address` only, consultative
    /// with `sessionData` naming the user's other call.
    fn transfer(
        &mut self,
        now: u64,
        sid: &str,
        user: &str,
        body: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        self.check_transferable(sid)?;
        let address = required_str(body, "address")?;
        let other = optional_str(body, "sessionData")?;
        let addr = parse_address(address).ok_or_else(|| malformed("address is not an address"))?;
        match other {
            Some(other) => {
                let leg2 = self
                    .calls
                    .live(other)
                    .filter(|l| l.user == user)
                    .ok_or_else(unknown_session)?;
                if other == sid || leg2.call == self.leg_ref(sid)?.call {
                    return Err(wrong_state(
                        "consultative transfer needs two different calls",
                    ));
                }
                self.check_transferable(other)?;
                // The other call's leg, not `address`, names the target: the
                // client sends that call's raw remote address (§2.12).
                let other = other.to_owned();
                self.consultative_transfer(now, sid, &other);
            }
            None => self.direct_transfer(now, sid, &addr),
        }
        Ok(())
    }

    fn check_transferable(&self, sid: &str) -> Result<(), ApiError> {
        let leg = self.calls.live(sid).ok_or_else(unknown_session)?;
        let call = leg.call.and_then(|c| self.calls.calls.get(&c));
        let peer_ok = leg
            .peer
            .as_deref()
            .and_then(|p| self.calls.live(p))
            .is_some_and(|p| p.state == LegState::Connected);
        match call {
            Some(call)
                if leg.state == LegState::Connected
                    && peer_ok
                    && leg.transfer.is_none()
                    && call.txn.is_none()
                    && !self.calls.locked(call) =>
            {
                Ok(())
            }
            _ => Err(wrong_state(
                "transfer needs a connected call with no update in progress",
            )),
        }
    }

    // ----- forward and transfers -------------------------------------------------

    /// Forward (§6.8): the forwarding leg closes without a notification and
    /// the caller's pending offer rings the new target; the caller keeps
    /// its leg (and state) and learns the new party with the answer.
    fn forward(&mut self, now: u64, sb: &str, addr: &Address) {
        let Some(leg) = self.calls.live(sb) else {
            return;
        };
        let (Some(cid), Some(sa)) = (leg.call, leg.peer.clone()) else {
            return;
        };
        let forwarder = leg.user.clone();
        let caller_user = self
            .calls
            .legs
            .get(&sa)
            .map(|l| l.user.clone())
            .unwrap_or_default();
        if let Some(l) = self.calls.legs.get_mut(sb) {
            l.call = None;
            l.peer = None;
        }
        self.end_leg(now, sb, Note::Nothing, CallResult::Forwarded);
        let Some(caller) = self.calls.legs.get(&sa) else {
            return;
        };
        let (caller_party, offer, version) = (
            caller.local.clone(),
            caller.last_sdp.clone(),
            caller.version.clone(),
        );
        match self.reach(addr, domain_of(&forwarder), &[&caller_user, &forwarder]) {
            Reach::Absent(why) => {
                if let Some((callee, party)) = why.missed() {
                    self.log_missed(
                        now,
                        &callee,
                        &version,
                        &caller_party,
                        &party,
                        CallResult::Unavailable,
                    );
                }
                if let (Some(party), Some(leg)) = (why.party(), self.calls.legs.get_mut(&sa)) {
                    leg.remote = party;
                }
                self.remove_call(cid);
                let (status, result) = why.status();
                self.end_leg(now, &sa, Note::CallEnd(status.0, status.1), result);
            }
            Reach::Present { user, sub, party } => {
                let sc = self.new_leg_id();
                let mut leg = self.new_leg(
                    now,
                    &sc,
                    &user,
                    sub,
                    LegRole::Callee,
                    LegState::Notified,
                    &version,
                );
                leg.local = party.clone();
                leg.remote = caller_party;
                leg.call = Some(cid);
                leg.peer = Some(sa.clone());
                self.insert_leg(leg);
                if let Some(call) = self.calls.calls.get_mut(&cid) {
                    call.legs = [sa.clone(), sc.clone()];
                }
                if let Some(l) = self.calls.legs.get_mut(&sa) {
                    l.peer = Some(sc.clone());
                    l.remote = party;
                }
                self.ring(now, &sc, offer.as_deref());
            }
        }
    }

    /// Direct transfer (§6.9): ring the target slow-start (`call` without
    /// SDP) as if the transferee called; the transferee is touched only
    /// once the target answered. Failures before that: `sessionFail` to
    /// the transferor, whose call stays as it was.
    fn direct_transfer(&mut self, now: u64, sa: &str, addr: &Address) {
        let Some(leg) = self.calls.live(sa) else {
            return;
        };
        let Some(sb) = leg.peer.clone() else {
            return;
        };
        let (transferor, version) = (leg.user.clone(), leg.version.clone());
        let Some(transferee) = self.calls.legs.get(&sb) else {
            return;
        };
        let (transferee_user, transferee_party) =
            (transferee.user.clone(), transferee.local.clone());
        // The sessionFail must not overtake the 200: hold it back.
        self.hold_leg(now, sa);
        match self.reach(
            addr,
            domain_of(&transferor),
            &[&transferor, &transferee_user],
        ) {
            Reach::Absent(why) => {
                if let Some((callee, party)) = why.missed() {
                    self.log_missed(
                        now,
                        &callee,
                        &version,
                        &transferee_party,
                        &party,
                        CallResult::Unavailable,
                    );
                }
                let ((code, text), _) = why.status();
                if let Some(leg) = self.calls.legs.get(sa) {
                    let params = leg_params(leg, None, Some((code, text)), false);
                    self.notify_leg(now, sa, "sessionFail", params);
                }
            }
            Reach::Present { user, sub, party } => {
                let sc = self.new_leg_id();
                let mut leg = self.new_leg(
                    now,
                    &sc,
                    &user,
                    sub,
                    LegRole::Callee,
                    LegState::Notified,
                    &version,
                );
                leg.local = party;
                leg.remote = transferee_party;
                leg.slow_start = true;
                leg.transfer = Some(LegTransfer::Target {
                    transferor: sa.to_owned(),
                });
                self.insert_leg(leg);
                if let Some(l) = self.calls.legs.get_mut(sa) {
                    l.transfer = Some(LegTransfer::Ringing { target: sc.clone() });
                }
                self.ring(now, &sc, None);
            }
        }
    }

    /// The direct-transfer target answered with an offer: pair transferee
    /// and target in a new call whose first transaction carries that
    /// offer to the transferee; the transferor is detached and finished
    /// when the transaction closes.
    fn complete_direct_transfer(&mut self, now: u64, sc: &str, sa: &str, offer: String) {
        let sa_leg = self.calls.live(sa);
        let (old, sb) = match sa_leg {
            Some(l) if matches!(&l.transfer, Some(LegTransfer::Ringing { target }) if target == sc) => {
                (l.call, l.peer.clone())
            }
            _ => (None, None),
        };
        let (Some(old), Some(sb)) = (old, sb) else {
            // Cannot happen while the invariants hold; fail safe.
            self.terminate(now, sc, Cause::BadAnswer);
            return;
        };
        self.remove_call(old);
        let cid = self.pair(now, &sb, sc);
        self.connect_leg(now, sc, Some(offer.clone()));
        if let Some(l) = self.calls.legs.get_mut(sc) {
            l.transfer = None;
        }
        if let Some(l) = self.calls.legs.get_mut(sa) {
            l.call = None;
            l.peer = None;
            l.transfer = Some(LegTransfer::Completing { call: cid });
        }
        if let Some(c) = self.calls.calls.get_mut(&cid) {
            c.transferors.push((sa.to_owned(), TransferKind::Direct));
        }
        self.open_txn(now, cid, sc, &sb, Awaiting::Answer);
        let params = self.relay_params(&sb, sc, Some(&offer));
        self.notify_leg(now, &sb, "startCallUpdate", params);
    }

    /// Consultative transfer (§6.10): pair the two remote parties, ask the
    /// first for a fresh offer (SDP-less `startCallUpdate`), relay it to
    /// the second; both transferor legs get `sessionComplete` once the
    /// answer is relayed.
    fn consultative_transfer(&mut self, now: u64, sa1: &str, sa2: &str) {
        let call_and_peer = |sid: &str| {
            self.calls
                .legs
                .get(sid)
                .and_then(|l| l.call.zip(l.peer.clone()))
        };
        let (Some((c1, sb)), Some((c2, sc))) = (call_and_peer(sa1), call_and_peer(sa2)) else {
            return;
        };
        self.remove_call(c1);
        self.remove_call(c2);
        let cid = self.pair(now, &sb, &sc);
        for sa in [sa1, sa2] {
            if let Some(l) = self.calls.legs.get_mut(sa) {
                l.call = None;
                l.peer = None;
                l.transfer = Some(LegTransfer::Completing { call: cid });
            }
            if let Some(c) = self.calls.calls.get_mut(&cid) {
                c.transferors
                    .push((sa.to_owned(), TransferKind::Consultative));
            }
        }
        self.open_txn(now, cid, &sb, &sc, Awaiting::Offer);
        let params = self.relay_params(&sb, &sc, None);
        self.notify_leg(now, &sb, "startCallUpdate", params);
    }

    /// Makes `a` and `b` the legs of a new call; each sees the other.
    fn pair(&mut self, now: u64, a: &str, b: &str) -> u64 {
        let cid = self.calls.new_call_id();
        self.calls.calls.insert(
            cid,
            Call {
                id: cid,
                legs: [a.to_owned(), b.to_owned()],
                txn: None,
                created_at: now,
                transferors: Vec::new(),
            },
        );
        self.counters.calls_created += 1;
        let parties = [a, b].map(|s| {
            self.calls
                .legs
                .get(s)
                .map(|l| l.local.clone())
                .unwrap_or_default()
        });
        for (me, other, party) in [(a, b, &parties[1]), (b, a, &parties[0])] {
            if let Some(l) = self.calls.legs.get_mut(me) {
                l.call = Some(cid);
                l.peer = Some(other.to_owned());
                l.remote = party.clone();
            }
        }
        cid
    }

    /// A direct-transfer target is gone before answering: the transferor's
    /// transfer failed (`sessionFail`, §3.9); its call stays held.
    fn fail_transfer(&mut self, now: u64, transferor: &str, (code, text): (u32, &'static str)) {
        let Some(t) = self.calls.legs.get_mut(transferor) else {
            return;
        };
        if !t.is_live() || !matches!(t.transfer, Some(LegTransfer::Ringing { .. })) {
            return;
        }
        t.transfer = None;
        let params = leg_params(t, None, Some((code, text)), false);
        self.notify_leg(now, transferor, "sessionFail", params);
    }

    /// Cancels a ringing direct-transfer target (its transferor is going
    /// away).
    fn cancel_transfer_target(&mut self, now: u64, target: &str) {
        if let Some(l) = self.calls.legs.get_mut(target) {
            l.transfer = None;
        }
        self.end_leg(now, target, Note::CallCancel, CallResult::Cancelled);
    }

    // ----- transactions ------------------------------------------------------------

    fn open_txn(&mut self, now: u64, cid: u64, offerer: &str, answerer: &str, awaiting: Awaiting) {
        let deadline = now.saturating_add(self.config.calls.update_timeout_ms);
        if let Some(call) = self.calls.calls.get_mut(&cid) {
            if let Some(old) = call.txn.take() {
                self.timers.cancel(old.deadline, &Timer::CallUpdate(cid));
            }
            call.txn = Some(Txn {
                offerer: offerer.to_owned(),
                answerer: answerer.to_owned(),
                awaiting,
                deadline,
            });
            self.timers.schedule(deadline, Timer::CallUpdate(cid));
        }
    }

    /// The answer has been relayed: the transaction is over, and transfers
    /// waiting for it have succeeded.
    fn close_txn(&mut self, now: u64, cid: u64) {
        let Some(call) = self.calls.calls.get_mut(&cid) else {
            return;
        };
        if let Some(t) = call.txn.take() {
            self.timers.cancel(t.deadline, &Timer::CallUpdate(cid));
        }
        let transferors = std::mem::take(&mut call.transferors);
        for (sid, kind) in transferors {
            let Some(leg) = self.calls.legs.get_mut(&sid) else {
                continue;
            };
            leg.transfer = None;
            // UNCERTAIN (§9 item 5): sessionComplete vs callEnd; the client
            // treats both alike, and the SDK notes the real server omits
            // callNotificationParams here.
            let mut params = leg_params(leg, None, None, false);
            if let Some(Value::Object(sp)) = params.get_mut("sessionParams") {
                sp.insert("reasonText".into(), json!(kind.success_text()));
            }
            self.notify_leg(now, &sid, "sessionComplete", params);
            self.end_leg(now, &sid, Note::Nothing, CallResult::Transferred);
        }
    }

    /// Params of a relayed SDP for `to`, describing the sender `from`.
    fn relay_params(&mut self, to: &str, from: &str, sdp: Option<&str>) -> Map<String, Value> {
        let party = self
            .calls
            .legs
            .get(from)
            .map(|l| l.local.clone())
            .unwrap_or_default();
        match self.calls.legs.get_mut(to) {
            Some(leg) => {
                leg.remote = party;
                leg_params(leg, sdp, None, true)
            }
            None => Map::new(),
        }
    }

    // ----- ending ------------------------------------------------------------------

    /// Leg `sid` goes away for `cause`; everybody concerned is told (§7.6)
    /// and logged.
    fn terminate(&mut self, now: u64, sid: &str, cause: Cause) {
        let Some(leg) = self.calls.live(sid) else {
            return;
        };
        let transfer = leg.transfer.clone();
        if cause == Cause::Gone {
            self.drop_queue(sid);
        }
        match transfer {
            Some(LegTransfer::Target { transferor }) => {
                let (note, result, fail) = match cause {
                    Cause::RingTimeout => (Note::CallCancel, CallResult::NoAnswer, NO_ANSWER),
                    Cause::Admin => (Note::CallCancel, CallResult::Failed, ADMIN),
                    Cause::Gone => (Note::Nothing, CallResult::Unavailable, UNAVAILABLE),
                    Cause::BadAnswer | Cause::AuditTimeout => (
                        Note::CallEnd(BAD_ANSWER.0, BAD_ANSWER.1),
                        CallResult::Failed,
                        BAD_ANSWER,
                    ),
                    Cause::Hangup | Cause::Reject => (Note::Nothing, CallResult::Rejected, DECLINE),
                };
                if let Some(l) = self.calls.legs.get_mut(sid) {
                    l.transfer = None;
                }
                self.end_leg(now, sid, note, result);
                self.fail_transfer(now, &transferor, fail);
                return;
            }
            Some(LegTransfer::Completing { call }) => {
                if let Some(c) = self.calls.calls.get_mut(&call) {
                    c.transferors.retain(|(s, _)| s != sid);
                }
                let note = if cause == Cause::Admin {
                    Note::CallEnd(ADMIN.0, ADMIN.1)
                } else {
                    Note::Nothing
                };
                self.end_leg(now, sid, note, CallResult::Transferred);
                return;
            }
            Some(LegTransfer::Ringing { target }) => {
                if let Some(l) = self.calls.legs.get_mut(sid) {
                    l.transfer = None;
                }
                self.cancel_transfer_target(now, &target);
            }
            None => {}
        }
        let Some(leg) = self.calls.legs.get(sid) else {
            return;
        };
        let Some(cid) = leg.call else {
            self.end_leg(now, sid, Note::Nothing, CallResult::Failed);
            return;
        };
        let peer = leg.peer.clone().filter(|p| self.calls.live(p).is_some());
        let (x_note, x_result, p_note, p_result, reason) = outcome(
            cause,
            leg,
            peer.as_deref().and_then(|p| self.calls.legs.get(p)),
        );
        let mut ends = vec![(sid.to_owned(), x_note, x_result)];
        if let Some(p) = peer {
            ends.push((p, p_note, p_result));
        }
        self.close_call(now, cid, ends, reason);
    }

    /// Removes call `cid` and ends the given legs with their notes, and
    /// every transferor waiting on the call with a `callEnd` for `reason`
    /// (the parties it was connecting are gone).
    fn close_call(
        &mut self,
        now: u64,
        cid: u64,
        ends: Vec<(String, Note, CallResult)>,
        reason: (u32, &'static str),
    ) {
        let transferors = self.remove_call(cid);
        for (sid, note, result) in ends {
            let target = match self.calls.legs.get_mut(&sid) {
                Some(l) => match l.transfer.take() {
                    Some(LegTransfer::Ringing { target }) => Some(target),
                    _ => None,
                },
                None => None,
            };
            if let Some(target) = target {
                self.cancel_transfer_target(now, &target);
            }
            self.end_leg(now, &sid, note, result);
        }
        for (sid, _) in transferors {
            if let Some(l) = self.calls.legs.get_mut(&sid) {
                l.transfer = None;
            }
            self.end_leg(
                now,
                &sid,
                Note::CallEnd(reason.0, reason.1),
                CallResult::Transferred,
            );
        }
    }

    /// Forgets call `cid` (its legs stay as they are) and returns the
    /// transferors that were waiting on it.
    fn remove_call(&mut self, cid: u64) -> Vec<(String, TransferKind)> {
        let Some(call) = self.calls.calls.remove(&cid) else {
            return Vec::new();
        };
        if let Some(t) = &call.txn {
            self.timers.cancel(t.deadline, &Timer::CallUpdate(cid));
        }
        self.counters.calls_ended += 1;
        for sid in &call.legs {
            if let Some(l) = self.calls.legs.get_mut(sid) {
                if l.call == Some(cid) {
                    l.call = None;
                    l.peer = None;
                }
            }
        }
        call.transferors
    }

    /// Marks a leg ended, logs it, tells it `note`, and forgets it once
    /// nothing is left to deliver.
    fn end_leg(&mut self, now: u64, sid: &str, note: Note, result: CallResult) {
        let cap = self.config.calls.call_log_cap;
        let cancel_hold = self.config.calls.cancel_hold_ms;
        let Some(leg) = self.calls.legs.get_mut(sid) else {
            return;
        };
        if !leg.is_live() {
            return;
        }
        leg.state = LegState::Ended;
        leg.call = None;
        leg.peer = None;
        leg.transfer = None;
        self.timers
            .reschedule(&mut leg.deadline, None, Timer::CallLeg(sid.to_owned()));
        let answered = leg.answered_at;
        let entry = LogEntry {
            direction: match (leg.role, answered) {
                (LegRole::Caller, _) => CallDirection::Outgoing,
                (LegRole::Callee, Some(_)) => CallDirection::Incoming,
                (LegRole::Callee, None) => CallDirection::Missed,
            },
            start_ms: answered.unwrap_or(leg.created_at),
            duration_ms: answered.map_or(0, |a| now.saturating_sub(a)),
            caller: match leg.role {
                LegRole::Caller => (leg.local.name.clone(), leg.local.number.clone()),
                LegRole::Callee => (leg.remote.name.clone(), leg.remote.number.clone()),
            },
            callee: match leg.role {
                LegRole::Caller => (leg.remote.name.clone(), leg.remote.number.clone()),
                LegRole::Callee => (leg.local.name.clone(), leg.local.number.clone()),
            },
            result,
        };
        let note = match note {
            Note::Nothing => None,
            Note::CallCancel => Some(("callCancel", leg_params(leg, None, None, true))),
            Note::CallEnd(code, text) => {
                Some(("callEnd", leg_params(leg, None, Some((code, text)), true)))
            }
        };
        let (user, sub, version) = (leg.user.clone(), leg.sub.clone(), leg.version.clone());
        self.calls.unindex(sid, &user, &sub);
        self.calls.logs.add(&user, &version, cap, entry);
        if let Some((event, params)) = note {
            self.notify_leg(now, sid, event, params);
        }
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            if leg.awaiting_ringing && !leg.pending.is_empty() {
                let at = now.saturating_add(cancel_hold);
                self.timers
                    .reschedule(&mut leg.deadline, Some(at), Timer::CallLeg(sid.to_owned()));
            }
        }
        self.finalize_if_done(sid);
    }

    fn finalize_if_done(&mut self, sid: &str) {
        let done = self
            .calls
            .legs
            .get(sid)
            .is_some_and(|l| !l.is_live() && l.pending.is_empty());
        if !done {
            return;
        }
        if let Some(mut leg) = self.calls.legs.remove(sid) {
            self.timers
                .reschedule(&mut leg.deadline, None, Timer::CallLeg(sid.to_owned()));
            self.timers.reschedule(
                &mut leg.release_at,
                None,
                Timer::CallRelease(sid.to_owned()),
            );
        }
    }

    /// Drops what a leg still had to deliver (its subscription is gone).
    fn drop_queue(&mut self, sid: &str) {
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.pending.clear();
            leg.awaiting_ringing = false;
            self.timers.reschedule(
                &mut leg.release_at,
                None,
                Timer::CallRelease(sid.to_owned()),
            );
        }
    }

    // ----- timers ------------------------------------------------------------------

    /// `Timer::CallLeg`: ring timeout, audit timeout, or the end of the
    /// wait for a cancelled leg's `ringing` PUT.
    pub(crate) fn fire_call_leg(&mut self, now: u64, sid: &str) {
        let Some(leg) = self.calls.legs.get_mut(sid) else {
            return;
        };
        leg.deadline = None;
        match leg.state {
            LegState::Ended => {
                // Never asked for: the client dropped the call (§3.3).
                leg.pending.clear();
                self.finalize_if_done(sid);
            }
            LegState::Notified | LegState::Ringing => self.terminate(now, sid, Cause::RingTimeout),
            LegState::Connected => self.terminate(now, sid, Cause::AuditTimeout),
            LegState::Offered | LegState::Alerting => {}
        }
    }

    /// `Timer::CallRelease`: the hold-back is over.
    pub(crate) fn fire_call_release(&mut self, now: u64, sid: &str) {
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.release_at = None;
        }
        self.flush_leg(now, sid);
    }

    /// `Timer::CallUpdate`: the answer never came; end the call on both
    /// legs (§7.5 emulator choice).
    pub(crate) fn fire_call_update(&mut self, now: u64, cid: u64) {
        let Some(call) = self.calls.calls.get_mut(&cid) else {
            return;
        };
        call.txn = None;
        let legs = call.legs.clone();
        let note = Note::CallEnd(UPDATE_TIMEOUT.0, UPDATE_TIMEOUT.1);
        let ends = legs
            .iter()
            .filter(|s| self.calls.live(s).is_some())
            .map(|s| {
                let answered = self
                    .calls
                    .legs
                    .get(s)
                    .is_some_and(|l| l.answered_at.is_some());
                (
                    s.clone(),
                    note,
                    if answered {
                        CallResult::Answered
                    } else {
                        CallResult::Failed
                    },
                )
            })
            .collect();
        self.close_call(now, cid, ends, UPDATE_TIMEOUT);
    }

    /// A subscription ended: its calls end for the other parties (§6.13
    /// has the client side; the far ends get `callEnd`/`callCancel`).
    pub(crate) fn calls_subscription_gone(&mut self, now: u64, sub: &SubscriptionId) {
        let sids: Vec<String> = self
            .calls
            .by_sub
            .get(sub)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for sid in sids {
            self.terminate(now, &sid, Cause::Gone);
        }
    }

    // ----- notifications -------------------------------------------------------------

    /// Sends (or holds back) one notification for a leg.
    fn notify_leg(&mut self, now: u64, sid: &str, event: &str, params: Map<String, Value>) {
        let Some(leg) = self.calls.legs.get_mut(sid) else {
            return;
        };
        if leg.awaiting_ringing || leg.release_at.is_some() {
            leg.pending.push_back((event.to_owned(), params));
            return;
        }
        let sub = leg.sub.clone();
        self.notify_subscription(now, &sub, event, &params);
    }

    /// Starts the hold-back of a leg's notifications.
    fn hold_leg(&mut self, now: u64, sid: &str) {
        let delay = self.config.calls.first_notification_delay_ms;
        let at = now.saturating_add(delay);
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            if at > now {
                self.timers.reschedule(
                    &mut leg.release_at,
                    Some(at),
                    Timer::CallRelease(sid.to_owned()),
                );
            }
        }
    }

    /// Delivers what a leg held back, if nothing holds it any more.
    fn flush_leg(&mut self, now: u64, sid: &str) {
        let Some(leg) = self.calls.legs.get_mut(sid) else {
            return;
        };
        if leg.awaiting_ringing || leg.release_at.is_some() {
            return;
        }
        let queued = std::mem::take(&mut leg.pending);
        let sub = leg.sub.clone();
        for (event, params) in queued {
            self.notify_subscription(now, &sub, &event, &params);
        }
        self.finalize_if_done(sid);
    }

    /// Sends `call` to a new callee leg (with the caller's offer, or none
    /// for slow start) and holds its other notifications until its
    /// `ringing` PUT (§7.4 rule 2).
    fn ring(&mut self, now: u64, sid: &str, sdp: Option<&str>) {
        let ring_at = now.saturating_add(self.config.calls.ringing_timeout_ms);
        let Some(leg) = self.calls.legs.get_mut(sid) else {
            return;
        };
        leg.slow_start = sdp.is_none();
        self.timers.reschedule(
            &mut leg.deadline,
            Some(ring_at),
            Timer::CallLeg(sid.to_owned()),
        );
        let params = leg_params(leg, sdp, None, true);
        self.notify_leg(now, sid, "call", params);
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.awaiting_ringing = true;
        }
    }

    // ----- helpers -----------------------------------------------------------------

    /// A leg the handler was given (checked by the router); 404/42 if it
    /// vanished meanwhile, so no input can panic the model.
    fn leg_ref(&self, sid: &str) -> Result<&Leg, ApiError> {
        self.calls.legs.get(sid).ok_or_else(unknown_session)
    }

    fn new_leg_id(&mut self) -> String {
        loop {
            let id = self.ids.hex128();
            if !self.calls.legs.contains_key(&id) {
                return id;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_leg(
        &self,
        now: u64,
        sid: &str,
        user: &str,
        sub: SubscriptionId,
        role: LegRole,
        state: LegState,
        version: &str,
    ) -> Leg {
        Leg {
            sid: sid.to_owned(),
            user: user.to_owned(),
            sub,
            role,
            state,
            call: None,
            peer: None,
            local: Party {
                name: self.display_name(user),
                number: user.to_owned(),
            },
            remote: Party::default(),
            slow_start: false,
            last_sdp: None,
            created_at: now,
            answered_at: None,
            version: version.to_owned(),
            deadline: None,
            release_at: None,
            awaiting_ringing: false,
            pending: VecDeque::new(),
            transfer: None,
        }
    }

    fn insert_leg(&mut self, leg: Leg) {
        self.calls.index(&leg.sid, &leg.user, &leg.sub);
        self.calls.legs.insert(leg.sid.clone(), leg);
    }

    /// Connected, with an audit deadline.
    fn connect_leg(&mut self, now: u64, sid: &str, sdp: Option<String>) {
        let audit_at = now.saturating_add(self.config.calls.audit_timeout_ms);
        if let Some(leg) = self.calls.legs.get_mut(sid) {
            leg.state = LegState::Connected;
            leg.answered_at.get_or_insert(now);
            if sdp.is_some() {
                leg.last_sdp = sdp;
            }
            self.timers.reschedule(
                &mut leg.deadline,
                Some(audit_at),
                Timer::CallLeg(sid.to_owned()),
            );
        }
    }

    /// "First Last" from the directory, else the user part.
    fn display_name(&self, user: &str) -> String {
        let rec = self.users.get(user);
        let name = rec
            .map(|r| {
                [r.first_name.as_deref(), r.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        if name.is_empty() {
            user.split('@').next().unwrap_or(user).to_owned()
        } else {
            name
        }
    }

    fn has_call_service(&self, id: &SubscriptionId) -> bool {
        self.subs
            .get(id)
            .is_some_and(|s| s.services.iter().any(|x| x.eq_ignore_ascii_case("call")))
    }

    /// The caller's subscription: its `x-session`'s, else its best one.
    fn caller_subscription(&self, principal: &Principal, user: &str) -> Option<SubscriptionId> {
        if let Via::Session(id) = &principal.via {
            if self.has_call_service(id) {
                return Some(id.clone());
            }
        }
        self.best_call_subscription(user)
    }

    /// Among a user's subscriptions with the call service: one with an open
    /// socket first, then the one that expires last.
    fn best_call_subscription(&self, user: &str) -> Option<SubscriptionId> {
        self.subs
            .ids_of(user)
            .into_iter()
            .filter(|id| self.has_call_service(id))
            .max_by_key(|id| {
                let s = self.subs.get(id);
                (
                    s.is_some_and(|s| s.socket.is_some()),
                    s.and_then(|s| s.expiry),
                )
            })
    }

    /// Resolves a destination (§7.3): `user@domain` case-insensitively, a
    /// bare user in `default_domain`, a phone number through the
    /// directory's `phoneNumbers`; `parties` (the users already in the
    /// call) are busy.
    fn reach(&self, addr: &Address, default_domain: &str, parties: &[&str]) -> Reach {
        let qualified = addr.qualified(default_domain);
        let rec = self
            .users
            .get(&qualified)
            .or_else(|| phone_digits(&addr.user).and_then(|d| self.users.by_phone(&d)));
        let Some(rec) = rec else {
            return Reach::Absent(Absent::NotFound(Party {
                name: addr.display.clone().unwrap_or_else(|| addr.user.clone()),
                number: qualified,
            }));
        };
        let user = rec.username.clone();
        let party = Party {
            name: self.display_name(&user),
            number: user.clone(),
        };
        if parties.iter().any(|p| p.eq_ignore_ascii_case(&user)) {
            return Reach::Absent(Absent::Busy(party));
        }
        match self.best_call_subscription(&user) {
            Some(sub) => Reach::Present { user, sub, party },
            None => Reach::Absent(Absent::Offline(user, party)),
        }
    }

    /// A missed-call log for a user who could not be rung (offline).
    fn log_missed(
        &mut self,
        now: u64,
        callee: &str,
        version: &str,
        caller: &Party,
        callee_party: &Party,
        result: CallResult,
    ) {
        let cap = self.config.calls.call_log_cap;
        self.calls.logs.add(
            callee,
            version,
            cap,
            LogEntry {
                direction: CallDirection::Missed,
                start_ms: now,
                duration_ms: 0,
                caller: (caller.name.clone(), caller.number.clone()),
                callee: (callee_party.name.clone(), callee_party.number.clone()),
                result,
            },
        );
    }

    // ----- public views and hooks ----------------------------------------------------

    pub(crate) fn call_logs_of(&self, user: &str) -> Vec<CallLogRecord> {
        self.calls.logs.of(user)
    }

    pub(crate) fn active_call_infos(&self) -> Vec<CallInfo> {
        let mut calls: Vec<&Call> = self.calls.calls.values().collect();
        calls.sort_by_key(|c| c.id);
        calls
            .into_iter()
            .map(|c| CallInfo {
                id: c.id,
                legs: c
                    .legs
                    .iter()
                    .filter_map(|s| self.calls.legs.get(s))
                    .map(Leg::info)
                    .collect(),
                created_at_ms: c.created_at,
                transaction_open: c.txn.is_some(),
            })
            .collect()
    }

    pub(crate) fn call_leg_info(&self, sid: &str) -> Option<LegInfo> {
        self.calls.legs.get(sid).map(Leg::info)
    }

    pub(crate) fn call_legs_info(&self, user: &str) -> Vec<LegInfo> {
        self.calls
            .by_user
            .get(&user.to_ascii_lowercase())
            .map(|s| {
                s.iter()
                    .filter_map(|sid| self.calls.legs.get(sid))
                    .map(Leg::info)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends every live leg of `user` (hook); returns how many.
    pub(crate) fn end_user_calls(&mut self, now: u64, user: &str) -> usize {
        let sids: Vec<String> = self
            .calls
            .by_user
            .get(&user.to_ascii_lowercase())
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let mut n = 0;
        for sid in sids {
            if self.calls.live(&sid).is_some() {
                self.terminate(now, &sid, Cause::Admin);
                n += 1;
            }
        }
        n
    }

    /// Checks the call tables; returns how many timers they own.
    pub(crate) fn check_calls(&self) -> Result<usize, String> {
        let c = &self.calls;
        let mut slots = 0usize;
        let mut live = 0usize;
        for (sid, leg) in &c.legs {
            if *sid != leg.sid {
                return Err(format!("leg {sid} is filed under another id"));
            }
            if let Some(at) = leg.deadline {
                if !self.timers.contains(at, &Timer::CallLeg(sid.clone())) {
                    return Err(format!("deadline timer of leg {sid} is missing"));
                }
                slots += 1;
            }
            if let Some(at) = leg.release_at {
                if !self.timers.contains(at, &Timer::CallRelease(sid.clone())) {
                    return Err(format!("release timer of leg {sid} is missing"));
                }
                slots += 1;
            }
            if !leg.pending.is_empty() && !leg.awaiting_ringing && leg.release_at.is_none() {
                return Err(format!(
                    "leg {sid} queues notifications with nothing holding them"
                ));
            }
            let indexed = c.by_sub.get(&leg.sub).is_some_and(|s| s.contains(sid))
                && c.by_user
                    .get(&leg.user.to_ascii_lowercase())
                    .is_some_and(|s| s.contains(sid));
            if !leg.is_live() {
                if leg.pending.is_empty() {
                    return Err(format!("ended leg {sid} lingers with nothing to deliver"));
                }
                if leg.peer.is_some() || leg.call.is_some() || leg.transfer.is_some() || indexed {
                    return Err(format!("ended leg {sid} is still linked"));
                }
                if leg.deadline.is_some() && !leg.awaiting_ringing {
                    return Err(format!(
                        "ended leg {sid} has a deadline but waits for nothing"
                    ));
                }
                continue;
            }
            live += 1;
            if !indexed {
                return Err(format!("leg {sid} is not indexed"));
            }
            if self.subs.get(&leg.sub).is_none() {
                return Err(format!("leg {sid} outlived its subscription"));
            }
            let needs_deadline = leg.is_ringing_callee() || leg.state == LegState::Connected;
            if needs_deadline != leg.deadline.is_some() {
                return Err(format!(
                    "leg {sid} in {:?} has the wrong deadline",
                    leg.state
                ));
            }
            match &leg.transfer {
                Some(LegTransfer::Target { transferor }) => {
                    let ok = leg.call.is_none()
                        && leg.peer.is_none()
                        && leg.is_ringing_callee()
                        && c.live(transferor).is_some_and(
                            |t| matches!(&t.transfer, Some(LegTransfer::Ringing { target }) if target == sid),
                        );
                    if !ok {
                        return Err(format!("transfer target {sid} is inconsistent"));
                    }
                }
                Some(LegTransfer::Ringing { target }) => {
                    let ok = leg.call.is_some()
                        && c.live(target).is_some_and(
                            |t| matches!(&t.transfer, Some(LegTransfer::Target { transferor }) if transferor == sid),
                        );
                    if !ok {
                        return Err(format!("transferor {sid} is inconsistent"));
                    }
                }
                Some(LegTransfer::Completing { call }) => {
                    let ok = leg.call.is_none()
                        && leg.peer.is_none()
                        && leg.state == LegState::Connected
                        && c.calls
                            .get(call)
                            .is_some_and(|k| k.transferors.iter().any(|(s, _)| s == sid));
                    if !ok {
                        return Err(format!("completing transferor {sid} is inconsistent"));
                    }
                }
                None => {
                    if leg.call.is_none() {
                        return Err(format!("live leg {sid} is in no call"));
                    }
                }
            }
            match leg.call {
                Some(cid) => {
                    let call = c
                        .calls
                        .get(&cid)
                        .ok_or_else(|| format!("leg {sid} names a missing call"))?;
                    let peer = call
                        .other(sid)
                        .ok_or_else(|| format!("call {cid} does not list leg {sid}"))?;
                    if leg.peer.as_ref() != Some(peer) {
                        return Err(format!("leg {sid}'s peer is not its call's other leg"));
                    }
                    let p = c
                        .live(peer)
                        .ok_or_else(|| format!("peer of leg {sid} is gone"))?;
                    if p.peer.as_deref() != Some(sid.as_str()) || p.call != Some(cid) {
                        return Err(format!("legs {sid} and {peer} are not mutual peers"));
                    }
                    let ok = match leg.state {
                        LegState::Offered | LegState::Alerting => {
                            leg.role == LegRole::Caller && p.is_ringing_callee()
                        }
                        LegState::Notified | LegState::Ringing => {
                            leg.role == LegRole::Callee
                                && matches!(p.state, LegState::Offered | LegState::Alerting)
                        }
                        LegState::Connected => p.state == LegState::Connected,
                        LegState::Ended => false,
                    };
                    if !ok {
                        return Err(format!(
                            "leg {sid} ({:?}) and its peer ({:?}) disagree",
                            leg.state, p.state
                        ));
                    }
                }
                None => {
                    if leg.peer.is_some() {
                        return Err(format!("leg {sid} has a peer but no call"));
                    }
                }
            }
        }
        for (cid, call) in &c.calls {
            if call.id != *cid || call.legs[0] == call.legs[1] {
                return Err(format!("call {cid} is malformed"));
            }
            for sid in &call.legs {
                if c.live(sid).map(|l| l.call) != Some(Some(*cid)) {
                    return Err(format!("call {cid} lists leg {sid} which is not in it"));
                }
            }
            if let Some(t) = &call.txn {
                if t.offerer == t.answerer || call.other(&t.offerer) != Some(&t.answerer) {
                    return Err(format!("transaction of call {cid} names foreign legs"));
                }
                if !self.timers.contains(t.deadline, &Timer::CallUpdate(*cid)) {
                    return Err(format!("update timer of call {cid} is missing"));
                }
                slots += 1;
            }
            for (sid, _) in &call.transferors {
                let ok = c
                    .live(sid)
                    .is_some_and(|l| l.transfer == Some(LegTransfer::Completing { call: *cid }));
                if !ok {
                    return Err(format!("transferor {sid} of call {cid} is inconsistent"));
                }
            }
            if call.txn.is_none() && !call.transferors.is_empty() {
                return Err(format!("call {cid} has transferors but no transaction"));
            }
        }
        let indexed: usize = c.by_sub.values().map(BTreeSet::len).sum();
        if indexed != live || c.live_legs() != live {
            return Err("call leg indexes do not match the live legs".into());
        }
        let k = &self.counters;
        if k.calls_created != k.calls_ended + c.calls.len() as u64 {
            return Err("call counters do not add up".into());
        }
        c.logs.check(self.config.calls.call_log_cap)?;
        Ok(slots)
    }
}

/// Where a destination can be rung, or why not.
enum Reach {
    Present {
        user: String,
        sub: SubscriptionId,
        party: Party,
    },
    Absent(Absent),
}

enum Absent {
    /// No such user.
    NotFound(Party),
    /// A party of the call already.
    Busy(Party),
    /// A user without a subscription with the call service.
    Offline(String, Party),
}

impl Absent {
    /// The `callEnd`/`sessionFail` status and the caller's log result
    /// (§7.6, §7.7).
    fn status(&self) -> ((u32, &'static str), CallResult) {
        match self {
            Absent::NotFound(_) => (NOT_FOUND, CallResult::NotFound),
            Absent::Busy(_) => (BUSY, CallResult::Busy),
            Absent::Offline(..) => (UNAVAILABLE, CallResult::Unavailable),
        }
    }

    fn party(&self) -> Option<Party> {
        match self {
            Absent::NotFound(p) | Absent::Busy(p) | Absent::Offline(_, p) => Some(p.clone()),
        }
    }

    /// The offline user who gets a missed-call log.
    fn missed(&self) -> Option<(String, Party)> {
        match self {
            Absent::Offline(u, p) => Some((u.clone(), p.clone())),
            _ => None,
        }
    }
}
