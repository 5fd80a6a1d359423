//! Every kind of spec error: where it points, what it says, and that a
//! failing spec applies nothing.

use crate::harness::{Output, QUICKSTART, Test};
use serde_json::Value;

/// Line and column (1-based) where `needle` first starts in `spec`.
fn at(spec: &str, needle: &str) -> (usize, usize) {
    let offset = spec
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` is not in the spec"));
    let before = &spec[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// The quickstart with `from` replaced by `to` (once; `from` must be there).
fn quickstart_with(from: &str, to: &str) -> String {
    assert_eq!(
        QUICKSTART.matches(from).count(),
        1,
        "`{from}` in the quickstart"
    );
    QUICKSTART.replacen(from, to, 1)
}

/// Asserts that stderr holds `error: SUMMARY` followed by `--> rotor.hcl:LINE:COL`.
#[track_caller]
fn assert_located(out: &Output, severity: &str, summary: &str, (line, column): (usize, usize)) {
    let head = format!("{severity}: {summary}\n");
    let start = out
        .stderr
        .find(&head)
        .unwrap_or_else(|| panic!("no `{head}` on stderr\n{out}"));
    let next = out.stderr[start + head.len()..]
        .lines()
        .next()
        .unwrap_or("");
    assert_eq!(
        next.trim(),
        format!("--> rotor.hcl:{line}:{column}"),
        "location of `{summary}`\n{out}"
    );
}

/// Validates `spec`: exit 1, the error located at `loc`. Then checks that
/// apply refuses it too without touching anything. Returns validate's output.
#[track_caller]
fn rejects(spec: &str, summary: &str, loc: (usize, usize)) -> Output {
    let t = Test::new().spec(spec);
    let out = t.run(["validate"]).failure();
    assert_located(&out, "error", summary, loc);
    assert!(
        out.stderr.contains("nothing was planned or applied"),
        "{out}"
    );
    let apply = t.run(["apply", "--auto-approve"]).failure();
    assert_located(&apply, "error", summary, loc);
    assert_eq!(apply.stdout, "", "a failing spec prints no plan\n{apply}");
    assert!(!t.exists(".rotor"), "a failing apply created .rotor/");
    assert!(!t.exists("public"), "a failing apply published something");
    out
}

/// `validate --json` of `spec`: the diagnostic with `summary`.
#[track_caller]
fn json_diagnostic(spec: &str, summary: &str) -> Value {
    let t = Test::new().spec(spec);
    let out = t.run(["validate", "--json"]).failure();
    let json = out.json();
    assert_eq!(json["valid"], false);
    json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["summary"] == summary)
        .unwrap_or_else(|| panic!("no diagnostic `{summary}`\n{out}"))
        .clone()
}

/// Asserts a JSON diagnostic's range starts at `loc` and ends `len` columns later.
#[track_caller]
fn assert_range(d: &Value, (line, column): (usize, usize), len: usize) {
    let r = &d["range"];
    assert_eq!(r["filename"], "rotor.hcl", "{d:#}");
    assert_eq!(
        (&r["start"]["line"], &r["start"]["column"]),
        (&line.into(), &column.into()),
        "{d:#}"
    );
    assert_eq!(
        (&r["end"]["line"], &r["end"]["column"]),
        (&line.into(), &(column + len).into()),
        "{d:#}"
    );
    assert_eq!(
        r["end"]["byte"].as_u64().unwrap() - r["start"]["byte"].as_u64().unwrap(),
        len as u64,
        "{d:#}"
    );
}

#[test]
fn the_quickstart_is_valid() {
    Test::quickstart()
        .run(["validate"])
        .success()
        .stderr_has("The spec is valid: 1 family, 2 consumers.\n");
}

#[test]
fn syntax_error() {
    // Without `=`, HCL reads `cadence "90d"` as the start of a block.
    let spec = quickstart_with("cadence       = \"90d\"", "cadence       \"90d\"");
    let (line, column) = at(&spec, "cadence       \"90d\"");
    rejects(
        &spec,
        "syntax error: expected `{`",
        (line, column + "cadence       \"90d\"".len()),
    )
    .stderr_has("hint: check for a missing quote, brace or `=` on or before this line");
}

#[test]
fn unknown_block_type() {
    let spec = quickstart_with("consumer \"auth_service\" {", "consumr \"auth_service\" {");
    rejects(&spec, "unknown block type `consumr`", at(&spec, "consumr"))
        .stderr_has("hint: did you mean `consumer`?");
}

#[test]
fn unknown_attribute_suggests_the_known_one() {
    let spec = quickstart_with("  owner         =", "  ownr          =");
    rejects(&spec, "unknown attribute `ownr`", at(&spec, "ownr"))
        .stderr_has("hint: did you mean `owner`?");
}

#[test]
fn unknown_reference_suggests_the_declared_one() {
    let spec = quickstart_with(
        "store         = store.file.local",
        "store         = store.file.locl",
    );
    let loc = at(&spec, "store.file.locl");
    rejects(&spec, "unknown reference `store.file.locl`", loc)
        .stderr_has("^^^^^^^^^^^^^^^ no store with this name")
        .stderr_has("hint: did you mean `store.file.local`?");

    let d = json_diagnostic(&spec, "unknown reference `store.file.locl`");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["label"], "no store with this name");
    assert_eq!(d["hint"], "did you mean `store.file.local`?");
    assert_range(&d, loc, "store.file.locl".len());
}

#[test]
fn duplicate_secret_name() {
    let spec = format!(
        "{QUICKSTART}\nsecret \"session_signing_key\" {{\n  owner   = \"team-x\"\n  cadence = \"30d\"\n  store   = store.file.local\n  generate \"random\" {{\n    length = 32\n  }}\n  version \"a\" {{}}\n  active = \"a\"\n}}\n"
    );
    let second = spec.rfind("secret \"session_signing_key\"").unwrap();
    let loc = (spec[..second].matches('\n').count() + 1, 1);
    let first = at(&spec, "secret \"session_signing_key\"");
    rejects(&spec, "`secret.session_signing_key` is declared twice", loc)
        .stderr_has(&format!(
            "first declared at rotor.hcl:{}:{}",
            first.0, first.1
        ))
        .stderr_has("hint: rename one of them, or merge the two blocks");
}

#[test]
fn reference_of_the_wrong_type() {
    let spec = quickstart_with(
        "store         = store.file.local",
        "store         = secret.session_signing_key",
    );
    let loc = at(&spec, "secret.session_signing_key");
    rejects(&spec, "`store` must name a store, not a secret", loc)
        .stderr_has("this is secret.session_signing_key")
        .stderr_has("hint: write `store = store.NAME`");
    let d = json_diagnostic(&spec, "`store` must name a store, not a secret");
    assert_range(&d, loc, "secret.session_signing_key".len());
}

#[test]
fn missing_store() {
    let spec = quickstart_with("  store         = store.file.local\n", "");
    // At the block's opening brace.
    let (line, column) = at(&spec, "secret \"session_signing_key\" {");
    rejects(
        &spec,
        "missing required attribute `store`",
        (line, column + "secret \"session_signing_key\" ".len()),
    )
    .stderr_has("hint: add `store = …`: a reference such as `store.NAME`");
}

#[test]
fn missing_cache_ttl() {
    let spec = quickstart_with(
        "  via       = publish.jwks.public\n  cache_ttl = \"2s\"\n",
        "  via       = publish.jwks.public\n",
    );
    let loc = at(&spec, "consumer \"api_gateway\"");
    rejects(&spec, "consumer `api_gateway` has no `cache_ttl`", loc)
        .stderr_has(
            "every window rotor holds is derived from how long consumers cache what they read",
        )
        .stderr_has("hint: add `cache_ttl = \"5m\"`");
    let d = json_diagnostic(&spec, "consumer `api_gateway` has no `cache_ttl`");
    assert_range(&d, loc, "consumer \"api_gateway\"".len());
}

#[test]
fn bad_duration() {
    let spec = quickstart_with("overlap       = \"5s\"", "overlap       = \"five seconds\"");
    rejects(
        &spec,
        "`overlap`: `five seconds` is not a duration",
        at(&spec, "\"five seconds\""),
    )
    .stderr_has("hint: write a duration such as \"90s\", \"10m\", \"2h\" or \"90d\"");

    let spec = quickstart_with(
        "cache_ttl = \"2s\"\n  token_ttl",
        "cache_ttl = \"2fortnights\"\n  token_ttl",
    );
    rejects(
        &spec,
        "`cache_ttl`: `fortnights` is not a unit",
        at(&spec, "\"2fortnights\""),
    );
}

#[test]
fn active_version_not_declared() {
    let spec = quickstart_with("active = \"2026-08\"", "active = \"2026-09\"");
    rejects(
        &spec,
        "`active` names version `2026-09`, which is not declared",
        at(&spec, "\"2026-09\""),
    )
    .stderr_has("hint: did you mean `2026-08`?");
}

#[test]
fn overlap_below_the_floor_names_the_consumer_that_sets_it() {
    let spec = quickstart_with("overlap       = \"5s\"", "overlap       = \"4s\"");
    let loc = at(&spec, "\"4s\"");
    rejects(
        &spec,
        "`overlap` of 4s is shorter than the floor of 5s",
        loc,
    )
    .stderr_has("^^^^ floor set by consumer.auth_service (cache_ttl 2s + token_ttl 3s)")
    .stderr_has("hint: set `overlap = \"5s\"` or more, or lower that consumer's TTLs");
    let d = json_diagnostic(&spec, "`overlap` of 4s is shorter than the floor of 5s");
    assert_eq!(
        d["label"],
        "floor set by consumer.auth_service (cache_ttl 2s + token_ttl 3s)"
    );
    assert_range(&d, loc, "\"4s\"".len());
}

#[test]
fn a_verifier_holding_one_version_needs_a_flag_day_reason() {
    let gateway = "  via       = publish.jwks.public\n";
    let spec = quickstart_with(gateway, &format!("{gateway}  max_versions = 1\n"));
    let (line, column) = at(&spec, "max_versions = 1");
    rejects(
        &spec,
        "consumer `api_gateway` holds one version at a time: rotating it is a flag day",
        (line, column + "max_versions = ".len()),
    )
    .stderr_has("hint: raise `max_versions`, or accept the outage in writing with `flag_day_reason = \"…\"`");

    let waived = quickstart_with(
        gateway,
        &format!(
            "{gateway}  max_versions = 1\n  flag_day_reason = \"legacy gateway; outage agreed with SRE\"\n"
        ),
    );
    let t = Test::new().spec(&waived);
    t.run(["validate"])
        .success()
        .stderr_has("The spec is valid: 1 family, 2 consumers.");
    t.run(["plan"]).success();
}

#[test]
fn a_pem_literal_is_refused() {
    let spec = quickstart_with(
        "\"Auth service signing key for user sessions\"",
        "\"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\\n-----END PRIVATE KEY-----\\n\"",
    );
    // The line holds the key: its location is printed, its text never.
    let out = rejects(
        &spec,
        "a literal in `description` looks like secret material: it looks like a PEM key",
        at(&spec, "\"-----BEGIN"),
    )
    .stderr_has("hint: material lives only in stores; read configuration with env(\"NAME\") instead of writing it in `description`")
    .stderr_has("= (source not shown: it may hold secret material)");
    assert!(!out.stderr.contains("MIIEvQ"), "{out}");
}

#[test]
fn a_long_random_looking_literal_is_refused() {
    let spec = quickstart_with(
        "\"Auth service signing key for user sessions\"",
        "\"q8Zt3LmX0vR7wYp2KcN5bH9sJ4dF6gA1\"",
    );
    let out = rejects(
        &spec,
        "a literal in `description` looks like secret material: it looks like key material (a long random-looking string)",
        at(&spec, "\"q8Zt"),
    );
    assert!(!out.stderr.contains("q8Zt3"), "{out}");
}

/// A probe kind that cannot serve a phase is refused at the `on` attribute,
/// not at the `verify` block (the parser used to drop where `on` is written).
#[test]
fn a_phase_the_probe_kind_cannot_serve_is_refused_at_on() {
    let spec = quickstart_with(
        "  # Acceptance is proven, not assumed",
        "  verify \"jwks\" {\n    url = \"http://127.0.0.1:9/jwks.json\"\n    on  = [\"accept\", \"drain\"]\n  }\n\n  # Acceptance is proven, not assumed",
    );
    rejects(
        &spec,
        "verify \"jwks\" cannot drain: the old kid is in the key set until its revoke, so the probe would pass without showing that traffic has moved off it",
        at(&spec, "on  = ["),
    );
}

const SEVERAL_ERRORS: &str = r#"store "file" "local" {}

secret "a" {
  owner   = "team-a"
  cadence = "90d"
  store   = store.file.locl
  overlap = "1 minute"
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
fn several_errors_are_reported_in_one_run() {
    let out = rejects(
        SEVERAL_ERRORS,
        "unknown reference `store.file.locl`",
        at(SEVERAL_ERRORS, "store.file.locl"),
    );
    assert_located(
        &out,
        "error",
        "`overlap`: `1 minute` is not a duration",
        at(SEVERAL_ERRORS, "\"1 minute\""),
    );
    assert_located(
        &out,
        "error",
        "unknown reference `secret.b`",
        at(SEVERAL_ERRORS, "secret.b"),
    );
    assert_located(
        &out,
        "error",
        "unknown attribute `colour`",
        at(SEVERAL_ERRORS, "colour"),
    );
    out.stderr_has("error: spec has 4 errors; nothing was planned or applied\n");

    let t = Test::new().spec(SEVERAL_ERRORS);
    let json = t.run(["validate", "--json"]).failure().json();
    assert_eq!(json["error_count"], 4);
    // The rules still run on what resolved: `svc` accepts an unknown secret, so `a` has no consumers.
    assert_eq!(json["warning_count"], 1);
    let starts: Vec<(u64, u64)> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let s = &d["range"]["start"];
            (s["line"].as_u64().unwrap(), s["column"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(starts, [(3, 1), (6, 13), (7, 13), (14, 15), (16, 3)]);
}

#[test]
fn warnings_are_printed_and_validate_still_succeeds() {
    let spec = r#"store "file" "local" {}

secret "webhook_secret" {
  store = store.file.local
  generate "random" {
    length = 32
  }
  version "v1" {}
  active = "v1"
}
"#;
    let t = Test::new().spec(spec);
    let out = t.run(["validate"]).success();
    let loc = at(spec, "secret \"webhook_secret\"");
    for summary in [
        "secret `webhook_secret` has no owner",
        "secret `webhook_secret` has no cadence",
        "secret `webhook_secret` has no consumers",
        "secret `webhook_secret` has no review date",
    ] {
        assert_located(&out, "warning", summary, loc);
    }
    assert!(!out.stderr.contains("error"), "{out}");
    out.stderr_has("The spec is valid: 1 family, 0 consumers, 4 warnings.\n");

    let json = t.run(["validate", "--json"]).success().json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["warning_count"], 4);
    assert_eq!(json["error_count"], 0);
    // Warnings do not stop a plan either.
    t.run(["plan"])
        .success()
        .stderr_has("warning: secret `webhook_secret` has no owner");
}

#[test]
fn a_directory_without_a_spec_is_an_error() {
    let t = Test::new();
    t.run(["validate"])
        .failure()
        .stderr_has("error: no .hcl files found\n")
        .stderr_has("hint: run `rotor init` to write a starter spec, or pass `-C DIR`");
    t.run(["apply", "--auto-approve"]).failure();
    assert!(!t.exists(".rotor"));
}
