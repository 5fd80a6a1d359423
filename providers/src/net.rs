//! Why an HTTP request failed, told in a few words, for everything in this
//! crate that speaks HTTP: the network probes' detail lines
//! ([`crate::probe::net`]) and the vault store's errors.
//!
//! A failure names the one thing that went wrong (`connection refused to
//! 127.0.0.1:8081`, `DNS: no such host x.invalid`, `TLS: certificate not
//! trusted (is ca_file set?)`) rather than the whole error chain, and says
//! what the engine makes of it ([`ErrorKind`]): a request that got no
//! answer is `Unavailable`, and [`status_kind`] classifies an answer the
//! caller did not expect. Nothing here sees a request's headers, so no
//! token or credential can reach a message.

use rotor_engine::Duration;
use rotor_engine::provider::ErrorKind;

/// `host:port` of a URL, for messages.
pub(crate) fn target(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => url.to_string(),
        },
        Err(_) => url.to_string(),
    }
}

/// Why a request got no answer, or what a status means to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// What the engine makes of it: a request that got no answer is
    /// [`ErrorKind::Unavailable`] (the next apply tries again).
    pub kind: ErrorKind,
    /// One line naming the one thing that went wrong.
    pub message: String,
}

impl Failure {
    /// Why a request to `url` got no answer. `timeout` is the client's
    /// limit, named in the message when one was hit; `None` when the client
    /// has more than one (connecting, the whole request) and the message
    /// just says "timed out".
    pub fn of(e: &reqwest::Error, url: &str, timeout: Option<Duration>) -> Failure {
        Failure {
            kind: ErrorKind::Unavailable,
            message: transport(e, url, timeout),
        }
    }
}

/// What an answer the caller did not expect means to the engine: 403 is
/// [`ErrorKind::Denied`] (the credential lacks a permission), a server
/// error is [`ErrorKind::Unavailable`] (worth trying again), anything
/// else [`ErrorKind::Invalid`].
pub(crate) fn status_kind(status: reqwest::StatusCode) -> ErrorKind {
    if status == reqwest::StatusCode::FORBIDDEN {
        ErrorKind::Denied
    } else if status.is_server_error() {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Invalid
    }
}

/// One line saying why a request to `url` got no answer.
fn transport(e: &reqwest::Error, url: &str, timeout: Option<Duration>) -> String {
    let timed_out = || match timeout {
        Some(t) => format!("timed out after {t}"),
        None => "timed out".to_string(),
    };
    let target = target(url);
    if e.is_timeout() {
        return timed_out();
    }
    let mut messages = Vec::new();
    let mut io_kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        messages.push(err.to_string());
        source = err.source();
    }
    let root = messages.last().cloned().unwrap_or_default();
    let all = messages.join(": ");
    if io_kind == Some(std::io::ErrorKind::TimedOut) {
        return timed_out();
    }
    if io_kind == Some(std::io::ErrorKind::ConnectionRefused) || all.contains("Connection refused")
    {
        return format!("connection refused to {target}");
    }
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or(target.clone());
    if all.contains("dns error") || all.contains("failed to lookup address") {
        let missing = [
            "Name or service not known",
            "No address associated",
            "not known",
        ];
        return if missing.iter().any(|m| all.contains(m)) {
            format!("DNS: no such host {host}")
        } else {
            format!("DNS: could not resolve {host} ({root})")
        };
    }
    if let Some(tls) = tls_failure(&all, &host, &target) {
        return tls;
    }
    if e.is_connect() {
        return format!("could not connect to {target}: {root}");
    }
    if e.is_body() || e.is_decode() {
        return format!("could not read the response from {target}: {root}");
    }
    format!("request to {target} failed: {root}")
}

/// The TLS part of a failure, from rustls's messages.
fn tls_failure(all: &str, host: &str, target: &str) -> Option<String> {
    let cert = all.contains("invalid peer certificate");
    Some(
        if cert && (all.contains("UnknownIssuer") || all.contains("issuer")) {
            "TLS: certificate not trusted (is ca_file set?)".to_string()
        } else if cert && (all.contains("NotValidForName") || all.contains("not valid for name")) {
            format!("TLS: the certificate is not valid for {host}")
        } else if cert && (all.contains("Expired") || all.contains("expired")) {
            "TLS: the certificate has expired".to_string()
        } else if cert {
            let why = all.rsplit("invalid peer certificate").next().unwrap_or("");
            format!(
                "TLS: invalid certificate{}",
                why.trim_start_matches(':').trim_end()
            )
        } else if all.contains("InvalidContentType") || all.contains("corrupt message") {
            format!("TLS: handshake failed: does {target} speak HTTPS?")
        } else if all.contains("tls handshake eof") || all.contains("HandshakeFailure") {
            format!("TLS: handshake with {target} failed")
        } else {
            return None;
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotor_testserver::{Response, Server};

    async fn get(url: &str) -> Failure {
        let client = crate::probe::net::tests::plain_client();
        let e = client.get(url).send().await.unwrap_err();
        Failure::of(&e, url, None)
    }

    #[tokio::test]
    async fn refused_connections_and_dns_failures_are_one_line() {
        // A port that was free a moment ago: nothing listens on it.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/verify");
        assert_eq!(
            get(&url).await.message,
            format!("connection refused to 127.0.0.1:{port}")
        );
        assert_eq!(
            get("http://rotor-probe.invalid/").await.message,
            "DNS: no such host rotor-probe.invalid"
        );
    }

    #[tokio::test]
    async fn https_to_a_plain_http_port_is_a_tls_failure() {
        let server = Server::start(|_| Response::ok("ok")).await;
        let url = server.url("/").replace("http://", "https://");
        let detail = get(&url).await.message;
        assert_eq!(
            detail,
            format!("TLS: handshake failed: does {} speak HTTPS?", server.addr())
        );
    }

    #[tokio::test]
    async fn no_answer_is_unavailable_and_a_timeout_names_its_limit_when_there_is_one() {
        // Accepts and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", silent.local_addr().unwrap());
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(200))
            .build()
            .unwrap();
        let e = client.get(&url).send().await.unwrap_err();
        assert_eq!(
            Failure::of(&e, &url, None),
            Failure {
                kind: ErrorKind::Unavailable,
                message: "timed out".into()
            }
        );
        assert_eq!(
            Failure::of(&e, &url, Some(Duration(200))).message,
            "timed out after 200ms"
        );
    }

    #[test]
    fn statuses_are_denied_unavailable_or_invalid() {
        use reqwest::StatusCode;
        assert_eq!(status_kind(StatusCode::FORBIDDEN), ErrorKind::Denied);
        assert_eq!(
            status_kind(StatusCode::SERVICE_UNAVAILABLE),
            ErrorKind::Unavailable
        );
        assert_eq!(status_kind(StatusCode::BAD_REQUEST), ErrorKind::Invalid);
        assert_eq!(status_kind(StatusCode::UNAUTHORIZED), ErrorKind::Invalid);
    }
}
