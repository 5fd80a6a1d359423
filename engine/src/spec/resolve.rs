//! References resolved into a resource graph, and each family's neighbourhood.

use super::*;
use crate::diagnostics::{Diagnostic, did_you_mean};
use petgraph::graph::{DiGraph, NodeIndex};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A node of the resource graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceId {
    /// Index into `spec.stores`.
    Store(usize),
    /// Index into `spec.secrets`.
    Secret(usize),
    /// Index into `spec.publishers`.
    Publish(usize),
    /// Index into `spec.consumers`.
    Consumer(usize),
}

/// Resources and the references between them (an edge points from the
/// resource that refers to the one referred to).
#[derive(Debug, Clone, Default)]
pub struct ResourceGraph {
    /// The graph.
    pub graph: DiGraph<ResourceId, ()>,
}

/// Everything one family touches. Indices point into the spec's vectors.
#[derive(Debug, Clone, Default)]
pub struct Family {
    /// Index into `spec.secrets`.
    pub secret: usize,
    /// Stores holding its material.
    pub stores: Vec<usize>,
    /// Publishers of its public keys.
    pub publishers: Vec<usize>,
    /// Consumers that accept it.
    pub verifiers: Vec<usize>,
    /// Consumers that emit with its active version.
    pub emitters: Vec<usize>,
}

impl Family {
    /// Every consumer of the family, verifiers first, each once.
    pub fn consumers<'a>(&'a self, r: &'a Resolved) -> impl Iterator<Item = &'a ConsumerSpec> + 'a {
        let mut seen = Vec::new();
        self.verifiers
            .iter()
            .chain(&self.emitters)
            .filter(move |&&c| {
                let new = !seen.contains(&c);
                seen.push(c);
                new
            })
            .map(|&c| &r.spec.consumers[c])
    }
}

/// Resolves every reference it can; the rest are diagnostics. The result is
/// complete only when no error was reported.
pub(super) fn resolve(spec: Spec, diags: &mut Diagnostics) -> Resolved {
    let mut graph = ResourceGraph::default();
    let mut nodes: HashMap<ResourceId, NodeIndex> = HashMap::new();
    let mut node =
        |g: &mut ResourceGraph, id| *nodes.entry(id).or_insert_with(|| g.graph.add_node(id));

    // Names, with duplicates reported at the second declaration.
    let mut names: HashMap<(RefKind, String), (usize, Span)> = HashMap::new();
    let mut declare = |kind: RefKind,
                       address: String,
                       index: usize,
                       span: &Span,
                       diags: &mut Diagnostics,
                       sources: &SourceMap| {
        if let Some((_, first)) = names.get(&(kind, address.clone())) {
            diags.push(
                Diagnostic::error(format!("`{address}` is declared twice"), Some(span.clone()))
                    .detail(format!("first declared at {}", sources.locate(first)))
                    .hint("rename one of them, or merge the two blocks"),
            );
        } else {
            names.insert((kind, address), (index, span.clone()));
        }
    };
    for (i, s) in spec.stores.iter().enumerate() {
        declare(
            RefKind::Store,
            s.address(),
            i,
            &s.span,
            diags,
            &spec.sources,
        );
        node(&mut graph, ResourceId::Store(i));
    }
    for (i, s) in spec.secrets.iter().enumerate() {
        declare(
            RefKind::Secret,
            s.address(),
            i,
            &s.span,
            diags,
            &spec.sources,
        );
        node(&mut graph, ResourceId::Secret(i));
    }
    for (i, p) in spec.publishers.iter().enumerate() {
        declare(
            RefKind::Publish,
            p.address(),
            i,
            &p.span,
            diags,
            &spec.sources,
        );
        node(&mut graph, ResourceId::Publish(i));
    }
    for (i, c) in spec.consumers.iter().enumerate() {
        declare(
            RefKind::Consumer,
            c.address(),
            i,
            &c.span,
            diags,
            &spec.sources,
        );
        node(&mut graph, ResourceId::Consumer(i));
    }

    let lookup = |r: &Reference, diags: &mut Diagnostics| -> Option<usize> {
        let address = r.to_string();
        if let Some((i, _)) = names.get(&(r.kind, address.clone())) {
            return Some(*i);
        }
        let candidates: Vec<&str> = names
            .keys()
            .filter(|(k, _)| *k == r.kind)
            .map(|(_, a)| a.as_str())
            .collect();
        let mut sorted = candidates.clone();
        sorted.sort();
        let hint = match did_you_mean(&address, candidates.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if sorted.is_empty() => format!(
                "no {} is declared; add a `{}` block",
                r.kind.keyword(),
                r.kind.keyword()
            ),
            None => format!("declared: {}", sorted.join(", ")),
        };
        diags.push(
            Diagnostic::error(
                format!("unknown reference `{address}`"),
                Some(r.span.clone()),
            )
            .label(format!("no {} with this name", r.kind.keyword()))
            .hint(hint),
        );
        None
    };

    let mut families: Vec<Family> = (0..spec.secrets.len())
        .map(|secret| Family {
            secret,
            ..Family::default()
        })
        .collect();
    let mut edge = |g: &mut ResourceGraph, from: ResourceId, to: ResourceId| {
        let (a, b) = (node(g, from), node(g, to));
        g.graph.update_edge(a, b, ());
    };

    for (i, s) in spec.secrets.iter().enumerate() {
        for r in &s.stores {
            if let Some(t) = lookup(r, diags) {
                families[i].stores.push(t);
                edge(&mut graph, ResourceId::Secret(i), ResourceId::Store(t));
            }
        }
    }
    for (i, p) in spec.publishers.iter().enumerate() {
        if let Some(t) = p.secret.as_ref().and_then(|r| lookup(r, diags)) {
            families[t].publishers.push(i);
            edge(&mut graph, ResourceId::Publish(i), ResourceId::Secret(t));
        }
    }
    for (i, c) in spec.consumers.iter().enumerate() {
        let mut accepted = Vec::new();
        for r in &c.accepts {
            if let Some(t) = lookup(r, diags) {
                if !families[t].verifiers.contains(&i) {
                    families[t].verifiers.push(i);
                }
                accepted.push(t);
                edge(&mut graph, ResourceId::Consumer(i), ResourceId::Secret(t));
            }
        }
        for r in &c.emits {
            if let Some(t) = lookup(r, diags) {
                if !families[t].emitters.contains(&i) {
                    families[t].emitters.push(i);
                }
                edge(&mut graph, ResourceId::Consumer(i), ResourceId::Secret(t));
            }
        }
        if let Some(via) = &c.via
            && let Some(p) = lookup(via, diags)
        {
            edge(&mut graph, ResourceId::Consumer(i), ResourceId::Publish(p));
            let published = spec.publishers[p]
                .secret
                .as_ref()
                .and_then(|r| names.get(&(r.kind, r.to_string())).map(|(i, _)| *i));
            if let Some(family) = published
                && !accepted.contains(&family)
            {
                diags.push(
                            Diagnostic::error(
                                format!(
                                    "consumer `{}` reads `{via}`, which publishes `secret.{}`, a family it does not accept",
                                    c.name, spec.secrets[family].name
                                ),
                                Some(via.span.clone()),
                            )
                            .hint(format!("add `accepts = secret.{}`, or point `via` at the right publisher", spec.secrets[family].name)),
                        );
            }
        }
    }

    report_cycles(&graph, &spec, diags);
    let hash = files_hash(
        spec.sources
            .files
            .iter()
            .map(|f| (f.path.as_path(), f.text.as_str())),
    );
    let family_index = spec
        .secrets
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    let consumer_index = spec
        .consumers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.clone(), i))
        .collect();
    Resolved {
        spec,
        families,
        graph,
        hash,
        family_index,
        consumer_index,
    }
}

/// Reports every cycle (strongly connected component larger than one node,
/// or a self-reference), each at the first resource of the cycle in source order.
fn report_cycles(graph: &ResourceGraph, spec: &Spec, diags: &mut Diagnostics) {
    let mut cycles: Vec<Vec<ResourceId>> = petgraph::algo::tarjan_scc(&graph.graph)
        .into_iter()
        .filter(|scc| scc.len() > 1 || graph.graph.contains_edge(scc[0], scc[0]))
        .map(|scc| {
            let mut ids: Vec<ResourceId> = scc.iter().map(|n| graph.graph[*n]).collect();
            ids.sort();
            ids
        })
        .collect();
    cycles.sort();
    for cycle in cycles {
        let names: Vec<String> = cycle.iter().map(|id| spec.address_of(*id)).collect();
        diags.push(
            Diagnostic::error(
                format!("reference cycle: {}", names.join(" → ")),
                Some(spec.span_of(cycle[0])),
            )
            .hint("references must form a tree: stores ← secrets ← publishers ← consumers"),
        );
    }
}

impl Spec {
    /// `store.file.local`, `secret.x`, … for a resource.
    pub fn address_of(&self, id: ResourceId) -> String {
        match id {
            ResourceId::Store(i) => self.stores[i].address(),
            ResourceId::Secret(i) => self.secrets[i].address(),
            ResourceId::Publish(i) => self.publishers[i].address(),
            ResourceId::Consumer(i) => self.consumers[i].address(),
        }
    }

    /// Where a resource is declared.
    pub fn span_of(&self, id: ResourceId) -> Span {
        match id {
            ResourceId::Store(i) => self.stores[i].span.clone(),
            ResourceId::Secret(i) => self.secrets[i].span.clone(),
            ResourceId::Publish(i) => self.publishers[i].span.clone(),
            ResourceId::Consumer(i) => self.consumers[i].span.clone(),
        }
    }
}

/// Why a window is as long as it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// Its length.
    #[serde(serialize_with = "ser_duration")]
    pub length: Duration,
    /// The consumers whose settings set it, with a short explanation.
    pub set_by: String,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_string())
}

impl Resolved {
    /// The family by secret name.
    pub fn family_by_name<F>(&self, name: &F) -> Option<&Family>
    where
        F: std::hash::Hash + Eq + ?Sized,
        FamilyName: std::borrow::Borrow<F>,
    {
        self.family_index.get(name).map(|&i| &self.families[i])
    }

    /// A consumer by name.
    pub fn consumer<C>(&self, name: &C) -> Option<&ConsumerSpec>
    where
        C: std::hash::Hash + Eq + ?Sized,
        ConsumerName: std::borrow::Borrow<C>,
    {
        self.consumer_index
            .get(name)
            .map(|&i| &self.spec.consumers[i])
    }

    /// The accept window: the longest verifier cache. A probe reaches one
    /// instance; waiting out every cache covers the rest.
    pub fn accept_window(&self, family: &Family) -> Window {
        let longest = family
            .verifiers
            .iter()
            .map(|&c| &self.spec.consumers[c])
            .max_by_key(|c| (c.cache(), std::cmp::Reverse(c.name.clone())));
        match longest {
            Some(c) => Window {
                length: c.cache(),
                set_by: format!("consumer.{} caches key sets for {}", c.name, c.cache()),
            },
            None => Window {
                length: Duration::ZERO,
                set_by: "no verifiers".into(),
            },
        }
    }

    /// The overlap floor. Emitters pick up the new primary within their cache
    /// TTL, and a token signed just before that stays valid for its token TTL,
    /// so the old version must stay accepted for both. It must also outlast
    /// the longest verifier cache, so that a rollback finds the old version
    /// still in every verifier's key set.
    pub fn overlap_floor(&self, family: &Family) -> Window {
        let emitters: Vec<&ConsumerSpec> = family
            .emitters
            .iter()
            .map(|&c| &self.spec.consumers[c])
            .collect();
        let cache = emitters
            .iter()
            .max_by_key(|c| (c.cache(), std::cmp::Reverse(c.name.clone())));
        let token = emitters
            .iter()
            .max_by_key(|c| (c.token(), std::cmp::Reverse(c.name.clone())));
        let drain = Duration(cache.map_or(0, |c| c.cache().0) + token.map_or(0, |c| c.token().0));
        let accept = self.accept_window(family);
        if drain.0 == 0 && accept.length.0 == 0 {
            return Window {
                length: Duration::ZERO,
                set_by: "no consumers".into(),
            };
        }
        if drain >= accept.length {
            let (c, t) = (cache.expect("emitters"), token.expect("emitters"));
            let set_by = if c.name == t.name {
                format!(
                    "consumer.{} (cache_ttl {} + token_ttl {})",
                    c.name,
                    c.cache(),
                    t.token()
                )
            } else {
                format!(
                    "consumer.{} (cache_ttl {}) + consumer.{} (token_ttl {})",
                    c.name,
                    c.cache(),
                    t.name,
                    t.token()
                )
            };
            Window {
                length: drain,
                set_by,
            }
        } else {
            accept
        }
    }

    /// The latest `hold_until` among the family's consumers, with the consumer
    /// and its reason: versions emitters used are not revoked before it.
    pub fn hold_until(&self, family: &Family) -> Option<(Timestamp, &ConsumerSpec)> {
        family
            .verifiers
            .iter()
            .chain(&family.emitters)
            .map(|&c| &self.spec.consumers[c])
            .filter_map(|c| c.hold_until.as_ref().map(|h| (h.value, c)))
            .max_by_key(|(t, c)| (*t, std::cmp::Reverse(c.name.clone())))
    }

    /// The overlap in force: the declared one, or the floor when none is declared.
    pub fn overlap(&self, family: &Family) -> Duration {
        let secret = &self.spec.secrets[family.secret];
        secret
            .overlap
            .as_ref()
            .map_or_else(|| self.overlap_floor(family).length, |o| o.value)
    }
}

/// The hash of a spec's files (in the order read), as [`Resolved::hash`]
/// holds it: an apply compares it with the files on disk before each
/// irreversible step, and a saved plan with the spec it is applied to.
pub fn files_hash<'a>(files: impl Iterator<Item = (&'a std::path::Path, &'a str)>) -> String {
    let mut hasher = Sha256::new();
    for (path, text) in files {
        // The file's name, not the path as typed: `-C DIR` and `cd DIR` are the same spec.
        let name = path.file_name().unwrap_or(path.as_os_str());
        hasher.update(name.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    format!("sha256:{}", crate::state::hex(&hasher.finalize()))
}
