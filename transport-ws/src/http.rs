//! REST requests: hyper 1's HTTP/1.1 client over [`net::Stream`], with a
//! small keep-alive pool.
//!
//! The core owns request timeouts and ignores outcomes it no longer waits
//! for, so this module only has to turn one [`HttpRequest`] into one
//! [`HttpOutcome`], never panic on what the network sends, and bound what
//! it holds (response size, idle connections, task lifetime).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_rustls::TlsConnector;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use kandy_core::{HttpOutcome, HttpRequest, HttpResponse, Method, TransportFailure};
use smol_hyper::rt::FuturesIo;

use crate::net::{self, Failure, Target};
use crate::{Limits, Spawner};

const TARGET: &str = "kandy_transport_ws::http";

/// How long a pooled connection may take to become ready for its next
/// request before a fresh one is opened instead.
const READY_WAIT: Duration = Duration::from_millis(250);

/// Most origins whose idle connections are kept; a client talks to one or
/// two (REST server, token service).
const MAX_ORIGINS: usize = 8;

type Sender = SendRequest<Full<Bytes>>;

/// `(secure, host, port)`.
type Origin = (bool, String, u16);

/// Everything an HTTP task needs, shared by all of them.
pub(crate) struct HttpClient {
    tls: TlsConnector,
    spawner: Spawner,
    limits: Limits,
    pool: Mutex<HashMap<Origin, Vec<Idle>>>,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl HttpClient {
    pub(crate) fn new(tls: TlsConnector, spawner: Spawner, limits: Limits) -> Self {
        HttpClient {
            tls,
            spawner,
            limits,
            pool: Mutex::new(HashMap::new()),
        }
    }

    fn pool(&self) -> MutexGuard<'_, HashMap<Origin, Vec<Idle>>> {
        // Each critical section is a push or a pop: nothing to repair after
        // a panic elsewhere.
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Carries out one request. Bounded by `Limits::io_timeout` as a safety
    /// net, so a peer that never answers cannot pin a task (the core's own
    /// `http.timeout` normally fires long before).
    pub(crate) async fn execute(&self, request: HttpRequest) -> HttpOutcome {
        let limit = self.limits.io_timeout;
        let work = async { Some(self.exchange(&request).await) };
        let timer = async {
            smol::Timer::after(limit).await;
            None
        };
        match futures_lite::future::or(work, timer).await {
            Some(Ok(response)) => HttpOutcome::Response(response),
            Some(Err(f)) => HttpOutcome::failed(f.kind, f.message),
            None => HttpOutcome::failed(
                TransportFailure::Timeout,
                format!("no response within {} ms (driver limit)", limit.as_millis()),
            ),
        }
    }

    async fn exchange(&self, request: &HttpRequest) -> Result<HttpResponse, Failure> {
        let target = Target::parse(&request.url, "http", "https")
            .ok_or_else(|| Failure::new(TransportFailure::Other, "invalid request URL"))?;
        let origin: Origin = (target.secure, target.host.clone(), target.port);

        // A pooled connection first. If the request never left (the
        // connection turned out closed), or it is idempotent and the
        // connection died under it (the server closed an idle keep-alive
        // connection as we wrote), try once more on a fresh connection.
        if let Some(mut sender) = self.checkout(&origin).await {
            match sender.try_send_request(build(request, &target)?).await {
                Ok(response) => return self.finish(origin, sender, response).await,
                Err(mut e) => {
                    let unsent = e.take_message().is_some();
                    if !unsent && !idempotent(request.method) {
                        return Err(Failure::new(
                            TransportFailure::Other,
                            format!("request failed: {}", e.error()),
                        ));
                    }
                    tracing::debug!(target: TARGET, "pooled connection unusable, reconnecting");
                }
            }
        }

        let mut sender = self.open(&target).await?;
        let response = sender
            .send_request(build(request, &target)?)
            .await
            .map_err(|e| Failure::new(TransportFailure::Other, format!("request failed: {e}")))?;
        self.finish(origin, sender, response).await
    }

    /// Opens a connection and runs hyper's connection task beside it.
    async fn open(&self, target: &Target) -> Result<Sender, Failure> {
        let stream = net::connect(target, &self.tls).await?;
        let (sender, connection) = http1::handshake(FuturesIo::new(stream))
            .await
            .map_err(|e| Failure::new(TransportFailure::Other, format!("HTTP handshake: {e}")))?;
        // The connection task ends by itself when the sender is dropped (out
        // of the pool or with it) or the server closes the connection.
        self.spawner
            .spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(target: TARGET, "HTTP connection ended: {e}");
                }
            })
            .detach();
        Ok(sender)
    }

    /// Reads the response within the size limit and pools the connection.
    async fn finish(
        &self,
        origin: Origin,
        sender: Sender,
        response: hyper::Response<hyper::body::Incoming>,
    ) -> Result<HttpResponse, Failure> {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let max = self.limits.max_response_body;
        // On an oversized or broken body the connection is dropped, not
        // pooled: its read position is unknown.
        let body = Limited::new(response.into_body(), max)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Failure::new(
                        TransportFailure::Other,
                        format!("response body larger than {max} bytes"),
                    )
                } else {
                    Failure::new(
                        TransportFailure::Other,
                        format!("reading the response failed: {e}"),
                    )
                }
            })?
            .to_bytes();
        self.checkin(origin, sender);
        Ok(HttpResponse {
            status,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// An idle connection to `origin` that is (or promptly becomes) ready.
    async fn checkout(&self, origin: &Origin) -> Option<Sender> {
        loop {
            let idle = {
                let mut pool = self.pool();
                let list = pool.get_mut(origin)?;
                let idle = list.pop();
                if list.is_empty() {
                    pool.remove(origin);
                }
                idle?
            };
            if idle.sender.is_closed() || idle.since.elapsed() >= self.limits.idle_timeout {
                continue;
            }
            let mut sender = idle.sender;
            if sender.is_ready() {
                return Some(sender);
            }
            let ready = async { sender.ready().await.is_ok() };
            let late = async {
                smol::Timer::after(READY_WAIT).await;
                false
            };
            if futures_lite::future::or(ready, late).await {
                return Some(sender);
            }
        }
    }

    fn checkin(&self, origin: Origin, sender: Sender) {
        if sender.is_closed() || self.limits.idle_connections_per_origin == 0 {
            return;
        }
        let idle_timeout = self.limits.idle_timeout;
        let mut pool = self.pool();
        pool.retain(|_, list| {
            list.retain(|i| !i.sender.is_closed() && i.since.elapsed() < idle_timeout);
            !list.is_empty()
        });
        if !pool.contains_key(&origin) && pool.len() >= MAX_ORIGINS {
            return;
        }
        let list = pool.entry(origin).or_default();
        if list.len() < self.limits.idle_connections_per_origin {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

fn idempotent(method: Method) -> bool {
    !matches!(method, Method::Post)
}

/// The hyper request for a core request. Header values never appear in an
/// error message (they carry credentials); names may.
fn build(request: &HttpRequest, target: &Target) -> Result<hyper::Request<Full<Bytes>>, Failure> {
    let method = match request.method {
        Method::Get => hyper::Method::GET,
        Method::Post => hyper::Method::POST,
        Method::Put => hyper::Method::PUT,
        Method::Delete => hyper::Method::DELETE,
        _ => {
            return Err(Failure::new(
                TransportFailure::Other,
                "HTTP method not supported by this driver",
            ))
        }
    };
    let body = request
        .body
        .as_ref()
        .map(|b| Bytes::from(b.clone()))
        .unwrap_or_default();
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(target.path_and_query.as_str());
    let headers = builder
        .headers_mut()
        .ok_or_else(|| Failure::new(TransportFailure::Other, "invalid request URL"))?;
    let host = HeaderValue::from_str(&target.authority)
        .map_err(|_| Failure::new(TransportFailure::Other, "invalid host"))?;
    headers.insert(HOST, host);
    for (name, value) in &request.headers {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Failure::new(
                TransportFailure::Other,
                format!("invalid header name {name:?}"),
            )
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Failure::new(
                TransportFailure::Other,
                format!("invalid value for header {name}"),
            )
        })?;
        headers.append(header, value);
    }
    builder
        .body(Full::new(body))
        .map_err(|_| Failure::new(TransportFailure::Other, "invalid request"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kandy_core::RequestId;

    fn request(headers: Vec<(&str, &str)>) -> HttpRequest {
        HttpRequest {
            id: RequestId(1),
            method: Method::Post,
            url: "https://gw.example.com:443/rest/version/1/user/a@b/subscription".into(),
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            body: Some("{}".into()),
        }
    }

    #[test]
    fn requests_carry_host_and_the_core_headers() {
        let r = request(vec![
            ("authorization", "basic eA=="),
            ("accept", "application/json"),
        ]);
        let t = Target::parse(&r.url, "http", "https").unwrap();
        let h = build(&r, &t).unwrap();
        assert_eq!(h.uri(), "/rest/version/1/user/a@b/subscription");
        assert_eq!(h.headers()[HOST], "gw.example.com:443");
        assert_eq!(h.headers()["authorization"], "basic eA==");
        assert_eq!(h.method(), hyper::Method::POST);
    }

    #[test]
    fn a_bad_header_value_fails_without_echoing_it() {
        let r = request(vec![("authorization", "secret\nvalue")]);
        let t = Target::parse(&r.url, "http", "https").unwrap();
        let e = build(&r, &t).unwrap_err();
        assert!(!e.message.contains("secret"));
        assert_eq!(e.kind, TransportFailure::Other);
    }
}
