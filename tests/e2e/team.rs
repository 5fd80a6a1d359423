//! A team on one PostgreSQL state: two machines (two processes, two work
//! directories, each a fresh clone of the spec with no `.rotor/`), one
//! OpenBao, the state in a schema of `ROTOR_STATE_PG` (`scripts/test`
//! starts PostgreSQL and sets it). Bootstrap on one machine, approval from
//! the other, a rotation leased by one while the other is refused and
//! approves, and a plan anywhere that agrees.

use crate::harness::{Test, finish, poll};
use std::time::Duration;

fn spec(schema: &str, path: &str, version: &str) -> String {
    format!(
        r#"state "postgres" {{
  conn   = env("ROTOR_STATE_PG")
  schema = "{schema}"
}}

store "vault" "main" {{
  address = env("VAULT_ADDR")
  token   = env("VAULT_TOKEN")
  mount   = "secret"
  path    = "{path}"
}}

secret "api_key" {{
  owner         = "team-payments"
  store         = store.vault.main
  cadence       = "90d"
  overlap       = "2s"
  destroy_after = "1s"

  generate "random" {{
    length = 32
  }}

  version "{version}" {{}}
  active = "{version}"
}}

# Billing reads the key from Vault; a person confirms it accepts the new one.
consumer "billing" {{
  accepts   = secret.api_key
  cache_ttl = "1s"
  verify "manual" {{}}
}}
"#
    )
}

fn machine(schema: &str, path: &str, version: &str) -> Test {
    Test::new().spec(&spec(schema, path, version))
}

#[test]
fn two_machines_share_one_postgres_state() {
    assert!(
        std::env::var("ROTOR_STATE_PG").is_ok(),
        "ROTOR_STATE_PG is not set: run scripts/test, which starts PostgreSQL"
    );
    let schema = format!("team_{}", std::process::id());
    let path = crate::vault::unique_path();
    let a = machine(&schema, &path, "v1");
    let b = machine(&schema, &path, "v1");

    // Machine A bootstraps: v1 created, stopped at the manual gate.
    a.run(["apply", "--auto-approve"])
        .success()
        .stderr_has("Apply stopped at gates");
    // Machine B, a fresh clone, sees the same state: nothing to create.
    let plan = b.run(["plan"]).success();
    assert!(!plan.stdout.contains("create"), "{plan}");
    plan.stdout_has("accept   v1 by consumer.billing");
    b.command(["approve", "api_key", "v1", "accept.billing"])
        .env("GITHUB_ACTOR", "bob")
        .output()
        .map(|o| assert!(o.status.success(), "{o:?}"))
        .unwrap();
    a.run(["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete");

    // The rotation, merged on both machines.
    for t in [&a, &b] {
        t.write("rotor.hcl", &spec(&schema, &path, "v2"));
    }
    let mut waiting = a.spawn(["apply", "--auto-approve", "--wait"]);
    let pid = waiting.id();
    poll(Duration::from_secs(30), "A's lease", || {
        b.run(["state", "list"])
            .stdout
            .contains(&format!("leased by pid {pid}"))
            .then_some(())
    });
    b.run(["apply", "--auto-approve"])
        .code(4)
        .stderr_has(&format!(
            "family api_key is being changed by pid {pid} on host "
        ));
    poll(Duration::from_secs(30), "v2 created", || {
        b.run(["state", "show", "api_key", "--json"])
            .stdout
            .contains("\"v2\"")
            .then_some(())
    });
    b.command(["approve", "api_key", "v2", "accept.billing"])
        .env("GITHUB_ACTOR", "bob")
        .output()
        .map(|o| assert!(o.status.success(), "{o:?}"))
        .unwrap();
    let status = poll(Duration::from_secs(60), "A's apply to finish", || {
        waiting.try_wait().unwrap()
    });
    let done = finish(waiting, "rotor apply --wait on A");
    assert!(status.success(), "{done}");
    done.stderr_has("Apply complete");

    // Either machine: nothing left, and the history names both.
    b.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");
    let events = b.run(["show", "--events", "api_key"]).success().stdout;
    assert!(
        events.contains("approve v2 accept.billing  approved  by bob"),
        "{events}"
    );
    assert!(events.contains("revoke v1  done"), "{events}");
    for t in [&a, &b] {
        assert!(
            !t.exists(".rotor/state.db"),
            "no local state on a team machine"
        );
    }
}

/// A private PostgreSQL (its own server: this test stops it).
struct PrivatePg {
    vars: std::collections::BTreeMap<String, String>,
}

impl PrivatePg {
    fn start() -> PrivatePg {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/services/postgres"))
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut vars = std::collections::BTreeMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let line = line.trim_start_matches("export ");
            // `K=V K=V` or `K='v w'`.
            let mut rest = line;
            while let Some((key, after)) = rest.split_once('=') {
                let (value, tail) = if let Some(quoted) = after.strip_prefix('\'') {
                    let end = quoted.find('\'').unwrap();
                    (&quoted[..end], quoted[end + 1..].trim_start())
                } else {
                    after.split_once(' ').unwrap_or((after, ""))
                };
                vars.insert(key.trim().to_string(), value.to_string());
                rest = tail;
            }
        }
        PrivatePg { vars }
    }

    fn service(&self, verb: &str) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let ok = std::process::Command::new("bash")
            .arg(root.join("scripts/services/postgres"))
            .args([verb, &self.vars["ROTOR_POSTGRES_DATA"]])
            .current_dir(&root)
            .status()
            .unwrap()
            .success();
        assert!(ok, "postgres {verb}");
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.service("stop");
    }
}

/// PostgreSQL stops in the middle of a rotation: the apply stops at its
/// next save with a message naming the server and what to do; once the
/// server is back, the next apply resumes and ends where the spec says,
/// creating nothing twice.
#[test]
fn a_postgres_restart_mid_apply_fails_clearly_and_the_next_apply_resumes() {
    let pg = PrivatePg::start();
    let conn = pg.vars["ROTOR_STATE_PG"].clone();
    let spec = format!(
        "state \"postgres\" {{\n  conn = env(\"ROTOR_TEST_STATE\")\n}}\n\n{}",
        crate::harness::QUICKSTART
    );
    let t = Test::new().spec(&spec);
    let run = |args: &[&str]| {
        let out = t
            .command(args)
            .env("ROTOR_TEST_STATE", &conn)
            .output()
            .unwrap();
        crate::harness::Output::new(format!("rotor {}", args.join(" ")), out)
    };
    run(&["apply", "--auto-approve", "--wait"]).success();
    t.edit(crate::harness::ROTATE_FROM, crate::harness::ROTATE_TO);
    let mut apply = t
        .command(["apply", "--auto-approve", "--wait"])
        .env("ROTOR_TEST_STATE", &conn)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    poll(Duration::from_secs(30), "2026-11 created", || {
        t.exists(".rotor/secrets/session_signing_key/versions/2026-11.json")
            .then_some(())
    });
    pg.service("pause");
    let status = poll(Duration::from_secs(60), "the apply to stop", || {
        apply.try_wait().unwrap()
    });
    let stopped = finish(apply, "rotor apply --wait (PostgreSQL stopped)");
    assert!(!status.success(), "{stopped}");
    stopped
        .stderr_has("could not save state: PostgreSQL state rotor_state@127.0.0.1:")
        .stderr_has("resumes from the last saved step");
    // Reads say the same, and change nothing.
    run(&["plan"]).failure().stderr_has("connection refused");

    pg.service("resume");
    run(&["apply", "--auto-approve", "--wait"])
        .success()
        .stderr_has("Apply complete");
    assert_eq!(
        t.read(".rotor/secrets/session_signing_key/primary"),
        "2026-11\n"
    );
    let versions = t.list(".rotor/secrets/session_signing_key/versions");
    assert_eq!(versions, ["2026-08.json", "2026-11.json", "2026-11.pem"]);
    run(&["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");
}
