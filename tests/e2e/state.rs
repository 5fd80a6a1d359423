//! A state rotor did not write is refused, clearly, before anything runs.

use crate::harness::Test;

/// The quickstart after an apply that stops at the first gate: a real state,
/// quickly (no waiting for windows).
fn with_state() -> Test {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve"])
        .success()
        .stderr_has("Apply stopped at gates");
    t
}

/// Runs SQL on the state database, as someone with `sqlite3` would.
fn sql(t: &Test, statement: &str) {
    let conn = rusqlite::Connection::open(t.join(".rotor/state.db")).unwrap();
    conn.execute_batch(statement).unwrap();
}

#[test]
fn a_state_edited_by_hand_is_refused() {
    let t = with_state();
    let pulled = t.run(["state", "pull"]).success().stdout;
    t.write("kept.json", &pulled);
    sql(
        &t,
        "UPDATE families SET record = replace(record, '\"phase\":\"pending\"', '\"phase\":\"active\"')",
    );
    for args in [vec!["plan"], vec!["apply", "--auto-approve"], vec!["show"]] {
        t.run(&args)
            .failure()
            .stderr_has(".rotor/state.db: the state of family session_signing_key was changed outside rotor (its checksum does not match its contents)")
            .stderr_has("hint: state must only be written by rotor; restore it with `rotor state push`");
    }
    // The advice works: a pulled copy pushes over the edited state.
    t.run(["state", "push", "kept.json"]).failure();
    t.run(["state", "push", "kept.json", "--force"])
        .success()
        .stderr_has("warning: replacing .rotor/state.db, which cannot be read");
    t.run(["plan"]).success();
}

#[test]
fn a_changed_fingerprint_is_detected_too() {
    let t = with_state();
    sql(
        &t,
        "UPDATE families SET record = replace(record, '\"fingerprint\":\"sha256:', '\"fingerprint\":\"sha256:0')",
    );
    t.run(["plan"])
        .failure()
        .stderr_has("was changed outside rotor");
}

#[test]
fn a_file_that_is_not_a_state_database_is_refused() {
    let t = with_state();
    for name in ["state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(t.join(&format!(".rotor/{name}")));
    }
    t.write(
        ".rotor/state.db",
        "not a database at all, but long enough to have a header of sorts\n",
    );
    t.run(["plan"])
        .failure()
        .stderr_has(".rotor/state.db: file is not a database");
    t.run(["apply", "--auto-approve"])
        .failure()
        .stderr_has("file is not a database");
}

#[test]
fn a_state_from_a_newer_format_is_refused_naming_the_version() {
    let t = with_state();
    sql(&t, "UPDATE workspace SET format_version = 99");
    t.run(["plan"])
        .failure()
        .stderr_has("the state has format version 99; this rotor reads version 1");
}

/// A `state.json` of an earlier rotor is read as it is by read-only
/// commands and imported by the first command that writes, lineage and
/// serial kept, then kept as `state.json.migrated`.
#[test]
fn a_state_json_of_an_earlier_rotor_is_migrated_on_first_write() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    let pulled = t.run(["state", "pull"]).success().stdout;
    let before: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    // As the previous release left it: only state.json.
    for name in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(t.join(&format!(".rotor/{name}")));
    }
    t.write(".rotor/state.json", &pulled);
    t.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");
    assert!(!t.exists(".rotor/state.db"), "plan wrote nothing");
    t.edit(crate::harness::ROTATE_FROM, crate::harness::ROTATE_TO);
    t.run(["apply", "--auto-approve", "--wait"]).success();
    assert!(t.exists(".rotor/state.json.migrated"));
    assert!(!t.exists(".rotor/state.json"));
    let after = t.show_json();
    assert_eq!(after["lineage"], before["lineage"]);
    assert!(after["serial"].as_u64() > before["serial"].as_u64());
    assert_eq!(
        after["families"]["session_signing_key"]["versions"]["2026-08"]["created_at"],
        before["families"]["session_signing_key"]["versions"]["2026-08"]["created_at"]
    );
}

/// A `secret` block removed from the spec does not take its material with
/// it: the plan lists the family and its live versions every time, instead
/// of "No changes".
#[test]
fn a_family_removed_from_the_spec_is_listed_with_its_live_versions() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    let spec = t.read("rotor.hcl");
    t.write(
        "rotor.hcl",
        &spec.replace("session_signing_key", "renamed_signing_key"),
    );
    let plan = t.run(["plan"]).success();
    let plan = plan
        .stdout_has("secret.session_signing_key")
        .stdout_has("no longer declared, but its material is live in the stores: 2026-08 (active)");
    assert!(
        !plan.stdout.contains("Every family matches its spec"),
        "{plan}"
    );
    let json = t.run(["plan", "--json"]).success().json();
    assert_eq!(json["summary"]["undeclared"], 1, "{json}");
}

/// `rotor approve` does not need the state's lock: given while `apply
/// --wait` holds it and waits at the manual gate, the approval is taken up
/// on the next poll and the rotation goes on to the end. The approver is the
/// CI actor when one is set.
#[test]
fn an_approval_given_while_apply_waits_opens_the_gate_on_the_next_poll() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    let spec = t.read("rotor.hcl");
    let accept = "  verify \"command\" {\n    command = [\"sh\", \"-c\", \"grep -q \\\"\\\\\\\"$ROTOR_KID\\\\\\\"\\\" public/.well-known/jwks.json\"]\n    timeout = \"5s\"\n  }";
    assert!(
        spec.contains(accept),
        "the quickstart's accept probe\n{spec}"
    );
    t.write("rotor.hcl", &spec.replace(accept, "  verify \"manual\" {}"));
    t.edit(
        crate::harness::ROTATE_FROM,
        "version \"2026-08\" {}\n  version \"2026-11\" {}\n  active = \"2026-11\"",
    );
    let mut apply = t.spawn(["apply", "--auto-approve", "--wait"]);
    // Wait until 2026-11 exists and the apply waits on the gate.
    crate::harness::poll(
        std::time::Duration::from_secs(30),
        "2026-11 created",
        || {
            t.exists(".rotor/secrets/session_signing_key/versions/2026-11.json")
                .then_some(())
        },
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        apply.try_wait().unwrap().is_none(),
        "apply waits at the gate"
    );
    t.command([
        "approve",
        "session_signing_key",
        "2026-11",
        "accept.api_gateway",
    ])
    .env("GITHUB_ACTOR", "octo-reviewer")
    .output()
    .map(|o| assert!(o.status.success(), "{o:?}"))
    .unwrap();
    let out = crate::harness::poll(
        std::time::Duration::from_secs(60),
        "apply --wait to finish",
        || apply.try_wait().unwrap(),
    );
    let done = crate::harness::finish(apply, "rotor apply --auto-approve --wait");
    assert!(out.success(), "{done}");
    done.stderr_has("Apply complete");
    assert_eq!(
        t.read(".rotor/secrets/session_signing_key/primary"),
        "2026-11\n"
    );
    let state = t.show_json();
    assert_eq!(
        state["families"]["session_signing_key"]["versions"]["2026-11"]["approvals"]["accept.api_gateway"]
            ["by"],
        "octo-reviewer"
    );
}

/// `rotor state list`, `pull` and `push`: a pulled state pushes back; an
/// older one, one of another lineage or an edited one is refused (the first
/// two pass with --force); `state rm` names the live versions it leaves,
/// asks, and the next plan adopts them.
#[test]
fn state_commands_list_pull_push_and_rm() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    t.run(["state", "list"])
        .success()
        .stdout_has("session_signing_key\tactive 2026-08\t2026-08 (active)");
    let pulled = t.run(["state", "pull"]).success().stdout;
    t.write("old.json", &pulled);
    let serial = t.show_json()["serial"].as_u64().unwrap();

    // The same state pushes back, as a newer serial.
    t.run(["state", "push", "old.json"]).success();
    assert_eq!(t.show_json()["serial"].as_u64().unwrap(), serial + 1);
    // Now it is older than the state.
    t.run(["state", "push", "old.json"])
        .code(1)
        .stderr_has("refusing to push old.json: it is older than the state it would replace");
    t.run(["state", "push", "old.json", "--force"])
        .success()
        .stderr_has("warning: pushing old.json although it is older");
    // Edited: refused even with --force (evidence could be forged).
    t.write(
        "edited.json",
        &pulled.replacen("\"phase\": \"active\"", "\"phase\": \"retiring\"", 1),
    );
    t.run(["state", "push", "edited.json", "--force"])
        .failure()
        .stderr_has("edited.json: the state was changed outside rotor");

    // rm asks: the wrong answer removes nothing.
    let mut no = t
        .command(["state", "rm", "session_signing_key"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    no.stdin.take().unwrap().write_all(b"no\n").unwrap();
    let no = crate::harness::finish(no, "rotor state rm session_signing_key");
    assert_eq!(no.code, 1, "{no}");
    let no = no.says(&["2026-08 (active)", "Nothing removed"]);
    drop(no);
    t.run(["state", "rm", "session_signing_key", "--yes"])
        .success()
        .stderr_has("Removed secret.session_signing_key");
    t.run(["state", "list"]).success();
    assert!(t.show_json()["families"]["session_signing_key"].is_null());
    // Same lineage: the family is adopted again, held as in use.
    t.run(["plan"]).success().stdout_has("adopt    2026-08");
    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("adopted 2026-08, already the stores' primary: held as promoted now");
    assert!(
        t.show_json()["families"]["session_signing_key"]["versions"]["2026-08"]["adopted_at"]
            .is_string()
    );
}
