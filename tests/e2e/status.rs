//! `rotor status` and the inventory checks of `rotor validate`: ages, next
//! due times, flags, `--due` for scheduled jobs, and `--strict`.

use crate::harness::{QUICKSTART, Test, millis};
use serde_json::Value;

const DAY_MS: i64 = 86_400_000;

/// The quickstart's review date, and one far ahead: the shipped date would
/// make these tests flag `review_passed` once it has passed.
const REVIEW: &str = "review_by     = \"2027-02-01\"";
const FAR_REVIEW: &str = "review_by     = \"2099-01-01\"";

/// The quickstart, review date moved ahead, with `from` replaced by `to`
/// (once; `from` must be there).
fn quickstart_with(from: &str, to: &str) -> String {
    let base = QUICKSTART.replacen(REVIEW, FAR_REVIEW, 1);
    assert_eq!(base.matches(from).count(), 1, "`{from}` in the quickstart");
    base.replacen(from, to, 1)
}

/// The quickstart, review date moved ahead.
fn quickstart() -> Test {
    Test::new().spec(&quickstart_with(FAR_REVIEW, FAR_REVIEW))
}

/// The quickstart family's entry in `rotor status --json`.
fn family(t: &Test) -> Value {
    let v = t.run(["status", "--json"]).success().json();
    assert_eq!(v["format_version"], "1.0");
    let families = v["families"].as_array().expect("families");
    assert_eq!(families.len(), 1);
    families[0].clone()
}

fn flags(f: &Value) -> Vec<&str> {
    f["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

#[test]
fn status_before_and_after_bootstrap() {
    let t = quickstart();

    // Nothing applied yet: no active version, the bootstrap is in flight.
    let f = family(&t);
    assert_eq!(f["family"], "session_signing_key");
    assert_eq!(f["owner"], "team-identity");
    assert_eq!(f["active"], Value::Null);
    assert_eq!(f["active_age_seconds"], Value::Null);
    assert_eq!(f["next_due"], Value::Null);
    assert_eq!(f["cadence"], "90d");
    assert_eq!(f["review_by"], "2099-01-01T00:00:00Z");
    assert_eq!(f["in_flight"]["version"], "2026-08");
    assert_eq!(f["in_flight"]["phase"], Value::Null);
    assert_eq!(f["in_flight"]["gate"], "cache window");
    assert!(flags(&f).is_empty(), "{f}");
    let out = t.run(["status"]).success();
    assert!(
        out.stdout.starts_with("FAMILY "),
        "a header row first\n{out}"
    );
    assert!(out.stdout.contains("session_signing_key  none "), "{out}");
    assert!(out.stdout.contains("2026-08 new: accept 2026-08"), "{out}");
    t.run(["status", "--due"]).success();
    // Read-only: status neither creates the state nor touches the store.
    assert!(!t.exists(".rotor/state.db"));

    t.run(["apply", "--auto-approve", "--wait"]).success();
    let f = family(&t);
    assert_eq!(f["active"], "2026-08");
    assert_eq!(f["in_flight"], Value::Null);
    let promoted = millis(&f["last_rotation"]);
    assert_eq!(
        promoted,
        millis(
            &t.show_json()["families"]["session_signing_key"]["versions"]["2026-08"]["promoted_at"]
        )
    );
    assert_eq!(millis(&f["next_due"]) - promoted, 90 * DAY_MS);
    let age = f["active_age_seconds"].as_i64().expect("an age");
    assert!((0..120).contains(&age), "age {age}");
    assert!(flags(&f).is_empty(), "{f}");
    t.run(["status", "--due"]).success();
}

#[test]
fn status_snapshot_after_bootstrap() {
    let t = quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    let out = t.run(["status"]).success();
    let mut settings = t.settings();
    // The age and the time left depend on how long the test took; so do the
    // column widths after them.
    settings.add_filter(r"2026-08 \(\d+[dhms]\w*\)\s+", "2026-08 ([AGE])  ");
    settings.add_filter(
        r"\d{4}-\d{2}-\d{2} \(in \w+\)\s+",
        "[DATE] (in [DURATION])  ",
    );
    settings.add_filter(
        r"ACTIVE\s+IN FLIGHT\s+NEXT DUE\s+",
        "ACTIVE  IN FLIGHT  NEXT DUE  ",
    );
    settings.bind(|| insta::assert_snapshot!("status_after_bootstrap", out.snapshot()));
}

#[test]
fn a_lapsed_cadence_is_overdue_and_due_exits_2() {
    let t = Test::new().spec(&quickstart_with(
        "cadence       = \"90d\"",
        "cadence       = \"1s\"",
    ));
    t.run(["apply", "--auto-approve", "--wait"]).success();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let f = family(&t);
    assert_eq!(flags(&f), ["overdue"], "{f}");
    assert!(millis(&f["next_due"]) - millis(&f["last_rotation"]) == 1000);
    // 2, as `plan --detailed-exitcode` says "work is waiting": never 1,
    // which a scheduled job must read as "rotor failed".
    let out = t.run(["status", "--due"]).code(2);
    assert!(out.stdout.contains("overdue"), "{out}");
    assert!(out.stdout.contains(" ago)"), "{out}");
    assert!(
        out.stderr
            .contains("1 family is due or overdue for rotation"),
        "{out}"
    );
}

#[test]
fn strict_validation_turns_inventory_warnings_into_errors() {
    let t = Test::new().spec(&quickstart_with(
        "  owner         = \"team-identity\"\n",
        "",
    ));
    t.run(["validate"])
        .success()
        .stderr_has("warning: secret `session_signing_key` has no owner")
        .stderr_has("1 warning");
    t.run(["validate", "--strict"])
        .failure()
        .stderr_has("error: secret `session_signing_key` has no owner")
        .stderr_has("nothing was planned or applied");
    let v = t.run(["validate", "--strict", "--json"]).failure().json();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error_count"], 1);
    assert_eq!(v["diagnostics"][0]["severity"], "error");
    // The status flags the same gap.
    assert_eq!(flags(&family(&t)), ["no_owner"]);

    // The quickstart itself is clean, even strictly.
    quickstart().run(["validate", "--strict"]).success();
}

#[test]
fn a_consumer_without_a_probe_is_reported() {
    let start = QUICKSTART
        .find("  # Acceptance is proven")
        .expect("the gateway's probe");
    let end = start + QUICKSTART[start..].find("  }\n").expect("its end") + 4;
    let probe = &QUICKSTART[start..end];
    assert!(probe.contains("verify \"command\""), "{probe}");
    let t = Test::new().spec(&quickstart_with(probe, ""));
    t.run(["validate"])
        .success()
        .stderr_has("warning: consumer `api_gateway` has no `verify` probe")
        .stderr_has("acceptance would be assumed after its cache window");
    assert_eq!(flags(&family(&t)), ["no_probe"]);
    t.run(["validate", "--strict"]).failure();
}

#[test]
fn review_dates_and_the_cadence_policy() {
    let t = Test::new().spec(&quickstart_with(
        FAR_REVIEW,
        "review_by     = \"2020-01-01\"",
    ));
    t.run(["validate"])
        .success()
        .stderr_has("warning: the review date of secret `session_signing_key` has passed")
        .stderr_has("rotor.hcl:14:");
    assert_eq!(flags(&family(&t)), ["review_passed"]);

    let t = Test::new().spec(&quickstart_with(&format!("  {FAR_REVIEW}\n"), ""));
    t.run(["validate"])
        .success()
        .stderr_has("warning: secret `session_signing_key` has no review date");

    let t = quickstart();
    t.run(["validate", "--max-cadence", "90d"]).success();
    t.run(["validate", "--max-cadence", "30d"])
        .success()
        .stderr_has("warning: `cadence` of 90d is longer than the policy maximum of 30d")
        .stderr_has("rotor.hcl:13:19");
    t.run(["validate", "--max-cadence", "30d", "--strict"])
        .failure();
    // A bad duration is a usage error: 1, as every error (clap's own 2 would
    // read as "changes pending" in CI).
    t.run(["validate", "--max-cadence", "soon"]).failure();
}
