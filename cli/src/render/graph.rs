//! Graphs as text: the spec's resources and the plan's steps, as Graphviz
//! DOT or a Mermaid flowchart.
//!
//! Both emitters are our own: a graph is small, the formats are simple, and
//! writing them here keeps the output byte-for-byte stable between runs
//! (nodes and edges are sorted, never in hash or insertion order), so a
//! rendered graph can be committed and diffed.

use rotor_engine::plan::Plan;
use rotor_engine::spec::{Resolved, ResourceId};
use std::cmp::Ordering;

/// Which graph `rotor graph` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphKind {
    /// Stores, secrets, publishers and consumers, and the references between them.
    Resources,
    /// The plan's steps per family, each after the steps it waits for.
    Plan,
}

/// How `rotor graph` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`rotor graph | dot -Tsvg > graph.svg`).
    Dot,
    /// A Mermaid flowchart (renders in GitHub Markdown).
    Mermaid,
}

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Box,
    Cylinder,
    Note,
    Ellipse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub label: String,
    pub shape: Shape,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: Option<String>,
}

/// A group of nodes drawn together: one family's steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub id: String,
    pub label: String,
    pub nodes: Vec<Node>,
}

/// A graph to emit. Order does not matter: the emitters sort.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub clusters: Vec<Cluster>,
    pub edges: Vec<Edge>,
}

/// The resource graph: one node per declared resource, one edge per
/// reference, from the resource that refers to the one referred to, labelled
/// with the attribute that holds the reference.
pub fn resources(resolved: &Resolved) -> Graph {
    let spec = &resolved.spec;
    let address = |id| spec.address_of(id);
    let mut graph = Graph::default();
    let mut node = |id: ResourceId, shape| {
        let a = address(id);
        graph.nodes.push(Node {
            id: a.clone(),
            label: a,
            shape,
        })
    };
    (0..spec.stores.len()).for_each(|i| node(ResourceId::Store(i), Shape::Cylinder));
    (0..spec.secrets.len()).for_each(|i| node(ResourceId::Secret(i), Shape::Box));
    (0..spec.publishers.len()).for_each(|i| node(ResourceId::Publish(i), Shape::Note));
    (0..spec.consumers.len()).for_each(|i| node(ResourceId::Consumer(i), Shape::Ellipse));

    let mut edge = |from: ResourceId, to: ResourceId, label: &str| {
        graph.edges.push(Edge {
            from: address(from),
            to: address(to),
            label: Some(label.to_string()),
        })
    };
    // The family table holds every resolved reference but `via`.
    for family in &resolved.families {
        let secret = ResourceId::Secret(family.secret);
        for &s in &family.stores {
            edge(secret, ResourceId::Store(s), "store");
        }
        for &p in &family.publishers {
            edge(ResourceId::Publish(p), secret, "secret");
        }
        for &c in &family.verifiers {
            edge(ResourceId::Consumer(c), secret, "accepts");
        }
        for &c in &family.emitters {
            edge(ResourceId::Consumer(c), secret, "emits");
        }
    }
    for (c, consumer) in spec.consumers.iter().enumerate() {
        let Some(via) = &consumer.via else { continue };
        let via = via.to_string();
        if let Some(p) = spec.publishers.iter().position(|p| p.address() == via) {
            edge(ResourceId::Consumer(c), ResourceId::Publish(p), "via");
        }
    }
    graph
}

/// The plan's steps: a cluster per family, nodes `<family>_<step>` labelled
/// `N. verb target`, an edge from each step to every step that waits for it.
pub fn plan(plan: &Plan) -> Graph {
    let mut graph = Graph::default();
    for family in &plan.families {
        let id = |step: usize| format!("{}_{step}", family.family);
        let nodes = family
            .steps
            .iter()
            .map(|s| Node {
                id: id(s.id),
                label: format!("{}. {} {}", s.id, s.action.verb(), s.action.target()),
                shape: Shape::Box,
            })
            .collect();
        for s in &family.steps {
            for &a in &s.after {
                graph.edges.push(Edge {
                    from: id(a),
                    to: id(s.id),
                    label: None,
                });
            }
        }
        graph.clusters.push(Cluster {
            id: format!("cluster_{}", family.family),
            label: format!("secret.{}", family.family),
            nodes,
        });
    }
    graph
}

/// Graphviz DOT.
pub fn dot(graph: &Graph) -> String {
    let mut out = String::from(
        "digraph rotor {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\"];\n",
    );
    let node_line = |n: &Node, indent: &str| {
        let shape = match n.shape {
            Shape::Box => "box",
            Shape::Cylinder => "cylinder",
            Shape::Note => "note",
            Shape::Ellipse => "ellipse",
        };
        format!(
            "{indent}{} [label={}, shape={shape}];\n",
            dot_id(&n.id),
            dot_string(&n.label)
        )
    };
    for c in sorted_clusters(graph) {
        out.push_str(&format!("  subgraph {} {{\n", dot_id(&c.id)));
        out.push_str(&format!("    label={};\n", dot_string(&c.label)));
        for n in sorted_nodes(&c.nodes) {
            out.push_str(&node_line(n, "    "));
        }
        out.push_str("  }\n");
    }
    for n in sorted_nodes(&graph.nodes) {
        out.push_str(&node_line(n, "  "));
    }
    for e in sorted_edges(graph) {
        let label = match &e.label {
            Some(l) => format!(" [label={}]", dot_string(l)),
            None => String::new(),
        };
        out.push_str(&format!(
            "  {} -> {}{label};\n",
            dot_id(&e.from),
            dot_id(&e.to)
        ));
    }
    out.push_str("}\n");
    out
}

/// A Mermaid `flowchart LR`. Mermaid ids are `n0`, `n1`, … in sorted node
/// order (a resource address has dots, which Mermaid ids may not hold); the
/// addresses are the labels.
pub fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut ids: Vec<&str> = graph
        .clusters
        .iter()
        .flat_map(|c| c.nodes.iter())
        .chain(graph.nodes.iter())
        .map(|n| n.id.as_str())
        .collect();
    ids.sort_by(|a, b| natural_cmp(a, b));
    ids.dedup();
    let short = |id: &str| match ids.binary_search_by(|x| natural_cmp(x, id)) {
        Ok(i) => format!("n{i}"),
        // An edge to a node that was not declared: Mermaid declares it.
        Err(_) => mermaid_id(id),
    };
    let node_line = |n: &Node, indent: &str| {
        let (open, close) = match n.shape {
            Shape::Box => ("[", "]"),
            Shape::Cylinder => ("[(", ")]"),
            Shape::Note => ("[/", "/]"),
            Shape::Ellipse => ("([", "])"),
        };
        format!(
            "{indent}{}{open}\"{}\"{close}\n",
            short(&n.id),
            mermaid_text(&n.label)
        )
    };
    for (i, c) in sorted_clusters(graph).into_iter().enumerate() {
        out.push_str(&format!(
            "  subgraph c{i} [\"{}\"]\n",
            mermaid_text(&c.label)
        ));
        for n in sorted_nodes(&c.nodes) {
            out.push_str(&node_line(n, "    "));
        }
        out.push_str("  end\n");
    }
    for n in sorted_nodes(&graph.nodes) {
        out.push_str(&node_line(n, "  "));
    }
    for e in sorted_edges(graph) {
        let arrow = match &e.label {
            Some(l) => format!("-->|\"{}\"|", mermaid_text(l)),
            None => "-->".to_string(),
        };
        out.push_str(&format!("  {} {arrow} {}\n", short(&e.from), short(&e.to)));
    }
    out
}

fn sorted_clusters(graph: &Graph) -> Vec<&Cluster> {
    let mut clusters: Vec<&Cluster> = graph.clusters.iter().collect();
    clusters.sort_by(|a, b| natural_cmp(&a.id, &b.id));
    clusters
}

fn sorted_nodes(nodes: &[Node]) -> Vec<&Node> {
    let mut nodes: Vec<&Node> = nodes.iter().collect();
    nodes.sort_by(|a, b| natural_cmp(&a.id, &b.id));
    nodes
}

fn sorted_edges(graph: &Graph) -> Vec<&Edge> {
    let mut edges: Vec<&Edge> = graph.edges.iter().collect();
    edges.sort_by(|a, b| {
        natural_cmp(&a.from, &b.from)
            .then_with(|| natural_cmp(&a.to, &b.to))
            .then_with(|| a.label.cmp(&b.label))
    });
    edges.dedup();
    edges
}

/// Compares ids with runs of digits as numbers, so that step `family_2`
/// comes before `family_10`; ties fall back to plain string order.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// A DOT id: bare when it is a plain identifier, quoted otherwise.
fn dot_id(id: &str) -> String {
    const KEYWORDS: [&str; 6] = ["node", "edge", "graph", "digraph", "subgraph", "strict"];
    let plain = id
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(id));
    if plain {
        id.to_string()
    } else {
        dot_string(id)
    }
}

/// A quoted DOT string: `"` and `\` escaped, line breaks as `\n`.
fn dot_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text inside a quoted Mermaid label: Mermaid has no backslash escapes,
/// only entity codes (`#quot;`), so `"`, `#` and the HTML brackets become those.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

fn mermaid_id(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, label: &str) -> Node {
        Node {
            id: id.into(),
            label: label.into(),
            shape: Shape::Box,
        }
    }

    fn edge(from: &str, to: &str, label: Option<&str>) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            label: label.map(Into::into),
        }
    }

    fn sample() -> Graph {
        Graph {
            nodes: vec![
                node("secret.b", "secret.b"),
                node("consumer.c", "consumer.c"),
                node("store.file.a", "say \"hi\" \\ there"),
            ],
            clusters: vec![],
            edges: vec![
                edge("secret.b", "store.file.a", Some("store")),
                edge("consumer.c", "secret.b", Some("a \"quoted\" label")),
            ],
        }
    }

    #[test]
    fn dot_quotes_and_escapes_labels() {
        let out = dot(&sample());
        assert!(
            out.contains(r#""store.file.a" [label="say \"hi\" \\ there", shape=box];"#),
            "{out}"
        );
        assert!(
            out.contains(r#""consumer.c" -> "secret.b" [label="a \"quoted\" label"];"#),
            "{out}"
        );
        assert!(out.starts_with("digraph rotor {\n") && out.ends_with("}\n"));
    }

    #[test]
    fn dot_ids_are_bare_only_when_plain() {
        assert_eq!(dot_id("family_1"), "family_1");
        assert_eq!(dot_id("store.file.a"), "\"store.file.a\"");
        assert_eq!(dot_id("1abc"), "\"1abc\"");
        assert_eq!(dot_id("Node"), "\"Node\"");
        assert_eq!(dot_id(""), "\"\"");
    }

    #[test]
    fn output_does_not_depend_on_insertion_order() {
        let a = sample();
        let mut b = sample();
        b.nodes.reverse();
        b.edges.reverse();
        assert_eq!(dot(&a), dot(&b));
        assert_eq!(mermaid(&a), mermaid(&b));
        // Nodes are sorted by id: `secret.b` before `store.file.a`.
        let out = dot(&a);
        assert!(out.find("\"secret.b\" [").unwrap() < out.find("\"store.file.a\" [").unwrap());
    }

    #[test]
    fn steps_sort_numerically() {
        let g = Graph {
            clusters: vec![Cluster {
                id: "cluster_k".into(),
                label: "secret.k".into(),
                nodes: (1..=11)
                    .rev()
                    .map(|i| node(&format!("k_{i}"), "x"))
                    .collect(),
            }],
            ..Graph::default()
        };
        let out = dot(&g);
        assert!(
            out.find("k_2 [").unwrap() < out.find("k_10 [").unwrap(),
            "{out}"
        );
        assert!(out.contains("  subgraph cluster_k {\n    label=\"secret.k\";\n"));
    }

    #[test]
    fn mermaid_escapes_labels_with_entities() {
        let out = mermaid(&sample());
        assert!(out.starts_with("flowchart LR\n"), "{out}");
        // Sorted: consumer.c n0, secret.b n1, store.file.a n2.
        assert!(
            out.contains("  n2[\"say #quot;hi#quot; \\ there\"]\n"),
            "{out}"
        );
        assert!(out.contains("  n1 -->|\"store\"| n2\n"), "{out}");
        assert!(
            out.contains("  n0 -->|\"a #quot;quoted#quot; label\"| n1\n"),
            "{out}"
        );
        assert_eq!(mermaid_text("a#b<c>"), "a#35;b#lt;c#gt;");
    }

    #[test]
    fn natural_order() {
        let mut ids = vec!["a_10", "a_2", "a_1", "b", "a"];
        ids.sort_by(|x, y| natural_cmp(x, y));
        assert_eq!(ids, ["a", "a_1", "a_2", "a_10", "b"]);
    }
}
