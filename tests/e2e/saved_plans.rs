//! Saved plans: `rotor plan -out FILE`, `rotor apply FILE`, `rotor show FILE`.
//! A saved plan applies only to the spec and state it was made against; any
//! other is refused before anything runs.

use crate::harness::{ROTATE_FROM, ROTATE_TO, Test};
use serde_json::Value;
use std::time::Duration;

const PLAN: &str = "rotation.plan";

/// The saved plan file, parsed.
fn saved(t: &Test, rel: &str) -> Value {
    serde_json::from_str(&t.read(rel)).expect("a saved plan is JSON")
}

fn serial(t: &Test) -> u64 {
    t.state_file().expect("a state")["serial"].as_u64().unwrap()
}

#[test]
fn a_saved_plan_applies_end_to_end_and_leaves_no_changes() {
    let t = Test::quickstart();
    t.run(["plan", "-out", PLAN])
        .success()
        .stdout_has("Plan: 1 to create, 1 to promote")
        .stderr_has(&format!(
            "Saved the plan to {PLAN}. Apply it with: rotor apply {PLAN}"
        ));
    assert!(!t.exists(".rotor"), "plan -out must not create a state");
    let file = saved(&t, PLAN);
    assert_eq!(file["kind"], "rotor-plan");
    assert_eq!(file["format_version"], 1);
    assert_eq!(file["state_exists"], false);
    assert_eq!(file["plan"]["lineage"], "", "no state: no invented lineage");
    assert_eq!(file["plan"]["serial"], 0);
    assert!(
        t.list(".").iter().all(|n| !n.contains(".tmp.")),
        "the temporary file is renamed into place"
    );

    // No prompt (stdin is closed, which would mean "no"): saving was the review.
    t.run_within(Duration::from_secs(60), ["apply", PLAN, "--wait"])
        .success()
        .stdout_has("Plan: 1 to create, 1 to promote")
        .stderr_has("Apply complete");
    t.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes. Every family matches its spec.");
}

#[test]
fn a_plan_saved_on_an_empty_state_is_refused_the_second_time() {
    let t = Test::quickstart();
    t.run(["plan", "--out", PLAN]).success();
    t.run(["apply", PLAN])
        .success()
        .stderr_has("Apply stopped at gates");
    let after_first = t.state_file();

    t.run(["apply", PLAN])
        .failure()
        .stderr_has(&format!(
            "error: cannot apply {PLAN}: secret.session_signing_key changed since the plan was made (its serial 0 → "
        ))
        .stderr_has("nothing was applied");
    assert_eq!(t.state_file(), after_first, "a refused plan writes nothing");
}

#[test]
fn a_plan_saved_before_another_apply_is_refused_naming_the_serials() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve"]).success();
    t.run(["plan", format!("-out={PLAN}").as_str()]).success();
    let planned = saved(&t, PLAN)["plan"]["serial"].as_u64().unwrap();
    assert_eq!(planned, serial(&t));
    let family_serial = |t: &Test| {
        t.show_json()["families"]["session_signing_key"]["serial"]
            .as_u64()
            .unwrap()
    };
    let planned_family = family_serial(&t);
    assert_eq!(
        saved(&t, PLAN)["plan"]["serials"]["session_signing_key"],
        planned_family
    );
    assert_eq!(saved(&t, PLAN)["state_exists"], true);

    t.run_within(
        Duration::from_secs(60),
        ["apply", "--auto-approve", "--wait"],
    )
    .success();
    let current = serial(&t);
    assert_ne!(planned, current);

    t.run(["apply", PLAN])
        .failure()
        .stderr_has(&format!(
            "secret.session_signing_key changed since the plan was made (its serial {planned_family} → {})",
            family_serial(&t)
        ))
        .stderr_has("run `rotor plan` again");
    assert_eq!(serial(&t), current, "a refused plan writes nothing");
}

#[test]
fn a_plan_for_another_state_is_refused() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve"]).success();
    t.run(["plan", "--out", PLAN]).success();
    let other = Test::quickstart();
    other.run(["apply", "--auto-approve"]).success();
    other.write(PLAN, &t.read(PLAN));
    other
        .run(["apply", PLAN])
        .failure()
        .stderr_has("the plan was made for another state");
}

#[test]
fn a_plan_is_refused_once_the_spec_changed() {
    let t = Test::quickstart();
    t.run(["plan", "--out", PLAN]).success();
    t.edit(ROTATE_FROM, ROTATE_TO);
    t.run(["apply", PLAN]).failure().stderr_has(&format!(
        "error: cannot apply {PLAN}: the spec changed since the plan was made"
    ));
    assert!(!t.exists(".rotor"), "nothing applied, no state created");
}

#[test]
fn corrupt_truncated_and_foreign_files_are_refused_before_anything_runs() {
    let t = Test::quickstart();
    t.run(["plan", "--out", PLAN]).success();
    let text = t.read(PLAN);

    t.write("truncated.plan", &text[..text.len() / 2]);
    t.run(["apply", "truncated.plan"])
        .failure()
        .stderr_has(
            "error: truncated.plan is not a rotor plan: it is not valid JSON, perhaps truncated or corrupt",
        );

    t.write("corrupt.plan", "\u{0}\u{1}garbage");
    t.run(["apply", "corrupt.plan"])
        .failure()
        .stderr_has("error: corrupt.plan is not a rotor plan: it is not valid JSON");

    t.write("other.json", r#"{"format_version": 1, "lineage": "x"}"#);
    t.run(["apply", "other.json"])
        .failure()
        .stderr_has("error: other.json is not a rotor plan: it has no `\"kind\": \"rotor-plan\"`");

    t.write(
        "future.plan",
        &text.replacen("\"format_version\": 1,", "\"format_version\": 7,", 1),
    );
    t.run(["apply", "future.plan"])
        .failure()
        .stderr_has("future.plan has saved-plan format version 7; this rotor reads version 1");

    // A well-formed plan with a field of the wrong type.
    t.write(
        "mangled.plan",
        &text.replacen("\"state_exists\": false", "\"state_exists\": \"no\"", 1),
    );
    t.run(["apply", "mangled.plan"])
        .failure()
        .stderr_has("error: mangled.plan is not a rotor plan:");

    t.run(["apply", "missing.plan"])
        .failure()
        .stderr_has("error: cannot read missing.plan:");

    assert!(!t.exists(".rotor"), "nothing applied, no state created");
}

#[test]
fn show_renders_a_saved_plan_and_warns_when_it_is_stale() {
    let t = Test::quickstart();
    t.run(["plan", "--out", PLAN]).success();

    let shown = t.run(["show", PLAN]).success();
    let shown = shown
        .stdout_has("Plan: 1 to create, 1 to promote")
        .stdout_has("secret.session_signing_key → active 2026-08")
        .stdout_has("1. create   2026-08  (rsa 2048 → store.file.local)");
    assert!(
        !shown.stderr.contains("stale"),
        "a fresh plan is not stale\n{shown}"
    );

    let json = t.run(["show", PLAN, "--json"]).success().json();
    assert_eq!(json["summary"]["create"], 1);
    assert_eq!(json["state_exists"], false);
    assert!(
        json["summary_line"]
            .as_str()
            .unwrap()
            .starts_with("Plan: 1 to create")
    );

    t.edit(ROTATE_FROM, ROTATE_TO);
    t.run(["show", PLAN])
        .success()
        .stdout_has("Plan: 1 to create, 1 to promote")
        .stderr_has(&format!(
            "warning: {PLAN} is stale, `rotor apply` would refuse it: the spec changed since the plan was made"
        ));
}

/// A saved plan is a file from elsewhere: one whose bytes changed after it
/// was saved is refused, naming the file, and one that never ends is refused
/// by its size rather than read until memory runs out.
#[test]
fn an_edited_plan_and_an_endless_file_are_refused() {
    let t = Test::quickstart();
    t.run(["plan", "--out", PLAN]).success();
    let text = t.read(PLAN);
    assert!(text.contains("\"checksum\": \"sha256:"), "{text}");
    let edited = text.replacen("\"overlap\": \"5s\"", "\"overlap\": \"1s\"", 1);
    assert_ne!(edited, text, "the plan names its overlap");
    t.write("edited.plan", &edited);
    t.run(["apply", "edited.plan"]).failure().stderr_has(
        "error: edited.plan does not match its checksum: the plan was changed after `rotor plan -out` saved it",
    );
    t.run(["apply", "/dev/zero"])
        .failure()
        .stderr_has("cannot read /dev/zero: it is larger than 256 MiB");
    assert!(!t.exists(".rotor"), "nothing applied, no state created");
    // The untouched plan still applies.
    t.run(["apply", PLAN]).success();
}
