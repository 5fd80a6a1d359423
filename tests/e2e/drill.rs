//! The drill (issue 3): live traffic through demo services while a key is
//! replaced, once as a naive script does it (flag day) and once by rotor.
//!
//! The services are `rotor-drill`'s, run inside this test: a verifier that
//! caches the JWKS for 3s as an API gateway does, a load generator of 50
//! requests a second whose clients keep each token for its 5s lifetime, and
//! a webhook receiver that accepts any enabled HMAC secret. A real
//! Prometheus (started by `scripts/test`, see `scripts/services/prometheus`)
//! scrapes them every second, and rotor's `prometheus` probes gate the
//! rotation on what it saw. The flag-day run must fail requests (the drill
//! can see an outage); the rotor run must fail none.
//!
//! The specs are the ones in `examples/jwt-drill/`, with the ports and the
//! Prometheus address of this run swapped in, and a `drill` label unique to
//! the run so that runs at the same time never read each other's series.

use crate::harness::{Output, Test};
use rotor_drill::{
    LoadConfig, Mode, ReceiverConfig, Server, Summary, VerifierConfig, naive, run_load, verifier,
    webhook,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const JWT_SPEC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/jwt-drill/rotor.hcl"
));
const WEBHOOK_SPEC: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/jwt-drill/webhook/rotor.hcl"
));
/// Where the example specs expect the services and Prometheus.
const EXAMPLE_VERIFIER: &str = "http://127.0.0.1:8081";
const EXAMPLE_RECEIVER: &str = "http://127.0.0.1:8082";
const EXAMPLE_PROMETHEUS: &str = "http://127.0.0.1:9090";

/// The example specs' first version, and the edit that rotates it.
fn rotation(from: &str, to: &str) -> (String, String) {
    (
        format!("version \"{from}\" {{}}\n  active = \"{from}\""),
        format!("version \"{to}\" {{}}\n  active = \"{to}\""),
    )
}

/// The Prometheus `scripts/test` started: its URL and file_sd directory.
/// Missing is a failure, not a skip.
#[derive(Clone)]
struct Prometheus {
    url: String,
    sd_dir: PathBuf,
}

fn prometheus() -> Prometheus {
    let get = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: run scripts/test, which starts Prometheus \
                 (scripts/services/prometheus) and sets PROMETHEUS_URL and ROTOR_PROMETHEUS_SD_DIR"
            )
        })
    };
    Prometheus {
        url: get("PROMETHEUS_URL"),
        sd_dir: PathBuf::from(get("ROTOR_PROMETHEUS_SD_DIR")),
    }
}

/// A service Prometheus scrapes while this lives: a file_sd file naming its
/// address, with a `drill` label unique to this run.
struct Scraped {
    file: PathBuf,
    label: String,
}

impl Scraped {
    fn new(prom: &Prometheus, kind: &str, server: &Server) -> Scraped {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let label = format!("{kind}-{}-{nanos}", std::process::id());
        let file = prom.sd_dir.join(format!("{label}.json"));
        let targets =
            json!([{ "targets": [server.addr().to_string()], "labels": { "drill": label } }]);
        // Atomically: Prometheus watches the directory and must not read half a file.
        let tmp = prom.sd_dir.join(format!("{label}.tmp"));
        std::fs::write(&tmp, targets.to_string()).expect("write a file_sd target");
        std::fs::rename(&tmp, &file).expect("write a file_sd target");
        Scraped { file, label }
    }
}

impl Drop for Scraped {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// An example spec pointed at this run's service, Prometheus and label.
fn spec(
    template: &str,
    example_url: &str,
    server: &Server,
    prom: &Prometheus,
    example_label: &str,
    scraped: &Scraped,
) -> String {
    relabel(template, example_label, &scraped.label)
        .replace(example_url, &server.url())
        .replace(EXAMPLE_PROMETHEUS, &prom.url)
}

/// `template` with every `drill="FROM"` selector (escaped, as in HCL) made
/// `drill="TO"`. A selector left behind would read the example's series,
/// or none, so the rewrite must reach every query, the `up` fallbacks too.
#[track_caller]
fn relabel(template: &str, from: &str, to: &str) -> String {
    let selector = |label: &str| format!("drill=\\\"{label}\\\"");
    let queries = template
        .lines()
        .filter(|l| l.trim_start().starts_with("query "))
        .count();
    assert_eq!(
        template.matches(&selector(from)).count(),
        2 * queries,
        "every query should select drill=\"{from}\" twice, in its rate and in its `up` fallback"
    );
    template.replace(&selector(from), &selector(to))
}

/// The `verify "prometheus"` block of `template` that runs `on = ["PHASE"]`.
fn prometheus_block(template: &str, phase: &str) -> String {
    let on = format!("[\"{phase}\"]");
    template
        .split("verify \"prometheus\" {")
        .skip(1)
        .map(|rest| rest.split("\n  }").next().unwrap())
        .find(|block| {
            block
                .lines()
                .any(|l| l.trim_start().starts_with("on ") && l.ends_with(&on))
        })
        .unwrap_or_else(|| panic!("no prometheus probe on {phase} in the example"))
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("within ") {
                // Failing is the point: seconds, not the example's minute.
                "    within = \"3s\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The example's drain or guard probe, as written, in a small rotation of a
/// service Prometheus does not scrape (a label no target has): the gate
/// must fail for want of data, never pass on it. Seconds long: 1s windows,
/// `within = "3s"`.
fn unscraped_gate_fails(phase: &str) {
    let prom = prometheus();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let label = format!("unscraped-{}-{nanos}", std::process::id());
    let probe = relabel(&prometheus_block(JWT_SPEC, phase), "jwt", &label)
        .replace(EXAMPLE_PROMETHEUS, &prom.url);
    let t = Test::new().spec(&format!(
        r#"store "file" "local" {{}}

secret "unscraped" {{
  owner         = "team-drill"
  store         = store.file.local
  cadence       = "90d"
  review_by     = "2027-06-01"
  overlap       = "1s"
  destroy_after = "1s"

  generate "random" {{
    length = 32
  }}

  version "u1" {{}}
  active = "u1"
}}

consumer "receiver" {{
  accepts   = secret.unscraped
  cache_ttl = "1s"

  verify "prometheus" {{{probe}
  }}
}}

consumer "sender" {{
  emits     = secret.unscraped
  cache_ttl = "1s"
}}
"#
    ));
    t.run(["apply", "--auto-approve", "--wait"]).success();
    let (from, to) = rotation("u1", "u2");
    t.edit(&from, &to);
    t.run(["apply", "--auto-approve", "--wait"])
        .failure()
        .stderr_has(&format!(
            "{phase} prometheus probe of consumer.receiver did not pass for u1 within 3s"
        ));
    let state = t.show_json();
    let u1 = &state["families"]["unscraped"]["versions"]["u1"];
    let role = if phase == "drain" { "drain" } else { "guarded" };
    assert!(u1[role]["receiver"].is_null(), "{phase} passed:\n{u1:#}");
    let attempt = u1["last_attempt"]
        .as_object()
        .and_then(|a| a.values().find(|e| e["probe"] == "prometheus"))
        .unwrap_or_else(|| panic!("no prometheus attempt recorded:\n{u1:#}"));
    assert_eq!(attempt["outcome"], "failed", "{u1:#}");
}

/// Regression: the example queries ended in `or vector(0)`, so with nothing
/// scraped the drain read 0 (below 0.01) and passed.
#[test]
fn drill_drain_fails_when_prometheus_does_not_scrape_the_service() {
    unscraped_gate_fails("drain");
}

/// Regression: with `or vector(0)` an unscraped guard read 0 against a
/// baseline of 0 and passed.
#[test]
fn drill_guard_fails_when_prometheus_does_not_scrape_the_service() {
    unscraped_gate_fails("guard");
}

/// `rotor ARGS` in the test's directory, without blocking the runtime; killed after 90s.
async fn rotor(t: &Test, args: &[&str]) -> Output {
    let line = format!("rotor {}", args.join(" "));
    let mut cmd = tokio::process::Command::from(t.command(args));
    cmd.kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(90), cmd.output()).await {
        Ok(out) => Output::new(line, out.expect("run rotor")),
        Err(_) => panic!("{line}: still running after 90s, killed"),
    }
}

/// One drill: a test directory, a service with its load, and Prometheus scraping it.
struct Drill {
    t: Test,
    // Dropped after the load has stopped (fields drop in order).
    stop: watch::Sender<bool>,
    load: JoinHandle<Summary>,
    _scraped: Scraped,
    _server: Server,
}

impl Drill {
    /// Stops the load and returns what it counted.
    async fn finish(self) -> (Test, Summary) {
        self.stop.send(true).unwrap();
        let summary = self.load.await.expect("the load generator panicked");
        (self.t, summary)
    }
}

/// The JWT drill's first half, the same for both runs: a verifier, the
/// load, and `rotor apply` bootstrapping v1 (the load sends nothing until
/// the store has a primary, and rotor promotes v1 only once the verifier
/// has accepted it).
async fn start_jwt(prom: &Prometheus, kind: &str) -> Drill {
    let t = Test::new();
    let server = verifier::start(VerifierConfig {
        jwks: t.join("public/jwks.json").to_string_lossy().into_owned(),
        cache_ttl: Duration::from_secs(3),
        listen: "127.0.0.1:0".into(),
        port_file: None,
    })
    .await
    .expect("start the verifier");
    let scraped = Scraped::new(prom, kind, &server);
    let t = t.spec(&spec(
        JWT_SPEC,
        EXAMPLE_VERIFIER,
        &server,
        prom,
        "jwt",
        &scraped,
    ));
    let (stop, stopped) = watch::channel(false);
    let load = tokio::spawn(run_load(
        LoadConfig {
            target: format!("{}/verify", server.url()),
            rps: 50,
            store: t.join(".rotor/secrets"),
            family: "drill_signing_key".into(),
            refresh: Duration::from_secs(1),
            token_ttl: Duration::from_secs(5),
            clients: 5,
            mode: Mode::Jwt,
        },
        stopped,
    ));
    rotor(&t, &["apply", "--auto-approve", "--wait"])
        .await
        .success();
    // Steady traffic with v1 before the switch.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Drill {
        t,
        stop,
        load,
        _scraped: scraped,
        _server: server,
    }
}

/// Flag day: a new key written over the old one, the JWKS rewritten to hold
/// only it, all at once; then long enough for every cache and token to turn over.
async fn flag_day(prom: Prometheus) -> Summary {
    let d = start_jwt(&prom, "jwt-flag-day").await;
    naive::rotate(
        &d.t.join(".rotor/secrets"),
        "drill_signing_key",
        "v2",
        Some(&d.t.join("public/jwks.json")),
    )
    .expect("the naive swap");
    // verifier cache 3s + emitter refresh 1s + token_ttl 5s, and a margin.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (_, summary) = d.finish().await;
    assert!(
        summary.sent_by_kid.contains_key("v2"),
        "the emitter never signed with the swapped-in key: {summary:?}"
    );
    summary
}

/// The rotor run: the pull-request edit (v2 in, v1 out) and one `rotor apply --wait`.
async fn rotor_rotation(prom: Prometheus) -> (Summary, Value) {
    let d = start_jwt(&prom, "jwt-rotor").await;
    let (from, to) = rotation("v1", "v2");
    d.t.edit(&from, &to);
    rotor(&d.t, &["apply", "--auto-approve", "--wait"])
        .await
        .success()
        .stderr_has("Apply complete");
    // Traffic after the old key is gone from every key set.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (t, summary) = d.finish().await;
    (summary, t.show_json())
}

/// The evidence a version holds for `consumer` in `role`, checked to be a pass by `probe`.
#[track_caller]
fn assert_evidence(state: &Value, version: &str, role: &str, consumer: &str, probe: &str) {
    let family = state["families"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    let e = &family["versions"][version][role][consumer];
    assert_eq!(
        (e["outcome"].as_str(), e["probe"].as_str()),
        (Some("passed"), Some(probe)),
        "{version} {role} by {consumer}:\n{family:#}"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn drill_flag_day_swap_fails_requests_and_rotor_rotation_fails_none() {
    let prom = prometheus();
    let rt = runtime();
    // Both runs at once, with the same traffic: each has its own directory,
    // verifier, load and Prometheus label.
    let flag = rt.spawn(flag_day(prom.clone()));
    let rotated = rt.spawn(rotor_rotation(prom));
    let (flag, (rotated, state)) = rt.block_on(async {
        (
            flag.await.expect("flag-day run"),
            rotated.await.expect("rotor run"),
        )
    });
    eprintln!(
        "drill: flag-day: {} requests, {} failed; rotor: {} requests, {} failed",
        flag.sent, flag.failed, rotated.sent, rotated.failed
    );
    eprintln!("drill: flag-day {flag:?}\ndrill: rotor {rotated:?}");

    assert!(
        flag.failed > 0,
        "the flag-day swap failed no request: the drill cannot see an outage\n{flag:?}"
    );
    assert_eq!(
        rotated.failed, 0,
        "rotor's rotation failed requests\n{rotated:?}"
    );
    for kid in ["v1", "v2"] {
        assert!(
            rotated.sent_by_kid.get(kid).is_some_and(|&n| n > 50),
            "traffic should have flowed under {kid} for a while: {rotated:?}"
        );
    }

    let family = &state["families"]["drill_signing_key"];
    assert_eq!(family["active"], "v2", "{family:#}");
    assert_eq!(family["versions"]["v2"]["phase"], "active", "{family:#}");
    assert_eq!(family["versions"]["v1"]["phase"], "destroyed", "{family:#}");
    assert_evidence(&state, "v2", "accepted", "verifier", "jwks,http");
    assert_evidence(&state, "v2", "emitted", "load", "prometheus");
    assert_evidence(&state, "v1", "drain", "verifier", "prometheus");
    assert_evidence(&state, "v1", "guarded", "verifier", "prometheus");
}

/// A webhook secret rotated while webhooks flow: the receiver accepts every
/// enabled version, so the sender's switch is invisible to it.
#[test]
fn drill_webhook_secret_rotates_without_a_failed_webhook() {
    let prom = prometheus();
    let rt = runtime();
    let (summary, state) = rt.block_on(async {
        let t = Test::new();
        let server = webhook::start(ReceiverConfig {
            store: t.join(".rotor/secrets"),
            family: "webhook_secret".into(),
            cache_ttl: Duration::from_secs(2),
            listen: "127.0.0.1:0".into(),
            port_file: None,
        })
        .await
        .expect("start the receiver");
        let scraped = Scraped::new(&prom, "webhook", &server);
        let t = t.spec(&spec(
            WEBHOOK_SPEC,
            EXAMPLE_RECEIVER,
            &server,
            &prom,
            "webhook",
            &scraped,
        ));
        let (stop, stopped) = watch::channel(false);
        let load = tokio::spawn(run_load(
            LoadConfig {
                target: format!("{}/hook", server.url()),
                rps: 50,
                store: t.join(".rotor/secrets"),
                family: "webhook_secret".into(),
                refresh: Duration::from_secs(1),
                token_ttl: Duration::ZERO,
                clients: 1,
                mode: Mode::Hmac,
            },
            stopped,
        ));
        rotor(&t, &["apply", "--auto-approve", "--wait"])
            .await
            .success();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (from, to) = rotation("w1", "w2");
        t.edit(&from, &to);
        rotor(&t, &["apply", "--auto-approve", "--wait"])
            .await
            .success()
            .stderr_has("Apply complete");
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.send(true).unwrap();
        let summary = load.await.unwrap();
        drop(scraped);
        (summary, t.show_json())
    });
    eprintln!(
        "drill: webhook: {} requests, {} failed",
        summary.sent, summary.failed
    );
    assert_eq!(
        summary.failed, 0,
        "webhooks failed during the rotation\n{summary:?}"
    );
    for id in ["w1", "w2"] {
        assert!(
            summary.sent_by_kid.get(id).is_some_and(|&n| n > 50),
            "webhooks should have been signed with {id} for a while: {summary:?}"
        );
    }
    let family = &state["families"]["webhook_secret"];
    assert_eq!(family["versions"]["w1"]["phase"], "destroyed", "{family:#}");
    assert_evidence(&state, "w2", "accepted", "receiver", "http");
    assert_evidence(&state, "w2", "emitted", "sender", "prometheus");
    assert_evidence(&state, "w1", "drain", "receiver", "prometheus");
    assert_evidence(&state, "w1", "guarded", "receiver", "prometheus");
}
