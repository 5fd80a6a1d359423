//! `rotor rotate`, `rotor retire` and `rotor rollback`: the spec edits that
//! start, finish and undo a rotation, followed through plan and apply.

use crate::harness::{FAMILY_DIR, QUICKSTART, Test};
use serde_json::Value;
use std::time::Duration;

/// Long enough for a whole quickstart rotation with its second-scale windows.
const LIMIT: Duration = Duration::from_secs(90);

/// A second family beside the quickstart's: an EC key whose consumers' probes always pass.
const EC_FAMILY: &str = r#"
# A second family: an EC key with its own consumers.
secret "ec_key" {
  owner         = "team-identity"
  store         = store.file.local
  cadence       = "90d"
  overlap       = "2s" # >= ec_signer cache_ttl + token_ttl
  destroy_after = "2s"

  generate "ec" {}

  version "v1" {} # the first key
  active = "v1"
}

consumer "ec_verifier" {
  accepts   = secret.ec_key
  cache_ttl = "1s"
  verify "command" {
    command = ["true"]
  }
}

consumer "ec_signer" {
  emits     = secret.ec_key
  cache_ttl = "1s"
  token_ttl = "1s"
  verify "command" {
    command = ["true"]
  }
}
"#;

fn bootstrap(t: &Test) {
    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
}

/// The steps `plan --json` shows for a family (none when it has no changes).
fn plan_steps(t: &Test, family: &str) -> Vec<Value> {
    let plan = t.run(["plan", "--json"]).success().json();
    plan["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["family"] == family)
        .map(|f| f["steps"].as_array().unwrap().clone())
        .unwrap_or_default()
}

fn primary(t: &Test, family: &str) -> (String, String) {
    let dir = format!(".rotor/secrets/{family}");
    let keyset: Value = serde_json::from_str(&t.read(&format!("{dir}/keyset.json"))).unwrap();
    (
        keyset["primary"].as_str().unwrap_or("null").to_string(),
        t.read(&format!("{dir}/primary")).trim().to_string(),
    )
}

#[test]
fn rotate_then_retire_the_quickstart_key() {
    let t = Test::quickstart();
    bootstrap(&t);

    t.run(["rotate", "session_signing_key", "--version", "2026-11"])
        .success()
        .stderr_has("Next: rotor plan")
        .stderr_has("rotor retire session_signing_key 2026-08");
    // Only the two lines changed: comments and layout are kept.
    let expected = QUICKSTART.replace(
        "  version \"2026-08\" {}\n  active = \"2026-08\"",
        "  version \"2026-08\" {}\n  version \"2026-11\" {}\n  active = \"2026-11\"",
    );
    assert_eq!(t.read("rotor.hcl"), expected);

    let actions: Vec<String> = plan_steps(&t, "session_signing_key")
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"create".into()) && actions.contains(&"promote".into()),
        "{actions:?}"
    );
    assert!(!actions.contains(&"revoke".into()), "{actions:?}");
    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
    assert_eq!(t.read(&format!("{FAMILY_DIR}/primary")).trim(), "2026-11");

    // The old version cannot be reused, nor the active one retired.
    t.run(["rotate", "session_signing_key", "--version", "2026-08"])
        .failure()
        .stderr_has("never reused");
    t.run(["retire", "session_signing_key", "2026-11"])
        .failure()
        .stderr_has("point `active` at another version first");

    t.run(["retire", "session_signing_key", "2026-08"])
        .success()
        .stderr_has("Next: rotor plan");
    assert_eq!(
        t.read("rotor.hcl"),
        expected.replace("  version \"2026-08\" {}\n", "")
    );
    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
    t.run(["plan", "--detailed-exitcode"]).success();
    let state = t.state_file().unwrap();
    assert_eq!(
        state["families"]["session_signing_key"]["versions"]["2026-08"]["phase"],
        "destroyed"
    );

    // Ids are never reused, even once destroyed and no longer declared.
    let before = t.read("rotor.hcl");
    t.run(["rotate", "session_signing_key", "--version", "2026-08"])
        .failure()
        .stderr_has("destroyed");
    assert_eq!(t.read("rotor.hcl"), before);
}

#[test]
fn rotate_refuses_without_touching_the_file() {
    let t = Test::quickstart();
    t.run(["rotate", "session_signin_key"])
        .failure()
        .stderr_has("did you mean `session_signing_key`?");
    t.run(["rotate", "session_signing_key", "--version", "2026-08"])
        .failure()
        .stderr_has("already declared");
    t.run(["rotate", "session_signing_key", "--version", "a\"b"])
        .failure();
    t.run(["retire", "session_signing_key", "2026-8"])
        .failure()
        .stderr_has("did you mean `2026-08`?");
    assert_eq!(t.read("rotor.hcl"), QUICKSTART);

    // Default ids are this month, made unique.
    t.run(["rotate", "session_signing_key"]).success();
    t.run(["rotate", "session_signing_key"]).success();
    let spec = t.read("rotor.hcl");
    let month = spec
        .lines()
        .filter_map(|l| l.trim().strip_prefix("version \""))
        .map(|l| l.split('"').next().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(month.len(), 3, "{spec}");
    assert_eq!(month[1].len(), 7, "{month:?}");
    assert_eq!(month[2], format!("{}b", month[1]));
    assert!(spec.contains(&format!("active = \"{}\"", month[2])));
}

#[test]
fn rollback_needs_a_previous_version() {
    let t = Test::quickstart();
    bootstrap(&t);
    t.run(["rollback", "session_signing_key"])
        .failure()
        .stderr_has("no previous version");
    assert_eq!(t.read("rotor.hcl"), QUICKSTART);

    // A rotation not applied yet rolls back to the primary: nothing to promote.
    t.run(["rotate", "session_signing_key", "--version", "2026-11"])
        .success();
    t.run(["rollback", "session_signing_key"])
        .success()
        .stderr_has("never promoted");
    assert!(t.read("rotor.hcl").contains("active = \"2026-08\""));
    let steps = plan_steps(&t, "session_signing_key");
    assert!(
        !steps.iter().any(|s| s["action"] == "promote"),
        "{steps:#?}"
    );
}

#[test]
fn rollback_points_active_back_and_the_plan_promotes_without_new_gates() {
    let t = Test::new().spec(&format!("{QUICKSTART}{EC_FAMILY}"));
    bootstrap(&t);
    assert_eq!(primary(&t, "ec_key"), ("v1".into(), "v1".into()));

    t.run(["rotate", "ec_key", "--version", "v2"]).success();
    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
    assert_eq!(primary(&t, "ec_key"), ("v2".into(), "v2".into()));

    t.run(["rollback", "ec_key"])
        .success()
        .stderr_has("rolls emitters back to v1")
        .stderr_has("v2 stays accepted (it is not revoked)");
    let spec = t.read("rotor.hcl");
    assert!(
        spec.contains(
            "  version \"v1\" {} # the first key\n  version \"v2\" {}\n  active = \"v1\"\n"
        )
    );
    // The other family is untouched.
    assert!(spec.contains("active = \"2026-08\""));

    let steps = plan_steps(&t, "ec_key");
    let promote = steps
        .iter()
        .find(|s| s["action"] == "promote")
        .unwrap_or_else(|| panic!("no promote in {steps:#?}"));
    assert_eq!(promote["rollback"], true);
    assert_eq!(promote["version"], "v1");
    assert!(
        !steps.iter().any(|s| s["action"] == "await_accept"),
        "a rollback adds no acceptance gates: {steps:#?}"
    );
    assert!(plan_steps(&t, "session_signing_key").is_empty());

    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
    assert_eq!(primary(&t, "ec_key"), ("v1".into(), "v1".into()));
    t.run(["plan", "--detailed-exitcode"]).success();

    // Rolling back again goes to v2, the version active before v1.
    t.run(["rollback", "ec_key"])
        .success()
        .stderr_has("rolls emitters back to v2");
}

#[test]
fn rollback_to_a_revoked_version_needs_restore() {
    // Revoked versions stay restorable for an hour here, so the test can catch one.
    let t =
        Test::new().spec(&EC_FAMILY.replace("destroy_after = \"2s\"", "destroy_after = \"1h\""));
    t.write(
        "store.hcl",
        "store \"file\" \"local\" {\n  path = \".rotor/secrets\"\n}\n",
    );
    bootstrap(&t);
    t.run(["rotate", "ec_key", "--version", "v2"]).success();
    t.run(["retire", "ec_key", "v1"]).success();
    crate::harness::poll(LIMIT, "v1 to be revoked", || {
        t.run(["apply", "--auto-approve"]).success();
        let state = t.state_file()?;
        (state["families"]["ec_key"]["versions"]["v1"]["phase"] == "revoked").then_some(())
    });

    let before = t.read("rotor.hcl");
    t.run(["rollback", "ec_key"])
        .failure()
        .stderr_has("can be restored by declaring it again")
        .stderr_has("--restore");
    assert_eq!(t.read("rotor.hcl"), before);

    t.run(["rollback", "ec_key", "--restore"])
        .success()
        .stderr_has("declared v1 again");
    let spec = t.read("rotor.hcl");
    assert!(
        spec.contains("  version \"v2\" {}\n  version \"v1\" {}\n  active = \"v1\"\n"),
        "{spec}"
    );
    t.run(["validate"]).success();
}
