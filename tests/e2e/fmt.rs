//! `rotor fmt`: rewrites a messy spec canonically, keeps its comments and
//! its meaning; `--check` exits 3 and writes nothing; `--diff` shows it.

use crate::harness::Test;
use serde_json::Value;

/// The quickstart's meaning, written carelessly, with comments in awkward places.
const MESSY: &str = r#"# A messy spec: same meaning as the quickstart.


store "file" "local" {
path = ".rotor/secrets"    # material lives here
}
secret "session_signing_key" {
    owner = "team-identity"
  store = store.file.local
  cadence="90d"
  review_by   = "2027-02-01"
  # between attributes
  overlap = "5s"
  destroy_after = "3s"
  generate "rsa" {bits=2048}



  version "2026-08" {  }
  active = "2026-08"
}
publish "jwks" "public" {
  secret = secret.session_signing_key
  path = "public/.well-known/jwks.json"
}
consumer "api_gateway" {
  accepts = secret.session_signing_key
  via = publish.jwks.public
  cache_ttl = "2s"
  // acceptance is proven
  verify "command" {
      command = [
  "sh", "-c",
        "grep -q \"\\\"$ROTOR_KID\\\"\" public/.well-known/jwks.json",
      ]
    timeout = "5s"
  }
}
consumer "auth_service" {
  emits = secret.session_signing_key
  cache_ttl = "2s"
  token_ttl = "3s"
  verify "manual" {}
}
# at the end of the file   "#;

const COMMENTS: [&str; 5] = [
    "# A messy spec: same meaning as the quickstart.",
    "# material lives here",
    "# between attributes",
    "// acceptance is proven",
    "# at the end of the file",
];

/// `plan --json`'s steps, without the times that differ between runs.
fn plan_steps(t: &Test) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| k != "earliest" && !k.ends_with("_at"));
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let plan = t.run(["plan", "--json"]).success().json();
    let mut steps: Vec<Value> = plan["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| f["steps"].clone())
        .collect();
    steps.iter_mut().for_each(strip);
    Value::Array(steps)
}

#[test]
fn rewrites_a_messy_spec_keeping_comments_and_meaning() {
    let t = Test::new().spec(MESSY);
    let before = plan_steps(&t);

    let out = t.run(["fmt"]).success();
    assert_eq!(out.stdout, "rotor.hcl\n", "{out}");
    let formatted = t.read("rotor.hcl");
    assert_ne!(formatted, MESSY);
    for comment in COMMENTS {
        assert!(
            formatted.contains(comment),
            "{comment:?} was lost:\n{formatted}"
        );
    }
    assert!(formatted.contains("  cadence   = \"90d\"\n"), "{formatted}");
    assert!(formatted.contains("  generate \"rsa\" { bits = 2048 }\n"));
    assert!(!formatted.contains("\n\n\n"), "{formatted}");
    assert!(formatted.ends_with("# at the end of the file\n"));
    assert!(formatted.lines().all(|l| l == l.trim_end()), "{formatted}");

    t.run(["fmt", "--check"]).success();
    let again = t.run(["fmt"]).success();
    assert_eq!(again.stdout, "", "a second run changes nothing\n{again}");
    assert_eq!(t.read("rotor.hcl"), formatted);

    t.run(["validate"]).success();
    assert_eq!(plan_steps(&t), before, "the plan changed");
}

#[test]
fn check_exits_3_and_writes_nothing() {
    let t = Test::new().spec(MESSY);
    let out = t.run(["fmt", "--check"]).code(3);
    assert_eq!(out.stdout, "rotor.hcl\n", "{out}");
    assert!(out.stderr.contains("run `rotor fmt`"), "{out}");
    assert_eq!(t.read("rotor.hcl"), MESSY);
}

#[test]
fn diff_shows_the_changes() {
    let t = Test::new().spec(MESSY);
    let out = t.run(["fmt", "--check", "--diff"]).code(3);
    assert!(
        out.stdout.starts_with("--- rotor.hcl\n+++ rotor.hcl\n@@"),
        "{out}"
    );
    assert!(out.stdout.contains("\n-  cadence=\"90d\"\n"), "{out}");
    assert!(out.stdout.contains("\n+  cadence   = \"90d\"\n"), "{out}");
    assert_eq!(t.read("rotor.hcl"), MESSY, "--check --diff writes nothing");

    let out = t.run(["fmt", "--diff"]).success();
    assert!(
        out.stdout
            .contains("\n+  path = \".rotor/secrets\" # material lives here\n")
    );
    t.run(["fmt", "--check"]).success();
}

#[test]
fn the_quickstart_is_already_formatted() {
    let t = Test::quickstart();
    let out = t.run(["fmt"]).success();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(t.read("rotor.hcl"), crate::harness::QUICKSTART);
}

#[test]
fn a_syntax_error_is_located_and_nothing_is_written() {
    let t = Test::new();
    t.write("spec/a.hcl", MESSY);
    t.write("spec/b.hcl", "store \"file\" \"x\" {\n  path = \n}\n");
    let out = t.run(["-C", "spec", "fmt"]).failure();
    assert!(out.stderr.contains("error: syntax error: "), "{out}");
    assert!(out.stderr.contains("--> spec/b.hcl:2:"), "{out}");
    assert!(out.stderr.contains("nothing was formatted"), "{out}");
    assert_eq!(t.read("spec/a.hcl"), MESSY);
}

#[cfg(unix)]
#[test]
fn keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let t = Test::new().spec(MESSY);
    let path = t.join("rotor.hcl");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    t.run(["fmt"]).success();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(t.list("."), ["rotor.hcl"], "no temporary file is left");
}
