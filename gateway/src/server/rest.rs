//! One HTTP request: WebSocket upgrades are validated here and accepted or
//! refused by the model; everything else (OPTIONS preflights included) goes
//! to [`crate::Gateway::handle_http`] and back verbatim.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use async_tungstenite::tungstenite::handshake::derive_accept_key;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode, Uri};
use serde_json::json;
use smol::{future, Timer};
use tracing::debug;

use super::shared::Shared;
use super::ws::PendingSocket;
use crate::{codes, HttpRequest, HttpResponse};

/// Where the service leaves an accepted upgrade for its connection task,
/// which runs the WebSocket once hyper hands the connection over.
pub(super) type PendingSlot = Arc<Mutex<Option<PendingSocket>>>;

/// The hyper service.
pub(super) async fn handle(
    shared: Arc<Shared>,
    slot: PendingSlot,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let resp = if is_websocket_upgrade(&req) {
        upgrade(&shared, &slot, &mut req)
    } else {
        rest(&shared, req).await
    };
    debug!(%method, status = resp.status().as_u16(), "request");
    Ok(resp)
}

/// A `GET` asking for `Upgrade: websocket`; its other headers are checked
/// by [`upgrade`].
fn is_websocket_upgrade(req: &Request<Incoming>) -> bool {
    req.method() == Method::GET && has_token(req.headers(), &UPGRADE, "websocket")
}

/// Whether a comma-separated header (any of its occurrences) lists `token`,
/// case-insensitively.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// RFC 6455 §4.2.1 checks, then the model's verdict **before** answering:
/// a refusal is the model's response (404, 401, ...) and no upgrade.
fn upgrade(
    shared: &Shared,
    slot: &PendingSlot,
    req: &mut Request<Incoming>,
) -> Response<Full<Bytes>> {
    if !has_token(req.headers(), &CONNECTION, "upgrade") {
        return transport_error(400, "WebSocket upgrade without Connection: upgrade");
    }
    if req
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut resp = transport_error(426, "WebSocket version 13 required");
        resp.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return resp;
    }
    let key = match req.headers().get(SEC_WEBSOCKET_KEY) {
        Some(key) if is_valid_key(key.as_bytes()) => key.clone(),
        _ => return transport_error(400, "bad or missing Sec-WebSocket-Key"),
    };
    let target = path_and_query(req.uri());
    let headers = header_pairs(req.headers());
    let accepted = match shared.accept_socket(&target, &headers) {
        Ok(accepted) => accepted,
        Err(refusal) => return to_hyper(refusal),
    };
    debug!(socket = accepted.id.0, "WebSocket upgrade accepted");
    let pending = PendingSocket {
        accepted,
        upgrade: hyper::upgrade::on(req),
    };
    let previous = slot
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(pending);
    if let Some(previous) = previous {
        // Cannot happen (an upgraded connection serves no more requests),
        // but the model must not keep a socket nobody runs.
        shared.socket_ended(previous.accepted.id, &previous.accepted.kill);
    }
    let mut resp = Response::new(Full::default());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    resp
}

/// A `Sec-WebSocket-Key` is base64 of 16 bytes.
fn is_valid_key(key: &[u8]) -> bool {
    STANDARD.decode(key).is_ok_and(|k| k.len() == 16)
}

/// A plain REST request: read the body (bounded in size and time), ask the
/// model, write its answer back.
async fn rest(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let max = shared.max_body_bytes;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let body = if declared.is_some_and(|n| n > max as u64) {
        oversized(max)
    } else {
        let timeout = shared.config.http_timeout;
        let read = future::or(
            async { Some(Limited::new(body, max).collect().await) },
            async {
                Timer::after(timeout).await;
                None
            },
        )
        .await;
        match read {
            Some(Ok(collected)) => collected.to_bytes().to_vec(),
            Some(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => oversized(max),
            Some(Err(e)) => {
                debug!(error = %e, "request body could not be read");
                return transport_error(400, "request body could not be read");
            }
            None => return transport_error(408, "request body too slow"),
        }
    };
    let request = HttpRequest {
        method: parts.method.as_str().to_owned(),
        path_and_query: path_and_query(&parts.uri),
        headers: header_pairs(&parts.headers),
        body,
    };
    to_hyper(shared.with_model(|g, now| g.handle_http(now, request)))
}

/// A body one byte over the limit: the model then answers 413 itself, in
/// its usual order (an unknown path is still 404, a wrong method 405). The
/// zeroed buffer costs no more than the request would have.
fn oversized(max: usize) -> Vec<u8> {
    vec![0; max.saturating_add(1)]
}

/// The request target as the client sent it (origin form, or the absolute
/// form, which the model reduces to its path).
fn path_and_query(uri: &Uri) -> String {
    if uri.scheme().is_some() {
        uri.to_string()
    } else {
        uri.path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned())
    }
}

/// Headers as the model takes them; a value that is not UTF-8 is passed
/// lossily (the model only matches ASCII).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The model's response as it is. hyper adds `content-length` (the body is
/// a `Full`, of known size; none on 204) and keeps the connection alive.
fn to_hyper(resp: HttpResponse) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(resp.body)));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in resp.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    out
}

/// An error the transport answers by itself (malformed upgrade, body that
/// cannot be read, shutdown), shaped like the model's WebSocket refusals
/// and with the CORS origin the model puts on everything.
fn transport_error(status: u16, reason: &str) -> Response<Full<Bytes>> {
    let mut resp = HttpResponse::json(
        status,
        &json!({"subscribeResponse": {"statusCode": codes::BAD_REQUEST, "reason": reason}}),
    );
    resp.headers
        .push(("access-control-allow-origin".to_owned(), "*".to_owned()));
    to_hyper(resp)
}
