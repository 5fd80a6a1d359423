//! Every command's exit codes, in one table (issue 13): 0 success, 1 every
//! error (usage errors included: never clap's 2), 2 only when asked for and
//! meaning "work is waiting" (`--detailed-exitcode`, `status --due`), 3 for
//! `fmt --check`, 130 for an apply stopped by Ctrl-C. A CI job that reads 2
//! as "changes pending" must never get it for a mistyped flag.

use crate::harness::{QUICKSTART, Test};
use std::time::Duration;

/// `(arguments, exit code, text stderr or stdout must hold)`.
type Case = (&'static [&'static str], i32, &'static str);

/// Runs each case in `t`, in order, and reports every mismatch at once.
#[track_caller]
fn table(t: &Test, cases: &[Case]) {
    let mut wrong = Vec::new();
    for (args, code, says) in cases {
        let out = t.run(*args);
        let text = format!("{}{}", out.stdout, out.stderr);
        if out.code != *code || !text.contains(says) {
            wrong.push(format!(
                "rotor {}: exit {} (expected {code}), expected to say {says:?}\n{text}",
                args.join(" "),
                out.code
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n---\n"));
}

#[test]
fn every_command_exits_0_on_success_1_on_any_error_and_2_only_when_asked() {
    let empty = Test::new();
    table(
        &empty,
        &[
            (&[], 1, "Usage"),
            (&["--version"], 0, "rotor"),
            (&["--help"], 0, "Usage"),
            (&["help", "plan"], 0, "Usage"),
            (&["frobnicate"], 1, "unrecognized subcommand"),
            (&["plan", "--detailed-exitcode", "--bogus"], 1, "--bogus"),
            (&["validate"], 1, "no .hcl"),
            (&["completions", "bash"], 0, "complete"),
            (&["completions", "nosh"], 1, "invalid value"),
            (&["man"], 0, ".TH"),
            (&["init"], 0, ""),
            (&["init"], 1, ""),
        ],
    );

    let t = Test::quickstart();
    table(
        &t,
        &[
            (&["validate"], 0, "The spec is valid"),
            (
                &["validate", "--strict", "--max-cadence", "30d"],
                1,
                "cadence",
            ),
            (&["plan"], 0, "to create"),
            (&["plan", "--detailed-exitcode"], 2, "to create"),
            // Terraform's spellings, single dash.
            (&["plan", "-detailed-exitcode", "-no-color"], 2, "to create"),
            (&["plan", "-json"], 0, "\"format_version\""),
            (&["plan", "-target=secret.nope"], 1, "no secret `nope`"),
            (
                &[
                    "plan",
                    "--target",
                    "session_signing_key",
                    "--detailed-exitcode",
                ],
                2,
                "--target",
            ),
            (&["apply", "--parallelism", "0"], 1, "at least 1"),
            // No terminal to answer the prompt: not applied, an error.
            (&["apply"], 1, "Apply cancelled"),
            (&["apply", "-auto-approve", "-detailed-exitcode"], 2, "gate"),
            (&["show"], 0, "session_signing_key"),
            (&["show", "--bogus"], 1, "--bogus"),
            (&["status"], 0, "session_signing_key"),
            (&["status", "--due"], 0, ""),
            (&["state", "list"], 0, "session_signing_key"),
            (&["state", "show", "nope"], 1, "nope"),
            (&["state", "pull"], 0, "lineage"),
            (&["state", "push", "missing.json"], 1, "missing.json"),
            (&["state", "mv", "nope", "other"], 1, "nope"),
            (&["state", "unlock", "session_signing_key"], 1, "--force"),
            (&["state", "rm", "session_signing_key"], 1, ""),
            (&["state", "init"], 0, ""),
            (
                &["approve", "session_signing_key", "2026-08", "accept.nobody"],
                1,
                "nobody",
            ),
            (&["import", "nope"], 1, "nope"),
            (&["rotate", "nope"], 1, "no secret `nope`"),
            (&["retire", "session_signing_key", "1999-01"], 1, "1999-01"),
            (&["rollback", "session_signing_key"], 1, ""),
            (&["runbook"], 0, "session_signing_key"),
            (&["graph"], 0, "digraph"),
            (&["graph", "--type", "bogus"], 1, "invalid value"),
            (&["fmt", "--check"], 0, ""),
        ],
    );
    t.write("extra.hcl", "store   \"file\" \"other\" {}\n");
    table(&t, &[(&["fmt", "--check"], 3, "extra.hcl")]);
}

/// A version id longer than a store can hold is refused before any apply:
/// by `validate` at the version block, and by `rotate --version`, each
/// naming the limit.
#[test]
fn an_id_longer_than_the_store_allows_is_refused_naming_the_limit() {
    let long = "v".repeat(130);
    let t = Test::quickstart();
    t.run(["rotate", "session_signing_key", "--version", &long])
        .failure()
        .stderr_has("is 130 bytes long; store.file.local allows at most 128");
    assert!(!t.read("rotor.hcl").contains(&long), "nothing was written");
    t.edit(
        crate::harness::ROTATE_FROM,
        &format!("version \"{long}\" {{}}\n  active = \"{long}\""),
    );
    t.run(["validate"])
        .failure()
        .stderr_has("rotor.hcl:22:")
        .stderr_has("allows at most 128");
}

/// A relative `--state` is taken from `-C DIR`, as `terraform -chdir` takes
/// its paths: the same command from two directories uses one state.
#[test]
fn a_relative_state_flag_is_taken_from_the_spec_directory() {
    let t = Test::new();
    std::fs::create_dir(t.join("spec")).unwrap();
    t.write("spec/rotor.hcl", QUICKSTART);
    t.run([
        "-C",
        "spec",
        "--state",
        "team.db",
        "apply",
        "--auto-approve",
    ])
    .success();
    assert!(t.exists("spec/team.db"), "{:?}", t.list("spec"));
    assert!(!t.exists("team.db"));
}

/// Ctrl-C stops a waiting apply at once, between steps, with exit 130 and
/// a message that the next apply resumes; the next apply does.
#[test]
fn ctrl_c_stops_a_waiting_apply_cleanly_and_the_next_apply_resumes() {
    let t = Test::quickstart();
    let child = t.spawn(["apply", "--auto-approve", "--wait"]);
    // Wait until it is waiting on a gate (the accept window).
    crate::harness::poll(Duration::from_secs(20), "the apply to wait", || {
        t.state_file()
            .filter(|s| s["families"]["session_signing_key"]["versions"]["2026-08"].is_object())
    });
    std::thread::sleep(Duration::from_millis(300));
    ctrl_c(&child);
    let out = crate::harness::finish(child, "rotor apply --auto-approve --wait").code(130);
    assert!(out.stderr.contains("Interrupt received"), "{out}");
    assert!(
        out.stderr.contains("the next `rotor apply` resumes"),
        "{out}"
    );
    t.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete");
}

/// Without `--auto-approve`, apply asks: only `yes` applies; any other
/// answer (or end of input) cancels with exit 1 and changes nothing.
#[test]
fn apply_asks_and_only_yes_applies() {
    let t = Test::quickstart();
    let answer = |text: &[u8]| {
        let mut child = t
            .command(["apply"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text).unwrap();
        crate::harness::finish(child, "rotor apply")
    };
    let no = answer(b"no\n").code(1).stderr_has("Apply cancelled.");
    drop(no);
    assert!(
        t.state_file()
            .is_none_or(|s| s["families"].as_object().is_none_or(|f| f.is_empty()))
    );
    answer(b"yes\n")
        .success()
        .stderr_has("Only 'yes' will be accepted");
    assert!(t.state_file().unwrap()["families"]["session_signing_key"].is_object());
}

/// After the first Ctrl-C no step starts, in this pass or the next: the
/// verifier running when it came finishes and is recorded, and the other
/// families (one at a time here) are left for the next apply, which does
/// them.
#[test]
fn after_ctrl_c_no_step_starts() {
    let t = Test::new().spec(&verified_families(
        &["a", "b", "c"],
        "touch started-$ROTOR_FAMILY; sleep 2",
    ));
    let child = t.spawn(["apply", "--auto-approve", "--parallelism", "1"]);
    crate::harness::poll(
        Duration::from_secs(20),
        "the first verifier to start",
        || t.exists("started-a").then_some(()),
    );
    ctrl_c(&child);
    let out = crate::harness::finish(child, "rotor apply --auto-approve --parallelism 1").code(130);
    assert!(out.stderr.contains("Interrupt received"), "{out}");
    // The step that was running finished and was recorded.
    assert!(out.stderr.contains("consumer.a_reader accepts v1"), "{out}");
    // Nothing started after it.
    assert!(!t.exists("started-b") && !t.exists("started-c"), "{out}");
    assert!(!out.stderr.contains("secret.b"), "{out}");
    t.run(["apply", "--auto-approve", "--parallelism", "1"])
        .success()
        .stderr_has("Apply complete");
    assert!(t.exists("started-b") && t.exists("started-c"));
}

/// A spec of random-secret families on a file store, each with one
/// consumer (`NAME_reader`) verified by `sh -c SCRIPT`.
fn verified_families(names: &[&str], script: &str) -> String {
    let mut spec = String::from("store \"file\" \"local\" {\n  path = \"keys\"\n}\n");
    for name in names {
        spec.push_str(&format!(
            r#"secret "{name}" {{
  owner   = "team"
  store   = store.file.local
  cadence = "90d"
  overlap = "0s"
  generate "random" {{
    length = 32
  }}
  version "v1" {{}}
  active = "v1"
}}
consumer "{name}_reader" {{
  accepts   = secret.{name}
  cache_ttl = "0s"
  verify "command" {{
    command = ["sh", "-c", "{script}"]
  }}
}}
"#
        ));
    }
    spec
}

/// Sends SIGINT to `child`, as Ctrl-C in its terminal would.
fn ctrl_c(child: &std::process::Child) {
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// A second Ctrl-C stops the process at once, even while a step is still
/// running (here a verifier that sleeps for 20 s): the listener has a
/// thread of its own, so a busy command runtime cannot delay it.
#[test]
fn a_second_ctrl_c_stops_a_running_step_at_once() {
    let t = Test::new().spec(&verified_families(&["webhook"], "touch probing; sleep 20"));
    let child = t.spawn(["apply", "--auto-approve"]);
    crate::harness::poll(Duration::from_secs(20), "the verifier to start", || {
        t.exists("probing").then_some(())
    });
    ctrl_c(&child);
    std::thread::sleep(Duration::from_millis(500));
    ctrl_c(&child);
    let out = crate::harness::finish(child, "rotor apply --auto-approve").code(130);
    assert!(out.stderr.contains("Interrupt received"), "{out}");
    // Stopped there and then, not after the verifier returned.
    assert!(out.stderr.contains("Interrupted again"), "{out}");
    assert!(!out.stderr.contains("accepts v1"), "{out}");
}

/// `apply --json`: one JSON object per line on stdout, the plan first and
/// the summary last, each step started and ended, waits with the gate and
/// when it opens; nothing else on stdout and no material anywhere.
#[test]
fn apply_json_streams_one_event_per_line() {
    let t = Test::quickstart();
    t.run(["apply", "--json"])
        .failure()
        .stderr_has("--json needs --auto-approve");
    let out = t
        .run(["apply", "--json", "--auto-approve", "--wait"])
        .success();
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"plan"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"summary"), "{kinds:?}");
    for e in &events {
        assert_eq!(e["format_version"], "1.0", "{e}");
        crate::harness::millis(&e["at"]);
    }
    let summary = events.last().unwrap();
    assert_eq!(summary["outcome"], "complete");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["steps_ran"], 5, "{summary}");
    for action in ["create", "publish", "accept", "promote", "emit"] {
        for kind in ["step_started", "step_done"] {
            assert!(
                events
                    .iter()
                    .any(|e| e["type"] == kind && e["action"] == action),
                "no {kind} for {action}: {kinds:?}"
            );
        }
    }
    let wait = events
        .iter()
        .find(|e| e["type"] == "step_waiting")
        .expect("the accept window is waited on");
    assert!(
        wait["gate"].as_str().unwrap().contains("cache window"),
        "{wait}"
    );
    crate::harness::millis(&wait["opens_at"]);
    // The key's PEM never appears; the plan event carries the plan document.
    assert!(!out.stdout.contains("PRIVATE KEY") && !out.stderr.contains("PRIVATE KEY"));
    assert_eq!(events[0]["plan"]["format_version"], 1);
}

/// An approval counts only in the term it was given in: approving an emit
/// gate before the version is promoted would record something that never
/// counts, so it is refused with what to wait for (exit 1), and accepted
/// once the gate is open.
#[test]
fn an_approval_before_its_gate_opens_is_refused() {
    let t = Test::new().spec(
        r#"store "file" "local" { path = ".rotor/secrets" }

secret "api_key" {
  store   = store.file.local
  overlap = "1s"
  generate "random" { length = 32 }
  version "v1" {}
  active = "v1"
}

consumer "issuer" {
  accepts   = secret.api_key
  emits     = secret.api_key
  cache_ttl = "1s"
  verify "manual" { on = "accept" }
  verify "manual" { on = "emit" }
}
"#,
    );
    t.run(["approve", "api_key", "v1", "accept.issuer"])
        .failure()
        .stderr_has("not in state yet");
    // Created, waiting for acceptance: the emit gate has not begun.
    t.run(["apply", "--auto-approve"])
        .success()
        .stderr_has("waiting: manual approval accept.issuer");
    t.run(["approve", "api_key", "v1", "emit.issuer#1"])
        .failure()
        .stderr_has(
            "emit.issuer#1 of secret.api_key v1 cannot be approved yet: it opens once it is promoted",
        );
    t.run(["approve", "api_key", "v1", "accept.issuer"])
        .success();
    crate::harness::poll(std::time::Duration::from_secs(20), "v1 promoted", || {
        let out = t.run(["apply", "--auto-approve"]).success();
        out.stderr
            .contains("waiting: manual approval emit.issuer#1")
            .then_some(())
    });
    t.run(["approve", "api_key", "v1", "emit.issuer#1"])
        .success();
}
