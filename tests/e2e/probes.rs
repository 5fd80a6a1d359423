//! `verify "http"` and `verify "jwks"` against a real verifier: the tests'
//! HTTP server (`rotor-testserver`) in this test process, validating bearer
//! JWTs with jsonwebtoken and the key set rotor publishes, as an API gateway
//! would.

use crate::harness::{FAMILY_DIR, ROTATE_FROM, ROTATE_TO, Test};
use rotor_testserver::{Request, Response, Server};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The quickstart with the gateway's acceptance proven over HTTP: a token
/// signed with the new version must be accepted, and the gateway's key set
/// must list its kid. `within` is short so that a refusal ends the run.
fn spec(server: &str) -> String {
    format!(
        r#"
store "file" "local" {{}}

secret "session_signing_key" {{
  owner         = "team-identity"
  store         = store.file.local
  cadence       = "90d"
  overlap       = "5s"
  destroy_after = "3s"
  generate "rsa" {{ bits = 2048 }}
  version "2026-08" {{}}
  active = "2026-08"
}}

publish "jwks" "public" {{
  secret = secret.session_signing_key
  path   = "public/.well-known/jwks.json"
}}

consumer "api_gateway" {{
  accepts   = secret.session_signing_key
  via       = publish.jwks.public
  cache_ttl = "2s"

  verify "http" {{
    url         = "{server}/verify"
    credential  = "bearer_jwt"
    issuer      = "rotor-probe"
    audience    = "${{consumer}}"
    expect_body = "ok"
    timeout     = "2s"
    within      = "4s"
  }}

  verify "jwks" {{
    url     = "{server}/.well-known/jwks.json"
    timeout = "2s"
    within  = "4s"
  }}
}}

consumer "auth_service" {{
  emits     = secret.session_signing_key
  cache_ttl = "2s"
  token_ttl = "3s"
}}
"#
    )
}

/// The verifier: `/verify` accepts a bearer JWT whose kid is in the key set
/// file rotor publishes and whose RS256 signature, audience and expiry check
/// out (401 otherwise); `/.well-known/jwks.json` serves that file. It is
/// the tests' one HTTP server, on a runtime of its own; tokens are checked
/// with jsonwebtoken, not with rotor's crypto.
struct Verifier {
    url: String,
    /// Kids refused even when valid: a gateway that has not picked up a key.
    refuse: Arc<Mutex<Vec<String>>>,
    /// `kid status` of every `/verify` request.
    seen: Arc<Mutex<Vec<String>>>,
    // Declared before the runtime it runs on, so that it stops first.
    _server: Server,
    _runtime: tokio::runtime::Runtime,
}

impl Verifier {
    fn start(jwks: PathBuf) -> Verifier {
        let refuse = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (r, s) = (refuse.clone(), seen.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(Server::start(move |request| answer(request, &jwks, &r, &s)));
        Verifier {
            url: format!("http://{}", server.addr()),
            refuse,
            seen,
            _server: server,
            _runtime: runtime,
        }
    }
}

fn answer(
    request: Request,
    jwks: &PathBuf,
    refuse: &Mutex<Vec<String>>,
    seen: &Mutex<Vec<String>>,
) -> Response {
    let keys = std::fs::read_to_string(jwks).unwrap_or_default();
    match request.target.as_str() {
        "/.well-known/jwks.json" => Response::ok(keys),
        "/verify" => {
            let auth = request.header("authorization").unwrap_or("");
            let token = auth.strip_prefix("Bearer ").unwrap_or("");
            let (status, body) = match verify(token, &keys) {
                Ok(kid) if refuse.lock().unwrap().contains(&kid) => {
                    (401, format!("kid {kid} refused"))
                }
                Ok(_) => (200, "ok".to_string()),
                Err(why) => (401, why),
            };
            let kid = header_kid(token).unwrap_or_default();
            seen.lock().unwrap().push(format!("{kid} {status}"));
            Response::new(status, body)
        }
        _ => Response::new(404, "not found"),
    }
}

fn header_kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// Checks a token against the key set, as a gateway using jsonwebtoken
/// would; returns its kid.
fn verify(token: &str, jwks: &str) -> Result<String, String> {
    use jsonwebtoken::errors::ErrorKind;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
    let kid = header_kid(token).ok_or("not a JWT with a kid")?;
    let set: Value = serde_json::from_str(jwks).map_err(|e| e.to_string())?;
    let jwk = set["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .ok_or(format!("unknown kid {kid}"))?;
    let jwk: Jwk = serde_json::from_value(jwk.clone()).map_err(|e| e.to_string())?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["api_gateway"]);
    validation.set_issuer(&["rotor-probe"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature => "bad signature".to_string(),
        ErrorKind::ExpiredSignature => "expired".to_string(),
        ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => {
            "wrong audience or issuer".to_string()
        }
        _ => e.to_string(),
    })?;
    Ok(kid)
}

fn primary(t: &Test) -> String {
    t.read(&format!("{FAMILY_DIR}/primary")).trim().to_string()
}

#[test]
fn a_rotation_promotes_once_the_gateway_accepts_a_token_signed_with_the_new_key() {
    let t = Test::new();
    let verifier = Verifier::start(t.join("public/.well-known/jwks.json"));
    t.write("rotor.hcl", &spec(&verifier.url));
    let mut runs = vec![
        t.run_within(
            Duration::from_secs(60),
            ["apply", "--auto-approve", "--wait"],
        )
        .success(),
    ];
    t.edit(ROTATE_FROM, ROTATE_TO);
    runs.push(
        t.run_within(
            Duration::from_secs(90),
            ["apply", "--auto-approve", "--wait"],
        )
        .success(),
    );
    assert_eq!(primary(&t), "2026-11");

    let seen = verifier.seen.lock().unwrap().clone();
    assert!(
        seen.contains(&"2026-11 200".to_string()),
        "the gateway never accepted a 2026-11 token: {seen:?}"
    );
    let state = t.state_file().unwrap();
    let new = &state["families"]["session_signing_key"]["versions"]["2026-11"];
    let attempts = new["last_attempt"].to_string();
    assert!(attempts.contains("HTTP 200"), "{new:#}");
    assert!(
        attempts.contains("kid 2026-11 is in the key set"),
        "{new:#}"
    );
    // The token and the key never reach the state, nor what rotor printed.
    runs.push(t.run(["show", "--json"]).success());
    let mut seen_by_people = vec![(".rotor/state.db".to_string(), t.state_bytes())];
    for run in &runs {
        seen_by_people.push((format!("stdout of {}", run.command), run.stdout.clone()));
        seen_by_people.push((format!("stderr of {}", run.command), run.stderr.clone()));
    }
    for (what, text) in &seen_by_people {
        for material in ["eyJ", "PRIVATE KEY"] {
            assert!(!text.contains(material), "{material} in {what}:\n{text}");
        }
    }
}

#[test]
fn a_gateway_refusing_the_new_kid_stops_the_rotation_before_its_promote() {
    let t = Test::new();
    let verifier = Verifier::start(t.join("public/.well-known/jwks.json"));
    t.write("rotor.hcl", &spec(&verifier.url));
    t.run_within(
        Duration::from_secs(60),
        ["apply", "--auto-approve", "--wait"],
    )
    .success();
    verifier.refuse.lock().unwrap().push("2026-11".into());
    t.edit(ROTATE_FROM, ROTATE_TO);

    let out = t
        .run_within(Duration::from_secs(60), ["apply", "--auto-approve", "--wait"])
        .failure()
        .stderr_has(
            "accept http probe of consumer.api_gateway did not pass for 2026-11 within 4s: HTTP 401 (expected 200)",
        )
        .stderr_has("nothing was promoted");
    assert_eq!(primary(&t), "2026-08", "{out}");
    assert!(
        verifier
            .seen
            .lock()
            .unwrap()
            .contains(&"2026-11 401".to_string())
    );

    // Once the gateway takes the key, the same spec finishes the rotation.
    verifier.refuse.lock().unwrap().clear();
    t.run_within(
        Duration::from_secs(90),
        ["apply", "--auto-approve", "--wait"],
    )
    .success();
    assert_eq!(primary(&t), "2026-11");
}
