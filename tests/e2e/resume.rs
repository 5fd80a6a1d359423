//! An apply killed with SIGKILL part-way through a rotation resumes from the
//! state: nothing is created twice and no window is cut short.

use crate::harness::{FAMILY_DIR, ROTATE_FROM, ROTATE_TO, Test, finish, poll};
use crate::rotation::{assert_promise, jwks_kids};
use serde_json::Value;
use std::time::Duration;

const APPLY: [&str; 3] = ["apply", "--auto-approve", "--wait"];

/// Bootstraps the quickstart, starts the rotation to 2026-11 in the
/// background, and SIGKILLs it as soon as the state satisfies `moment`.
/// Returns the state as it was when the process was killed.
fn kill_rotation_when(t: &Test, what: &str, moment: impl Fn(&Value) -> bool) -> Value {
    t.run(APPLY).success();
    t.edit(ROTATE_FROM, ROTATE_TO);
    let mut child = t.spawn(APPLY);
    let seen = poll(Duration::from_secs(60), what, || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("apply exited ({status}) before {what}");
        }
        t.state_file().filter(|s| moment(s))
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "apply finished before it could be killed ({what})"
    );
    child.kill().unwrap();
    let killed = finish(child, "rotor apply --auto-approve --wait (killed)");
    assert_eq!(
        killed.code, -1,
        "rotor should have died of SIGKILL\n{killed}"
    );
    seen
}

fn version<'v>(state: &'v Value, id: &str) -> &'v Value {
    &state["families"]["session_signing_key"]["versions"][id]
}

#[test]
fn apply_killed_after_creating_the_new_version_resumes_without_recreating_it() {
    let t = Test::quickstart();
    let at_kill = kill_rotation_when(&t, "2026-11 in state.json", |s| {
        !version(s, "2026-11").is_null()
    });
    let fingerprint = version(&at_kill, "2026-11")["fingerprint"].clone();
    assert!(fingerprint.as_str().unwrap().starts_with("sha256:"));

    let resumed = t.run(APPLY).success().stderr_has("Apply complete");
    assert!(
        !resumed.stderr.contains("created 2026-11"),
        "2026-11 was created again\n{resumed}"
    );

    let state = t.show_json();
    assert_eq!(version(&state, "2026-11")["fingerprint"], fingerprint);
    assert_eq!(version(&state, "2026-08")["phase"], "destroyed");
    let versions = t.list(&format!("{FAMILY_DIR}/versions"));
    assert_eq!(
        versions,
        ["2026-08.json", "2026-11.json", "2026-11.pem"],
        "exactly one 2026-11 material file, and no temporaries"
    );
    assert_eq!(jwks_kids(&t), ["2026-11"]);
    assert_promise(&state);
    t.run(["plan", "--detailed-exitcode"]).success();
}

#[test]
fn apply_killed_during_the_overlap_resumes_and_still_holds_the_full_overlap() {
    let t = Test::quickstart();
    // Emission of 2026-11 is recorded and 2026-08 not yet revoked: the hold step is waiting.
    let at_kill = kill_rotation_when(&t, "the overlap hold", |s| {
        !version(s, "2026-11")["emitted"]["auth_service"].is_null()
            && version(s, "2026-08")["disabled_at"].is_null()
    });
    let new = version(&at_kill, "2026-11");
    assert_eq!(new["phase"], "active");

    let resumed = t.run(APPLY).success().stderr_has("Apply complete");
    assert!(
        !resumed.stderr.contains("created 2026-11") && !resumed.stderr.contains("promoted 2026-11"),
        "steps done before the kill ran again\n{resumed}"
    );
    resumed.stderr_has("held 2026-08 for 5s");

    let state = t.show_json();
    let after = version(&state, "2026-11");
    // The overlap is measured from the promotion recorded before the kill, not restarted or shortened.
    assert_eq!(after["promoted_at"], new["promoted_at"]);
    assert_eq!(after["fingerprint"], new["fingerprint"]);
    assert_eq!(version(&state, "2026-08")["phase"], "destroyed");
    assert_promise(&state);
    assert_eq!(jwks_kids(&t), ["2026-11"]);
}

/// Regression: a version adopted from the stores (the state was lost, or moved
/// aside as rotor's own hint suggests) that is already in the published key
/// set got no publish step, so nothing recorded it as published and
/// `apply --wait` waited for its acceptance window forever.
#[test]
fn a_state_moved_aside_is_rebuilt_by_adopting_what_the_stores_hold() {
    let t = Test::quickstart();
    t.run(APPLY).success();
    let before = t.show_json();
    let fingerprint = version(&before, "2026-08")["fingerprint"].clone();
    crate::promise::lose_state(&t);

    t.run(["plan"])
        .success()
        .stdout_has("adopt    2026-08  (already in store.file.local; record it)")
        .stdout_has("holds secret.session_signing_key for another state");
    let adopted = t
        .run_within(
            Duration::from_secs(60),
            ["apply", "--auto-approve", "--wait", "--adopt"],
        )
        .success()
        .stderr_has("adopted 2026-08, already the stores' primary: held as promoted now")
        .stderr_has("Apply complete");
    assert!(!adopted.stderr.contains("created 2026-08"), "{adopted}");

    let state = t.show_json();
    assert_ne!(state["lineage"], before["lineage"], "a new state");
    let v = version(&state, "2026-08");
    assert_eq!(v["fingerprint"], fingerprint);
    assert_eq!(v["phase"], "active");
    assert_eq!(
        t.list(&format!("{FAMILY_DIR}/versions")),
        ["2026-08.json", "2026-08.pem"]
    );
    assert_eq!(jwks_kids(&t), ["2026-08"]);
    t.run(["plan", "--detailed-exitcode"]).success();
}
