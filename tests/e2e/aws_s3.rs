//! `publish "aws_s3_object"` against a real moto server (`scripts/test`
//! starts it, `scripts/services/moto`): a rotation whose only key set is an
//! S3 object, proven by a `jwks` probe that fetches that object anonymously
//! over HTTP, as a gateway reading a public bucket (or a CDN in front of
//! one) would. Nothing is published on the local disk.

use crate::aws::endpoint;
use crate::harness::{FAMILY_DIR, ROTATE_FROM, ROTATE_TO, Test};
use serde_json::Value;
use std::time::Duration;

/// The object's key. Not `.well-known/jwks.json`: moto answers unsigned GETs
/// of `/<anything>/.well-known/jwks.json` as Cognito's key set.
const KEY: &str = "keys/jwks.json";

/// Runs one request against moto. The bucket set-up is unsigned: moto does
/// not check signatures, and the test should not lean on rotor's signing.
fn moto(method: reqwest::Method, path: &str, body: &str) -> (u16, String) {
    let url = format!("{}{path}", endpoint());
    let body = body.to_string();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let response = reqwest::Client::new()
                .request(method, url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("moto answers");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        })
}

/// A new bucket whose objects anyone may read, as a public key set's bucket is.
fn public_bucket() -> String {
    let bucket = format!(
        "rotor-e2e-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    assert_eq!(moto(reqwest::Method::PUT, &format!("/{bucket}"), "").0, 200);
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }],
    });
    let (status, body) = moto(
        reqwest::Method::PUT,
        &format!("/{bucket}?policy"),
        &policy.to_string(),
    );
    assert!(status < 300, "put the bucket policy: HTTP {status} {body}");
    bucket
}

/// The kids of the published object, as an anonymous reader gets them.
fn object_kids(bucket: &str) -> Vec<String> {
    let (status, body) = moto(reqwest::Method::GET, &format!("/{bucket}/{KEY}"), "");
    assert_eq!(status, 200, "{body}");
    let jwks: Value = serde_json::from_str(&body).unwrap();
    jwks["keys"]
        .as_array()
        .expect("a JWKS has `keys`")
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// The quickstart's family with its key set in S3 only, and a gateway whose
/// probe reads that key set from moto's path-style object URL.
fn spec(endpoint: &str, bucket: &str) -> String {
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

publish "aws_s3_object" "public" {{
  secret        = secret.session_signing_key
  bucket        = "{bucket}"
  key           = "{KEY}"
  region        = "us-east-1"
  endpoint      = env("ROTOR_AWS_ENDPOINT")
  cache_control = "max-age=2"
}}

consumer "api_gateway" {{
  accepts   = secret.session_signing_key
  via       = publish.aws_s3_object.public
  cache_ttl = "2s"

  verify "jwks" {{
    on      = ["accept", "guard"]
    url     = "{endpoint}/{bucket}/{KEY}"
    timeout = "2s"
    within  = "10s"
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

#[test]
fn a_rotation_publishes_its_key_set_to_s3_and_the_gateway_reads_it_there() {
    let endpoint = endpoint();
    let bucket = public_bucket();
    let t = Test::new().spec(&spec(&endpoint, &bucket));
    let object = format!("/{bucket}/{KEY}");
    assert_eq!(
        moto(reqwest::Method::GET, &object, "").0,
        404,
        "nothing published yet"
    );

    t.run(["plan"])
        .success()
        .stdout_has("publish.aws_s3_object.public");
    t.run_within(
        Duration::from_secs(60),
        ["apply", "--auto-approve", "--wait"],
    )
    .success();
    assert_eq!(object_kids(&bucket), ["2026-08"]);

    t.edit(ROTATE_FROM, ROTATE_TO);
    t.run_within(
        Duration::from_secs(90),
        ["apply", "--auto-approve", "--wait"],
    )
    .success();
    let primary = t.read(&format!("{FAMILY_DIR}/primary"));
    assert_eq!(primary.trim(), "2026-11");
    // The old key was revoked (the guard saw it gone from the object) and
    // destroyed; the object lists the new kid alone.
    assert_eq!(object_kids(&bucket), ["2026-11"]);
    let state = t.state_file().unwrap();
    let versions = &state["families"]["session_signing_key"]["versions"];
    assert_eq!(versions["2026-08"]["phase"], "destroyed", "{versions:#}");
    let attempts = versions["2026-11"]["last_attempt"].to_string();
    assert!(
        attempts.contains("kid 2026-11 is in the key set"),
        "{versions:#}"
    );
    assert!(
        !t.exists("public"),
        "nothing is published on the local disk"
    );

    // Nothing to do: the object is read back and matches the store.
    t.run(["plan", "--detailed-exitcode"]).code(0);
}
