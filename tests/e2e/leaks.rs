//! Secret material never leaves the store: not on stdout or stderr of any
//! command, not in the state or its backup.
//!
//! Each test runs a whole rotation, keeps every byte rotor printed and every
//! state it wrote, reads each version's material while it exists, and then
//! searches everything captured for any recognisable piece of it.

use crate::harness::{FAMILY_DIR, ROTATE_FROM, ROTATE_TO, Test};

/// Everything rotor printed or wrote to its state during one test.
struct Transcript {
    t: Test,
    captured: Vec<(String, String)>,
}

impl Transcript {
    fn new(t: Test) -> Transcript {
        Transcript {
            t,
            captured: Vec::new(),
        }
    }

    /// Runs rotor, keeping its stdout and stderr, then the state files as they are now.
    fn run(&mut self, args: &[&str]) -> &mut Self {
        let out = self.t.run(args);
        assert!(out.code == 0, "{out}");
        self.captured
            .push((format!("{} (stdout)", out.command), out.stdout));
        self.captured
            .push((format!("{} (stderr)", out.command), out.stderr));
        self.captured.push((
            format!(".rotor/state.db after {}", out.command),
            self.t.state_bytes(),
        ));
        self
    }

    /// Every read-only command, for the current spec and state.
    fn inspect(&mut self) -> &mut Self {
        self.run(&["validate"])
            .run(&["validate", "--json"])
            .run(&["plan"])
            .run(&["plan", "--json"])
            .run(&["show"])
            .run(&["show", "--json"])
    }

    /// Asserts that no needle occurs in anything captured.
    #[track_caller]
    fn assert_free_of(&self, what: &str, needles: &[String]) {
        assert!(!needles.is_empty());
        for (source, text) in &self.captured {
            for needle in needles {
                assert!(
                    !text.contains(needle.as_str()),
                    "{what}: `{needle}` appears in {source}"
                );
            }
        }
    }
}

/// What would identify a PEM private key: each body line, every 24-character
/// window of the base64 body (so a re-wrapped or partial copy is caught), and
/// the header's words.
pub(crate) fn pem_needles(pem: &str) -> Vec<String> {
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "not a PKCS#8 PEM: {} bytes",
        pem.len()
    );
    let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(
        lines.len() > 20 && lines[0].len() == 64,
        "an RSA 2048 PEM body"
    );
    let body: String = lines.concat();
    let mut needles: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    needles.extend(windows(&body, 24));
    needles.push("PRIVATE KEY".into());
    needles
}

fn windows(text: &str, n: usize) -> Vec<String> {
    assert!(text.is_ascii() && text.len() >= n);
    (0..=text.len() - n)
        .map(|i| text[i..i + n].to_string())
        .collect()
}

#[test]
fn a_quickstart_rotation_never_prints_or_records_key_material() {
    let mut x = Transcript::new(Test::quickstart());
    x.run(&["apply", "--auto-approve", "--wait"]).inspect();
    let old_pem = x.t.read(&format!("{FAMILY_DIR}/versions/2026-08.pem"));

    x.t.edit(ROTATE_FROM, ROTATE_TO);
    x.inspect()
        .run(&["apply", "--auto-approve", "--wait"])
        .inspect();
    assert!(
        !x.t.exists(&format!("{FAMILY_DIR}/versions/2026-08.pem")),
        "2026-08 should be destroyed by now"
    );
    let new_pem = x.t.read(&format!("{FAMILY_DIR}/versions/2026-11.pem"));
    assert_ne!(old_pem, new_pem);

    x.assert_free_of("2026-08's private key", &pem_needles(&old_pem));
    x.assert_free_of("2026-11's private key", &pem_needles(&new_pem));

    // The published JWKS and the store's metadata hold public members only.
    let mut public = vec![x.t.read("public/.well-known/jwks.json")];
    for id in ["2026-08", "2026-11"] {
        public.push(x.t.read(&format!("{FAMILY_DIR}/versions/{id}.json")));
    }
    public.push(x.t.read(&format!("{FAMILY_DIR}/keyset.json")));
    for text in &public {
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut jwks: Vec<&serde_json::Value> = Vec::new();
        if let Some(keys) = json["keys"].as_array() {
            jwks.extend(keys);
        }
        if json["jwk"].is_object() {
            jwks.push(&json["jwk"]);
        }
        for jwk in jwks {
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(
                    jwk.get(private).is_none(),
                    "private member `{private}` in {jwk}"
                );
            }
        }
        assert!(!text.contains("PRIVATE KEY"));
    }
}

const WEBHOOK: &str = r#"store "file" "local" {}

secret "webhook_secret" {
  owner         = "team-payments"
  store         = store.file.local
  cadence       = "30d"
  destroy_after = "1s"

  generate "random" {
    length = 32
  }

  version "v1" {}
  active = "v1"
}

# Verifies webhook signatures with every accepted version, reading the store every second.
consumer "webhook_receiver" {
  accepts   = secret.webhook_secret
  cache_ttl = "1s"

  verify "command" {
    command = ["true"]
  }
}
"#;

#[test]
fn a_random_secret_rotation_never_prints_or_records_the_secret() {
    let mut x = Transcript::new(Test::new().spec(WEBHOOK));
    x.run(&["apply", "--auto-approve", "--wait"]).inspect();
    let dir = ".rotor/secrets/webhook_secret/versions";
    let v1 = x.t.read(&format!("{dir}/v1.key"));

    x.t.edit(
        "version \"v1\" {}\n  active = \"v1\"",
        "version \"v2\" {}\n  active = \"v2\"",
    );
    x.inspect()
        .run(&["apply", "--auto-approve", "--wait"])
        .inspect();
    assert_eq!(x.t.list(dir), ["v1.json", "v2.json", "v2.key"]);
    let v2 = x.t.read(&format!("{dir}/v2.key"));

    for (id, secret) in [("v1", &v1), ("v2", &v2)] {
        // 32 random bytes, base64url without padding.
        assert_eq!(secret.len(), 43, "{id}: unexpected encoding");
        // Every 16-character window: more than enough to be unmistakable.
        let mut needles = windows(secret, 16);
        needles.push(secret.clone());
        x.assert_free_of(&format!("the {id} secret"), &needles);
    }
}
