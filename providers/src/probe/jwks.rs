//! The `jwks` probe: fetch a JSON Web Key Set and look for the version's `kid`.
//!
//! ```hcl
//! verify "jwks" {
//!   on      = ["accept", "guard"]
//!   url     = "https://gateway.internal/.well-known/jwks.json"  # the consumer's own view, or the CDN's
//!   timeout = "5s"       # default 10s
//!   ca_file = "ca.pem"   # optional extra root CA, relative to the spec directory
//! }
//! ```
//!
//! | phase | passes when the kid is |
//! |---|---|
//! | `accept`, `emit` | present: the consumer can verify the new version |
//! | `guard` | absent, from a key set that still holds at least one key: the revoked version has left every cache in front of the consumer |
//!
//! `drain` is refused when the spec is read: before its revoke the old kid is
//! always in the key set, so a drain probe here would pass without showing
//! that traffic has moved off it. Drain with `prometheus` (no requests signed
//! with the old kid) or `command`.
//!
//! The document must be a JSON object with a `keys` array of JSON Web Keys
//! (objects with a `kty`); each key's `kid` is read, nothing else. A guard
//! also needs the array to be non-empty: an empty or broken key set has no
//! kid at all, which says nothing about the revoked one having left while the
//! others are served. A redirect is not followed (see [`net`]).

use super::net;
use crate::config::{ConfigError, Settings};
use crate::registry::Refusal;
use async_trait::async_trait;
use rotor_engine::Duration;
use rotor_engine::provider::{Probe, ProbeRequest, ProbeResult};
use rotor_engine::spec::{ProbePhase, VerifySpec};
use std::path::Path;

/// A drain would pass on nothing: checked by the registry, at `on`.
pub(crate) const REFUSES: &[Refusal] = &[Refusal {
    phase: ProbePhase::Drain,
    why: "the old kid is in the key set until its revoke, so the probe would pass without showing that traffic has moved off it",
    hint: "drain with a `prometheus` probe (no requests signed with ${version} any more) or a `command`; use jwks on \"accept\" or \"guard\"",
}];

/// How many kids a failure lists before it says "and N more".
const LISTED_KIDS: usize = 5;

/// A `verify "jwks"` block.
#[derive(Debug, Clone)]
pub struct JwksProbe {
    url: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl JwksProbe {
    /// Reads a `verify "jwks"` block; `ca_file` is taken from `base_dir`.
    pub fn from_spec(spec: &VerifySpec, base_dir: &Path) -> Result<JwksProbe, ConfigError> {
        let settings = Settings::of("verify", &spec.kind, &spec.settings, &spec.span);
        let mut known = vec!["url"];
        known.extend(net::COMMON);
        settings.only(&known, &net::ENGINE_OWNED)?;
        let url = net::url_setting(
            &settings,
            "url",
            "\"http://127.0.0.1:8081/.well-known/jwks.json\"",
        )?;
        let (client, timeout) = net::client(&settings, base_dir)?;
        Ok(JwksProbe {
            url,
            timeout,
            client,
        })
    }

    /// The key set at the URL: how many keys it holds and their kids with
    /// each key's thumbprint, or why it could not be read.
    async fn keys(&self, url: &str) -> Result<(usize, Vec<(String, String)>), String> {
        let response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| net::failure(&e, url, self.timeout))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| net::failure(&e, url, self.timeout))?;
        if status != 200 {
            return Err(format!("HTTP {status} (expected 200) from {url}"));
        }
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("{url} did not return JSON: not a JSON Web Key Set"))?;
        let Some(keys) = doc.get("keys").and_then(|k| k.as_array()) else {
            return Err(format!(
                "{url} returned JSON without a `keys` array: not a JSON Web Key Set"
            ));
        };
        if let Some(i) = keys
            .iter()
            .position(|k| !k.get("kty").is_some_and(|kty| kty.is_string()))
        {
            return Err(format!(
                "{url} returned a `keys` array whose key {i} has no `kty`: not a JSON Web Key Set"
            ));
        }
        let kids = keys
            .iter()
            .filter_map(|k| {
                let kid = k.get("kid").and_then(|kid| kid.as_str())?;
                let member = k.as_object()?;
                Some((
                    kid.to_string(),
                    rotor_engine::jwk::thumbprint_of_listed(member),
                ))
            })
            .collect();
        Ok((keys.len(), kids))
    }
}

/// `a, b, c` or `a, b, c, d, e and 3 more`; `none` for an empty set.
fn list(kids: &[String]) -> String {
    if kids.is_empty() {
        return "none".into();
    }
    let shown = kids[..kids.len().min(LISTED_KIDS)].join(", ");
    match kids.len().saturating_sub(LISTED_KIDS) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

#[async_trait]
impl Probe for JwksProbe {
    fn kind(&self) -> &str {
        "jwks"
    }

    async fn check(&self, request: &ProbeRequest) -> ProbeResult {
        let url = net::substitute(&self.url, request);
        let (count, kids) = match self.keys(&url).await {
            Ok(set) => set,
            Err(detail) => {
                return ProbeResult {
                    quotes: true,
                    passed: false,
                    detail,
                };
            }
        };
        let kid = &request.kid;
        if request.phase == ProbePhase::Guard && count == 0 {
            // Absent from nothing proves nothing: a consumer whose key set is
            // empty verifies no token at all, and a guard must not pass on it.
            return ProbeResult {
                quotes: true,
                passed: false,
                detail: format!(
                    "the key set at {url} holds no key: kid {kid} is absent, but so is every other key, which is an outage, not a revoke"
                ),
            };
        }
        // Listed by kid is not enough: the key under it must be the
        // version's own (by thumbprint), or no signature made with the
        // version verifies there.
        let listed: Vec<&String> = kids
            .iter()
            .filter(|(k, _)| k == kid)
            .map(|(_, t)| t)
            .collect();
        let want_present = request.phase != ProbePhase::Guard;
        if want_present
            && let Some(expected) = &request.thumbprint
            && !listed.is_empty()
            && !listed.contains(&expected)
        {
            return ProbeResult {
                quotes: true,
                passed: false,
                detail: format!(
                    "kid {kid} is listed with a different key at {url} (thumbprint {}, the store holds {})",
                    rotor_engine::jwk::short(listed[0]),
                    rotor_engine::jwk::short(expected)
                ),
            };
        }
        let present = !listed.is_empty();
        let kids: Vec<String> = kids.into_iter().map(|(k, _)| k).collect();
        let detail = match (present, want_present) {
            (true, true) => format!("kid {kid} is in the key set ({count} keys)"),
            (false, false) => format!("kid {kid} is no longer in the key set"),
            (false, true) => format!("kid {kid} is not in the key set (kids: {})", list(&kids)),
            (true, false) => format!(
                "kid {kid} is still in the key set after its revoke (a cache in front of {} may still serve it)",
                crate::net::target(&url)
            ),
        };
        ProbeResult {
            quotes: true,
            passed: present == want_present,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::string;
    use crate::probe::net::tests::request;
    use rotor_testserver::{Request, Response, Server};

    fn spec(url: &str, on: Vec<ProbePhase>) -> VerifySpec {
        let mut settings = rotor_engine::spec::Settings::default();
        settings.insert("url".into(), string(url, 5));
        settings.insert("timeout".into(), string("2s", 9));
        VerifySpec {
            kind: "jwks".into(),
            on,
            // Where `on` is written is all the probe reads of it; the engine parses it.
            on_span: Some(crate::config::tests::span(13)),
            within: Duration::seconds(60),
            settings,
            span: crate::config::tests::span(0),
        }
    }

    fn probe(url: &str) -> JwksProbe {
        JwksProbe::from_spec(&spec(url, vec![]), Path::new("/")).unwrap()
    }

    async fn server() -> Server {
        Server::start(|r: Request| match r.target.as_str() {
            "/jwks" => Response::ok(
                r#"{"keys":[{"kid":"2026-08","kty":"RSA"},{"kid":"kid-2026-11","kty":"RSA"}]}"#,
            ),
            "/old" => Response::ok(r#"{"keys":[{"kid":"2026-08","kty":"RSA"}]}"#),
            "/empty" => Response::ok(r#"{"keys":[]}"#),
            "/no-kty" => Response::ok(r#"{"keys":[{"kid":"2026-08"}]}"#),
            "/html" => Response::ok("<html>maintenance</html>"),
            "/object" => Response::ok(r#"{"kid":"kid-2026-11"}"#),
            _ => Response::new(404, "not found"),
        })
        .await
    }

    #[tokio::test]
    async fn accept_and_emit_want_the_kid_guard_wants_it_gone() {
        let server = server().await;
        let with = probe(&server.url("/jwks"));
        let without = probe(&server.url("/old"));
        for phase in [ProbePhase::Accept, ProbePhase::Emit] {
            let r = with.check(&request(phase)).await;
            assert_eq!(
                (r.passed, r.detail.as_str()),
                (true, "kid kid-2026-11 is in the key set (2 keys)")
            );
            let r = without.check(&request(phase)).await;
            assert_eq!(
                (r.passed, r.detail.as_str()),
                (
                    false,
                    "kid kid-2026-11 is not in the key set (kids: 2026-08)"
                )
            );
        }
        let r = without.check(&request(ProbePhase::Guard)).await;
        assert_eq!(
            (r.passed, r.detail.as_str()),
            (true, "kid kid-2026-11 is no longer in the key set")
        );
        let r = with.check(&request(ProbePhase::Guard)).await;
        assert!(!r.passed);
        assert!(
            r.detail
                .starts_with("kid kid-2026-11 is still in the key set after its revoke")
        );
    }

    /// A kid listed with another key (a renamed family, a key set left over
    /// from a lost `.rotor/`) is not the version: no signature made with it
    /// verifies there.
    #[tokio::test]
    async fn a_kid_listed_with_another_key_fails() {
        let srv = server().await;
        let probe = probe(&srv.url("/jwks"));
        let listed = serde_json::json!({"kid": "kid-2026-11", "kty": "RSA"});
        let mut req = request(ProbePhase::Accept);
        req.thumbprint = Some(rotor_engine::jwk::thumbprint_of_listed(
            listed.as_object().unwrap(),
        ));
        let ok = probe.check(&req).await;
        assert!(ok.passed, "{}", ok.detail);
        req.thumbprint = Some("sha256:0123456789abcdef".into());
        let wrong = probe.check(&req).await;
        assert!(!wrong.passed);
        assert!(
            wrong
                .detail
                .starts_with("kid kid-2026-11 is listed with a different key at "),
            "{}",
            wrong.detail
        );
    }

    /// A guard proves the revoked kid left a working key set; an empty or
    /// broken one holds no kid either, and must not pass for it.
    #[tokio::test]
    async fn a_guard_fails_on_an_empty_or_broken_key_set() {
        let server = server().await;
        let guard = request(ProbePhase::Guard);
        let base = server.url("");
        let r = probe(&server.url("/empty")).check(&guard).await;
        assert_eq!(
            (r.passed, r.detail),
            (
                false,
                format!(
                    "the key set at {base}/empty holds no key: kid kid-2026-11 is absent, but so is every other key, which is an outage, not a revoke"
                )
            )
        );
        for (path, detail) in [
            (
                "/no-kty",
                format!(
                    "{base}/no-kty returned a `keys` array whose key 0 has no `kty`: not a JSON Web Key Set"
                ),
            ),
            (
                "/object",
                format!(
                    "{base}/object returned JSON without a `keys` array: not a JSON Web Key Set"
                ),
            ),
            (
                "/html",
                format!("{base}/html did not return JSON: not a JSON Web Key Set"),
            ),
            (
                "/missing",
                format!("HTTP 404 (expected 200) from {base}/missing"),
            ),
        ] {
            let r = probe(&server.url(path)).check(&guard).await;
            assert_eq!((r.passed, r.detail), (false, detail), "{path}");
        }
    }

    /// Before its revoke the old kid is always served: a drain probe would
    /// pass on nothing, so the spec is refused (by the registry, from
    /// [`REFUSES`]), pointing at `on`.
    #[test]
    fn a_drain_is_refused() {
        for on in [
            vec![ProbePhase::Drain],
            vec![ProbePhase::Accept, ProbePhase::Drain],
        ] {
            let err =
                crate::registry::refusal(&spec("http://gw/jwks", on)).expect("a drain is refused");
            assert!(
                err.message.starts_with("verify \"jwks\" cannot drain"),
                "{}",
                err.message
            );
            assert_eq!(err.span, crate::config::tests::span(13), "points at `on`");
            assert!(
                err.hint
                    .as_deref()
                    .is_some_and(|h| h.contains("prometheus")),
                "{:?}",
                err.hint
            );
        }
        let ok = spec(
            "http://gw/jwks",
            vec![ProbePhase::Accept, ProbePhase::Guard],
        );
        JwksProbe::from_spec(&ok, Path::new("/")).unwrap();
    }

    #[tokio::test]
    async fn a_document_that_is_not_a_key_set_fails_clearly() {
        let server = server().await;
        let req = request(ProbePhase::Accept);
        let detail = |path: &str| {
            let p = probe(&server.url(path));
            let req = req.clone();
            async move { p.check(&req).await.detail }
        };
        let base = server.url("");
        assert_eq!(
            detail("/html").await,
            format!("{base}/html did not return JSON: not a JSON Web Key Set")
        );
        assert_eq!(
            detail("/object").await,
            format!("{base}/object returned JSON without a `keys` array: not a JSON Web Key Set")
        );
        assert_eq!(
            detail("/missing").await,
            format!("HTTP 404 (expected 200) from {base}/missing")
        );
    }

    #[test]
    fn lists_a_few_kids() {
        let kids: Vec<String> = (1..=7).map(|i| format!("k{i}")).collect();
        assert_eq!(list(&kids), "k1, k2, k3, k4, k5 and 2 more");
        assert_eq!(list(&[]), "none");
    }
}
