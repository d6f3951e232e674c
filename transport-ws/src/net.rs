//! Reaching a server: URL parsing, name resolution, TCP, TLS.
//!
//! Both the HTTP client and the WebSocket open go through [`connect`], so
//! they share one stream type ([`Stream`]) and one TLS configuration.

use std::io;
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_rustls::TlsConnector;
use kandy_core::TransportFailure;
use rustls::pki_types::{CertificateDer, ServerName};
use smol::Async;

use crate::Error;

/// A connection, plain or TLS. Implements the futures-io traits, which is
/// what async-tungstenite takes directly and hyper takes through
/// `smol_hyper::rt::FuturesIo`.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(Async<TcpStream>),
    // Boxed: the TLS state is large and would bloat every plain stream.
    Tls(Box<futures_rustls::client::TlsStream<Async<TcpStream>>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// Why a connection could not be made, in the core's terms.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: TransportFailure,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(kind: TransportFailure, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// Where a URL points. The path and query stay out of every log message:
/// the WebSocket path is the notification channel, a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) secure: bool,
    /// Host without IPv6 brackets, for resolution and TLS names.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host:port` as it goes into the `Host` header (IPv6 bracketed).
    pub(crate) authority: String,
    /// Origin-form request target (`/path?query`).
    pub(crate) path_and_query: String,
}

impl Target {
    /// Parses an absolute URL whose scheme is `plain` or `secure`
    /// (`http`/`https`, `ws`/`wss`). `None` for anything else, including
    /// URLs carrying user info.
    pub(crate) fn parse(url: &str, plain: &str, secure: &str) -> Option<Target> {
        let uri: hyper::Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?;
        let secure = if scheme.eq_ignore_ascii_case(secure) {
            true
        } else if scheme.eq_ignore_ascii_case(plain) {
            false
        } else {
            return None;
        };
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        let raw_host = authority.host();
        let host = raw_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(raw_host);
        if host.is_empty() {
            return None;
        }
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_owned();
        Some(Target {
            secure,
            host: host.to_owned(),
            port,
            authority,
            path_and_query,
        })
    }
}

/// Builds the TLS client configuration: the ring provider, the public web
/// roots (unless turned off) plus any extra roots (an emulator's
/// self-signed CA), and ALPN `http/1.1` (both REST and the WebSocket
/// upgrade speak HTTP/1.1).
pub(crate) fn tls_connector(
    extra_roots: &[CertificateDer<'static>],
    public_roots: bool,
) -> Result<TlsConnector, Error> {
    let mut roots = rustls::RootCertStore::empty();
    if public_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| Error::Setup(format!("root certificate rejected: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::Setup(
            "no trusted root certificates: enable the public roots or add one".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Reads every certificate of a PEM bundle.
pub(crate) fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut reader = pem;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Setup(format!("unreadable PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Setup("no certificate found in the PEM data".into()));
    }
    Ok(certs)
}

/// Resolves, connects (trying each address in turn) and, for a secure
/// target, runs the TLS handshake.
pub(crate) async fn connect(target: &Target, tls: &TlsConnector) -> Result<Stream, Failure> {
    let addrs = smol::net::resolve((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            Failure::new(
                TransportFailure::Dns,
                format!("cannot resolve {}: {e}", target.host),
            )
        })?;
    if addrs.is_empty() {
        return Err(Failure::new(
            TransportFailure::Dns,
            format!("{} resolves to no address", target.host),
        ));
    }
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match Async::<TcpStream>::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match tcp {
        Some(s) => s,
        None => {
            let reason = last.map(|e| e.to_string()).unwrap_or_default();
            return Err(Failure::new(
                TransportFailure::Connect,
                format!("cannot connect to {}: {reason}", target.authority),
            ));
        }
    };
    // Small request/response exchanges: do not wait to coalesce segments.
    let _ = tcp.get_ref().set_nodelay(true);
    if !target.secure {
        return Ok(Stream::Plain(tcp));
    }
    let name = ServerName::try_from(target.host.clone()).map_err(|e| {
        Failure::new(
            TransportFailure::Tls,
            format!("invalid TLS server name {}: {e}", target.host),
        )
    })?;
    let tls = tls.connect(name, tcp).await.map_err(|e| {
        Failure::new(
            TransportFailure::Tls,
            format!("TLS handshake with {} failed: {e}", target.authority),
        )
    })?;
    Ok(Stream::Tls(Box::new(tls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_targets() {
        let t = Target::parse(
            "https://gw.example.com:8443/rest/a?token=x",
            "http",
            "https",
        )
        .unwrap();
        assert!(t.secure);
        assert_eq!(t.host, "gw.example.com");
        assert_eq!(t.port, 8443);
        assert_eq!(t.authority, "gw.example.com:8443");
        assert_eq!(t.path_and_query, "/rest/a?token=x");

        let t = Target::parse("ws://[::1]:80/n/c", "ws", "wss").unwrap();
        assert!(!t.secure);
        assert_eq!(t.host, "::1");
        assert_eq!(t.authority, "[::1]:80");

        let t = Target::parse("http://h", "http", "https").unwrap();
        assert_eq!((t.port, t.path_and_query.as_str()), (80, "/"));

        assert!(Target::parse("ftp://h/x", "http", "https").is_none());
        assert!(Target::parse("https://u:p@h/x", "http", "https").is_none());
        assert!(Target::parse("not a url", "http", "https").is_none());
        assert!(Target::parse("/relative", "http", "https").is_none());
    }

    #[test]
    fn tls_setup_needs_some_root() {
        assert!(tls_connector(&[], true).is_ok());
        assert!(matches!(tls_connector(&[], false), Err(Error::Setup(_))));
        assert!(parse_pem_certificates(b"nothing here").is_err());
    }
}
