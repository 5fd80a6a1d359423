//! Webhooks signed with a shared secret: `X-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the body. The receiver accepts a signature made with any
//! enabled version of the family, as cached: it reads the file store's
//! key set when it starts and then every `cache_ttl`.
//!
//! - `POST /hook`: 200, or 401.
//! - `GET /metrics`: `drill_verifications_total{kid, result}`, `kid` being
//!   the version whose secret matched (empty when none did).

use crate::metrics::Verifications;
use crate::server::{self, Call, METRICS, Reply, Server, TEXT};
use crate::store::{FamilyDir, Material};
use hmac::{Hmac, KeyInit, Mac};
use hyper::StatusCode;
use sha2::Sha256;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The signature header.
pub const HEADER: &str = "x-signature";

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Which of `secrets` made `header` over `body`; compared in constant time.
fn matching<'s>(secrets: &'s [Material], header: &str, body: &[u8]) -> Option<&'s str> {
    let hex = header.strip_prefix("sha256=")?;
    if hex.len() != 64 {
        return None;
    }
    let tag: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    secrets.iter().find_map(|s| {
        let mut mac = Hmac::<Sha256>::new_from_slice(&s.bytes).ok()?;
        mac.update(body);
        mac.verify_slice(&tag).ok().map(|()| s.id.as_str())
    })
}

/// How to run a webhook receiver.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The file store's directory (`.rotor/secrets`).
    pub store: PathBuf,
    /// The family whose enabled versions are accepted.
    pub family: String,
    /// How long the read key set is used before it is read again.
    pub cache_ttl: Duration,
    /// `HOST:PORT` to listen on; port 0 picks a free one.
    pub listen: String,
    /// Where to write the bound port, if anywhere.
    pub port_file: Option<PathBuf>,
}

struct State {
    secrets: RwLock<Vec<Material>>,
    metrics: Verifications,
}

/// Starts a receiver on the current tokio runtime; it stops when the
/// returned server is dropped.
pub async fn start(config: ReceiverConfig) -> std::io::Result<Server> {
    let family = FamilyDir::new(&config.store, &config.family);
    let state = Arc::new(State {
        secrets: RwLock::new(Vec::new()),
        metrics: Verifications::default(),
    });
    refresh(&state, &family);
    let handler_state = Arc::clone(&state);
    let mut server = server::serve(&config.listen, config.port_file.as_deref(), move |call| {
        let state = Arc::clone(&handler_state);
        async move { handle(&state, call) }
    })
    .await?;
    server.also(tokio::spawn(async move {
        loop {
            tokio::time::sleep(config.cache_ttl).await;
            refresh(&state, &family);
        }
    }));
    eprintln!("webhook-receiver: listening on {}", server.url());
    Ok(server)
}

fn refresh(state: &State, family: &FamilyDir) {
    match family.enabled() {
        Ok(secrets) => {
            let mut current = state.secrets.write().expect("secrets lock");
            let ids = |s: &[Material]| s.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
            if ids(&current) != ids(&secrets) {
                eprintln!("webhook-receiver: accepting {:?}", ids(&secrets));
            }
            *current = secrets;
        }
        Err(e) => eprintln!(
            "webhook-receiver: keeping the cached secrets: {}: {e}",
            family.path().display()
        ),
    }
}

fn handle(state: &State, call: Call) -> Reply {
    match (call.method.as_str(), call.path.as_str()) {
        ("POST", "/hook") => {
            let header = call
                .headers
                .get(HEADER)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let secrets = state.secrets.read().expect("secrets lock");
            match matching(&secrets, header, &call.body) {
                Some(id) => {
                    state.metrics.record(id, true);
                    (StatusCode::OK, TEXT, format!("ok: version {id}\n"))
                }
                None => {
                    state.metrics.record("", false);
                    (
                        StatusCode::UNAUTHORIZED,
                        TEXT,
                        "rejected: signature\n".into(),
                    )
                }
            }
        }
        ("GET", "/metrics") => (StatusCode::OK, METRICS, state.metrics.render()),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn secret(id: &str, key: &str) -> Material {
        Material {
            id: id.into(),
            bytes: Zeroizing::new(key.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_signature_from_any_enabled_version_matches() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let secrets = [secret("v1", "one"), secret("v2", "two")];
        let body = b"{\"event\":\"drill\"}";
        assert_eq!(
            matching(&secrets, &signature(b"two", body), body),
            Some("v2")
        );
        assert_eq!(
            matching(&secrets, &signature(b"one", body), body),
            Some("v1")
        );
        assert_eq!(matching(&secrets, &signature(b"three", body), body), None);
        assert_eq!(matching(&secrets, &signature(b"one", body), b"other"), None);
        assert_eq!(matching(&secrets, "sha256=zz", body), None);
        assert_eq!(matching(&secrets, "", body), None);
    }
}
