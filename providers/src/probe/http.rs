//! The `http` probe: send the consumer a request carrying a credential made
//! with the version under test, and compare the response with an expectation.
//!
//! ```hcl
//! verify "http" {
//!   on            = ["accept"]
//!   url           = "https://gateway.internal/verify?kid=${kid}"
//!   credential    = "bearer_jwt"    # bearer_jwt | hmac | header | basic | none (default)
//!   issuer        = "rotor-probe"   # bearer_jwt: iss, aud and sub claims, each optional
//!   audience      = "api"
//!   subject       = "rotor-probe"
//!   token_ttl     = "60s"           # bearer_jwt: exp - iat (default 60s)
//!   expect_status = 200             # default 200
//!   expect_body   = "ok"            # optional: a substring of the response body
//!   timeout       = "5s"            # one attempt (default 10s); `within` bounds the retries
//!   ca_file       = "ca.pem"        # optional extra root CA, relative to the spec directory
//! }
//! ```
//!
//! | `credential` | sends | other settings |
//! |---|---|---|
//! | `bearer_jwt` | `Authorization: Bearer` a JWT signed with the version's key: header `{alg, typ, kid}`, claims `iss`, `aud`, `sub`, `iat`, `exp`, `jti`. RS256 and ES256 key pairs, HS256 for a random secret | `issuer`, `audience`, `subject`, `token_ttl` |
//! | `hmac` | a header holding the HMAC-SHA256 of `body`, keyed with the material | `header` (default `X-Signature`), `signature` (default `sha256={hex}`; or `{base64}`) |
//! | `header` | the material as the value of a header (an API key) | `header` (default `X-Api-Key`) |
//! | `basic` | `Authorization: Basic user:material`; a `login` secret gives its own user and password | `username` |
//! | `none` | nothing: checks that the endpoint answers | |
//!
//! `method` is `GET` or `POST` (the default for `hmac`, and when a `body` is
//! set); `POST` sends `body` (default `{"probe":"rotor"}`), exactly the bytes
//! an `hmac` signs. `${version}`, `${kid}`, `${family}` and `${consumer}` are
//! filled into `url`, `body`, the claims, `username` and `expect_body`.
//!
//! The detail recorded is the status (`HTTP 200`, `HTTP 401 (expected 200)`),
//! the missing body text, or the transport failure
//! ([`net`]). It never holds the credential, and the response
//! body is not quoted, since a server may echo what it was sent.

use super::credential::{CREDENTIAL_SETTINGS, Credential};
use super::net;
use crate::config::{ConfigError, Settings};
use async_trait::async_trait;
use rotor_engine::Duration;
use rotor_engine::provider::{Probe, ProbeRequest, ProbeResult};
use rotor_engine::spec::VerifySpec;
use std::path::Path;

/// What a `POST` sends when the spec sets no `body`.
pub const DEFAULT_BODY: &str = r#"{"probe":"rotor"}"#;

/// A `verify "http"` block.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    url: String,
    post: bool,
    body: String,
    credential: Credential,
    expect_status: u16,
    expect_body: Option<String>,
    timeout: Duration,
    client: reqwest::Client,
}

impl HttpProbe {
    /// Reads a `verify "http"` block; `ca_file` is taken from `base_dir`.
    pub fn from_spec(spec: &VerifySpec, base_dir: &Path) -> Result<HttpProbe, ConfigError> {
        let settings = Settings::of("verify", &spec.kind, &spec.settings, &spec.span);
        let mut known = vec![
            "url",
            "method",
            "credential",
            "body",
            "expect_status",
            "expect_body",
        ];
        known.extend(net::COMMON);
        known.extend(CREDENTIAL_SETTINGS.iter().map(|(k, _)| *k));
        settings.only(&known, &net::ENGINE_OWNED)?;
        let url = net::url_setting(&settings, "url", "\"http://127.0.0.1:8081/verify\"")?;

        let credential = Credential::from_settings(&settings)?;
        let text = |key: &str| -> Result<Option<String>, ConfigError> {
            Ok(settings.string(key)?.map(|(s, _)| s.to_string()))
        };
        let signs_body = matches!(credential, Credential::Hmac { .. });

        let body = text("body")?;
        let post = match settings.string("method")? {
            None => body.is_some() || signs_body,
            Some((m, span)) => match m.to_ascii_uppercase().as_str() {
                "POST" => true,
                "GET" if body.is_some() || signs_body => {
                    return Err(ConfigError::new(
                        "a GET request sends no body, and credential = \"hmac\" signs the body",
                        span,
                    )
                    .hint("use method = \"POST\", or remove `body`"));
                }
                "GET" => false,
                _ => {
                    return Err(
                        ConfigError::new(format!("method `{m}` is not supported"), span)
                            .hint("use \"GET\" or \"POST\""),
                    );
                }
            },
        };
        let expect_status = match settings.number("expect_status")? {
            None => 200,
            Some((n, _)) if n.fract() == 0.0 && (100.0..=599.0).contains(&n) => n as u16,
            Some((_, span)) => {
                return Err(ConfigError::new(
                    "`expect_status` must be an HTTP status from 100 to 599",
                    span,
                )
                .hint(
                    "for example 200, or 401 for a probe that expects a revoked key to be refused",
                ));
            }
        };
        let expect_body = text("expect_body")?;
        let (client, timeout) = net::client(&settings, base_dir)?;
        Ok(HttpProbe {
            url,
            post,
            body: body.unwrap_or_else(|| DEFAULT_BODY.to_string()),
            credential,
            expect_status,
            expect_body,
            timeout,
            client,
        })
    }
}

/// Seconds since the epoch, for a JWT's `iat`.
fn unix_now() -> i64 {
    crate::clock::now().0 / 1000
}

#[async_trait]
impl Probe for HttpProbe {
    fn kind(&self) -> &str {
        "http"
    }

    fn needs_material(&self) -> bool {
        self.credential.needs_material()
    }

    async fn check(&self, request: &ProbeRequest) -> ProbeResult {
        let failed = |detail: String| ProbeResult {
            quotes: true,
            passed: false,
            detail,
        };
        let url = net::substitute(&self.url, request);
        let body = net::substitute(&self.body, request);
        let credential = match self.credential.header(request, body.as_bytes(), unix_now()) {
            Ok(c) => c,
            Err(why) => return failed(format!("could not make the credential: {why}")),
        };
        let mut req = if self.post {
            self.client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
        } else {
            self.client.get(&url)
        };
        if let Some((name, value)) = credential {
            req = req.header(name, value);
        }
        let response = match req.send().await {
            Ok(r) => r,
            Err(e) => return failed(net::failure(&e, &url, self.timeout)),
        };
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let text = match response.bytes().await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => return failed(net::failure(&e, &url, self.timeout)),
        };
        if status != self.expect_status {
            let mut detail = format!("HTTP {status} (expected {})", self.expect_status);
            if let Some(to) = location.filter(|_| (300..400).contains(&status)) {
                detail.push_str(&format!(", redirects to {}", redirect_target(&url, &to)));
            }
            return failed(detail);
        }
        if let Some(want) = &self.expect_body {
            let want = net::substitute(want, request);
            if !text.contains(&want) {
                return failed(format!(
                    "HTTP {status}, but the body does not contain {want:?}"
                ));
            }
        }
        ProbeResult {
            quotes: true,
            passed: true,
            detail: format!("HTTP {status}"),
        }
    }
}

/// Where a `Location` points, as scheme, host (and port) and path: the
/// detail lands in state, and a redirect's query string or fragment may carry
/// a token, a session or a signed URL's signature (a login page's
/// `?next=…&state=…`), its user info a password. A relative `Location` is
/// resolved against the probed URL.
fn redirect_target(url: &str, location: &str) -> String {
    let resolved = reqwest::Url::parse(url)
        .and_then(|base| base.join(location))
        .or_else(|_| reqwest::Url::parse(location));
    match resolved {
        Ok(to) => match to.host_str() {
            Some(host) => {
                let port = to.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{host}{port}{}", to.scheme(), to.path())
            }
            None => format!("a {}: URL", to.scheme()),
        },
        Err(_) => "a Location that is not a URL".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::span;
    use crate::probe::net::tests::request;
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use rotor_engine::provider::{Generated, Generator as _};
    use rotor_engine::spec::{Generate, Located, ProbePhase, Value};
    use rotor_engine::{Jwk, SecretValue};
    use rotor_testserver::{Request, Response, Server};
    use serde_json::Value as Json;
    use std::sync::{Arc, Mutex};

    fn spec(settings: &[(&str, Value)]) -> VerifySpec {
        let mut map = rotor_engine::spec::Settings::default();
        for (i, (k, v)) in settings.iter().enumerate() {
            map.insert(
                k.to_string(),
                Located {
                    value: v.clone(),
                    span: span(10 * (i + 1)),
                },
            );
        }
        VerifySpec {
            kind: "http".into(),
            on: vec![],
            on_span: None,
            within: Duration::seconds(60),
            settings: map,
            span: span(0),
        }
    }

    fn s(text: &str) -> Value {
        Value::String(text.into())
    }

    fn probe(settings: &[(&str, Value)]) -> HttpProbe {
        HttpProbe::from_spec(&spec(settings), Path::new("/")).unwrap()
    }

    fn error(settings: &[(&str, Value)]) -> (String, usize, Option<String>) {
        let e = HttpProbe::from_spec(&spec(settings), Path::new("/")).unwrap_err();
        (e.message, e.span.range.start, e.hint)
    }

    fn generate(how: Generate) -> Generated {
        crate::KeyGenerator.generate(&how, 0).unwrap()
    }

    fn rsa() -> Generated {
        generate(Generate::Rsa { bits: 2048 })
    }

    fn with_material(mut r: ProbeRequest, g: &Generated) -> ProbeRequest {
        r.algorithm = g.algorithm.clone();
        r.material = Some(Arc::new(SecretValue::new(g.material.expose().to_vec())));
        r
    }

    fn b64url(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).expect("base64url")
    }

    /// Verifies a compact JWS against a public JWK as a relying party would,
    /// with jsonwebtoken (not the probe's own crypto): the signature, the
    /// kid, the expiry. Returns the claims.
    fn verify_jwt(token: &str, kid: &str, jwk: &Jwk) -> Result<Json, String> {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation};
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if header.kid.as_deref() != Some(kid) || header.typ.as_deref() != Some("JWT") {
            return Err(format!("header {header:?}"));
        }
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(format!("alg {:?}", header.alg));
        }
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(jwk).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        // The claims are checked below, as they were before a library did the signature.
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Json>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "bad signature".to_string(),
                _ => e.to_string(),
            })?
            .claims;
        let now = unix_now();
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        if !(iat <= now && now < exp) {
            return Err("expired".into());
        }
        Ok(claims)
    }

    /// A server that accepts a bearer JWT for `kid` signed by `jwk`'s key,
    /// answering 200 `ok` with the claims, and 401 otherwise. It keeps the
    /// last Authorization header it saw.
    async fn jwt_server(kid: &str, jwk: Jwk) -> (Server, Arc<Mutex<String>>) {
        let seen = Arc::new(Mutex::new(String::new()));
        let kept = seen.clone();
        let kid = kid.to_string();
        let server = Server::start(move |r: Request| {
            let auth = r.header("authorization").unwrap_or("").to_string();
            *kept.lock().unwrap() = auth.clone();
            let Some(token) = auth.strip_prefix("Bearer ") else {
                return Response::new(401, "no token");
            };
            match verify_jwt(token, &kid, &jwk) {
                Ok(claims) => Response::ok(format!("ok {claims}")),
                // Echo what was sent: the probe must not repeat it.
                Err(why) => Response::new(401, format!("{why}: {auth}")),
            }
        })
        .await;
        (server, seen)
    }

    #[tokio::test]
    async fn bearer_jwt_rs256_is_verified_with_the_public_key() {
        let key = rsa();
        let req = with_material(request(ProbePhase::Accept), &key);
        let (server, seen) = jwt_server(&req.kid, key.public_jwk.clone().unwrap()).await;
        let p = probe(&[
            ("url", s(&server.url("/verify"))),
            ("credential", s("bearer_jwt")),
            ("issuer", s("rotor-probe")),
            ("audience", s("${consumer}")),
            ("expect_body", s("\"aud\":\"gateway\"")),
        ]);
        assert!(p.needs_material());
        let r = p.check(&req).await;
        assert_eq!((r.passed, r.detail.as_str()), (true, "HTTP 200"));
        let token = seen.lock().unwrap().clone();
        let claims: Json =
            serde_json::from_slice(&b64url(token.split('.').nth(1).unwrap())).unwrap();
        assert_eq!(claims["iss"], "rotor-probe");
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            60
        );
        assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
        assert!(claims.get("sub").is_none());

        // Signed with another key under the same kid: the server refuses it.
        let other = with_material(request(ProbePhase::Accept), &rsa());
        let r = p.check(&other).await;
        assert_eq!(
            (r.passed, r.detail.as_str()),
            (false, "HTTP 401 (expected 200)")
        );
    }

    #[tokio::test]
    async fn bearer_jwt_es256_signs_raw_r_s() {
        let key = generate(Generate::Ec {
            curve: rotor_engine::spec::Curve::P256,
        });
        let req = with_material(request(ProbePhase::Emit), &key);
        let (server, _) = jwt_server(&req.kid, key.public_jwk.clone().unwrap()).await;
        let p = probe(&[
            ("url", s(&server.url("/verify"))),
            ("credential", s("bearer_jwt")),
            ("token_ttl", s("5m")),
        ]);
        let r = p.check(&req).await;
        assert!(r.passed, "{}", r.detail);
        // An RSA key where an EC key is expected is told, not panicked on.
        let mut wrong = with_material(request(ProbePhase::Emit), &rsa());
        wrong.algorithm = "ES256".into();
        let r = p.check(&wrong).await;
        assert_eq!(
            r.detail,
            "could not make the credential: the material of 2026-11 is not a PKCS#8 PEM P-256 private key"
        );
    }

    fn random_secret() -> Generated {
        generate(Generate::Random {
            length: 32,
            encoding: rotor_engine::spec::Encoding::Base64Url,
        })
    }

    #[tokio::test]
    async fn hmac_signs_exactly_the_body_sent() {
        let secret = random_secret();
        let key = secret.material.expose().to_vec();
        let server = Server::start(move |r: Request| {
            use hmac::{KeyInit, Mac};
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
            mac.update(&r.body);
            let want = format!("v1={}", STANDARD.encode(mac.finalize().into_bytes()));
            match (r.method.as_str(), r.header("x-hub-signature")) {
                ("POST", Some(got)) if got == want => Response::new(204, ""),
                _ => Response::new(401, "bad signature"),
            }
        })
        .await;
        let settings = [
            ("url", s(&server.url("/hook"))),
            ("credential", s("hmac")),
            ("header", s("X-Hub-Signature")),
            ("signature", s("v1={base64}")),
            ("body", s(r#"{"event":"rotor.probe","kid":"${kid}"}"#)),
            ("expect_status", Value::Number(204.0)),
        ];
        let p = probe(&settings);
        let r = p
            .check(&with_material(request(ProbePhase::Accept), &secret))
            .await;
        assert_eq!((r.passed, r.detail.as_str()), (true, "HTTP 204"));
        let r = p
            .check(&with_material(
                request(ProbePhase::Accept),
                &random_secret(),
            ))
            .await;
        assert_eq!(r.detail, "HTTP 401 (expected 204)");
    }

    #[tokio::test]
    async fn header_and_basic_send_the_material() {
        let secret = random_secret();
        let material = String::from_utf8(secret.material.expose().to_vec()).unwrap();
        let want_key = material.clone();
        let want_basic = format!("Basic {}", STANDARD.encode(format!("rotor:{material}")));
        let server = Server::start(move |r: Request| {
            let ok = match r.target.as_str() {
                "/key" => r.header("x-api-key") == Some(want_key.as_str()),
                "/basic" => r.header("authorization") == Some(want_basic.as_str()),
                "/login" => {
                    r.header("authorization")
                        == Some(&*format!("Basic {}", STANDARD.encode("app_blue:pw")))
                }
                _ => false,
            };
            Response::new(if ok { 200 } else { 403 }, "")
        })
        .await;
        let req = with_material(request(ProbePhase::Accept), &secret);
        let header = probe(&[("url", s(&server.url("/key"))), ("credential", s("header"))]);
        assert!(header.check(&req).await.passed);
        let basic = probe(&[
            ("url", s(&server.url("/basic"))),
            ("credential", s("basic")),
            ("username", s("rotor")),
        ]);
        assert!(basic.check(&req).await.passed);
        // A login secret carries its own user.
        let mut login = request(ProbePhase::Accept);
        login.material = Some(Arc::new(SecretValue::new(
            br#"{"username":"app_blue","password":"pw"}"#.to_vec(),
        )));
        let basic = probe(&[
            ("url", s(&server.url("/login"))),
            ("credential", s("basic")),
        ]);
        let r = basic.check(&login).await;
        assert!(r.passed, "{}", r.detail);
        let no_user = probe(&[
            ("url", s(&server.url("/basic"))),
            ("credential", s("basic")),
        ]);
        let r = no_user.check(&req).await;
        assert!(
            r.detail.contains("basic needs a `username` setting"),
            "{}",
            r.detail
        );
    }

    #[tokio::test]
    async fn status_body_and_timeouts_are_told_apart() {
        let server = Server::start(|r: Request| match r.target.as_str() {
            "/moved" => Response::new(302, ""),
            "/login" => Response::new(302, "").header(
                "location",
                "https://user:canary-pass@sso.example/authorize?client_secret=canary-query#canary-fragment",
            ),
            "/relative" => Response::new(307, "").header("location", "/v2/verify?token=canary-token"),
            "/denied" => Response::new(403, "denied"),
            _ => Response::ok("status: degraded"),
        })
        .await;
        let none = |path: &str, extra: &[(&str, Value)]| {
            let mut settings = vec![("url", s(&server.url(path)))];
            settings.extend_from_slice(extra);
            probe(&settings)
        };
        let req = request(ProbePhase::Accept);
        assert!(!none("/", &[]).needs_material());
        assert_eq!(none("/", &[]).check(&req).await.detail, "HTTP 200");
        let r = none("/denied", &[]).check(&req).await;
        assert_eq!(
            (r.passed, r.detail.as_str()),
            (false, "HTTP 403 (expected 200)")
        );
        let r = none("/", &[("expect_body", s("ok"))]).check(&req).await;
        assert_eq!(
            (r.passed, r.detail.as_str()),
            (false, "HTTP 200, but the body does not contain \"ok\"")
        );
        let r = none("/moved", &[]).check(&req).await;
        assert_eq!(r.detail, "HTTP 302 (expected 200)");
        // The detail lands in state: where a redirect goes, never what it carries.
        let r = none("/login", &[]).check(&req).await;
        assert_eq!(
            r.detail,
            "HTTP 302 (expected 200), redirects to https://sso.example/authorize"
        );
        let r = none("/relative", &[]).check(&req).await;
        assert_eq!(
            r.detail,
            format!(
                "HTTP 307 (expected 200), redirects to http://{}/v2/verify",
                server.addr()
            )
        );
        assert_eq!(
            redirect_target("http://a/b", "mailto:x@y?subject=canary"),
            "a mailto: URL"
        );

        let hanging = Server::hanging().await;
        let p = probe(&[("url", s(&hanging.url("/"))), ("timeout", s("300ms"))]);
        let started = std::time::Instant::now();
        let r = p.check(&req).await;
        assert_eq!(
            (r.passed, r.detail.as_str()),
            (false, "timed out after 300ms")
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(3));

        let r = probe(&[("url", s("http://rotor-probe.invalid/"))])
            .check(&req)
            .await;
        assert_eq!(r.detail, "DNS: no such host rotor-probe.invalid");
    }

    #[tokio::test]
    async fn material_and_tokens_never_reach_the_detail_or_debug() {
        let canary = "canary-9c1e-do-not-print";
        // A server that echoes whatever it got, under any status, and keeps
        // the credential headers to compare with what the probe shows.
        let sent = Arc::new(Mutex::new(Vec::<String>::new()));
        let kept = sent.clone();
        let server = Server::start(move |r: Request| {
            let creds = ["authorization", "x-signature", "x-api-key"];
            let values: Vec<String> = creds
                .iter()
                .filter_map(|h| r.header(h).map(str::to_string))
                .collect();
            kept.lock().unwrap().extend(values.clone());
            Response::new(401, values.join("\n"))
        })
        .await;
        let mut req = request(ProbePhase::Accept);
        req.algorithm = "HS256".into();
        req.material = Some(Arc::new(SecretValue::new(canary.as_bytes().to_vec())));
        for credential in ["bearer_jwt", "hmac", "header", "basic"] {
            let mut settings = vec![
                ("url", s(&server.url("/"))),
                ("credential", s(credential)),
                ("expect_body", s("never")),
            ];
            if credential == "basic" {
                settings.push(("username", s("rotor")));
            }
            let p = probe(&settings);
            let r = p.check(&req).await;
            assert_eq!(r.detail, "HTTP 401 (expected 200)");
            let shown = format!("{} {r:?} {p:?} {req:?}", r.detail);
            assert!(!shown.contains(canary), "{credential}: {shown}");
            let sent = sent.lock().unwrap().pop().expect("a credential was sent");
            assert!(sent.len() > 20, "{sent}");
            assert!(!shown.contains(&sent), "{credential}: {shown}");
            // Nor any long piece of it (the signature of a JWT, say).
            for piece in sent.split(['.', ' ', '=']).filter(|p| p.len() > 16) {
                assert!(!shown.contains(piece), "{credential}: {shown}");
            }
        }
        // The token itself: made here and compared with what was shown.
        let cred = probe(&[
            ("url", s(&server.url("/"))),
            ("credential", s("bearer_jwt")),
        ]);
        let (_, value) = cred
            .credential
            .header(&req, b"", unix_now())
            .unwrap()
            .unwrap();
        assert!(value.is_sensitive());
        assert_eq!(format!("{value:?}"), "Sensitive");
    }

    #[test]
    fn from_spec_reports_mistakes_at_the_attribute() {
        let url = ("url", s("http://127.0.0.1:8081/verify"));
        assert_eq!(
            error(&[]),
            (
                "verify \"http\" needs a `url` setting".into(),
                0,
                Some("add `url = \"http://127.0.0.1:8081/verify\"`".into())
            )
        );
        assert_eq!(
            error(&[url.clone(), ("credentail", s("hmac"))]),
            (
                "verify \"http\" has no setting `credentail`".into(),
                20,
                Some("did you mean `credential`?".into())
            )
        );
        assert_eq!(
            error(&[url.clone(), ("credential", s("bearer"))]),
            (
                "unknown credential `bearer`".into(),
                20,
                Some(
                    "did you mean `bearer_jwt`? credentials: bearer_jwt, hmac, header, basic, none"
                        .into()
                )
            )
        );
        assert_eq!(
            error(&[url.clone(), ("credential", s("hmacc"))]).2.unwrap(),
            "did you mean `hmac`? credentials: bearer_jwt, hmac, header, basic, none"
        );
        assert_eq!(
            error(&[url.clone(), ("credential", s("oauth"))]).2.unwrap(),
            "credentials: bearer_jwt, hmac, header, basic, none"
        );
        let (message, at, _) = error(&[url.clone(), ("credential", s("hmac")), ("issuer", s("x"))]);
        assert_eq!(
            (message.as_str(), at),
            ("`issuer` does not apply to credential = \"hmac\"", 30)
        );
        let (message, at, _) =
            error(&[url.clone(), ("credential", s("hmac")), ("method", s("GET"))]);
        assert_eq!(
            (message.as_str(), at),
            (
                "a GET request sends no body, and credential = \"hmac\" signs the body",
                30
            )
        );
        let (message, ..) = error(&[url.clone(), ("expect_status", Value::Number(2000.0))]);
        assert_eq!(
            message,
            "`expect_status` must be an HTTP status from 100 to 599"
        );
        let (message, ..) = error(&[
            url.clone(),
            ("credential", s("hmac")),
            ("signature", s("x")),
        ]);
        assert_eq!(
            message,
            "`signature` must contain {hex} or {base64}, where the signature goes"
        );
        let (message, ..) = error(&[url.clone(), ("ca_file", s("no-such-ca.pem"))]);
        assert!(
            message.starts_with("cannot read `ca_file` /no-such-ca.pem: "),
            "{message}"
        );
        let (message, ..) = error(&[url.clone(), ("timeout", s("soon"))]);
        assert!(
            message.starts_with("`timeout` is not a duration"),
            "{message}"
        );

        let p = probe(&[url.clone(), ("credential", s("hmac"))]);
        assert!(p.post && p.body == DEFAULT_BODY);
        assert_eq!(
            p.credential,
            Credential::Hmac {
                header: "X-Signature".into(),
                format: "sha256={hex}".into()
            }
        );
        let p = probe(&[url]);
        assert!(!p.post && p.timeout == net::DEFAULT_TIMEOUT && p.credential == Credential::None);
    }
}
