//! The verifier: a service that accepts JWTs signed by any key of the key
//! set it has cached, as an API gateway does. It fetches the JWKS (a file,
//! or a URL) when it starts and then every `cache_ttl`, never in between:
//! a kid published a moment ago is unknown to it until the next refresh,
//! and a kid withdrawn a moment ago is still accepted until then. That
//! cache is what makes a flag-day swap fail and what rotor's accept window
//! waits out.
//!
//! - `GET /verify` with `Authorization: Bearer JWT`: 200, or 401 with the reason.
//! - `GET /keys`: the cached key set, as JWKS (what rotor's `jwks` probe reads).
//! - `GET /metrics`: `drill_verifications_total{kid, result}`.

use crate::jwt::KeySet;
use crate::metrics::Verifications;
use crate::server::{self, Call, JSON, METRICS, Reply, Server, TEXT};
use hyper::StatusCode;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How to run a verifier.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// The JWKS: a file path, or an `http://` / `https://` URL.
    pub jwks: String,
    /// How long the fetched key set is used before it is fetched again.
    pub cache_ttl: Duration,
    /// `HOST:PORT` to listen on; port 0 picks a free one.
    pub listen: String,
    /// Where to write the bound port, if anywhere.
    pub port_file: Option<PathBuf>,
}

struct State {
    keys: RwLock<KeySet>,
    metrics: Verifications,
}

/// Starts a verifier on the current tokio runtime; it stops when the
/// returned server is dropped.
pub async fn start(config: VerifierConfig) -> std::io::Result<Server> {
    let state = Arc::new(State {
        keys: RwLock::new(KeySet::default()),
        metrics: Verifications::default(),
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(std::io::Error::other)?;
    // The first fetch happens before the port is announced: a verifier that
    // is up has a key set (possibly empty, if the JWKS does not exist yet).
    refresh(&state, &config.jwks, &http).await;
    let handler_state = Arc::clone(&state);
    let mut server = server::serve(&config.listen, config.port_file.as_deref(), move |call| {
        let state = Arc::clone(&handler_state);
        async move { handle(&state, call) }
    })
    .await?;
    server.also(tokio::spawn(async move {
        loop {
            tokio::time::sleep(config.cache_ttl).await;
            refresh(&state, &config.jwks, &http).await;
        }
    }));
    eprintln!("verifier: listening on {}", server.url());
    Ok(server)
}

async fn refresh(state: &State, source: &str, http: &reqwest::Client) {
    match fetch(source, http).await {
        Ok(Some(keys)) => {
            let mut current = state.keys.write().expect("key set lock");
            if current.kids() != keys.kids() {
                eprintln!("verifier: key set now {:?}", keys.kids());
            }
            *current = keys;
        }
        // Not published yet: nothing to accept.
        Ok(None) => *state.keys.write().expect("key set lock") = KeySet::default(),
        // A failed fetch keeps the cached set, as a real gateway would.
        Err(e) => eprintln!("verifier: keeping the cached key set: {e}"),
    }
}

async fn fetch(source: &str, http: &reqwest::Client) -> Result<Option<KeySet>, String> {
    let doc: serde_json::Value = if source.starts_with("http://") || source.starts_with("https://")
    {
        let response = http
            .get(source)
            .send()
            .await
            .map_err(|e| format!("GET {source}: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = response
            .error_for_status()
            .map_err(|e| format!("GET {source}: {e}"))?;
        response
            .json()
            .await
            .map_err(|e| format!("GET {source}: {e}"))?
    } else {
        let text = match std::fs::read_to_string(source) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{source}: {e}")),
        };
        serde_json::from_str(&text).map_err(|e| format!("{source}: {e}"))?
    };
    KeySet::parse(&doc)
        .map(Some)
        .map_err(|e| format!("{source}: {e}"))
}

fn handle(state: &State, call: Call) -> Reply {
    match (call.method.as_str(), call.path.as_str()) {
        ("GET", "/verify") => {
            let token = call
                .headers
                .get("authorization")
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.strip_prefix("Bearer "))
                .unwrap_or("");
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let (kid, verdict) = state.keys.read().expect("key set lock").verify(token, now);
            state.metrics.record(&kid, verdict.is_ok());
            match verdict {
                Ok(()) => (StatusCode::OK, TEXT, format!("ok: kid {kid}\n")),
                Err(why) => (
                    StatusCode::UNAUTHORIZED,
                    TEXT,
                    format!("rejected: {}\n", why.as_str()),
                ),
            }
        }
        ("GET", "/keys") => (
            StatusCode::OK,
            JSON,
            state
                .keys
                .read()
                .expect("key set lock")
                .document()
                .to_string(),
        ),
        ("GET", "/metrics") => (StatusCode::OK, METRICS, state.metrics.render()),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    }
}
