//! Spec diagnostics: every kind of error points at the right line and
//! column, with a useful hint; warnings; several errors in one run.

use super::*;
use crate::diagnostics::{Diagnostic, Severity};

const STORE: &str = "store \"file\" \"local\" {\n  path = \".rotor/secrets\"\n}\n";

/// A complete, valid secret with one verifier and one emitter, after STORE.
fn secret(body_extra: &str) -> String {
    format!(
        r#"{STORE}
secret "k" {{
  owner   = "team"
  store   = store.file.local
  cadence = "90d"
  generate "ec" {{}}
  version "v1" {{}}
  version "v2" {{}}
  active = "v2"
{body_extra}}}

consumer "api" {{
  accepts   = secret.k
  cache_ttl = "10s"
}}

consumer "auth" {{
  emits     = secret.k
  cache_ttl = "5s"
  token_ttl = "15s"
}}
"#
    )
}

/// 1-based line and column (in characters) of the `nth` occurrence of `needle`.
fn pos_of(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let byte = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
        .0;
    let line = text[..byte].matches('\n').count() + 1;
    let start = text[..byte].rfind('\n').map_or(0, |i| i + 1);
    (line, text[start..byte].chars().count() + 1)
}

/// Line and column of a diagnostic's span start.
fn at(sources: &SourceMap, d: &Diagnostic) -> (usize, usize) {
    let span = d.span.as_ref().unwrap_or_else(|| panic!("no span: {d:?}"));
    let p = sources.file(span).pos(span.range.start);
    (p.line, p.column)
}

/// Loads text that must fail, returning the diagnostics and sources.
fn errors(text: &str) -> (Diagnostics, SourceMap) {
    let (r, diags, sources) = try_load(text);
    assert!(r.is_none(), "expected errors in\n{text}");
    assert!(diags.has_errors());
    (diags, sources)
}

/// The one diagnostic whose summary contains `summary`.
fn find<'a>(diags: &'a Diagnostics, summary: &str) -> &'a Diagnostic {
    let found: Vec<&Diagnostic> = diags
        .0
        .iter()
        .filter(|d| d.summary.contains(summary))
        .collect();
    assert_eq!(found.len(), 1, "want one {summary:?} in {:#?}", diags.0);
    found[0]
}

/// Asserts one error containing `summary`, at the `nth` occurrence of `needle`.
fn assert_error_at<'a>(
    text: &str,
    diags: &'a Diagnostics,
    sources: &SourceMap,
    summary: &str,
    needle: &str,
    nth: usize,
) -> &'a Diagnostic {
    let d = find(diags, summary);
    assert_eq!(d.severity, Severity::Error, "{d:?}");
    assert_eq!(at(sources, d), pos_of(text, needle, nth), "{d:#?}");
    d
}

#[test]
fn the_base_spec_is_valid() {
    let (r, diags, _) = try_load(&secret(""));
    assert!(r.is_some(), "{diags:#?}");
    assert!(diags.0.is_empty(), "{diags:#?}");
}

#[test]
fn syntax_error() {
    let text = format!("{STORE}secret \"k\" {{\n  owner \"team\"\n}}\n");
    let (diags, sources) = errors(&text);
    assert_eq!(diags.0.len(), 1, "{diags:#?}");
    let d = &diags.0[0];
    assert!(d.summary.starts_with("syntax error: "), "{d:?}");
    assert!(d.hint.as_deref().unwrap().contains("missing quote"));
    // `owner "team"` reads as a block header with a label: the error is
    // where its `{` (or an `=` before the string) was expected.
    let (line, column) = at(&sources, d);
    let (want_line, label_col) = pos_of(&text, "\"team\"", 0);
    assert_eq!((line, column), (want_line, label_col + 6), "{d:#?}");
    assert_eq!(
        sources.locate(d.span.as_ref().unwrap()),
        format!("rotor.hcl:{line}:{column}")
    );
}

#[test]
fn unknown_block_with_a_suggestion() {
    let text = format!("{}\nsecrte \"x\" {{}}\n", secret(""));
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown block type `secrte`",
        "secrte",
        0,
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `secret`?"));
}

#[test]
fn unknown_attribute_with_a_suggestion() {
    let text = secret("  ovrlap = \"1h\"\n");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown attribute `ovrlap`",
        "ovrlap",
        0,
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `overlap`?"));

    // Inside a nested block too.
    let text = secret("").replace("generate \"ec\" {}", "generate \"rsa\" { bitz = 2048 }");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown attribute `bitz`",
        "bitz",
        0,
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `bits`?"));
}

#[test]
fn unknown_reference_with_a_suggestion() {
    let text = secret("").replace("store   = store.file.local", "store   = store.file.locl");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown reference `store.file.locl`",
        "store.file.locl",
        0,
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `store.file.local`?"));

    let text = secret("").replace("accepts   = secret.k", "accepts   = secret.kk");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown reference `secret.kk`",
        "secret.kk",
        0,
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `secret.k`?"));

    // An unknown kind of reference.
    let text = secret("").replace("accepts   = secret.k", "accepts   = secrets.k");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown reference `secrets.k`",
        "secrets.k",
        0,
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `secret.k`?"));
}

#[test]
fn duplicate_names() {
    let text = format!("{}\n{STORE}", secret(""));
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "`store.file.local` is declared twice",
        "store \"file\"",
        1,
    );
    assert_eq!(d.detail.as_deref(), Some("first declared at rotor.hcl:1:1"));

    let text = secret("  version \"v1\" {}\n");
    let (diags, sources) = errors(&text);
    assert_error_at(
        &text,
        &diags,
        &sources,
        "version `v1` is declared twice",
        "version \"v1\"",
        1,
    );

    // hcl-edit itself rejects an attribute set twice, at the second one.
    let text = secret("  owner = \"again\"\n");
    let (diags, sources) = errors(&text);
    let d = find(&diags, "redefined attribute");
    assert!(d.summary.starts_with("syntax error"), "{d:?}");
    assert_eq!(
        at(&sources, d).0,
        pos_of(&text, "owner = \"again\"", 0).0,
        "{d:#?}"
    );
}

#[test]
fn wrong_reference_type() {
    let text = secret("").replace("accepts   = secret.k", "accepts   = store.file.local");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "`accepts` must name a secret, not a store",
        "store.file.local",
        1,
    );
    assert_eq!(d.label.as_deref(), Some("this is store.file.local"));

    let text = secret("").replace("store   = store.file.local", "store   = \"local\"");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "`store` must be a reference, not a string",
        "\"local\"",
        1,
    );
    assert!(d.hint.as_deref().unwrap().contains("store.local"), "{d:?}");
}

#[test]
fn missing_required_attributes() {
    // `store`: reported at the secret's opening brace.
    let text = secret("").replace("  store   = store.file.local\n", "");
    let (diags, sources) = errors(&text);
    let d = find(&diags, "missing required attribute `store`");
    assert_eq!(at(&sources, d), pos_of(&text, "{\n  owner", 0), "{d:#?}");
    assert!(d.hint.as_deref().unwrap().contains("store.NAME"));

    // `cache_ttl`: reported at the consumer's header.
    let text = secret("").replace("  cache_ttl = \"5s\"\n", "");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "consumer `auth` has no `cache_ttl`",
        "consumer \"auth\"",
        0,
    );
    assert!(d.hint.as_deref().unwrap().contains("cache_ttl = "));

    // `secret` of a publisher.
    let text = format!(
        "{}\npublish \"jwks\" \"p\" {{\n  path = \"j.json\"\n}}\n",
        secret("")
    );
    let (diags, sources) = errors(&text);
    let d = find(&diags, "missing required attribute `secret`");
    assert_eq!(
        at(&sources, d),
        pos_of(&text, "{\n  path = \"j.json\"", 0),
        "{d:#?}"
    );
}

#[test]
fn bad_durations() {
    let text = secret("").replace("cadence = \"90d\"", "cadence = \"90x\"");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "`cadence`: `x` is not a unit",
        "\"90x\"",
        0,
    );
    assert!(d.hint.as_deref().unwrap().contains("\"90s\""));

    let text = secret("").replace("cache_ttl = \"10s\"", "cache_ttl = \"10\"");
    let (diags, sources) = errors(&text);
    assert_error_at(
        &text,
        &diags,
        &sources,
        "`cache_ttl`: `10` has no unit",
        "\"10\"",
        0,
    );

    let text = secret("").replace("cache_ttl = \"10s\"", "cache_ttl = 10");
    let (diags, sources) = errors(&text);
    assert_error_at(
        &text,
        &diags,
        &sources,
        "`cache_ttl` must be a string",
        "10\n",
        0,
    );
}

#[test]
fn active_must_name_a_declared_version() {
    let text = secret("").replace("active = \"v2\"", "active = \"v3\"");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "`active` names version `v3`, which is not declared",
        "\"v3\"",
        0,
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `v1`?"));

    let text = secret("").replace("active = \"v2\"", "active = \"2026-11\"");
    let (diags, _) = errors(&text);
    let d = find(&diags, "`active` names version `2026-11`");
    assert!(
        d.hint
            .as_deref()
            .unwrap()
            .contains("declared versions: v1, v2"),
        "{d:?}"
    );
}

#[test]
fn overlap_below_the_floor_names_the_consumer() {
    // auth: cache 5s + token 15s = 20s, above api's 10s cache.
    let text = secret("  overlap = \"19s\"\n");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "`overlap` of 19s is shorter than the floor of 20s",
        "\"19s\"",
        0,
    );
    assert_eq!(
        d.label.as_deref(),
        Some("floor set by consumer.auth (cache_ttl 5s + token_ttl 15s)")
    );
    assert!(d.hint.as_deref().unwrap().contains("overlap = \"20s\""));

    // A verifier with a longer cache sets the floor instead.
    let text = secret("  overlap = \"20s\"\n").replace("cache_ttl = \"10s\"", "cache_ttl = \"1m\"");
    let (diags, _) = errors(&text);
    let d = find(&diags, "shorter than the floor of 1m");
    assert_eq!(
        d.label.as_deref(),
        Some("floor set by consumer.api caches key sets for 1m")
    );

    // At the floor it is fine.
    let (r, diags, _) = try_load(&secret("  overlap = \"20s\"\n"));
    assert!(r.is_some(), "{diags:#?}");
}

#[test]
fn a_single_version_verifier_is_a_flag_day() {
    let text = secret("").replace(
        "  cache_ttl = \"10s\"\n",
        "  cache_ttl = \"10s\"\n  max_versions = 1\n",
    );
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "consumer `api` holds one version at a time: rotating it is a flag day",
        "1\n",
        0,
    );
    assert!(d.hint.as_deref().unwrap().contains("flag_day_reason"));

    let waived = text.replace(
        "max_versions = 1\n",
        "max_versions = 1\n  flag_day_reason = \"vendor appliance; outage agreed with ops\"\n",
    );
    let (r, diags, _) = try_load(&waived);
    assert!(r.is_some(), "{diags:#?}");
}

#[test]
fn material_in_the_spec_is_refused() {
    let text = secret("  description = \"-----BEGIN PRIVATE KEY-----\"\n");
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "a literal in `description` looks like secret material: it looks like a PEM key",
        "\"-----BEGIN",
        0,
    );
    assert!(d.hint.as_deref().unwrap().contains("env(\"NAME\")"));
    assert!(
        !d.summary.contains("BEGIN"),
        "the message must not echo the material"
    );

    let key = "sk_live_4eC39HqLyjWDarjtT1zdp7dcXyZ9Qa";
    let text = secret(&format!("  description = \"{key}\"\n"));
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "a literal in `description` looks like secret material: it looks like key material",
        &format!("\"{key}"),
        0,
    );
    let rendered = format!("{d:?}");
    assert!(
        !rendered.contains(key),
        "the diagnostic must not echo the material"
    );

    // A credential-named attribute, even short.
    let text = STORE.replace(
        "path = \".rotor/secrets\"",
        "path = \"s\"\n  password = \"hunter2\"",
    );
    let (diags, sources) = errors(&text);
    assert_error_at(
        &text,
        &diags,
        &sources,
        "a literal in `password` looks like secret material: the attribute holds a credential",
        "\"hunter2\"",
        0,
    );

    // Ordinary strings pass.
    let (r, diags, _) = try_load(&secret(
        "  description = \"Auth service signing key for user sessions\"\n",
    ));
    assert!(r.is_some(), "{diags:#?}");
}

#[test]
fn warnings_for_missing_inventory() {
    let text = format!(
        "{STORE}\nsecret \"lonely\" {{\n  store = store.file.local\n  generate \"random\" {{}}\n  version \"a\" {{}}\n  active = \"a\"\n}}\n"
    );
    let (r, diags, sources) = try_load(&text);
    assert!(r.is_some(), "warnings do not stop a spec: {diags:#?}");
    assert!(!diags.has_errors());
    let header = pos_of(&text, "secret \"lonely\"", 0);
    for summary in [
        "secret `lonely` has no consumers",
        "secret `lonely` has no owner",
        "secret `lonely` has no cadence",
    ] {
        let d = find(&diags, summary);
        assert_eq!(d.severity, Severity::Warning);
        assert_eq!(at(&sources, d), header, "{d:#?}");
        assert!(d.hint.is_some());
    }
    assert_eq!(diags.0.len(), 3, "{diags:#?}");
}

#[test]
fn several_errors_are_reported_in_one_run() {
    let text = secret("  ovrlap = \"1h\"\n")
        .replace("cadence = \"90d\"", "cadence = \"ninety\"")
        .replace("accepts   = secret.k", "accepts   = secret.kk")
        + "\nsecrte \"x\" {}\n";
    let (diags, sources) = errors(&text);
    let found: Vec<&Diagnostic> = diags.0.iter().filter(|d| d.is_error()).collect();
    let summaries: Vec<&str> = found.iter().map(|d| d.summary.as_str()).collect();
    for want in [
        "`cadence`: `ninety` is not a duration",
        "unknown attribute `ovrlap`",
        "unknown block type `secrte`",
    ] {
        assert!(
            summaries.contains(&want),
            "{want:?} missing from {summaries:#?}"
        );
    }
    // Reported in source order.
    let positions: Vec<(usize, usize)> = found.iter().map(|d| at(&sources, d)).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
    assert!(found.len() >= 3);

    // Errors from resolution are reported together too.
    let text = secret("")
        .replace("accepts   = secret.k", "accepts   = secret.kk")
        .replace("emits     = secret.k", "emits     = secret.zz");
    let (diags, sources) = errors(&text);
    assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown reference `secret.kk`",
        "secret.kk",
        0,
    );
    assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown reference `secret.zz`",
        "secret.zz",
        0,
    );
}

#[test]
fn positions_count_characters_across_files() {
    let a = STORE.to_string();
    let b = "# é comment\nsecret \"k\" {\n  owner = \"é\"\n  ownr = \"x\"\n}\n".to_string();
    let (r, diags, sources) = crate::spec::load(
        vec![
            (PathBuf::from("a.hcl"), a),
            (PathBuf::from("b.hcl"), b.clone()),
        ],
        &|_| None,
    );
    assert!(r.is_none());
    let d = find(&diags, "unknown attribute `ownr`");
    let span = d.span.as_ref().unwrap();
    assert_eq!(span.file, 1);
    assert_eq!(at(&sources, d), pos_of(&b, "ownr", 0));
    assert_eq!(sources.locate(span), "b.hcl:4:3");
}

#[test]
fn env_reads_configuration() {
    let text = STORE.replace("\".rotor/secrets\"", "env(\"ROTOR_DIR\")");
    let files = || vec![(PathBuf::from("rotor.hcl"), text.clone())];
    let (_, diags, sources) = crate::spec::load(files(), &|_| None);
    let d = find(&diags, "environment variable `ROTOR_DIR` is not set");
    assert_eq!(at(&sources, d), pos_of(&text, "env(", 0));
    let (_, diags, _) =
        crate::spec::load(files(), &|name| (name == "ROTOR_DIR").then(|| "/x".into()));
    assert!(
        !diags.0.iter().any(|d| d.summary.contains("ROTOR_DIR")),
        "{diags:#?}"
    );
}

/// Rules run on whatever resolved: an unknown reference, a missing
/// `cache_ttl` and an undeclared `active` are reported by one run.
#[test]
fn reference_and_rule_errors_are_reported_together() {
    let text = format!(
        r#"{STORE}
secret "k" {{
  owner   = "team"
  store   = store.file.locl
  cadence = "90d"
  generate "ec" {{}}
  version "v1" {{}}
  active = "v9"
}}

consumer "api" {{
  accepts = secret.k
}}
"#
    );
    let (diags, sources) = errors(&text);
    assert_error_at(
        &text,
        &diags,
        &sources,
        "unknown reference `store.file.locl`",
        "store.file.locl",
        0,
    );
    assert_error_at(
        &text,
        &diags,
        &sources,
        "consumer `api` has no `cache_ttl`",
        "consumer \"api\"",
        0,
    );
    assert_error_at(
        &text,
        &diags,
        &sources,
        "`active` names version `v9`",
        "\"v9\"",
        0,
    );
}

/// `hold_until` needs a written reason, and a date.
#[test]
fn hold_until_needs_a_reason_and_a_date() {
    let text = secret("").replace(
        "consumer \"api\" {\n  accepts   = secret.k\n",
        "consumer \"api\" {\n  accepts   = secret.k\n  hold_until = \"2027-01-15\"\n",
    );
    let (diags, sources) = errors(&text);
    assert_error_at(
        &text,
        &diags,
        &sources,
        "holds old versions until 2027-01-15 without a reason",
        "\"2027-01-15\"",
        0,
    );
    let text = secret("").replace(
        "consumer \"api\" {\n  accepts   = secret.k\n",
        "consumer \"api\" {\n  accepts   = secret.k\n  hold_until = \"soon\"\n  hold_reason = \"x\"\n",
    );
    let (diags, sources) = errors(&text);
    assert_error_at(
        &text,
        &diags,
        &sources,
        "hold_until: `soon` is not a date",
        "\"soon\"",
        0,
    );
}

#[test]
fn probe_placeholders_are_kept_inside_verify_blocks_only() {
    let text = super::spec_with(
        &["v1"],
        "v1",
        r#"verify "prometheus" {
    query = "rate(x{kid=\"${version}\",family=\"${family}\"}[5s])"
  }"#,
    );
    let r = super::load(&text);
    let api = &r.spec.consumers[0];
    assert_eq!(
        api.verify[0].settings.get("query").map(|q| &q.value),
        Some(&crate::spec::Value::String(
            "rate(x{kid=\"${version}\",family=\"${family}\"}[5s])".into()
        ))
    );
    // Elsewhere `${version}` is not a value.
    let bad = super::basic_spec(&["v1"], "v1").replace(
        "owner         = \"team-identity\"",
        "owner         = \"team-${version}\"",
    );
    let (r, diags, _) = super::try_load(&bad);
    assert!(r.is_none());
    assert!(
        diags
            .0
            .iter()
            .any(|d| d.summary == "`version` is not a value"),
        "{diags:?}"
    );
}

/// A probe kind that cannot serve a phase refuses it where `on` is written,
/// so the parser keeps that span (it used to keep only the block's).
#[test]
fn a_verify_blocks_on_attribute_keeps_its_own_span() {
    let text = super::spec_with(
        &["v1"],
        "v1",
        r#"verify "jwks" {
    url = "http://127.0.0.1:8081/jwks.json"
    on  = ["accept", "drain"]
  }
  verify "command" {
    command = ["true"]
  }"#,
    );
    let r = super::load(&text);
    let verify = &r.spec.consumers[0].verify;
    let on = verify[0].on_span.as_ref().expect("`on` is written");
    let p = r.spec.sources.file(on).pos(on.range.start);
    assert_eq!((p.line, p.column), pos_of(&text, "on  = [", 0));
    assert_eq!(
        &r.spec.sources.file(on).text[on.range.clone()],
        r#"on  = ["accept", "drain"]"#
    );
    assert_eq!(verify[1].on_span, None, "no `on`, no span");
    assert!(
        verify[0].settings.get("on").is_none(),
        "the engine owns `on`"
    );
}

#[test]
fn a_login_generator_needs_usernames() {
    let login = |body: &str| {
        super::basic_spec(&["v1"], "v1").replace(
            "generate \"ec\" {}",
            &format!("generate \"login\" {{\n    {body}\n  }}"),
        )
    };
    let (_, diags, _) = super::try_load(&login(r#"usernames = ["app_a", "app_b"]"#));
    assert!(
        diags.0.iter().any(|d| d.summary
            == "`publish.jwks.p` publishes `secret.k`, whose versions (login app_a/app_b (24 bytes)) have no public key"),
        "{diags:?}"
    );
    let login = |body: &str| {
        let text = login(body);
        let start = text.find("publish \"jwks\"").unwrap();
        let end = start + text[start..].find("}\n").unwrap() + 2;
        format!("{}{}", &text[..start], &text[end..]).replace("  via       = publish.jwks.p\n", "")
    };
    let r = super::load(&login(r#"usernames = ["app_a", "app_b"]"#));
    assert_eq!(
        r.spec.secrets[0]
            .generate
            .as_ref()
            .map(|g| g.value.to_string()),
        Some("login app_a/app_b (24 bytes)".into())
    );
    let (r, diags, _) = super::try_load(&login("length = 24"));
    assert!(r.is_none());
    let d = diags.0.iter().find(|d| d.is_error()).unwrap();
    assert_eq!(d.summary, "generate \"login\" needs `usernames`");
    assert!(d.hint.as_deref().unwrap().contains("app_a"));
}

/// The `state` block is read (kind and settings, for the providers), and a
/// second one, in the same file or in a large file parsed in pieces, is an
/// error at the second block.
#[test]
fn state_block_is_read_and_a_second_one_refused() {
    let text = format!(
        "{}\nstate \"postgres\" {{\n  conn   = \"postgres://u@h/db\"\n  schema = \"team\"\n}}\n",
        secret("")
    );
    let r = load(&text);
    let state = r.spec.state.as_ref().expect("the state block");
    assert_eq!(state.kind, "postgres");
    assert!(state.settings.contains_key("schema"));

    let twice = format!("{text}\nstate \"local\" {{}}\n");
    let (diags, _) = errors(&twice);
    let d = diags
        .0
        .iter()
        .find(|d| d.summary.contains("a second `state` block"))
        .expect("the second block is refused");
    assert_eq!(d.severity, Severity::Error);

    // A file large enough to be parsed in pieces keeps its state block.
    let mut big = String::new();
    for i in 0..2000 {
        big.push_str(&format!(
            "consumer \"c{i}\" {{\n  accepts   = secret.k\n  cache_ttl = \"10s\"\n}}\n\n"
        ));
    }
    let r = load(&format!("{text}\n{big}"));
    assert_eq!(
        r.spec.state.as_ref().map(|s| s.kind.as_str()),
        Some("postgres")
    );
}

#[test]
fn an_unsupported_curve_or_encoding_is_refused_at_its_value() {
    let text = secret("").replace(
        "generate \"ec\" {}",
        "generate \"ec\" { curve = \"P-384\" }",
    );
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "curve `P-384` is not supported",
        "\"P-384\"",
        0,
    );
    assert_eq!(d.hint.as_deref(), Some("use \"P-256\""));
    let text = secret("").replace(
        "generate \"ec\" {}",
        "generate \"random\" { encoding = \"base32\" }",
    );
    let (diags, sources) = errors(&text);
    let d = assert_error_at(
        &text,
        &diags,
        &sources,
        "encoding `base32` is not supported",
        "\"base32\"",
        0,
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("use \"base64url\", \"base64\" or \"hex\"")
    );
    for (block, want) in [
        ("generate \"ec\" {}", "ec P-256"),
        ("generate \"ec\" { curve = \"P-256\" }", "ec P-256"),
        ("generate \"random\" {}", "random 32 bytes base64url"),
        (
            "generate \"random\" { encoding = \"hex\" }",
            "random 32 bytes hex",
        ),
    ] {
        let text = secret("").replace("generate \"ec\" {}", block);
        let (r, diags, _) = try_load(&text);
        let r = r.unwrap_or_else(|| panic!("{diags:#?}"));
        assert_eq!(
            r.spec.secrets[0]
                .generate
                .as_ref()
                .unwrap()
                .value
                .to_string(),
            want
        );
    }
}
