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
//! - `GET /metrics`: `drill_verifications_total{kid, result}`. A refused
//!   token's `kid` comes from its unverified header: fine for a demo, while
//!   a real service would bound that label's values.

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::TokenSigner;
    use crate::jwt::tests::key_pair;
    use serde_json::json;

    #[tokio::test]
    async fn accepts_only_the_kids_of_its_cached_key_set() {
        let dir = tempfile::tempdir().unwrap();
        let jwks = dir.path().join("jwks.json");
        let port_file = dir.path().join("port");
        let (pem1, jwk1) = key_pair("v1");
        let (pem2, jwk2) = key_pair("v2");
        std::fs::write(&jwks, json!({ "keys": [jwk1] }).to_string()).unwrap();
        let server = start(VerifierConfig {
            jwks: jwks.to_string_lossy().into_owned(),
            cache_ttl: Duration::from_millis(300),
            listen: "127.0.0.1:0".into(),
            port_file: Some(port_file.clone()),
        })
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&port_file).unwrap(),
            format!("{}\n", server.addr().port())
        );

        let http = reqwest::Client::new();
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let token = |pem: &str, kid: &str| {
            TokenSigner::from_pem(kid, pem)
                .unwrap()
                .sign(&json!({ "sub": "test", "exp": exp }))
        };
        let verify = |token: String| {
            let request = http
                .get(format!("{}/verify", server.url()))
                .bearer_auth(token);
            async move {
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        assert_eq!(
            verify(token(&pem1, "v1")).await,
            (200, "ok: kid v1\n".into())
        );
        assert_eq!(
            verify(token(&pem2, "v2")).await,
            (401, "rejected: unknown kid\n".into())
        );

        // A new key set is read on the next refresh (not checked right after
        // the write: a refresh may fall in between).
        std::fs::write(&jwks, json!({ "keys": [jwk2] }).to_string()).unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(verify(token(&pem2, "v2")).await.0, 200);
        assert_eq!(verify(token(&pem1, "v1")).await.0, 401);

        let keys: serde_json::Value = http
            .get(format!("{}/keys", server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(keys["keys"][0]["kid"], "v2");
        let metrics = http
            .get(format!("{}/metrics", server.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in [
            "drill_verifications_total{kid=\"v1\",result=\"ok\"} 1",
            "drill_verifications_total{kid=\"v1\",result=\"rejected\"} 1",
            "drill_verifications_total{kid=\"v2\",result=\"ok\"} 1",
            "drill_verifications_total{kid=\"v2\",result=\"rejected\"} 1",
        ] {
            assert!(metrics.contains(line), "{line} in\n{metrics}");
        }
    }
}
