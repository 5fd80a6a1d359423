//! The one small real HTTP/1.1 server of rotor's tests, on 127.0.0.1: one
//! request per connection, answered by a closure, or never answered at all;
//! plain or over TLS with a certificate from a throwaway CA ([`TestCa`]).
//!
//! The probes' unit tests (`rotor-providers`) and the end-to-end tests
//! (`tests/e2e`) both use it. The drill's own server (`examples/drill`) is
//! part of the drill's product and stays there.
//!
//! ```no_run
//! # async fn demo() {
//! use rotor_testserver::{Request, Response, Server};
//!
//! let server = Server::start(|r: Request| match r.target.as_str() {
//!     "/health" => Response::ok("ok"),
//!     _ => Response::new(404, "not found"),
//! })
//! .await;
//! let body = reqwest::get(server.url("/health")).await.unwrap();
//! # }
//! ```

#![deny(missing_docs)]

use rustls::pki_types::PrivatePkcs8KeyDer;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The whole body (`content-length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value; `name` in lower case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The decoded value of one query parameter.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        reqwest::Url::parse(&format!("http://x/?{query}"))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The body, sent as `application/json` whatever it holds.
    pub body: String,
    /// Extra header lines, `name: value`.
    pub headers: Vec<String>,
}

impl Response {
    /// A response with no extra header.
    pub fn new(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// The response with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push(format!("{name}: {value}"));
        self
    }

    /// A 200 response.
    pub fn ok(body: impl Into<String>) -> Response {
        Response::new(200, body)
    }
}

type Handler = dyn Fn(Request) -> Response + Send + Sync;

/// A listening server, stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Answers every request with `handler`.
    pub async fn start(handler: impl Fn(Request) -> Response + Send + Sync + 'static) -> Server {
        Server::listen(Some(Arc::new(handler)), None).await
    }

    /// Accepts connections and reads requests, but never answers.
    pub async fn hanging() -> Server {
        Server::listen(None, None).await
    }

    /// Answers every request with `handler`, over TLS with the CA's leaf certificate.
    pub async fn start_tls(
        ca: &TestCa,
        handler: impl Fn(Request) -> Response + Send + Sync + 'static,
    ) -> Server {
        let certs = vec![ca.leaf.der().clone()];
        let key = PrivatePkcs8KeyDer::from(ca.leaf_key.serialize_der()).into();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Server::listen(Some(Arc::new(handler)), Some(acceptor)).await
    }

    async fn listen(
        handler: Option<Arc<Handler>>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => connection(stream, handler).await,
                        // A failed handshake is the client's to report.
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                connection(stream, handler).await;
                            }
                        }
                    }
                });
            }
        });
        Server { addr, task }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one connection: one request, one answer (or none, for a hanging server).
async fn connection(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    handler: Option<Arc<Handler>>,
) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let Some(handler) = handler else {
        // Hold the connection open until the client gives up.
        let mut sink = [0u8; 64];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        return;
    };
    let response = handler(request);
    let extra: String = response
        .headers
        .iter()
        .map(|h| format!("{h}\r\n"))
        .collect();
    let head = format!(
        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
        response.status,
        response.body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(response.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads one request: head up to the blank line, then `content-length` bytes.
async fn read_request(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if !buf[0].is_ascii_uppercase() {
            // Not HTTP (a TLS ClientHello starts with 0x16): answer as a
            // plain HTTP server does, with a 400, and hang up.
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
                .await;
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// A throwaway CA and a leaf certificate for 127.0.0.1 only (no DNS name),
/// made with rcgen (P-256 keys, as a small private CA would use). The CA
/// certificate is in `dir/ca.pem`, what a spec's `ca_file` names.
pub struct TestCa {
    /// Holds `ca.pem`.
    pub dir: tempfile::TempDir,
    leaf: rcgen::Certificate,
    leaf_key: rcgen::KeyPair,
}

impl TestCa {
    /// A new CA and its leaf, with `ca.pem` written.
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "rotor test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        leaf.is_ca = IsCa::ExplicitNoCa;
        let leaf = leaf.signed_by(&leaf_key, &Issuer::new(ca, ca_key)).unwrap();

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        TestCa {
            dir,
            leaf,
            leaf_key,
        }
    }
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}
