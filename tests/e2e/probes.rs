//! `verify "http"` and `verify "jwks"` against a real verifier: a small HTTP
//! server on a thread of this test process that validates bearer JWTs with
//! the key set rotor publishes, as an API gateway would.

use crate::harness::{FAMILY_DIR, ROTATE_FROM, ROTATE_TO, Test};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
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
/// out (401 otherwise); `/.well-known/jwks.json` serves that file.
struct Verifier {
    url: String,
    /// Kids refused even when valid: a gateway that has not picked up a key.
    refuse: Arc<Mutex<Vec<String>>>,
    /// `kid status` of every `/verify` request.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Verifier {
    fn start(jwks: PathBuf) -> Verifier {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let refuse = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (r, s) = (refuse.clone(), seen.clone());
        // The thread ends with the test process.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &jwks, &r, &s);
            }
        });
        Verifier { url, refuse, seen }
    }
}

fn serve(
    mut stream: TcpStream,
    jwks: &PathBuf,
    refuse: &Mutex<Vec<String>>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut auth = String::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            auth = value.trim().to_string();
        }
    }
    let keys = std::fs::read_to_string(jwks).unwrap_or_default();
    let (status, body) = match path.as_str() {
        "/.well-known/jwks.json" => (200, keys),
        "/verify" => {
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
            (status, body)
        }
        _ => (404, "not found".into()),
    };
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn b64(text: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())
}

fn header_kid(token: &str) -> Option<String> {
    let header: Value = serde_json::from_slice(&b64(token.split('.').next()?).ok()?).ok()?;
    Some(header["kid"].as_str()?.to_string())
}

/// Checks a token against the key set; returns its kid.
fn verify(token: &str, jwks: &str) -> Result<String, String> {
    use rsa::signature::Verifier as _;
    let parts: Vec<&str> = token.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return Err("not a JWT".into());
    };
    let kid = header_kid(token).ok_or("no kid")?;
    let set: Value = serde_json::from_str(jwks).map_err(|e| e.to_string())?;
    let jwk = set["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .ok_or(format!("unknown kid {kid}"))?;
    let int = |k: &str| -> Result<rsa::BoxedUint, String> {
        Ok(rsa::BoxedUint::from_be_slice_vartime(&b64(jwk[k]
            .as_str()
            .ok_or("bad jwk")?)?))
    };
    let key = rsa::PublicKey::new(int("n")?, int("e")?).map_err(|e| e.to_string())?;
    let sig =
        rsa::pkcs1v15::Signature::try_from(b64(sig)?.as_slice()).map_err(|e| e.to_string())?;
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
        .verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "bad signature".to_string())?;
    let claims: Value = serde_json::from_slice(&b64(c)?).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if claims["aud"] != "api_gateway" || claims["iss"] != "rotor-probe" {
        return Err(format!("wrong audience or issuer: {claims}"));
    }
    if claims["exp"].as_i64().unwrap_or(0) <= now {
        return Err("expired".into());
    }
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
