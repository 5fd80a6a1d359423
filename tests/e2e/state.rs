//! A state rotor did not write is refused, clearly, before anything runs.

use crate::harness::Test;

const STATE: &str = ".rotor/state.json";

/// The quickstart after an apply that stops at the first gate: a real state,
/// quickly (no waiting for windows).
fn with_state() -> Test {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve"])
        .success()
        .stderr_has("Apply stopped at gates");
    assert!(t.exists(".rotor/state.json.backup"));
    t
}

#[test]
fn a_state_edited_by_hand_is_refused() {
    let t = with_state();
    let text = t.read(STATE);
    let serial = t.state_file().unwrap()["serial"].as_u64().unwrap();
    let edited = text.replacen(
        &format!("\"serial\": {serial},"),
        &format!("\"serial\": {},", serial + 1),
        1,
    );
    assert_ne!(edited, text);
    t.write(STATE, &edited);

    for args in [vec!["plan"], vec!["apply", "--auto-approve"], vec!["show"]] {
        t.run(&args)
            .failure()
            .stderr_has(".rotor/state.json: the state was changed outside rotor (its checksum does not match its contents)")
            .stderr_has("hint: state must only be written by rotor; restore it from state.json.backup");
    }
    assert_eq!(
        t.read(STATE),
        edited,
        "a refused apply must not rewrite the state"
    );

    // The advice works: the backup is a state rotor wrote.
    t.write(STATE, &t.read(".rotor/state.json.backup"));
    t.run(["plan"]).success();
}

#[test]
fn a_changed_fingerprint_is_detected_too() {
    let t = with_state();
    let text = t.read(STATE);
    let at = text.find("\"fingerprint\": \"sha256:").unwrap() + "\"fingerprint\": \"sha256:".len();
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    t.write(STATE, &String::from_utf8(bytes).unwrap());
    t.run(["plan"])
        .failure()
        .stderr_has("the state was changed outside rotor");
}

#[test]
fn a_truncated_state_is_refused() {
    let t = with_state();
    let text = t.read(STATE);
    t.write(STATE, &text[..text.len() / 2]);
    t.run(["plan"])
        .failure()
        .stderr_has(".rotor/state.json: the state is not valid: EOF while parsing")
        .stderr_has("hint: restore the state from state.json.backup");
    t.write(STATE, "not json at all\n");
    t.run(["apply", "--auto-approve"])
        .failure()
        .stderr_has("the state is not valid: ");
    t.write(STATE, "");
    t.run(["show"])
        .failure()
        .stderr_has("the state is not valid");
}

#[test]
fn a_state_from_a_newer_format_is_refused_naming_the_version() {
    let t = with_state();
    let text = t.read(STATE);
    assert!(text.contains("\"format_version\": 1,"));
    t.write(
        STATE,
        &text.replacen("\"format_version\": 1,", "\"format_version\": 99,", 1),
    );
    t.run(["plan"])
        .failure()
        .stderr_has("the state has format version 99; this rotor reads version 1");
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
