//! `rotor graph`: the quickstart's resource graph and plan graph, as DOT and
//! Mermaid. Graphviz is not required: the DOT is checked by its structure.

use crate::harness::Test;

/// Checks what a DOT document must have to parse: one `digraph { … }`,
/// balanced braces outside quoted strings, every quote closed, and every
/// statement line ending in `;` or a brace.
#[track_caller]
fn assert_dot_structure(dot: &str) {
    assert!(dot.starts_with("digraph rotor {\n"), "{dot}");
    assert!(dot.ends_with("}\n"), "{dot}");
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for c in dot.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, '"') => in_string = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced braces\n{dot}");
            }
            _ => {}
        }
    }
    assert!(!in_string, "unclosed quote\n{dot}");
    assert_eq!(depth, 0, "unbalanced braces\n{dot}");
    for line in dot.lines().map(str::trim) {
        assert!(
            line.ends_with(';') || line.ends_with('{') || line == "}",
            "not a statement: {line:?}\n{dot}"
        );
    }
}

#[test]
fn quickstart_resource_graph_as_dot() {
    let t = Test::quickstart();
    let out = t.run(["graph"]).success();
    let dot = &out.stdout;
    assert_dot_structure(dot);
    for node in [
        r#""store.file.local" [label="store.file.local", shape=cylinder];"#,
        r#""secret.session_signing_key" [label="secret.session_signing_key", shape=box];"#,
        r#""publish.jwks.public" [label="publish.jwks.public", shape=note];"#,
        r#""consumer.api_gateway" [label="consumer.api_gateway", shape=ellipse];"#,
        r#""consumer.auth_service" [label="consumer.auth_service", shape=ellipse];"#,
    ] {
        assert!(dot.contains(node), "missing node {node}\n{out}");
    }
    for edge in [
        r#""secret.session_signing_key" -> "store.file.local" [label="store"];"#,
        r#""publish.jwks.public" -> "secret.session_signing_key" [label="secret"];"#,
        r#""consumer.api_gateway" -> "secret.session_signing_key" [label="accepts"];"#,
        r#""consumer.api_gateway" -> "publish.jwks.public" [label="via"];"#,
        r#""consumer.auth_service" -> "secret.session_signing_key" [label="emits"];"#,
    ] {
        assert!(dot.contains(edge), "missing edge {edge}\n{out}");
    }
    assert_eq!(dot.matches(" -> ").count(), 5, "{out}");
    // Nothing read the stores or wrote state: a resource graph is the spec alone.
    assert!(!t.exists(".rotor"), "graph wrote .rotor/");

    let again = t.run(["graph"]).success();
    assert_eq!(out.stdout, again.stdout, "two runs differ");
}

#[test]
fn quickstart_resource_graph_as_mermaid() {
    let t = Test::quickstart();
    let out = t.run(["graph", "--format", "mermaid"]).success();
    let m = &out.stdout;
    assert!(m.starts_with("flowchart LR\n"), "{out}");
    // Nodes are numbered in sorted order of their addresses.
    assert!(m.contains("  n0([\"consumer.api_gateway\"])\n"), "{out}");
    assert!(m.contains("  n4[(\"store.file.local\")]\n"), "{out}");
    assert!(m.contains("  n3 -->|\"store\"| n4\n"), "{out}");
    assert!(m.contains("  n0 -->|\"via\"| n2\n"), "{out}");
    assert_eq!(m.matches(" --> ").count() + m.matches(" -->|").count(), 5);
    let again = t.run(["graph", "--format", "mermaid"]).success();
    assert_eq!(out.stdout, again.stdout, "two runs differ");
}

#[test]
fn quickstart_plan_graph_has_a_cluster_per_family() {
    let t = Test::quickstart();
    let out = t.run(["graph", "--type", "plan"]).success();
    let dot = &out.stdout;
    assert_dot_structure(dot);
    assert!(
        dot.contains("  subgraph cluster_session_signing_key {\n"),
        "{out}"
    );
    assert!(
        dot.contains(r#"session_signing_key_1 [label="1. create 2026-08", shape=box];"#),
        "{out}"
    );
    assert!(
        dot.contains("  session_signing_key_1 -> session_signing_key_2;\n"),
        "{out}"
    );
    // Planning reads the stores but never writes state.
    assert!(!t.exists(".rotor/state.db"), "graph wrote state");
    let again = t.run(["graph", "--type", "plan"]).success();
    assert_eq!(out.stdout, again.stdout, "two runs differ");
}

#[test]
fn graph_of_an_invalid_spec_fails_with_the_diagnostics() {
    let t = Test::quickstart();
    t.edit(
        "store         = store.file.local",
        "store         = store.file.nope",
    );
    let out = t.run(["graph"]).failure();
    assert!(out.stdout.is_empty(), "{out}");
    out.stderr_has("store.file.nope");
}
