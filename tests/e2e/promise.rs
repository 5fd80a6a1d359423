//! The promise, judged from outside rotor: each test reproduces, through
//! supported commands only, a way the promise was once broken (issue 10),
//! and checks the safe behaviour against what consumers actually read: the
//! store's files (`keyset.json`, `primary`, `versions/<id>.json`), the
//! published JWKS (key material, not only kids) and, for probes, what the
//! probe scripts themselves logged. rotor's own state is used only where
//! nothing outside it can tell.
//!
//! Times come from a [`Watch`]: a thread that polls the files every 20 ms
//! and records each change with the file's modification time.

use crate::harness::{FAMILY_DIR, QUICKSTART, ROTATE_FROM, Test, finish, poll};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Long enough for any quickstart-sized rotation with second-scale windows.
pub(crate) const LIMIT: Duration = Duration::from_secs(90);

/// How far apart two observed times may be from the true ones: a file's
/// modification time is taken just before its atomic rename, and the
/// watcher polls every 20 ms.
pub(crate) const SLACK_MS: i64 = 60;

const APPLY_WAIT: [&str; 3] = ["apply", "--auto-approve", "--wait"];
const APPLY: [&str; 2] = ["apply", "--auto-approve"];

const PRIMARY: &str = ".rotor/secrets/session_signing_key/primary";
const KEYSET: &str = ".rotor/secrets/session_signing_key/keyset.json";
const JWKS: &str = "public/.well-known/jwks.json";

/// The quickstart's emitter probe, as shipped.
const QUICKSTART_EMIT_PROBE: &str = r#"    command = ["sh", "-c", "test \"$(cat .rotor/secrets/session_signing_key/primary)\" = \"$ROTOR_VERSION\""]"#;
/// The quickstart's verifier probe, as shipped.
const QUICKSTART_ACCEPT_PROBE: &str =
    r#"    command = ["sh", "-c", "grep -q \"\\\"$ROTOR_KID\\\"\" public/.well-known/jwks.json"]"#;
/// The quickstart's verifier cache.
const QUICKSTART_ACCEPT_WINDOW_MS: i64 = 2_000;
/// The quickstart's overlap.
const QUICKSTART_OVERLAP_MS: i64 = 5_000;

/// Loses the state as a user would: the state database moved aside.
pub(crate) fn lose_state(t: &Test) {
    for name in ["state.db", "state.db-wal", "state.db-shm"] {
        if t.exists(&format!(".rotor/{name}")) {
            std::fs::rename(
                t.join(&format!(".rotor/{name}")),
                t.join(&format!("{name}.aside")),
            )
            .unwrap();
        }
    }
}

/// Milliseconds since the epoch, wall clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn mtime_ms(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// One observed state of a watched file: from `at` (ms since the epoch) it
/// held `text` (`None`: it did not exist).
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub at: i64,
    pub text: Option<String>,
}

/// Polls files in a test's directory every 20 ms from a background thread,
/// recording every change of their contents.
pub(crate) struct Watch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<BTreeMap<String, Vec<Change>>>>,
}

impl Watch {
    /// Starts watching `files` (relative to the test's directory); their
    /// current contents are the first entries.
    pub fn start(t: &Test, files: &[&str]) -> Watch {
        let root: PathBuf = t.path().to_path_buf();
        let files: Vec<String> = files.iter().map(|f| f.to_string()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut seen: BTreeMap<String, Vec<Change>> = BTreeMap::new();
            loop {
                // Read once more after the stop flag, so the last state is recorded.
                let last = stopping.load(Ordering::SeqCst);
                for rel in &files {
                    let path = root.join(rel);
                    let observed = now_ms();
                    let before = std::fs::metadata(&path).ok();
                    let text = std::fs::read_to_string(&path).ok();
                    let after = std::fs::metadata(&path).ok();
                    let history = seen.entry(rel.clone()).or_default();
                    if history.last().map(|c| &c.text) == Some(&text) {
                        continue;
                    }
                    // The modification time dates a change precisely when the
                    // file was not replaced again while it was read.
                    let stamped = match (&before, &after) {
                        (Some(b), Some(a)) if mtime_ms(b) == mtime_ms(a) => mtime_ms(a),
                        _ => None,
                    };
                    let at = match (history.is_empty(), stamped) {
                        (false, Some(m)) => m.min(observed),
                        _ => observed,
                    };
                    history.push(Change { at, text });
                }
                if last {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Watch {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops watching; the history of every file.
    pub fn stop(mut self) -> Timeline {
        self.stop.store(true, Ordering::SeqCst);
        let files = self.handle.take().unwrap().join().expect("watcher thread");
        Timeline { files }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What a [`Watch`] saw.
pub(crate) struct Timeline {
    files: BTreeMap<String, Vec<Change>>,
}

impl Timeline {
    /// Every observed state of `file`, oldest first.
    pub fn of(&self, file: &str) -> &[Change] {
        self.files
            .get(file)
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("{file} was not watched"))
    }

    /// The times at which `holds` became true of `file` (it was false, or
    /// the file did not exist, just before), oldest first.
    pub fn became(&self, file: &str, holds: impl Fn(&str) -> bool) -> Vec<i64> {
        let mut out = Vec::new();
        let mut was = None;
        for c in self.of(file) {
            let now = c.text.as_deref().is_some_and(&holds);
            if now && was != Some(true) {
                // The first observation dates nothing: it was already so.
                if was.is_some() {
                    out.push(c.at);
                }
            }
            was = Some(now);
        }
        out
    }

    /// The first time `holds` became true of `file`.
    pub fn first(&self, file: &str, holds: impl Fn(&str) -> bool) -> Option<i64> {
        self.became(file, holds).first().copied()
    }

    /// A readable history, for failure messages: time relative to `origin`
    /// and a one-line summary of each state.
    pub fn describe(&self, origin: i64, summary: impl Fn(&str, &str) -> String) -> String {
        let mut out = String::new();
        for (file, changes) in &self.files {
            out.push_str(&format!("  {file}:\n"));
            for c in changes {
                let what = match &c.text {
                    Some(text) => summary(file, text),
                    None => "(absent)".to_string(),
                };
                out.push_str(&format!("    {:+7} ms  {what}\n", c.at - origin));
            }
        }
        out
    }
}

/// The version ids `keyset.json` lists (empty if it is not JSON yet).
pub(crate) fn keyset_ids(text: &str) -> Vec<String> {
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    json["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter_map(|v| v["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The kids a JWKS lists (empty if it is not JSON yet).
pub(crate) fn jwks_kids(text: &str) -> Vec<String> {
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    json["keys"]
        .as_array()
        .map(|ks| {
            ks.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The key a JWKS lists under `kid`.
pub(crate) fn jwks_key(text: &str, kid: &str) -> Option<Value> {
    let json: Value = serde_json::from_str(text).ok()?;
    json["keys"]
        .as_array()?
        .iter()
        .find(|k| k["kid"] == kid)
        .cloned()
}

/// The public JWK a store's `versions/<id>.json` records for a version.
pub(crate) fn store_jwk(t: &Test, family: &str, id: &str) -> Value {
    let meta: Value =
        serde_json::from_str(&t.read(&format!(".rotor/secrets/{family}/versions/{id}.json")))
            .unwrap();
    assert!(meta["jwk"].is_object(), "no jwk in {meta:#}");
    meta["jwk"].clone()
}

/// Whether a published key holds the same key material as a store's JWK:
/// every member of the store's JWK (`kty`, `n`, `e` or `crv`, `x`, `y`) is equal.
pub(crate) fn same_key(published: &Value, store: &Value) -> bool {
    let members = store.as_object().expect("a JWK is an object");
    !members.is_empty() && members.iter().all(|(k, v)| &published[k] == v)
}

/// A short view of a JWKS: each kid with the start of its key.
pub(crate) fn jwks_summary(text: &str) -> String {
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        return format!("(not JSON: {} bytes)", text.len());
    };
    let keys: Vec<String> = json["keys"]
        .as_array()
        .map(|ks| {
            ks.iter()
                .map(|k| {
                    let material = k["n"].as_str().or(k["x"].as_str()).unwrap_or("?");
                    format!(
                        "{}:{}",
                        k["kid"].as_str().unwrap_or("?"),
                        &material[..material.len().min(10)]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!("keys [{}]", keys.join(", "))
}

/// A one-line summary of a watched file's contents.
pub(crate) fn summary(file: &str, text: &str) -> String {
    if file.ends_with("keyset.json") {
        let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        format!(
            "versions {:?}, primary {}",
            keyset_ids(text),
            json["primary"]
        )
    } else if file.contains("/versions/") && file.ends_with(".json") {
        let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        format!(
            "enabled {}, destroyed {}",
            json["enabled"], json["destroyed"]
        )
    } else if file.ends_with(".json") {
        jwks_summary(text)
    } else {
        format!("{:?}", text.trim())
    }
}

/// The quickstart, with `from` replaced by `to` (which must occur once).
fn quickstart_with(edits: &[(&str, &str)]) -> String {
    let mut spec = QUICKSTART.to_string();
    for (from, to) in edits {
        assert_eq!(spec.matches(from).count(), 1, "`{from}` in the quickstart");
        spec = spec.replacen(from, to, 1);
    }
    spec
}

// ---------------------------------------------------------------------------
// 1. Evidence outlives its term.

/// The emitter's probe: logs each run (time in ms, version, phase), then
/// checks, as the quickstart's does, that the primary is the version.
const LOGGING_EMIT_PROBE: &str = r#"printf '%s %s %s\n' "$(date +%s%3N)" "$ROTOR_VERSION" "$ROTOR_PHASE" >> emit-probe.log
test "$(cat .rotor/secrets/session_signing_key/primary)" = "$ROTOR_VERSION"
"#;

/// The runs of the emit probe logged so far: (ms since the epoch, version).
fn emit_probe_runs(t: &Test) -> Vec<(i64, String)> {
    if !t.exists("emit-probe.log") {
        return Vec::new();
    }
    t.read("emit-probe.log")
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace();
            let at: i64 = w.next().unwrap().parse().expect("date +%s%3N");
            (at, w.next().unwrap().to_string())
        })
        .collect()
}

/// `rotate` → apply → `rollback` → apply → `retire NEWER` → `apply --wait`:
/// 2026-08's emit gate was opened by the probe pass recorded in its earlier
/// term as primary; the probe never ran again, and 2026-11 was disabled
/// while nothing had checked that the emitter signs with 2026-08 again.
#[test]
fn after_a_rollback_the_emit_probe_runs_again_before_the_newer_version_is_revoked() {
    let t = Test::new().spec(&quickstart_with(&[(
        QUICKSTART_EMIT_PROBE,
        r#"    command = ["sh", "emit-probe.sh"]"#,
    )]));
    t.write("emit-probe.sh", LOGGING_EMIT_PROBE);
    t.run_within(LIMIT, APPLY_WAIT).success();
    t.run(["rotate", "session_signing_key", "--version", "2026-11"])
        .success();
    t.run_within(LIMIT, APPLY_WAIT).success();
    assert_eq!(t.read(PRIMARY), "2026-11\n");

    let watch = Watch::start(&t, &[PRIMARY, KEYSET, JWKS]);
    t.run(["rollback", "session_signing_key"])
        .success()
        .stderr_has("rolls emitters back to 2026-08");
    t.run(APPLY).success();
    assert_eq!(
        t.read(PRIMARY),
        "2026-08\n",
        "the rollback promoted 2026-08"
    );
    t.run(["retire", "session_signing_key", "2026-11"])
        .success();
    let last = t.run_within(LIMIT, APPLY_WAIT).success();
    let timeline = watch.stop();

    let promoted = timeline
        .first(PRIMARY, |p| p.trim() == "2026-08")
        .expect("the rollback's promote of 2026-08 was seen");
    let revoked = timeline
        .first(KEYSET, |k| !keyset_ids(k).contains(&"2026-11".to_string()))
        .unwrap_or_else(|| panic!("2026-11 never left keyset.json\n{last}"));
    let runs = emit_probe_runs(&t);
    let history = timeline.describe(promoted, summary);
    let log: Vec<String> = runs
        .iter()
        .map(|(at, v)| format!("    {:+7} ms  {v}", at - promoted))
        .collect();
    assert!(
        runs.iter()
            .any(|(at, v)| v == "2026-08" && *at >= promoted && *at <= revoked),
        "2026-11 was revoked at {:+} ms without the emit probe of 2026-08 running after its \
         rollback promote (at 0 ms): the gate was opened by evidence from 2026-08's earlier term\n\
         emit probe runs:\n{}\nfiles:\n{history}\n{last}",
        revoked - promoted,
        log.join("\n"),
    );
}

/// The same with `verify "manual"`: an approval given in 2026-08's earlier
/// term must not open its emit gate after the rollback.
#[test]
fn after_a_rollback_an_approval_from_the_earlier_term_does_not_open_the_emit_gate() {
    let emit_probe =
        format!("  verify \"command\" {{\n{QUICKSTART_EMIT_PROBE}\n    timeout = \"5s\"\n  }}");
    let t = Test::new().spec(&quickstart_with(&[(&emit_probe, "  verify \"manual\" {}")]));
    let approve = |v: &str| {
        t.run(["approve", "session_signing_key", v, "emit.auth_service"])
            .success();
    };
    // `apply --wait` waits for a manual gate as for any other: apply without
    // it, again and again, until the primary is `id`, then approve.
    let promote = |id: &str| {
        poll(LIMIT, &format!("{id} to be promoted"), || {
            t.run(APPLY).success();
            let primary = std::fs::read_to_string(t.join(PRIMARY)).unwrap_or_default();
            (primary.trim() == id).then_some(())
        });
        t.run(APPLY).success().says(&[format!(
            "rotor approve session_signing_key {id} emit.auth_service"
        )]);
        approve(id);
        t.run_within(LIMIT, APPLY_WAIT).success();
    };
    promote("2026-08");
    t.run(["plan", "--detailed-exitcode"]).success();
    t.run(["rotate", "session_signing_key", "--version", "2026-11"])
        .success();
    promote("2026-11");
    t.run(["plan", "--detailed-exitcode"]).success();

    t.run(["rollback", "session_signing_key"]).success();
    t.run(["retire", "session_signing_key", "2026-11"])
        .success();
    let watch = Watch::start(&t, &[PRIMARY, KEYSET, JWKS]);
    // Applies, without --wait, for longer than the emit window and the
    // overlap after the rollback's promote.
    let mut last = t.run(APPLY).success();
    assert_eq!(
        t.read(PRIMARY),
        "2026-08\n",
        "the rollback promoted 2026-08"
    );
    let promoted = now_ms();
    while now_ms() - promoted < QUICKSTART_OVERLAP_MS + 2_000 {
        std::thread::sleep(Duration::from_millis(300));
        last = t.run(APPLY).success();
    }
    let timeline = watch.stop();

    // Nobody confirmed that auth_service signs with 2026-08 again: 2026-11
    // must still be accepted everywhere.
    let meta: Value =
        serde_json::from_str(&t.read(&format!("{FAMILY_DIR}/versions/2026-11.json"))).unwrap();
    assert!(
        meta["enabled"] == true
            && keyset_ids(&t.read(KEYSET)).contains(&"2026-11".to_string())
            && jwks_kids(&t.read(JWKS)).contains(&"2026-11".to_string()),
        "2026-11 was revoked on an approval of 2026-08's emit gate given in 2026-08's earlier \
         term, before its rollback promote\nfiles:\n{}\n{last}",
        timeline.describe(promoted, summary),
    );
    last.says(&["rotor approve session_signing_key 2026-08 emit.auth_service"]);

    // A fresh approval opens it.
    approve("2026-08");
    t.run_within(LIMIT, APPLY_WAIT).success();
    assert_eq!(keyset_ids(&t.read(KEYSET)), ["2026-08"]);
    assert_eq!(jwks_kids(&t.read(JWKS)), ["2026-08"]);
}

// ---------------------------------------------------------------------------
// 2. A lost state.

/// With the state moved aside, the live primary
/// was adopted as never promoted, and its revoke skipped the overlap: it was
/// disabled about 2 s after its successor's promote, against a 5 s overlap.
#[test]
fn after_the_state_is_lost_the_old_primary_is_held_a_full_overlap_after_the_new_promote() {
    let t = Test::quickstart();
    t.run_within(LIMIT, APPLY_WAIT).success();
    assert_eq!(t.read(PRIMARY), "2026-08\n");
    lose_state(&t);

    let old_meta = format!("{FAMILY_DIR}/versions/2026-08.json");
    let watch = Watch::start(&t, &[PRIMARY, KEYSET, &old_meta]);
    t.run(["rotate", "session_signing_key", "--version", "2026-11"])
        .success();
    // The store knows it is another state's family: taking it over is said out loud.
    t.run(["plan"])
        .success()
        .says(&["for another state", "rotor apply --adopt"]);
    t.run_within(LIMIT, APPLY_WAIT)
        .failure()
        .says(&["for another state", "rotor apply --adopt"]);
    assert_eq!(t.read(PRIMARY), "2026-08\n");
    let rotation = t
        .run_within(LIMIT, ["apply", "--auto-approve", "--wait", "--adopt"])
        .success();
    assert_eq!(t.read(PRIMARY), "2026-11\n");
    t.run(["retire", "session_signing_key", "2026-08"])
        .success();
    let retire = t.run_within(LIMIT, APPLY_WAIT).success();
    let timeline = watch.stop();

    let promoted = timeline
        .first(PRIMARY, |p| p.trim() == "2026-11")
        .expect("2026-11's promote was seen");
    let left_keyset = timeline
        .first(KEYSET, |k| !keyset_ids(k).contains(&"2026-08".to_string()))
        .expect("2026-08 left keyset.json");
    let disabled = timeline
        .first(&old_meta, |m| m.contains("\"enabled\": false"))
        .expect("2026-08 was disabled");
    let revoked = left_keyset.min(disabled);
    assert!(
        revoked - promoted >= QUICKSTART_OVERLAP_MS - SLACK_MS,
        "2026-08, the live primary when the state was lost, was revoked {} ms after 2026-11's \
         promote, against a {QUICKSTART_OVERLAP_MS} ms overlap\nfiles:\n{}\n{rotation}\n{retire}",
        revoked - promoted,
        timeline.describe(promoted, summary),
    );
}

// ---------------------------------------------------------------------------
// 3. Publication per publisher.

/// Two JWKS publishers; api_gateway reads the second one, `cdn`, and caches
/// it for 4 s. Its probe checks that file.
const TWO_PUBLISHERS: &str = r#"store "file" "local" {
  path = ".rotor/secrets"
}

secret "session_signing_key" {
  owner         = "team-identity"
  store         = store.file.local
  cadence       = "90d"
  review_by     = "2027-02-01"
  overlap       = "5s"
  destroy_after = "2s"

  generate "ec" {}

  version "2026-08" {}
  active = "2026-08"
}

publish "jwks" "public" {
  secret = secret.session_signing_key
  path   = "public/.well-known/jwks.json"
}

publish "jwks" "cdn" {
  secret = secret.session_signing_key
  path   = "cdn/jwks.json"
}

consumer "api_gateway" {
  accepts   = secret.session_signing_key
  via       = publish.jwks.cdn
  cache_ttl = "4s"

  verify "command" {
    command = ["sh", "-c", "grep -q \"\\\"$ROTOR_KID\\\"\" cdn/jwks.json"]
  }
}

consumer "auth_service" {
  emits     = secret.session_signing_key
  cache_ttl = "1s"
  token_ttl = "1s"

  verify "command" {
    command = ["sh", "-c", "test \"$(cat .rotor/secrets/session_signing_key/primary)\" = \"$ROTOR_VERSION\""]
  }
}
"#;
const CDN: &str = "cdn/jwks.json";
const CDN_WINDOW_MS: i64 = 4_000;

/// One failed write to the second publisher, then a successful one: the
/// promote came milliseconds after that publisher first listed the new kid,
/// because the window ran from the first publisher's write.
#[test]
fn a_verifier_reading_via_a_second_publisher_gets_its_window_from_that_publisher() {
    let t = Test::new().spec(TWO_PUBLISHERS);
    t.run(["validate"]).success();
    t.run_within(LIMIT, APPLY_WAIT).success();
    assert_eq!(jwks_kids(&t.read(CDN)), ["2026-08"]);

    let watch = Watch::start(&t, &[PRIMARY, JWKS, CDN]);
    t.run(["rotate", "session_signing_key", "--version", "2026-11"])
        .success();
    // The cdn's writes fail: a directory squats its temporary file's name
    // (works as root too, unlike a read-only directory).
    std::fs::create_dir_all(t.join("cdn/.jwks.json.tmp/blocked")).unwrap();
    t.run(APPLY).failure().says(&["publish.jwks.cdn"]);
    assert_eq!(jwks_kids(&t.read(JWKS)), ["2026-08", "2026-11"]);
    assert_eq!(jwks_kids(&t.read(CDN)), ["2026-08"]);
    assert_eq!(t.read(PRIMARY), "2026-08\n");

    // Longer than the cache window, counted from the first publisher's write.
    std::thread::sleep(Duration::from_millis(CDN_WINDOW_MS as u64 + 500));
    std::fs::remove_dir_all(t.join("cdn/.jwks.json.tmp")).unwrap();
    let apply = t.run_within(LIMIT, APPLY_WAIT).success();
    let timeline = watch.stop();

    let promoted = timeline
        .first(PRIMARY, |p| p.trim() == "2026-11")
        .unwrap_or_else(|| panic!("2026-11 was never promoted\n{apply}"));
    let listed = timeline
        .became(CDN, |j| jwks_kids(j).contains(&"2026-11".to_string()))
        .into_iter()
        .filter(|&at| at <= promoted)
        .max()
        .expect("cdn/jwks.json listed 2026-11 before the promote");
    assert!(
        promoted - listed >= CDN_WINDOW_MS - SLACK_MS,
        "2026-11 was promoted {} ms after cdn/jwks.json (what api_gateway reads, caching it for \
         {CDN_WINDOW_MS} ms) first listed it\nfiles:\n{}\n{apply}",
        promoted - listed,
        timeline.describe(listed, summary),
    );
}

/// A JWKS put back to older contents outside rotor, mid-rotation and before
/// the promote: rotor rewrote it, and promoted at once, counting the window
/// from its first write.
#[test]
fn a_jwks_restored_to_old_contents_before_the_promote_restarts_the_accept_window() {
    let t = Test::quickstart();
    t.run_within(LIMIT, APPLY_WAIT).success();
    let old_jwks = t.read(JWKS);
    assert_eq!(jwks_kids(&old_jwks), ["2026-08"]);

    t.run(["rotate", "session_signing_key", "--version", "2026-11"])
        .success();
    // Stops at the accept window.
    t.run(APPLY).success();
    assert_eq!(jwks_kids(&t.read(JWKS)), ["2026-08", "2026-11"]);
    assert_eq!(t.read(PRIMARY), "2026-08\n");
    std::thread::sleep(Duration::from_millis(
        QUICKSTART_ACCEPT_WINDOW_MS as u64 + 500,
    ));

    let watch = Watch::start(&t, &[PRIMARY, JWKS]);
    // Someone restores last week's key set (a deploy of an old artefact, a
    // backup), replacing the file atomically as a deploy would.
    t.write("old-jwks.json", &old_jwks);
    std::fs::rename(t.join("old-jwks.json"), t.join(JWKS)).unwrap();
    assert_eq!(t.read(PRIMARY), "2026-08\n", "restored before the promote");
    let apply = t.run_within(LIMIT, APPLY_WAIT).success();
    let timeline = watch.stop();

    let promoted = timeline
        .first(PRIMARY, |p| p.trim() == "2026-11")
        .unwrap_or_else(|| panic!("2026-11 was never promoted\n{apply}"));
    let relisted = timeline
        .became(JWKS, |j| jwks_kids(j).contains(&"2026-11".to_string()))
        .into_iter()
        .filter(|&at| at <= promoted)
        .max()
        .unwrap_or_else(|| {
            panic!(
                "the JWKS did not list 2026-11 again before the promote\nfiles:\n{}\n{apply}",
                timeline.describe(promoted, summary)
            )
        });
    assert!(
        promoted - relisted >= QUICKSTART_ACCEPT_WINDOW_MS - SLACK_MS,
        "2026-11 was promoted {} ms after the JWKS listed it again (api_gateway caches it for \
         {QUICKSTART_ACCEPT_WINDOW_MS} ms)\nfiles:\n{}\n{apply}",
        promoted - relisted,
        timeline.describe(relisted, summary),
    );
}

// ---------------------------------------------------------------------------
// 4. Keys compared by key, not kid.

/// Asserts that the JWKS lists `kid` with the store's key for
/// `family`/`id`, and that the promote (primary becoming `id`) came at
/// least the accept window after the JWKS first held that key.
#[track_caller]
fn assert_published_with_its_own_key(
    t: &Test,
    timeline: &Timeline,
    family: &str,
    id: &str,
    apply: &crate::harness::Output,
) {
    let store = store_jwk(t, family, id);
    let jwks = t.read(JWKS);
    let published = jwks_key(&jwks, id).unwrap_or_else(|| panic!("{id} not in {jwks}"));
    let history = timeline.describe(now_ms(), summary);
    assert!(
        same_key(&published, &store),
        "the JWKS lists kid {id} with another key than the one {family} holds and promoted:\n\
         published {}\nstore     {}\nfiles (ms before the end):\n{history}\n{apply}",
        jwks_summary(&jwks),
        &store["n"].as_str().map(|n| &n[..10]).unwrap_or("?"),
    );
    let primary = format!(".rotor/secrets/{family}/primary");
    let promoted = timeline
        .first(&primary, |p| p.trim() == id)
        .expect("the promote was seen");
    let listed = timeline
        .became(JWKS, |j| {
            jwks_key(j, id).is_some_and(|k| same_key(&k, &store))
        })
        .into_iter()
        .filter(|&at| at <= promoted)
        .max()
        .expect("the JWKS held the key before the promote");
    assert!(
        promoted - listed >= QUICKSTART_ACCEPT_WINDOW_MS - SLACK_MS,
        "{id} was promoted {} ms after the JWKS first held its key\nfiles:\n{history}\n{apply}",
        promoted - listed,
    );
}

/// `.rotor/` deleted, the published file kept: the fresh 2026-08 has the
/// same kid as the one the JWKS lists, and rotor left the old key there.
#[test]
fn a_jwks_left_by_a_deleted_store_is_rewritten_with_the_new_key_of_the_same_kid() {
    let t = Test::quickstart();
    t.run_within(LIMIT, APPLY_WAIT).success();
    let first = store_jwk(&t, "session_signing_key", "2026-08");
    std::fs::remove_dir_all(t.join(".rotor")).unwrap();
    assert_eq!(jwks_kids(&t.read(JWKS)), ["2026-08"]);

    let watch = Watch::start(&t, &[PRIMARY, JWKS]);
    let apply = t.run_within(LIMIT, APPLY_WAIT).success();
    let timeline = watch.stop();
    let second = store_jwk(&t, "session_signing_key", "2026-08");
    assert_ne!(first, second, "a new key was generated");
    assert_published_with_its_own_key(&t, &timeline, "session_signing_key", "2026-08", &apply);
}

/// A family renamed (`secret "session_signing_key"` → `secret "signing_key"`,
/// every reference with it), same publish path: the new family's 2026-08 has
/// the kid the JWKS already lists, with the old family's key.
#[test]
fn a_renamed_family_rewrites_the_jwks_with_its_own_key() {
    let t = Test::quickstart();
    t.run_within(LIMIT, APPLY_WAIT).success();
    let old = store_jwk(&t, "session_signing_key", "2026-08");
    let renamed = t
        .read("rotor.hcl")
        .replace("session_signing_key", "signing_key");
    t.write("rotor.hcl", &renamed);

    let primary = ".rotor/secrets/signing_key/primary";
    let watch = Watch::start(&t, &[primary, JWKS]);
    let apply = t.run_within(LIMIT, APPLY_WAIT).success();
    let timeline = watch.stop();
    assert_ne!(old, store_jwk(&t, "signing_key", "2026-08"));
    assert_published_with_its_own_key(&t, &timeline, "signing_key", "2026-08", &apply);
}

// ---------------------------------------------------------------------------
// 6. Smaller findings.

/// A dangling `broken.hcl` symlink was skipped silently: whatever it
/// declared vanished from the plan.
#[test]
fn a_dangling_spec_symlink_is_an_error_naming_the_file() {
    let t = Test::quickstart();
    std::os::unix::fs::symlink("nowhere", t.join("broken.hcl")).unwrap();
    t.run(["validate"]).failure().says(&["broken.hcl"]);
    t.run(["plan"]).failure().says(&["broken.hcl"]);
    t.run(APPLY).failure().says(&["broken.hcl"]);
    assert!(!t.exists(".rotor/secrets"), "nothing was applied");
}

/// Whether the output names a block: by address, or by its `file:line`.
fn names_block(out: &crate::harness::Output, address: &str, line: usize) -> bool {
    let all = format!("{}{}", out.stdout, out.stderr);
    all.contains(address) || all.contains(&format!("rotor.hcl:{line}:"))
}

fn line_of(spec: &str, text: &str) -> usize {
    spec.lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{text} not in the spec"))
        + 1
}

/// Two publishers (of one family, or of two) writing one JWKS path passed
/// `validate` and overwrote each other's file on every apply.
#[test]
fn two_publishers_writing_one_path_are_refused_naming_both() {
    let mirror = r#"
publish "jwks" "mirror" {
  secret = secret.session_signing_key
  path   = "public/.well-known/jwks.json"
}
"#;
    let other_family = r#"
secret "other_key" {
  owner     = "team-identity"
  store     = store.file.local
  cadence   = "90d"
  review_by = "2027-02-01"
  generate "ec" {}
  version "v1" {}
  active = "v1"
}

publish "jwks" "other" {
  secret = secret.other_key
  path   = "public/.well-known/jwks.json"
}
"#;
    for (extra, address) in [
        (mirror, "publish.jwks.mirror"),
        (other_family, "publish.jwks.other"),
    ] {
        let spec = format!("{QUICKSTART}{extra}");
        let t = Test::new().spec(&spec);
        let out = t.run(["validate"]).failure();
        let name = address.rsplit('.').next().unwrap();
        for (address, line) in [
            (
                "publish.jwks.public",
                line_of(&spec, "publish \"jwks\" \"public\""),
            ),
            (
                address,
                line_of(&spec, &format!("publish \"jwks\" \"{name}\"")),
            ),
        ] {
            assert!(
                names_block(&out, address, line),
                "the error should name {address} (or rotor.hcl:{line})\n{out}"
            );
        }
        t.run(["plan"]).failure();
        assert!(!t.exists(JWKS), "nothing was published");
    }
}

/// Every 16-character window of a PEM's base64 body, and each body line.
fn pem_windows(pem: &str) -> Vec<String> {
    let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(lines.len() > 20, "an RSA 2048 PEM");
    let mut needles: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for line in &lines {
        for i in 0..=line.len().saturating_sub(16) {
            needles.push(line[i..(i + 16).min(line.len())].to_string());
        }
    }
    needles.sort();
    needles.dedup();
    needles
}

/// A failing command probe that prints a line of the version's private key
/// (on stdout, and another on stderr): its output was recorded in
/// the state and printed by plan, show and apply.
#[test]
fn a_probe_printing_key_material_is_redacted_everywhere() {
    let t = Test::new().spec(&quickstart_with(&[(
        QUICKSTART_ACCEPT_PROBE,
        r#"    command = ["sh", "leaky-probe.sh"]
    within  = "3s""#,
    )]));
    t.write(
        "leaky-probe.sh",
        r#"pem=".rotor/secrets/$ROTOR_FAMILY/versions/$ROTOR_VERSION.pem"
echo "checking the gateway with key line $(sed -n 2p "$pem")"
sed -n 3p "$pem" >&2
exit 1
"#,
    );
    let mut captured: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, out: &crate::harness::Output| {
        captured.push((format!("{what} (stdout)"), out.stdout.clone()));
        captured.push((format!("{what} (stderr)"), out.stderr.clone()));
    };
    // The probe fails once, then --wait retries it until `within` has passed.
    let apply = t.run(APPLY);
    keep("rotor apply", &apply);
    let wait = t.run_within(LIMIT, APPLY_WAIT).failure();
    keep("rotor apply --wait", &wait);
    for args in [
        &["plan"][..],
        &["plan", "--json"],
        &["show"],
        &["show", "--json"],
        &["status"],
        &["runbook"],
    ] {
        let out = t.run(args);
        keep(&out.command.clone(), &out);
    }
    let pem = t.read(&format!("{FAMILY_DIR}/versions/2026-08.pem"));
    captured.push((".rotor/state.db".to_string(), t.state_bytes()));
    // The probe did print the material, so the test tests something.
    let line2 = pem.lines().nth(1).unwrap();
    let printed = std::process::Command::new("sh")
        .arg("leaky-probe.sh")
        .current_dir(t.path())
        .env("ROTOR_FAMILY", "session_signing_key")
        .env("ROTOR_VERSION", "2026-08")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&printed.stdout).contains(line2));

    let needles = pem_windows(&pem);
    let mut leaks = Vec::new();
    for (source, text) in &captured {
        if let Some(n) = needles.iter().find(|n| text.contains(n.as_str())) {
            leaks.push(format!("{source}: contains `{n}`"));
        }
    }
    assert!(
        leaks.is_empty(),
        "private key material printed by a failing probe leaked:\n  {}\n{wait}",
        leaks.join("\n  ")
    );
}

/// The spec edited while `apply --wait` waits for the accept window before a
/// promote (here: `active` set back): the apply carried on with the plan it
/// made at the start and promoted the version the spec no longer wants.
#[test]
fn a_spec_edited_while_apply_waits_stops_it_before_the_promote() {
    // A 4 s accept window leaves time to edit the spec before the promote.
    let t = Test::new().spec(&quickstart_with(&[(
        "  via       = publish.jwks.public\n  cache_ttl = \"2s\"",
        "  via       = publish.jwks.public\n  cache_ttl = \"4s\"",
    )]));
    t.run_within(LIMIT, APPLY_WAIT).success();
    t.edit(
        ROTATE_FROM,
        "version \"2026-08\" {}\n  version \"2026-11\" {}\n  active = \"2026-11\"",
    );

    let watch = Watch::start(&t, &[PRIMARY, JWKS]);
    let mut child = t.spawn(APPLY_WAIT);
    poll(Duration::from_secs(30), "the JWKS to list 2026-11", || {
        jwks_kids(&std::fs::read_to_string(t.join(JWKS)).unwrap_or_default())
            .contains(&"2026-11".to_string())
            .then_some(())
    });
    assert_eq!(t.read(PRIMARY), "2026-08\n", "edited before the promote");
    t.edit("active = \"2026-11\"", "active = \"2026-08\"");
    let edited = now_ms();

    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(50));
    }
    let running = child.try_wait().unwrap().is_none();
    if running {
        child.kill().unwrap();
    }
    let out = finish(child, "rotor apply --auto-approve --wait");
    let timeline = watch.stop();
    let history = timeline.describe(edited, summary);
    assert!(
        !running,
        "apply --wait still running after {LIMIT:?}\n{out}"
    );
    assert!(
        timeline.first(PRIMARY, |p| p.trim() == "2026-11").is_none(),
        "2026-11 was promoted after the spec set `active` back to 2026-08 (edit at 0 ms)\n\
         files:\n{history}\n{out}"
    );
    assert_ne!(out.code, 0, "{out}");
    out.says(&["the spec changed since this apply began"]);
}

/// A spec file with bytes that are not UTF-8 is reported at the line and
/// column of the first such byte, not skipped and not "stream did not
/// contain valid UTF-8" without a place.
#[test]
fn a_spec_file_with_bad_bytes_is_reported_at_its_line_and_column() {
    let t = Test::quickstart();
    let mut bytes = b"# extra settings\n# caf".to_vec();
    bytes.push(0xe9); // Latin-1 'é': not UTF-8
    bytes.extend_from_slice(b"\n");
    std::fs::write(t.join("extra.hcl"), bytes).unwrap();
    t.run(["validate"])
        .failure()
        .says(&["extra.hcl:2:6: the file is not valid UTF-8"]);
}

/// A state whose times lie in the future (written while a clock ran ahead)
/// would make every window look shorter to this clock: it is refused, with
/// the time it holds, and nothing is applied.
#[test]
fn a_state_with_times_in_the_future_is_refused() {
    let t = Test::quickstart();
    t.run(APPLY_WAIT).success();
    // As a machine whose clock ran a day ahead would have written it.
    t.edit_record("session_signing_key", |f| {
        let v = f.versions.get_mut("2026-08").unwrap();
        v.promoted_at = v
            .promoted_at
            .map(|t| t + rotor_engine::Duration::seconds(86_400));
    });
    t.edit(ROTATE_FROM, crate::harness::ROTATE_TO);
    let out = t.run(APPLY).failure();
    let out = out.says(&["which is in the future", "fix the clock"]);
    assert!(
        !t.exists(".rotor/secrets/session_signing_key/versions/2026-11.json"),
        "nothing was created\n{out}"
    );
}
