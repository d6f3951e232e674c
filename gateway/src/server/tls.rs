//! TLS from PEM files: rustls with the ring provider, HTTP/1.1 only.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use futures_rustls::TlsAcceptor;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{ServerError, TlsFiles};

pub(super) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ServerError> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut reader(&files.cert_pem)?)
        .collect::<Result<_, _>>()
        .map_err(|source| ServerError::ReadFile {
            path: files.cert_pem.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "no certificate in {}",
            files.cert_pem.display()
        )));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut reader(&files.key_pem)?)
        .map_err(|source| ServerError::ReadFile {
            path: files.key_pem.clone(),
            source,
        })?
        .ok_or_else(|| {
            ServerError::Tls(format!("no private key in {}", files.key_pem.display()))
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    // hyper serves HTTP/1.1 only; WebSocket upgrades need it anyway.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn reader(path: &Path) -> Result<BufReader<File>, ServerError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| ServerError::ReadFile {
            path: path.to_owned(),
            source,
        })
}
