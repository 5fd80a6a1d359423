//! The emitter and the load generator.
//!
//! The [`Emitter`] is the service that makes credentials: it re-reads the
//! file store's primary version every `refresh` and signs with it, like an
//! auth service that polls its secret store. The load generator sends a
//! steady `rps` to a target through it and counts what came back. In JWT
//! mode it plays `clients` clients, each of which keeps its token until the
//! token expires (`token_ttl`), as real clients do: after a switch, tokens
//! signed with the old key keep arriving for up to `token_ttl`. In HMAC
//! mode each webhook is signed when it is sent.

use crate::jwt::TokenSigner;
use crate::store::FamilyDir;
use crate::webhook;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinSet;
use zeroize::Zeroizing;

/// What the emitter signs with: the primary version as last read.
enum Key {
    Jwt(Arc<TokenSigner>),
    Hmac(String, Arc<Zeroizing<Vec<u8>>>),
}

/// Which credential the load carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Authorization: Bearer JWT`, RS256 with the primary's PEM key.
    Jwt,
    /// `X-Signature: sha256=HMAC` over a JSON body, with the primary's secret.
    Hmac,
}

/// Signs with the file store's primary version, re-read every `refresh`.
pub struct Emitter {
    family: FamilyDir,
    mode: Mode,
    current: Mutex<Option<Key>>,
}

impl Emitter {
    /// An emitter that has not read the store yet.
    pub fn new(family: FamilyDir, mode: Mode) -> Emitter {
        Emitter {
            family,
            mode,
            current: Mutex::new(None),
        }
    }

    /// Reads the primary again, keeping the key when the primary is unchanged.
    pub fn refresh(&self) -> Result<(), String> {
        let where_ = || self.family.path().display().to_string();
        let Some(id) = self
            .family
            .primary_id()
            .map_err(|e| format!("{}: {e}", where_()))?
        else {
            return Ok(());
        };
        if self.kid().as_deref() == Some(id.as_str()) {
            return Ok(());
        }
        let Some(material) = self
            .family
            .primary()
            .map_err(|e| format!("{}: {e}", where_()))?
        else {
            return Ok(());
        };
        let key = match self.mode {
            Mode::Jwt => {
                let pem = std::str::from_utf8(&material.bytes)
                    .map_err(|_| format!("version {}: the PEM is not UTF-8", material.id))?;
                Key::Jwt(Arc::new(TokenSigner::from_pem(&material.id, pem)?))
            }
            Mode::Hmac => Key::Hmac(material.id.clone(), Arc::new(material.bytes)),
        };
        *self.current.lock().expect("emitter lock") = Some(key);
        Ok(())
    }

    /// The version it signs with now; `None` before the store has a primary.
    pub fn kid(&self) -> Option<String> {
        match &*self.current.lock().expect("emitter lock") {
            Some(Key::Jwt(s)) => Some(s.kid().to_string()),
            Some(Key::Hmac(id, _)) => Some(id.clone()),
            None => None,
        }
    }

    /// A JWT for `sub`, valid for at most `ttl` (at least until the next
    /// whole second), and its `exp` (seconds since the epoch).
    pub fn token(&self, sub: &str, ttl: Duration) -> Option<(String, String, u64)> {
        let Some(Key::Jwt(signer)) = &*self.current.lock().expect("emitter lock") else {
            return None;
        };
        let signer = Arc::clone(signer);
        let now_ms = unix_millis();
        let now = now_ms / 1000;
        let exp = ((now_ms + ttl.as_millis() as u64) / 1000).max(now + 1);
        let claims =
            json!({ "iss": "rotor-drill", "aud": "drill", "sub": sub, "iat": now, "exp": exp });
        Some((signer.kid().to_string(), signer.sign(&claims), exp))
    }

    /// The `X-Signature` value for `body`, and the version that signed it.
    pub fn hmac(&self, body: &[u8]) -> Option<(String, String)> {
        let Some(Key::Hmac(id, secret)) = &*self.current.lock().expect("emitter lock") else {
            return None;
        };
        Some((id.clone(), webhook::signature(secret, body)))
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// How to run the load generator.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://HOST:PORT/verify` (JWT) or `http://HOST:PORT/hook` (HMAC).
    pub target: String,
    /// Requests per second.
    pub rps: u32,
    /// The file store's directory (`.rotor/secrets`).
    pub store: PathBuf,
    /// The family whose primary signs.
    pub family: String,
    /// How often the emitter re-reads the primary.
    pub refresh: Duration,
    /// How long a JWT is valid, and kept by its client.
    pub token_ttl: Duration,
    /// How many clients share the traffic, each with its own token.
    pub clients: usize,
    /// JWT or HMAC.
    pub mode: Mode,
}

/// What a run of the load generator saw.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Requests sent (ticks before the store had a primary send nothing).
    pub sent: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered otherwise, or not answered.
    pub failed: u64,
    /// Failures by the version that signed the credential.
    pub failed_by_kid: BTreeMap<String, u64>,
    /// Failures by version and reason (`v1: 401 rejected: unknown kid`,
    /// `v1: timed out`), so that a rejection is told from a slow machine.
    pub failures: BTreeMap<String, u64>,
    /// Requests by the version that signed the credential.
    pub sent_by_kid: BTreeMap<String, u64>,
}

/// Runs the load until `stop` turns true, then waits for the requests in
/// flight and returns the counts. Nothing is sent until the store has a primary.
pub async fn run(config: LoadConfig, mut stop: watch::Receiver<bool>) -> Summary {
    let family = FamilyDir::new(&config.store, &config.family);
    let emitter = Arc::new(Emitter::new(family, config.mode));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let summary = Arc::new(Mutex::new(Summary::default()));
    let mut in_flight = JoinSet::new();
    let clients = config.clients.max(1);
    let mut tokens: Vec<Option<(String, String, u64)>> = vec![None; clients];
    let mut tick = tokio::time::interval(Duration::from_secs(1) / config.rps.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_refresh = tokio::time::Instant::now();
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        if tokio::time::Instant::now() >= next_refresh {
            if let Err(e) = emitter.refresh() {
                eprintln!("load: keeping the key it has: {e}");
            }
            next_refresh += config.refresh;
        }
        let request = match config.mode {
            Mode::Jwt => {
                let client = (seq % clients as u64) as usize;
                let slot = &mut tokens[client];
                // A client renews its token a second before it expires, as
                // real clients renew with a margin: a token sent at the
                // last moment is rejected as expired when the request is
                // slow, which says nothing about the key.
                if slot
                    .as_ref()
                    .is_none_or(|(_, _, exp)| unix_millis() + 1000 >= exp * 1000)
                {
                    // The clients' first tokens are shorter, evenly spread up to
                    // token_ttl, so that they renew at different times, as the
                    // clients of a real service do.
                    let ttl = if slot.is_none() {
                        config.token_ttl * (client as u32 + 1) / clients as u32
                    } else {
                        config.token_ttl
                    };
                    *slot = emitter.token(&format!("client-{client}"), ttl);
                }
                let Some((kid, token, _)) = slot.clone() else {
                    continue;
                };
                (kid, http.get(&config.target).bearer_auth(token))
            }
            Mode::Hmac => {
                let body = json!({ "event": "drill", "seq": seq }).to_string();
                let Some((kid, sig)) = emitter.hmac(body.as_bytes()) else {
                    continue;
                };
                (
                    kid,
                    http.post(&config.target)
                        .header(webhook::HEADER, sig)
                        .body(body),
                )
            }
        };
        seq += 1;
        let summary = Arc::clone(&summary);
        in_flight.spawn(async move {
            let (kid, request) = request;
            let failure = match request.send().await {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap_or_default();
                    Some(format!("{status} {}", body.lines().next().unwrap_or("")))
                }
                Err(e) if e.is_timeout() => Some("timed out".to_string()),
                Err(e) => Some(format!("not answered: {e}")),
            };
            let mut s = summary.lock().expect("summary lock");
            s.sent += 1;
            *s.sent_by_kid.entry(kid.clone()).or_default() += 1;
            match failure {
                None => s.ok += 1,
                Some(why) => {
                    s.failed += 1;
                    *s.failures.entry(format!("{kid}: {why}")).or_default() += 1;
                    *s.failed_by_kid.entry(kid).or_default() += 1;
                }
            }
        });
        // Reap finished requests so the set stays small.
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    summary.lock().expect("summary lock").clone()
}
