//! Crash injection: `rotor apply --auto-approve --wait` of a quickstart
//! rotation killed with SIGKILL at its K-th rename, and in a second series
//! at its K-th fsync/fdatasync (`strace -e inject=…`), for every K the
//! rotation reaches, then run again to completion. Renames are where the
//! file store and the JWKS change; fsyncs are every durable point of both
//! and every commit of the state database (a save point of the state). Every
//! rerun must converge to exactly the spec's end state, judged from the
//! files consumers read, with nothing stale, duplicated or left over, and
//! the promise must hold across the crash: a version is in the key set and
//! the JWKS a whole accept window before it is promoted, and the old one
//! stays in both for the whole overlap after the promote.
//!
//! Needs `strace` (Debian's package of that name) and ptrace permission.
//! Every rename and commit rotor makes is counted from one thread; strace
//! counts per thread, which is rotor's main thread today (the lease
//! heartbeat's thread renews every 15 s, after a rotation this short).

use crate::harness::{Output, QUICKSTART, ROTATE_FROM, ROTATE_TO, Test};
use crate::promise::{
    SLACK_MS, Timeline, Watch, jwks_key, jwks_kids, keyset_ids, same_key, store_jwk, summary,
};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const APPLY_WAIT: [&str; 3] = ["apply", "--auto-approve", "--wait"];
const FAMILY: &str = ".rotor/secrets/session_signing_key";
const PRIMARY: &str = ".rotor/secrets/session_signing_key/primary";
const KEYSET: &str = ".rotor/secrets/session_signing_key/keyset.json";
const OLD_META: &str = ".rotor/secrets/session_signing_key/versions/2026-08.json";
const JWKS: &str = "public/.well-known/jwks.json";
/// Every window of [`tiny_quickstart`]: accept, emit, overlap, destroy_after.
const WINDOW_MS: i64 = 1_000;
/// How long one run may take before it counts as stuck.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Kills run in parallel, each in its own directory; most of a run is waiting.
const WORKERS: usize = 4;

/// The quickstart with every window 1 s, so one rotation takes about 3 s.
fn tiny_quickstart() -> String {
    let mut spec = QUICKSTART.to_string();
    for (from, to, n) in [
        ("overlap       = \"5s\"", "overlap       = \"1s\"", 1),
        ("destroy_after = \"3s\"", "destroy_after = \"1s\"", 1),
        ("cache_ttl = \"2s\"", "cache_ttl = \"1s\"", 2),
        ("token_ttl = \"3s\"", "token_ttl = \"0s\"", 1),
    ] {
        assert_eq!(spec.matches(from).count(), n, "`{from}` in the quickstart");
        spec = spec.replace(from, to);
    }
    spec
}

fn require_strace() {
    let ok = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "strace is not installed: `apt-get install strace` (scripts/test should install it)"
    );
}

/// `strace STRACE_ARGS -- rotor ROTOR_ARGS` in the test's directory, with the
/// environment the harness gives rotor.
fn strace_rotor(t: &Test, strace_args: &[&str], rotor_args: &[&str]) -> Command {
    let inner = t.command(rotor_args);
    let mut cmd = Command::new("strace");
    cmd.args(strace_args)
        .arg("--")
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(t.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

/// Runs a command, killing it after `limit`; `None` if it had to be killed.
fn run_limited(mut cmd: Command, line: &str, limit: Duration) -> (Output, bool) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {line}: {e}"));
    let start = Instant::now();
    let mut stuck = false;
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            stuck = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        Output {
            command: line.to_string(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        stuck,
    )
}

/// Copies a directory tree, keeping file and directory modes.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&src).unwrap();
        if meta.is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
        std::fs::set_permissions(&dst, meta.permissions()).unwrap();
    }
}

/// A fresh directory holding the bootstrapped template, rotated to 2026-11.
fn rotation_from(template: &Test) -> Test {
    let t = Test::new();
    copy_tree(template.path(), t.path());
    t.edit(ROTATE_FROM, ROTATE_TO);
    t
}

/// Every file under `rel` whose name ends in `.tmp`.
fn temporaries(t: &Test, rel: &str) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.to_string_lossy().ends_with(".tmp") {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&t.join(rel), t.path(), &mut out);
    out
}

fn keyset_primary(text: &str) -> Option<String> {
    let json: Value = serde_json::from_str(text).ok()?;
    json["primary"].as_str().map(str::to_string)
}

/// What is wrong with the end state after the rerun: each item one line.
fn end_state_problems(t: &Test) -> Vec<String> {
    let mut problems = Vec::new();
    let keyset = t.read(KEYSET);
    if keyset_ids(&keyset) != ["2026-11"] || keyset_primary(&keyset).as_deref() != Some("2026-11") {
        problems.push(format!("keyset.json: {}", summary(KEYSET, &keyset)));
    }
    let primary = t.read(PRIMARY);
    if primary != "2026-11\n" {
        problems.push(format!("primary file says {primary:?}"));
    }
    let jwks = t.read(JWKS);
    let right_key = jwks_key(&jwks, "2026-11")
        .is_some_and(|k| same_key(&k, &store_jwk(t, "session_signing_key", "2026-11")));
    if jwks_kids(&jwks) != ["2026-11"] || !right_key {
        problems.push(format!(
            "JWKS: {} (2026-11 with the store's key: {right_key})",
            crate::promise::jwks_summary(&jwks)
        ));
    }
    let versions = t.list(&format!("{FAMILY}/versions"));
    if versions != ["2026-08.json", "2026-11.json", "2026-11.pem"] {
        problems.push(format!("versions/ holds {versions:?}"));
    }
    let old: Value = serde_json::from_str(&t.read(OLD_META)).unwrap_or(Value::Null);
    if old["enabled"] != false || old["destroyed"] != true {
        problems.push(format!(
            "2026-08.json: {}",
            summary(OLD_META, &t.read(OLD_META))
        ));
    }
    for dir in [".rotor", "public"] {
        let left = temporaries(t, dir);
        if !left.is_empty() {
            problems.push(format!("temporary files left: {left:?}"));
        }
    }
    let plan = t.run(["plan", "--detailed-exitcode"]);
    if plan.code != 0 {
        problems.push(format!(
            "`rotor plan --detailed-exitcode` exits {}: {}",
            plan.code,
            plan.stdout.lines().next().unwrap_or("")
        ));
    }
    problems
}

/// What the files consumers read show of the promise, across the crash and
/// the rerun.
fn promise_problems(timeline: &Timeline) -> Vec<String> {
    let mut problems = Vec::new();
    let keyset_lists = |text: &str, id: &str| keyset_ids(text).iter().any(|v| v == id);
    let jwks_lists = |text: &str, id: &str| jwks_kids(text).iter().any(|v| v == id);
    // The promote, as emitters reading either file see it.
    let promotes: Vec<i64> = [
        timeline.first(PRIMARY, |p| p.trim() == "2026-11"),
        timeline.first(KEYSET, |k| keyset_primary(k).as_deref() == Some("2026-11")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let (Some(&first_promote), Some(&last_promote)) =
        (promotes.iter().min(), promotes.iter().max())
    else {
        return vec!["2026-11 was never promoted".into()];
    };
    for (what, listed) in [
        (
            "keyset.json",
            timeline.first(KEYSET, |k| keyset_lists(k, "2026-11")),
        ),
        (
            "the JWKS",
            timeline.first(JWKS, |j| jwks_lists(j, "2026-11")),
        ),
    ] {
        match listed {
            Some(at) if first_promote - at >= WINDOW_MS - SLACK_MS => {}
            Some(at) => problems.push(format!(
                "2026-11 promoted {} ms after {what} listed it (accept window {WINDOW_MS} ms)",
                first_promote - at
            )),
            None => problems.push(format!("{what} never listed 2026-11")),
        }
    }
    for (what, gone) in [
        (
            "keyset.json",
            timeline.first(KEYSET, |k| {
                !keyset_lists(k, "2026-08") && !keyset_ids(k).is_empty()
            }),
        ),
        (
            "the JWKS",
            timeline.first(JWKS, |j| {
                !jwks_lists(j, "2026-08") && !jwks_kids(j).is_empty()
            }),
        ),
    ] {
        if let Some(at) = gone
            && at - last_promote < WINDOW_MS - SLACK_MS
        {
            problems.push(format!(
                "2026-08 left {what} {} ms after 2026-11's promote (overlap {WINDOW_MS} ms)",
                at - last_promote
            ));
        }
    }
    problems
}

/// One kill at the `k`-th of `syscalls`, then the rerun; `Err` describes
/// what went wrong.
fn crash_at(template: &Test, syscalls: &str, k: usize) -> Result<(), String> {
    let t = rotation_from(template);
    let watch = Watch::start(&t, &[PRIMARY, KEYSET, JWKS, OLD_META]);
    let inject = format!("inject={syscalls}:signal=KILL:when={k}");
    let (killed, stuck) = run_limited(
        strace_rotor(
            &t,
            &["-f", "-qq", "-o", "/dev/null", "-e", &inject],
            &APPLY_WAIT,
        ),
        &format!("strace -e {inject} rotor apply --auto-approve --wait"),
        RUN_LIMIT,
    );
    if stuck {
        return Err(format!(
            "the run to be killed was still running after {RUN_LIMIT:?}\n{killed}"
        ));
    }
    let (rerun, stuck) = run_limited(
        t.command(APPLY_WAIT),
        "rotor apply --auto-approve --wait (rerun)",
        RUN_LIMIT,
    );
    let timeline = watch.stop();
    let mut problems = Vec::new();
    if stuck {
        problems.push(format!(
            "the rerun was still running after {RUN_LIMIT:?}, killed"
        ));
    } else if rerun.code != 0 {
        problems.push(format!("the rerun exited {}", rerun.code));
    } else {
        problems.extend(end_state_problems(&t));
    }
    problems.extend(promise_problems(&timeline));
    if problems.is_empty() {
        return Ok(());
    }
    let origin = timeline
        .first(PRIMARY, |p| p.trim() == "2026-11")
        .unwrap_or_else(crate::promise::now_ms);
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(12)..].join("\n      ")
    };
    Err(format!(
        "{}\n    killed run: exit {}, stderr ends:\n      {}\n    rerun: exit {}, stderr ends:\n      {}\n    files (ms from the promote):\n{}",
        problems.join("\n    "),
        killed.code,
        tail(&killed.stderr),
        rerun.code,
        tail(&rerun.stderr),
        timeline.describe(origin, summary),
    ))
}

#[test]
fn a_rotation_killed_at_any_rename_converges_to_the_spec_on_the_next_apply() {
    killed_at_every("rename,renameat,renameat2", "rename");
}

#[test]
fn a_rotation_killed_at_any_state_commit_or_fsync_converges_on_the_next_apply() {
    killed_at_every("fsync,fdatasync", "fsync");
}

fn killed_at_every(syscalls: &str, what: &str) {
    require_strace();
    let template = Test::new().spec(&tiny_quickstart());
    let boot = template.run_within(RUN_LIMIT, APPLY_WAIT).success();
    assert!(boot.stderr.contains("Apply complete"), "{boot}");

    // How many an uninterrupted rotation makes.
    let counted = rotation_from(&template);
    let trace = counted.join("calls.strace");
    let trace_arg = trace.to_string_lossy().into_owned();
    let (out, stuck) = run_limited(
        strace_rotor(
            &counted,
            &[
                "-f",
                "-qq",
                "-o",
                &trace_arg,
                "-e",
                &format!("trace={syscalls}"),
            ],
            &APPLY_WAIT,
        ),
        &format!("strace -e trace={syscalls} rotor apply --auto-approve --wait"),
        RUN_LIMIT,
    );
    assert!(
        !stuck && out.code == 0,
        "the uninterrupted rotation failed (is ptrace allowed?)\n{out}"
    );
    let renames = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains(what) && !l.contains("resumed>"))
        .count();
    assert!(renames > 10, "only {renames} {what}s traced in {trace_arg}");
    assert!(
        end_state_problems(&counted).is_empty(),
        "the uninterrupted rotation: {:?}",
        end_state_problems(&counted)
    );

    // A run may save its state a few more times than the counted one (more polls).
    let kills = renames + 3;
    let next = AtomicUsize::new(1);
    let failures: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k > kills {
                        return;
                    }
                    if let Err(why) = crash_at(&template, syscalls, k) {
                        failures.lock().unwrap().push((k, why));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|(k, _)| *k);
    assert!(
        failures.is_empty(),
        "{} of {kills} kills (at {what}s 1..={kills}; an uninterrupted rotation makes {renames}) did not converge:\n\n{}",
        failures.len(),
        failures
            .iter()
            .map(|(k, why)| format!("kill at {what} {k}:\n    {why}"))
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// The state moved aside (with its backup) mid-rotation, after the new
/// version was published and before its promote, as rotor's own drift hint
/// suggests: `apply --wait` finished the promote, then re-planned, again and
/// again, a publish step that counted itself done: 100 % CPU, no output, no
/// end. Whatever it does with a version it finds without a history, it must
/// make progress or stop, and keep the promise while doing so.
#[test]
fn apply_after_the_state_is_lost_mid_rotation_makes_progress_or_stops() {
    let t = Test::new().spec(&tiny_quickstart());
    t.run_within(RUN_LIMIT, APPLY_WAIT).success();
    t.edit(ROTATE_FROM, ROTATE_TO);
    let watch = Watch::start(&t, &[PRIMARY, KEYSET, JWKS, OLD_META]);
    // Stops at the accept window, 2026-11 published.
    t.run(["apply", "--auto-approve"]).success();
    assert_eq!(jwks_kids(&t.read(JWKS)), ["2026-08", "2026-11"]);
    assert_eq!(t.read(PRIMARY), "2026-08\n");
    crate::promise::lose_state(&t);

    // A whole rotation of this spec takes about 3 s.
    let limit = Duration::from_secs(30);
    let (wait, stuck) = run_limited(
        t.command(["apply", "--auto-approve", "--wait", "--adopt"]),
        "rotor apply --auto-approve --wait --adopt",
        limit,
    );
    assert!(
        !stuck,
        "apply --wait after the state was lost mid-rotation was still running after {limit:?}\n{wait}"
    );
    let (again, stuck) = run_limited(
        t.command(["apply", "--auto-approve"]),
        "rotor apply --auto-approve",
        Duration::from_secs(30),
    );
    assert!(!stuck, "apply was still running after 30s\n{again}");
    let timeline = watch.stop();
    let problems: Vec<String> = promise_problems(&timeline)
        .into_iter()
        .filter(|p| !p.contains("never promoted"))
        .collect();
    assert!(
        problems.is_empty(),
        "{}\nfiles:\n{}\n{wait}\n{again}",
        problems.join("\n"),
        timeline.describe(crate::promise::now_ms(), summary)
    );
}
