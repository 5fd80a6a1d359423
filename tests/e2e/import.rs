//! `rotor import`: secrets a team already has, brought under rotor on each
//! store, with a reader of the secret (a small script reading it the way an
//! application does) that keeps working through the import and the first
//! rotation.

use crate::harness::{ROTATE_FROM, ROTATE_TO, Test};
use std::process::Command;
use std::time::Duration;

const APPLY_WAIT: [&str; 3] = ["apply", "--auto-approve", "--wait"];
const LIMIT: Duration = Duration::from_secs(90);

fn run_reader(t: &Test, mut cmd: Command) -> String {
    let out = cmd.current_dir(t.path()).output().expect("run the reader");
    assert!(
        out.status.success(),
        "the reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// A key file on the file store: imported, adopted, rotated. The reader
/// takes the primary's PEM the way the quickstart's emitter does and prints
/// its public key with openssl (not rotor's crypto).
#[test]
fn a_key_file_is_imported_into_the_file_store_and_rotated() {
    let t = Test::quickstart();
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(t.join("existing.pem"))
        .output()
        .unwrap();
    assert!(made.status.success(), "openssl genpkey: {made:?}");
    let public_of = |t: &Test, pem: &str| {
        run_reader(t, {
            let mut c = Command::new("openssl");
            c.args(["pkey", "-pubout", "-in", pem]);
            c
        })
    };
    let original = public_of(&t, "existing.pem");
    let reader = |t: &Test| {
        let dir = ".rotor/secrets/session_signing_key";
        let primary = t.read(&format!("{dir}/primary"));
        public_of(t, &format!("{dir}/versions/{}.pem", primary.trim()))
    };

    t.run(["import", "session_signing_key", "--file", "existing.pem"])
        .success()
        .stderr_has("Imported secret.session_signing_key version 2026-08 from existing.pem into store.file.local");
    t.run(["plan"])
        .success()
        .stdout_has("adopt    2026-08  (already in store.file.local; record it)");
    t.run_within(LIMIT, APPLY_WAIT).success();
    assert_eq!(reader(&t), original, "the imported key is the primary");
    let state = t.show_json();
    assert!(
        state["families"]["session_signing_key"]["versions"]["2026-08"]["adopted_at"].is_string()
    );
    // The JWKS lists the imported key's public half.
    assert!(
        t.read("public/.well-known/jwks.json")
            .contains("\"2026-08\"")
    );

    t.edit(ROTATE_FROM, ROTATE_TO);
    t.run_within(LIMIT, APPLY_WAIT).success();
    let rotated = reader(&t);
    assert_ne!(rotated, original);
    assert!(
        rotated.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{rotated}"
    );
    // Imported once; a second import is refused.
    t.run(["import", "session_signing_key", "--file", "existing.pem"])
        .failure()
        .stderr_has("already managed by rotor");
}

/// An AWS secret an application reads today (`SecretString`, raw): taken in
/// place with `format = "raw"`, AWSCURRENT and AWSPREVIOUS both. The reader
/// is boto3, as the application would use it. It names the `AWSCURRENT`
/// stage, which AWS returns by default: moto's default does not follow
/// `UpdateSecretVersionStage` moving `AWSCURRENT` (it keeps returning the
/// version that was current when the secret was last written).
#[cfg(feature = "aws")]
#[test]
fn an_aws_secret_is_imported_in_place_and_its_reader_keeps_working() {
    let endpoint = crate::aws::endpoint();
    let prefix = crate::aws::unique_prefix();
    let name = format!("{prefix}api_key");
    let secret = name.clone();
    crate::aws::aws(|c| async move {
        c.create_secret()
            .name(&secret)
            .secret_string("s3cret-old-value")
            .send()
            .await
            .unwrap();
        c.put_secret_value()
            .secret_id(&secret)
            .secret_string("s3cret-current-value")
            .send()
            .await
            .unwrap();
    });
    let spec = format!(
        r#"store "aws_secretsmanager" "main" {{
  region   = "us-east-1"
  endpoint = "{endpoint}"
  prefix   = "{prefix}"
  format   = "raw"
}}

secret "api_key" {{
  owner         = "team-payments"
  store         = store.aws_secretsmanager.main
  cadence       = "90d"
  overlap       = "2s"
  destroy_after = "1s"
  generate "random" {{
    length = 24
  }}
  version "v0" {{}}
  version "v1" {{}}
  active = "v1"
}}

consumer "billing" {{
  accepts   = secret.api_key
  cache_ttl = "1s"
  verify "command" {{
    command = ["true"]
  }}
}}
"#
    );
    let t = Test::new().spec(&spec);
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/services/venv/bin/python");
    let reader = |t: &Test| {
        run_reader(t, {
            let mut c = Command::new(&python);
            c.args([
                "-c",
                "import boto3, os, sys; c = boto3.client('secretsmanager', endpoint_url=os.environ['ROTOR_AWS_ENDPOINT'], region_name='us-east-1'); print(c.get_secret_value(SecretId=sys.argv[1], VersionStage='AWSCURRENT')['SecretString'])",
                &name,
            ]);
            c
        })
    };
    assert_eq!(reader(&t), "s3cret-current-value");

    let out = t
        .run(["import", "api_key", "--previous", "v0"])
        .success()
        .stderr_has("in place in store.aws_secretsmanager.main (v0: the value before it); readers see no change");
    assert_eq!(reader(&t), "s3cret-current-value", "{out}");
    t.run(["plan"])
        .success()
        .stdout_has("adopt    v0")
        .stdout_has("adopt    v1");
    t.run_within(LIMIT, APPLY_WAIT).success();
    assert_eq!(reader(&t), "s3cret-current-value");

    // The rotation retires both imported values through the overlap.
    t.edit(
        "version \"v0\" {}\n  version \"v1\" {}\n  active = \"v1\"",
        "version \"v2\" {}\n  active = \"v2\"",
    );
    t.run_within(LIMIT, APPLY_WAIT).success();
    let rotated = reader(&t);
    assert_ne!(rotated, "s3cret-current-value");
    assert_eq!(rotated.len(), 32, "24 random bytes, base64url: {rotated}");
    t.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");
    // Nothing rotor printed or recorded holds either value.
    let pulled = t.run(["state", "pull"]).success().stdout;
    for value in ["s3cret-current-value", "s3cret-old-value", rotated.as_str()] {
        assert!(!pulled.contains(value) && !t.state_bytes().contains(value));
    }
}

/// A Vault KV secret an application reads by field (`password`, beside a
/// `username` rotor does not manage): taken in place with `current_field`.
/// The reader reads the field over HTTP as the application would.
#[test]
fn a_vault_field_is_imported_in_place_and_its_reader_keeps_working() {
    let path = crate::vault::unique_path();
    let token = std::env::var("VAULT_TOKEN").expect("VAULT_TOKEN: run scripts/test");
    let (status, _) = crate::vault::http(
        "POST",
        &format!("/v1/secret/data/{path}/db_password"),
        &token,
        Some(&serde_json::json!({"data": {"password": "old-pass-123", "username": "app"}})),
    );
    assert_eq!(status, 200);
    let spec = format!(
        r#"store "vault" "main" {{
  address        = env("VAULT_ADDR")
  token          = env("VAULT_TOKEN")
  mount          = "secret"
  path           = "{path}"
  current_field  = "password"
  previous_field = "password_previous"
}}

secret "db_password" {{
  owner         = "team-data"
  store         = store.vault.main
  cadence       = "90d"
  overlap       = "2s"
  destroy_after = "1s"
  generate "random" {{
    length = 24
  }}
  version "v1" {{}}
  active = "v1"
}}

consumer "reporting" {{
  accepts   = secret.db_password
  cache_ttl = "1s"
  verify "command" {{
    command = ["true"]
  }}
}}
"#
    );
    let t = Test::new().spec(&spec);
    let reader = |t: &Test, field: &str| {
        run_reader(t, {
            let mut c = Command::new("python3");
            c.args([
                "-c",
                "import json, os, sys, urllib.request as u; r = u.Request(os.environ['VAULT_ADDR'] + '/v1/secret/data/' + sys.argv[1], headers={'X-Vault-Token': os.environ['VAULT_TOKEN']}); print(json.load(u.urlopen(r))['data']['data'].get(sys.argv[2], ''))",
                &format!("{path}/db_password"),
                field,
            ]);
            c
        })
    };
    t.run(["import", "db_password"])
        .success()
        .stderr_has("in place in store.vault.main; readers see no change");
    assert_eq!(reader(&t, "password"), "old-pass-123");
    t.run_within(LIMIT, APPLY_WAIT).success();
    assert_eq!(reader(&t, "password"), "old-pass-123");
    assert_eq!(reader(&t, "username"), "app");

    t.edit(
        "version \"v1\" {}\n  active = \"v1\"",
        "version \"v2\" {}\n  active = \"v2\"",
    );
    t.run_within(LIMIT, APPLY_WAIT).success();
    let rotated = reader(&t, "password");
    assert_ne!(rotated, "old-pass-123");
    assert_eq!(rotated.len(), 32, "{rotated}");
    assert_eq!(
        reader(&t, "username"),
        "app",
        "fields rotor does not manage are kept"
    );
    // v1 was revoked and destroyed: no other value to accept any more.
    assert_eq!(reader(&t, "password_previous"), "");
}
