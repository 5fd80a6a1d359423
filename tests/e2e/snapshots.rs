//! Snapshots of what users read: plans, diagnostics, JSON and `show`.
//! A change to one of these files is reviewed like a change to code.

use crate::harness::{ROTATE_FROM, ROTATE_TO, Test};

/// `insta::assert_snapshot!` of a run's exit code, stdout and stderr, with
/// the test's filters (times, fingerprints, lineage, temporary paths).
macro_rules! snapshot {
    ($t:expr, $name:expr, $out:expr) => {
        $t.settings()
            .bind(|| insta::assert_snapshot!($name, $out.snapshot()))
    };
}

#[test]
fn plans_for_bootstrap_and_rotation() {
    let t = Test::quickstart();
    snapshot!(t, "plan_bootstrap", t.run(["plan"]).success());
    snapshot!(
        t,
        "plan_bootstrap_json",
        t.run(["plan", "--json"]).success()
    );

    t.run(["apply", "--auto-approve", "--wait"]).success();
    snapshot!(t, "show_after_bootstrap", t.run(["show"]).success());

    t.edit(ROTATE_FROM, ROTATE_TO);
    snapshot!(t, "plan_rotation", t.run(["plan"]).success());
    snapshot!(t, "plan_rotation_json", t.run(["plan", "--json"]).success());
}

/// The pull-request comment for the quickstart rotation: banner, table, timeline.
#[test]
fn plan_markdown_for_rotation() {
    let t = Test::quickstart();
    t.run(["apply", "--auto-approve", "--wait"]).success();
    t.edit(ROTATE_FROM, ROTATE_TO);
    let out = t.run(["plan", "--format", "markdown"]).success();
    snapshot!(t, "plan_rotation_markdown", out);
    // `--json` stays an alias of `--format json`; mixing the two is a usage error.
    let actions = |args: &[&str]| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&t.run(args).success().stdout).unwrap();
        let steps = v["families"][0]["steps"].as_array().unwrap().clone();
        steps.into_iter().map(|s| s["action"].clone()).collect()
    };
    let by_format = actions(&["plan", "--format", "json"]);
    assert_eq!(by_format.len(), 9);
    assert_eq!(by_format, actions(&["plan", "--json"]));
    // A usage error: 1, never the 2 of "changes pending".
    t.run(["plan", "--json", "--format", "markdown"]).failure();
}

/// Parse and resolve errors together: a bad reference, a bad duration, an
/// unknown secret and an unknown attribute.
const SEVERAL_ERRORS: &str = r#"store "file" "local" {}

secret "a" {
  owner   = "team-a"
  cadence = "90d"
  store   = store.file.locl
  overlap = "10 minutes"
  generate "rsa" {}
  version "v1" {}
  active = "v1"
}

consumer "svc" {
  accepts   = secret.b
  cache_ttl = "1m"
  colour    = "blue"
}
"#;

#[test]
fn validate_with_several_errors() {
    let t = Test::new().spec(SEVERAL_ERRORS);
    snapshot!(t, "validate_errors", t.run(["validate"]).failure());
    snapshot!(
        t,
        "validate_errors_json",
        t.run(["validate", "--json"]).failure()
    );
}

#[test]
fn validate_with_rule_errors_and_warnings() {
    // Resolves, so the rules from the field run: two errors, two warnings.
    let t = Test::new().spec(
        &crate::harness::QUICKSTART
            .replace("2027-02-01", "2099-02-01")
            .replace("  owner         = \"team-identity\"\n", "")
            .replace("  cadence       = \"90d\"\n", "")
            .replace("overlap       = \"5s\"", "overlap       = \"3s\"")
            .replace("active = \"2026-08\"", "active = \"2026-8\""),
    );
    snapshot!(t, "validate_rules", t.run(["validate"]).failure());
}

#[test]
fn init_then_validate() {
    let t = Test::new();
    snapshot!(t, "init", t.run(["init"]).success());
    // The starter is the quickstart, with a review date three months out.
    let without_review = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.contains("review_by"))
            .map(String::from)
            .collect()
    };
    let written = t.read("rotor.hcl");
    assert_eq!(
        without_review(&written),
        without_review(crate::harness::QUICKSTART)
    );
    let review = written
        .lines()
        .find_map(|l| l.trim().strip_prefix("review_by     = \""))
        .and_then(|d| d.strip_suffix('"'))
        .expect("a review date");
    assert!(review > "2026-01-01" && review.len() == 10, "{review}");
    assert_eq!(
        t.read(".gitignore"),
        "# rotor's local store and state: secret material, never commit\n.rotor/\n"
    );
    snapshot!(t, "init_validate", t.run(["validate"]).success());
    snapshot!(t, "init_again", t.run(["init"]).failure());
}

#[test]
fn graphs_of_the_quickstart() {
    let t = Test::quickstart();
    snapshot!(t, "graph_resources_dot", t.run(["graph"]).success());
    snapshot!(
        t,
        "graph_resources_mermaid",
        t.run(["graph", "--format", "mermaid"]).success()
    );
    snapshot!(
        t,
        "graph_plan_dot",
        t.run(["graph", "--type", "plan"]).success()
    );
}
