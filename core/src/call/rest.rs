//! The call REST requests (02-calls §2) and how their answers are read
//! (§1.3, §1.4).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ctx::{Ctx, Purpose};
use crate::effect::Method;
use crate::error::{BasicError, ErrorCode};
use crate::http::{self, Reply};
use crate::session::SessionState;

use super::CallId;

/// Which call request a response answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallRequest {
    /// POST callStart.
    Start,
    /// PUT ringing.
    Ringing,
    /// PUT callAnswer.
    Answer,
    /// PUT startCallUpdate (hold, unhold, add/remove media).
    Update,
    /// PUT respondCallUpdate.
    Respond,
    /// POST calldisposition reject.
    Reject,
    /// POST calldisposition forward.
    Forward,
    /// DELETE the leg.
    End,
    /// PUT audit.
    Audit,
    /// PUT transfer.
    Transfer,
    /// POST join.
    Join,
}

/// `{base}` = `{rest}/rest/version/{v}/user/{username}`, or `None` without a
/// session.
pub(crate) fn base(session: &SessionState) -> Option<String> {
    let e = session.endpoint.as_ref()?;
    Some(format!(
        "{}/rest/version/{}/user/{}",
        e.rest_origin,
        e.version,
        http::path_segment(&e.username)
    ))
}

/// `{rest}/rest/version/{v}/anonymous/{account}`, the base of anonymous
/// (`callMe`) calls (02-calls §2.14).
pub(crate) fn anonymous_base(session: &SessionState, account: &str) -> Option<String> {
    let e = session.endpoint.as_ref()?;
    Some(format!(
        "{}/rest/version/{}/anonymous/{}",
        e.rest_origin,
        e.version,
        http::path_segment(account)
    ))
}

/// Sends a request to an absolute URL with the session's credential.
pub(crate) fn send_url(
    ctx: &mut Ctx<'_>,
    session: &SessionState,
    call: &CallId,
    request: CallRequest,
    method: Method,
    url: &str,
    body: Option<Value>,
) {
    let id = ctx.request_id();
    let req = http::request(
        ctx.config,
        id,
        method,
        url,
        session.auth.as_ref(),
        body.map(|b| b.to_string()),
    );
    ctx.send(
        Purpose::Call {
            call: call.clone(),
            request,
        },
        req,
    );
}

/// Sends a call request with the session's credential.
pub(crate) fn send(
    ctx: &mut Ctx<'_>,
    session: &SessionState,
    call: &CallId,
    request: CallRequest,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> bool {
    let Some(base) = base(session) else {
        return false;
    };
    let id = ctx.request_id();
    let req = http::request(
        ctx.config,
        id,
        method,
        &format!("{base}{path}"),
        session.auth.as_ref(),
        body.map(|b| b.to_string()),
    );
    ctx.send(
        Purpose::Call {
            call: call.clone(),
            request,
        },
        req,
    );
    true
}

/// `callControlRequest` bodies.
pub(crate) fn control(fields: Value) -> Value {
    json!({ "callControlRequest": fields })
}

/// The leg path.
pub(crate) fn leg_path(leg: &str) -> String {
    format!("/callControl/callSessions/{}", http::path_segment(leg))
}

/// A call request's outcome.
pub(crate) enum Outcome {
    /// 2xx, with the body (Null when none).
    Ok(Value),
    /// Anything else, as the error the application sees.
    Err(BasicError, Option<i64>),
}

/// Reads a reply the way §1.4 describes, without 4.8.0's double wrap (which
/// hides every start/end error behind "Unknown error").
pub(crate) fn outcome(reply: Reply) -> Outcome {
    match reply {
        Reply::Success { body } => Outcome::Ok(body),
        Reply::Failure { status, body } => {
            let code = http::status_code(&body, "callControlResponse")
                .or_else(|| http::status_code(&body, "callDispositionResponse"));
            let text = match code {
                Some(5) => "Invalid or missing request body".to_owned(),
                Some(26) => "Internal Server Error".to_owned(),
                Some(42) => "The call does not exist on the gateway".to_owned(),
                Some(49) => "Another negotiation is in progress (glare)".to_owned(),
                Some(1004) => "Bad request".to_owned(),
                Some(n) => format!("Unknown error (statusCode {n})"),
                None => body
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("HTTP status {status}")),
            };
            Outcome::Err(
                BasicError::new(
                    ErrorCode::CallGenericError,
                    format!("Request failed: {text}."),
                ),
                code,
            )
        }
        Reply::Transport(m) => Outcome::Err(
            BasicError::new(ErrorCode::CallGenericError, format!("Request failed: {m}.")),
            None,
        ),
    }
}

/// `callControlResponse.sessionData` (or `callMeResponse.sessionData` for
/// anonymous calls) of a start or join reply.
pub(crate) fn session_data(body: &Value) -> Option<String> {
    body.pointer("/callControlResponse/sessionData")
        .or_else(|| body.pointer("/callMeResponse/sessionData"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .map(str::to_owned)
}
