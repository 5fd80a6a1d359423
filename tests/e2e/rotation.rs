//! A whole rotation of the quickstart, and a rollback, checked against the
//! files rotor writes and the timestamps it records.

use crate::harness::{FAMILY_DIR, QUICKSTART, ROTATE_FROM, ROTATE_TO, Test, millis};
use serde_json::Value;

/// The quickstart's windows: api_gateway caches key sets for 2s; the overlap
/// is 5s (auth_service cache_ttl 2s + token_ttl 3s); destroy_after is 3s.
const ACCEPT_WINDOW_MS: i64 = 2_000;
const EMIT_WINDOW_MS: i64 = 2_000;
const OVERLAP_MS: i64 = 5_000;
const DESTROY_AFTER_MS: i64 = 3_000;

/// The kids of the published JWKS, in file order.
pub fn jwks_kids(t: &Test) -> Vec<String> {
    let jwks: Value = serde_json::from_str(&t.read("public/.well-known/jwks.json")).unwrap();
    jwks["keys"]
        .as_array()
        .expect("a JWKS has `keys`")
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// The ids `keyset.json` lists, and its primary.
pub fn keyset(t: &Test) -> (Vec<String>, String) {
    let keyset: Value =
        serde_json::from_str(&t.read(&format!("{FAMILY_DIR}/keyset.json"))).unwrap();
    let ids = keyset["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    (
        ids,
        keyset["primary"].as_str().unwrap_or("null").to_string(),
    )
}

/// The promise, read from the state after 2026-08 was rotated out for 2026-11:
/// the new version was accepted (published and held for the gateway's cache
/// window) before it was promoted, emitted before the old one was revoked,
/// and the old one stayed accepted for the overlap after the promotion.
#[track_caller]
pub fn assert_promise(state: &Value) {
    let family = &state["families"]["session_signing_key"];
    let old = &family["versions"]["2026-08"];
    let new = &family["versions"]["2026-11"];
    let at = |v: &Value, field: &str| {
        assert!(!v[field].is_null(), "`{field}` missing in {v:#}");
        millis(&v[field])
    };

    assert!(
        at(new, "promoted_at") >= at(new, "published_at") + ACCEPT_WINDOW_MS,
        "2026-11 was promoted before the gateway's 2s cache window after publication:\n{new:#}"
    );
    assert!(
        millis(&new["accepted"]["api_gateway"]["at"]) <= at(new, "promoted_at"),
        "2026-11 was promoted before the gateway accepted it:\n{new:#}"
    );
    assert!(
        millis(&new["emitted"]["auth_service"]["at"]) >= at(new, "promoted_at") + EMIT_WINDOW_MS,
        "emission of 2026-11 recorded before auth_service's cache window:\n{new:#}"
    );
    assert!(
        at(old, "disabled_at") >= at(new, "promoted_at") + OVERLAP_MS,
        "2026-08 was revoked less than the 5s overlap after 2026-11 was promoted:\n{family:#}"
    );
    assert!(
        at(old, "disabled_at") >= millis(&new["emitted"]["auth_service"]["at"]),
        "2026-08 was revoked before auth_service was seen emitting 2026-11:\n{family:#}"
    );
    assert!(
        at(old, "destroyed_at") >= at(old, "disabled_at") + DESTROY_AFTER_MS,
        "2026-08 was destroyed within its 3s grace period:\n{old:#}"
    );
}

#[test]
fn quickstart_bootstraps_then_rotates_without_an_outage() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete: 5 steps ran.");
    assert_eq!(jwks_kids(&t), ["2026-08"]);
    assert_eq!(t.read(&format!("{FAMILY_DIR}/primary")), "2026-08\n");
    t.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");

    t.edit(ROTATE_FROM, ROTATE_TO);
    t.run(["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has("Plan: 1 to create, 1 to promote, 1 to revoke, 1 to destroy");
    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete: 9 steps ran.");
    t.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes. Every family matches its spec.");

    // What consumers read: only the new key is published and primary.
    assert_eq!(jwks_kids(&t), ["2026-11"]);
    assert_eq!(
        keyset(&t),
        (vec!["2026-11".to_string()], "2026-11".to_string())
    );
    assert_eq!(t.read(&format!("{FAMILY_DIR}/primary")), "2026-11\n");
    // The old material is gone; its metadata stays, marked destroyed, so the id is never reused.
    assert_eq!(
        t.list(&format!("{FAMILY_DIR}/versions")),
        ["2026-08.json", "2026-11.json", "2026-11.pem"]
    );
    let meta: Value =
        serde_json::from_str(&t.read(&format!("{FAMILY_DIR}/versions/2026-08.json"))).unwrap();
    assert_eq!(
        (&meta["enabled"], &meta["destroyed"]),
        (&false.into(), &true.into())
    );

    let state = t.show_json();
    let family = &state["families"]["session_signing_key"];
    assert_eq!(family["active"], "2026-11");
    assert_eq!(family["versions"]["2026-08"]["phase"], "destroyed");
    assert_eq!(family["versions"]["2026-11"]["phase"], "active");
    for id in ["2026-08", "2026-11"] {
        let v = &family["versions"][id];
        for (role, consumer) in [("accepted", "api_gateway"), ("emitted", "auth_service")] {
            let e = &v[role][consumer];
            assert_eq!(e["outcome"], "passed", "{id} {role} by {consumer}: {v:#}");
            assert_eq!(e["probe"], "command", "{id} {role} by {consumer}: {v:#}");
        }
    }
    assert_promise(&state);
}

#[test]
fn switching_active_back_is_a_rollback_without_new_acceptance() {
    let t = Test::new().spec(&QUICKSTART.replace(
        ROTATE_FROM,
        "version \"2026-08\" {}\n  version \"2026-11\" {}\n  active = \"2026-08\"",
    ));
    t.run(["apply", "--auto-approve", "--wait"]).success();
    assert_eq!(jwks_kids(&t), ["2026-08", "2026-11"]);
    assert_eq!(t.read(&format!("{FAMILY_DIR}/primary")), "2026-08\n");

    t.edit("active = \"2026-08\"", "active = \"2026-11\"");
    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("promoted 2026-11 (was 2026-08)");
    assert_eq!(t.read(&format!("{FAMILY_DIR}/primary")), "2026-11\n");

    t.edit("active = \"2026-11\"", "active = \"2026-08\"");
    let plan = t.run(["plan", "--json"]).success().json();
    let steps = plan["families"][0]["steps"].as_array().unwrap();
    let actions: Vec<&str> = steps
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    // 2026-08 was accepted before and never left the key set: no accept step, no new material.
    assert_eq!(actions, ["promote", "await_emit"], "{plan:#}");
    assert_eq!(steps[0]["version"], "2026-08");
    assert_eq!(steps[0]["from"], "2026-11");
    assert_eq!(steps[0]["rollback"], true);
    t.run(["plan"])
        .success()
        .stdout_has("rollback 2026-08  (primary was 2026-11)");

    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete: 2 steps ran.");
    assert_eq!(t.read(&format!("{FAMILY_DIR}/primary")), "2026-08\n");
    // Both versions are still declared, so both stay accepted.
    assert_eq!(jwks_kids(&t), ["2026-08", "2026-11"]);
    assert_eq!(
        keyset(&t),
        (
            vec!["2026-08".to_string(), "2026-11".to_string()],
            "2026-08".to_string()
        )
    );
    let state = t.show_json();
    let family = &state["families"]["session_signing_key"];
    assert_eq!(family["active"], "2026-08");
    assert_eq!(family["versions"]["2026-08"]["phase"], "active");
    assert_eq!(family["versions"]["2026-11"]["phase"], "retiring");
    t.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");
}
