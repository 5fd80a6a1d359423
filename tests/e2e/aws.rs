//! The `aws_secretsmanager` store against a real moto server, which
//! `scripts/test` starts (`scripts/services/moto`) and points at with
//! `ROTOR_AWS_ENDPOINT` and test credentials. Each test uses its own secret
//! name prefix, so they run in parallel. The tests read the staging labels
//! straight from the server with the AWS SDK.

use crate::harness::{Output, QUICKSTART, ROTATE_FROM, ROTATE_TO, Test, finish, poll};
use aws_sdk_secretsmanager::Client;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const FAMILY: &str = "session_signing_key";
const LIMIT: Duration = Duration::from_secs(90);

/// `ROTOR_AWS_ENDPOINT`; missing (or missing credentials) is a failure, not a skip.
pub(crate) fn endpoint() -> String {
    for name in [
        "ROTOR_AWS_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(
            std::env::var_os(name).is_some(),
            "{name} is not set: run scripts/test, which starts moto and sets ROTOR_AWS_ENDPOINT and test credentials"
        );
    }
    std::env::var("ROTOR_AWS_ENDPOINT").unwrap()
}

/// A secret name prefix no other test (or run) uses.
pub(crate) fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "rotor-e2e-{}-{}-{nanos}/",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs one SDK call against moto.
pub(crate) fn aws<T, F: std::future::Future<Output = T>>(call: impl FnOnce(Client) -> F) -> T {
    let endpoint = endpoint();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .load()
            .await;
        call(Client::new(&config)).await
    })
}

/// The labelled versions of the family's secret: rotor id (or `foreign <VersionId>`) → sorted labels.
fn labels(prefix: &str) -> BTreeMap<String, Vec<String>> {
    let secret = format!("{prefix}{FAMILY}");
    let described = aws(|c| async move { c.describe_secret().secret_id(secret).send().await })
        .expect("describe the secret");
    let mut out = BTreeMap::new();
    for (version_id, stages) in described.version_ids_to_stages().into_iter().flatten() {
        if stages.is_empty() {
            continue; // moto lists deprecated versions here too; AWS does not
        }
        let mut stages = stages.clone();
        stages.sort();
        let who = stages
            .iter()
            .find_map(|s| {
                s.strip_prefix("rotor:")
                    .or_else(|| s.strip_prefix("rotor-disabled:"))
            })
            .map(str::to_string)
            .unwrap_or_else(|| format!("foreign {version_id}"));
        out.insert(who, stages);
    }
    out
}

/// How many versions AWS keeps, deprecated (unlabelled) ones included.
fn all_versions(prefix: &str) -> usize {
    let secret = format!("{prefix}{FAMILY}");
    aws(|c| async move {
        c.list_secret_version_ids()
            .secret_id(secret)
            .include_deprecated(true)
            .send()
            .await
    })
    .expect("list the versions")
    .versions()
    .len()
}

/// The material a rotor version holds in AWS (from the JSON envelope), by its label.
fn material(prefix: &str, id: &str) -> String {
    let secret = format!("{prefix}{FAMILY}");
    let label = format!("rotor:{id}");
    let out = aws(|c| async move {
        c.get_secret_value()
            .secret_id(secret)
            .version_stage(label)
            .send()
            .await
    })
    .expect("read the version");
    let envelope: serde_json::Value = serde_json::from_str(out.secret_string().unwrap()).unwrap();
    assert_eq!(envelope["rotor_version"], id);
    assert_eq!(envelope["kid"], id);
    assert_eq!(envelope["jwk"]["kty"], "RSA", "{}", envelope["jwk"]);
    assert!(
        envelope["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    envelope["material"].as_str().unwrap().to_string()
}

fn want(rows: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    rows.iter()
        .map(|(who, stages)| {
            (
                who.to_string(),
                stages.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect()
}

/// The quickstart on an aws_secretsmanager store; the emitter probe passes
/// (the quickstart's reads the file store's `primary` file).
fn quickstart(endpoint: &str, prefix: &str) -> Test {
    let store = "store \"file\" \"local\" {\n  path = \".rotor/secrets\" # material lives here, files of mode 0600\n}";
    assert!(QUICKSTART.contains(store));
    let emit_probe = "command = [\"sh\", \"-c\", \"test \\\"$(cat .rotor/secrets/session_signing_key/primary)\\\" = \\\"$ROTOR_VERSION\\\"\"]";
    assert!(QUICKSTART.contains(emit_probe));
    let spec = QUICKSTART
        .replace(
            store,
            &format!(
                "store \"aws_secretsmanager\" \"main\" {{\n  region   = \"us-east-1\"\n  endpoint = {endpoint}\n  prefix   = \"{prefix}\"\n}}"
            ),
        )
        .replace(
            "store         = store.file.local",
            "store         = store.aws_secretsmanager.main",
        )
        .replace(emit_probe, "command = [\"true\"]");
    Test::new().spec(&spec)
}

fn env_quickstart(prefix: &str) -> Test {
    endpoint();
    quickstart("env(\"ROTOR_AWS_ENDPOINT\")", prefix)
}

/// A version's phase in the state.
fn phase(t: &Test, id: &str) -> Option<String> {
    t.state_file()?["families"][FAMILY]["versions"][id]["phase"]
        .as_str()
        .map(str::to_string)
}

/// Everything rotor printed, for the canary check at the end.
#[derive(Default)]
struct Printed(Vec<(String, String)>);

impl Printed {
    fn keep(&mut self, out: Output) -> Output {
        self.0
            .push((format!("{} (stdout)", out.command), out.stdout.clone()));
        self.0
            .push((format!("{} (stderr)", out.command), out.stderr.clone()));
        out
    }
}

/// Runs `rotor apply --auto-approve` (no waiting) until `done` holds.
fn apply_until(t: &Test, printed: &mut Printed, what: &str, done: impl Fn(&Test) -> bool) {
    poll(LIMIT, what, || {
        let out = printed.keep(t.run(["apply", "--auto-approve"]));
        assert!(out.code == 0 || out.code == 2, "{out}");
        if done(t) {
            return Some(());
        }
        std::thread::sleep(Duration::from_millis(300));
        None
    });
}

#[test]
fn a_rotation_on_moto_moves_the_staging_labels_at_every_phase_and_prints_no_material() {
    let prefix = unique_prefix();
    let t = env_quickstart(&prefix);
    let mut printed = Printed::default();
    printed
        .keep(t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"]))
        .success()
        .stderr_has("Apply complete: 5 steps ran.");
    assert_eq!(
        labels(&prefix),
        want(&[("2026-08", &["AWSCURRENT", "rotor-primary", "rotor:2026-08"])])
    );
    assert!(!t.exists(".rotor/secrets"), "nothing in the file store");
    let old = material(&prefix, "2026-08");
    assert!(old.starts_with("-----BEGIN PRIVATE KEY-----"));

    t.edit(ROTATE_FROM, ROTATE_TO);
    for args in [vec!["plan"], vec!["plan", "--json"], vec!["show", "--json"]] {
        printed.keep(t.run(args));
    }
    // Created and published; the gateway's cache window holds the promote back.
    printed.keep(t.run(["apply", "--auto-approve"]));
    assert_eq!(phase(&t, "2026-11").as_deref(), Some("pending"));
    assert_eq!(
        labels(&prefix),
        want(&[
            ("2026-08", &["AWSCURRENT", "rotor-primary", "rotor:2026-08"]),
            ("2026-11", &["AWSPENDING", "rotor:2026-11"]),
        ])
    );
    let new = material(&prefix, "2026-11");

    apply_until(&t, &mut printed, "2026-11 to be promoted", |t| {
        phase(t, "2026-11").as_deref() == Some("active")
    });
    assert_eq!(phase(&t, "2026-08").as_deref(), Some("retiring"));
    assert_eq!(
        labels(&prefix),
        want(&[
            ("2026-08", &["AWSPREVIOUS", "rotor:2026-08"]),
            ("2026-11", &["AWSCURRENT", "rotor-primary", "rotor:2026-11"]),
        ])
    );

    apply_until(&t, &mut printed, "2026-08 to be revoked", |t| {
        phase(t, "2026-08").as_deref() != Some("retiring")
    });
    // destroy_after (3s) holds the destroy back.
    assert_eq!(phase(&t, "2026-08").as_deref(), Some("revoked"));
    assert_eq!(
        labels(&prefix),
        want(&[
            ("2026-08", &["rotor-disabled:2026-08"]),
            ("2026-11", &["AWSCURRENT", "rotor-primary", "rotor:2026-11"]),
        ])
    );
    printed
        .keep(t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"]))
        .success();
    assert_eq!(phase(&t, "2026-08").as_deref(), Some("destroyed"));
    // Destroyed: no label left, so AWS considers the version deprecated (it
    // keeps it until its own clean-up; see the store's docs).
    assert_eq!(
        labels(&prefix),
        want(&[("2026-11", &["AWSCURRENT", "rotor-primary", "rotor:2026-11"])])
    );
    assert_eq!(all_versions(&prefix), 2);
    printed
        .keep(t.run(["plan", "--detailed-exitcode"]))
        .success()
        .stdout_has("No changes. Every family matches its spec.");
    for args in [vec!["show"], vec!["show", "--json"], vec!["status"]] {
        printed.keep(t.run(args));
    }

    // The canary: neither private key appears in anything rotor printed or recorded.
    let mut captured = printed.0;
    captured.push((".rotor/state.db".to_string(), t.state_bytes()));
    for (which, pem) in [("2026-08", &old), ("2026-11", &new)] {
        let needles = crate::leaks::pem_needles(pem);
        for (source, text) in &captured {
            for needle in &needles {
                assert!(
                    !text.contains(needle.as_str()),
                    "{which}'s private key: `{needle}` appears in {source}"
                );
            }
        }
    }
}

#[test]
fn rollback_moves_awscurrent_back_to_the_previous_version() {
    let prefix = unique_prefix();
    let t = env_quickstart(&prefix);
    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
    // The old version stays declared: rotated, not retired.
    t.run(["rotate", FAMILY, "--version", "2026-11"]).success();
    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
    assert_eq!(
        labels(&prefix),
        want(&[
            ("2026-08", &["AWSPREVIOUS", "rotor:2026-08"]),
            ("2026-11", &["AWSCURRENT", "rotor-primary", "rotor:2026-11"]),
        ])
    );

    t.run(["rollback", FAMILY])
        .success()
        .stderr_has("rolls emitters back to 2026-08");
    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
    assert_eq!(
        labels(&prefix),
        want(&[
            ("2026-08", &["AWSCURRENT", "rotor-primary", "rotor:2026-08"]),
            ("2026-11", &["AWSPREVIOUS", "rotor:2026-11"]),
        ])
    );
    t.run(["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes. Every family matches its spec.");
}

#[test]
fn an_awspending_left_by_another_tool_is_reported_with_the_command_that_clears_it() {
    let prefix = unique_prefix();
    let t = env_quickstart(&prefix);
    t.run_within(LIMIT, ["apply", "--auto-approve", "--wait"])
        .success();
    let secret = format!("{prefix}{FAMILY}");
    let name = secret.clone();
    let theirs = aws(|c| async move {
        c.put_secret_value()
            .secret_id(name)
            .secret_string("{\"password\":\"a rotation lambda's\"}")
            .version_stages("AWSPENDING")
            .send()
            .await
    })
    .expect("stage a value as another tool would");
    let vid = theirs.version_id().unwrap().to_string();

    t.edit(ROTATE_FROM, ROTATE_TO);
    let wants = [
        format!("secret `{secret}` has AWSPENDING on version {vid}, which rotor did not write"),
        format!(
            "aws secretsmanager update-secret-version-stage --secret-id {secret} --version-stage AWSPENDING --remove-from-version-id {vid}"
        ),
    ];
    for args in [vec!["plan"], vec!["apply", "--auto-approve"]] {
        t.run(args).failure().says(&wants);
    }
    // Nothing was staged by rotor meanwhile.
    assert!(!labels(&prefix).contains_key("2026-11"));

    // Cleared as the message says, the rotation goes ahead.
    let (name, from) = (secret.clone(), vid.clone());
    aws(|c| async move {
        c.update_secret_version_stage()
            .secret_id(name)
            .version_stage("AWSPENDING")
            .remove_from_version_id(from)
            .send()
            .await
    })
    .expect("clear AWSPENDING");
    t.run(["apply", "--auto-approve"]);
    assert_eq!(labels(&prefix)["2026-11"], ["AWSPENDING", "rotor:2026-11"]);
}

#[test]
fn an_unreachable_endpoint_blocks_the_plan_naming_it() {
    endpoint();
    // Port 1 on loopback: nothing listens there.
    let t = quickstart("\"http://127.0.0.1:1\"", &unique_prefix());
    let out = t.run(["plan"]).failure();
    out.says(&[
        "store.aws_secretsmanager.main is unavailable",
        "cannot describe secret",
        "at http://127.0.0.1:1 (connection refused or unreachable)",
    ]);
}

#[test]
fn missing_credentials_are_denied_with_what_to_set() {
    let t = env_quickstart(&unique_prefix());
    let mut cmd = t.command(["plan"]);
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        cmd.env_remove(name);
    }
    // No shared files, and never the EC2 metadata service.
    cmd.env("AWS_CONFIG_FILE", t.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", t.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = Output::new("rotor plan".into(), cmd.output().unwrap()).failure();
    out.says(&[
        "no usable AWS credentials",
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
    ]);
}

/// `examples/aws` as its README runs it: the emitter probe reads AWSCURRENT
/// with boto3 from the virtualenv `scripts/services/moto` installs.
#[test]
fn the_aws_example_rotates_against_moto() {
    endpoint();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/aws");
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/services/venv/bin");
    assert!(
        std::path::Path::new(venv).join("python3").exists(),
        "{venv}/python3 is missing: run scripts/test, which installs moto (and boto3) there"
    );
    let prefix = unique_prefix();
    let spec = std::fs::read_to_string(format!("{dir}/rotor.hcl"))
        .unwrap()
        .replace("rotor-example/", &prefix);
    let t = Test::new().spec(&spec);
    t.write(
        "aws-secret.py",
        &std::fs::read_to_string(format!("{dir}/aws-secret.py")).unwrap(),
    );
    let path = format!("{venv}:{}", std::env::var("PATH").unwrap_or_default());
    let run = |args: &[&str]| {
        let line = format!("rotor {}", args.join(" "));
        let mut child = t
            .command(args)
            .env("PATH", &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A probe that never passes would keep `--wait` going for ten minutes.
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > LIMIT {
                child.kill().unwrap();
                panic!(
                    "{line} still running after {LIMIT:?}\n{}",
                    finish(child, &line)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        finish(child, &line).success()
    };
    run(&["fmt", "--check"]);
    run(&["apply", "--auto-approve", "--wait"]).stderr_has("Apply complete: 5 steps ran.");
    t.edit(ROTATE_FROM, ROTATE_TO);
    run(&["apply", "--auto-approve", "--wait"]).stderr_has("Apply complete: 9 steps ran.");
    assert_eq!(
        labels(&prefix),
        want(&[("2026-11", &["AWSCURRENT", "rotor-primary", "rotor:2026-11"])])
    );
}
