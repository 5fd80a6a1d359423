//! [`build_providers`]: from a resolved spec to the providers apply uses.
//!
//! This is the one place that maps a block's kind to an implementation: the
//! tables [`STORES`], [`PUBLISHERS`] and [`PROBES`] below. Adding a store,
//! publisher or probe kind means a new module and one line in the matching
//! table; the engine does not change. A kind behind a cargo feature has its
//! line behind the same `#[cfg]`, so the kinds a build knows (listed in the
//! "known kinds" hint) are always the ones it can build.
//!
//! A probe kind that cannot serve a phase says so in its line ([`Refusal`]),
//! and [`refusal`] refuses such a `verify` block at its `on` attribute, so no
//! probe checks `on` itself.

use crate::clock::SystemClock;
use crate::config::ConfigError;
use crate::generate::KeyGenerator;
#[cfg(feature = "postgres")]
use crate::probe::PostgresProbe;
use crate::probe::{CommandProbe, HttpProbe, JwksProbe, PrometheusProbe};
use crate::publish::JwksFile;
#[cfg(feature = "aws")]
use crate::store::AwsSecretsManagerStore;
#[cfg(feature = "postgres")]
use crate::store::PostgresStore;
use crate::store::{FileStore, VaultStore};
use rotor_engine::diagnostics::did_you_mean;
use rotor_engine::spec::{ProbePhase, PublishSpec, Resolved, Spec, StoreSpec, VerifySpec};
use rotor_engine::{Diagnostic, Probe, Providers, Publisher, Span, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// One store kind: `store "KIND" "NAME" { … }`.
struct StoreEntry {
    kind: &'static str,
    /// Reads the block. The whole spec is there for a store that depends on
    /// the secrets kept in it (`postgres` keeps logins only); every problem
    /// found is returned.
    build: BuildStore,
}

/// Reads a `store` block (the whole spec at hand, and the spec directory).
type BuildStore = fn(&StoreSpec, &Spec, &Path) -> Result<Arc<dyn Store>, Vec<ConfigError>>;

/// The store kinds this build knows (`aws_secretsmanager` and `postgres`
/// with their cargo features).
const STORES: &[StoreEntry] = &[
    #[cfg(feature = "aws")]
    StoreEntry {
        kind: "aws_secretsmanager",
        build: |s, _, _| Ok(Arc::new(AwsSecretsManagerStore::from_spec(s)?)),
    },
    StoreEntry {
        kind: "file",
        build: |s, _, dir| Ok(Arc::new(FileStore::from_spec(s, dir)?)),
    },
    #[cfg(feature = "postgres")]
    StoreEntry {
        kind: "postgres",
        build: |s, spec, _| {
            let families = login_families(spec, s)?;
            Ok(Arc::new(PostgresStore::from_spec(s, families)?))
        },
    },
    StoreEntry {
        kind: "vault",
        build: |s, _, _| Ok(Arc::new(VaultStore::from_spec(s)?)),
    },
];

/// Store kinds this build leaves out, with the cargo feature that brings
/// each in: naming one says how to get it rather than "unknown kind".
const STORES_LEFT_OUT: &[(&str, &str)] = &[
    #[cfg(not(feature = "aws"))]
    ("aws_secretsmanager", "aws"),
];

/// One publisher kind: `publish "KIND" "NAME" { … }`.
struct PublishEntry {
    kind: &'static str,
    /// Reads the block: the publisher, and the file it writes (two
    /// publishers may not write one file).
    build: BuildPublisher,
}

/// Reads a `publish` block (with the spec directory).
type BuildPublisher = fn(&PublishSpec, &Path) -> Result<Published, ConfigError>;

/// A publisher, and what it writes if no second publisher may write it too.
type Published = (Arc<dyn Publisher>, Option<Writes>);

/// What a publisher writes: two publishers writing one file or object would
/// overwrite each other on every apply, each restarting the other's accept
/// windows.
struct Writes {
    /// The identity compared: a normalized path, or `s3://BUCKET/KEY`.
    key: String,
    /// As the error shows it.
    shown: String,
    /// The setting naming it, where a second writer is reported.
    setting: &'static str,
    hint: &'static str,
}

/// The publisher kinds this build knows (`aws_s3_object` with the `aws` feature).
const PUBLISHERS: &[PublishEntry] = &[
    #[cfg(feature = "aws")]
    PublishEntry {
        kind: "aws_s3_object",
        build: |p, _| {
            let object = crate::publish::AwsS3Object::from_spec(p)?;
            // Bucket names are global: the same bucket and key is one object.
            let writes = Writes {
                key: object.target(),
                shown: object.target(),
                setting: "key",
                hint: "give each publisher an object of its own; two families cannot share one key set",
            };
            Ok((Arc::new(object), Some(writes)))
        },
    },
    PublishEntry {
        kind: "jwks",
        build: |p, dir| {
            let file = JwksFile::from_spec(p, dir)?;
            let writes = Writes {
                key: crate::fsutil::normalize(file.path()).display().to_string(),
                shown: file.path().display().to_string(),
                setting: "path",
                hint: "give each publisher a file of its own; two families cannot share one key set file",
            };
            Ok((Arc::new(file), Some(writes)))
        },
    },
];

/// Publisher kinds this build leaves out, with the cargo feature that brings each in.
const PUBLISHERS_LEFT_OUT: &[(&str, &str)] = &[
    #[cfg(not(feature = "aws"))]
    ("aws_s3_object", "aws"),
];

/// One probe kind: `verify "KIND" { … }` in a consumer.
struct ProbeEntry {
    kind: &'static str,
    /// The phases this kind cannot serve.
    refuses: &'static [Refusal],
    /// Reads the block; `None` for `manual`, which the engine handles itself.
    build: Option<BuildProbe>,
}

/// Reads a `verify` block (with the spec directory).
type BuildProbe = fn(&VerifySpec, &Path) -> Result<Arc<dyn Probe>, ConfigError>;

/// A phase a probe kind cannot serve, and why: `verify "KIND" cannot PHASE:
/// WHY`, reported at the block's `on` attribute.
pub(crate) struct Refusal {
    /// The phase.
    pub phase: ProbePhase,
    /// Why the probe would say nothing about it.
    pub why: &'static str,
    /// What to use instead.
    pub hint: &'static str,
}

/// The probe kinds this build knows (`postgres` with its cargo feature).
const PROBES: &[ProbeEntry] = &[
    ProbeEntry {
        kind: "command",
        refuses: &[],
        build: Some(|v, dir| Ok(Arc::new(CommandProbe::from_spec(v, dir)?))),
    },
    ProbeEntry {
        kind: "http",
        refuses: &[],
        build: Some(|v, dir| Ok(Arc::new(HttpProbe::from_spec(v, dir)?))),
    },
    ProbeEntry {
        kind: "jwks",
        refuses: crate::probe::jwks::REFUSES,
        build: Some(|v, dir| Ok(Arc::new(JwksProbe::from_spec(v, dir)?))),
    },
    ProbeEntry {
        kind: "manual",
        refuses: &[],
        build: None,
    },
    #[cfg(feature = "postgres")]
    ProbeEntry {
        kind: "postgres",
        refuses: crate::probe::postgres::REFUSES,
        build: Some(|v, _| Ok(Arc::new(PostgresProbe::from_spec(v)?))),
    },
    ProbeEntry {
        kind: "prometheus",
        refuses: &[],
        build: Some(|v, dir| Ok(Arc::new(PrometheusProbe::from_spec(v, dir)?))),
    },
];

/// Store kinds this build knows, in the order the hints list them.
pub fn store_kinds() -> Vec<&'static str> {
    STORES.iter().map(|e| e.kind).collect()
}

/// Publisher kinds this build knows.
pub fn publish_kinds() -> Vec<&'static str> {
    PUBLISHERS.iter().map(|e| e.kind).collect()
}

/// Verify kinds this build knows; `manual` is handled by the engine itself.
pub fn verify_kinds() -> Vec<&'static str> {
    PROBES.iter().map(|e| e.kind).collect()
}

/// The refusal of a `verify` block whose `on` names a phase its kind cannot
/// serve, pointing at `on`; `None` when every phase is served (or the kind
/// is unknown, which is reported on its own).
pub(crate) fn refusal(verify: &VerifySpec) -> Option<ConfigError> {
    let entry = PROBES.iter().find(|e| e.kind == verify.kind)?;
    let refused = entry
        .refuses
        .iter()
        .find(|r| verify.on.contains(&r.phase))?;
    Some(
        ConfigError::new(
            format!(
                "verify \"{}\" cannot {}: {}",
                entry.kind,
                refused.phase.as_str(),
                refused.why
            ),
            verify.on_span.as_ref().unwrap_or(&verify.span),
        )
        .hint(refused.hint),
    )
}

/// Builds one provider per `store`, `publish` and `verify` block of a
/// resolved spec, plus the key generator and the system clock.
///
/// Relative paths in settings are taken from `base_dir`, the spec directory.
/// Every problem is reported, each at the block or attribute that causes it.
pub fn build_providers(resolved: &Resolved, base_dir: &Path) -> Result<Providers, Vec<Diagnostic>> {
    build(&resolved.spec, base_dir)
}

pub(crate) fn build(spec: &Spec, base_dir: &Path) -> Result<Providers, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut report = |e: ConfigError| diagnostics.push(e.into_diagnostic());

    let mut stores: BTreeMap<String, Arc<dyn Store>> = BTreeMap::new();
    for store in &spec.stores {
        let Some(entry) = STORES.iter().find(|e| e.kind == store.kind) else {
            report(unknown_store(&store.kind, &store.span));
            continue;
        };
        match (entry.build)(store, spec, base_dir) {
            Ok(s) => {
                stores.insert(store.address(), s);
            }
            Err(errors) => errors.into_iter().for_each(&mut report),
        }
    }

    // A version id a store cannot hold is refused now, not by an apply halfway.
    for secret in &spec.secrets {
        for version in &secret.versions {
            for r in &secret.stores {
                let Some((limit, why)) = stores.get(&r.to_string()).and_then(|s| s.id_limit())
                else {
                    continue;
                };
                if version.id.as_str().len() > limit {
                    report(
                        ConfigError::new(
                            format!(
                                "version id `{}` is {} bytes long; {r} allows at most {limit}: {why}",
                                version.id,
                                version.id.as_str().len()
                            ),
                            &version.span,
                        )
                        .hint(format!("use an id of at most {limit} bytes, e.g. 2026-11")),
                    );
                }
            }
        }
    }

    let mut publishers: BTreeMap<String, Arc<dyn Publisher>> = BTreeMap::new();
    // Two publishers writing one file would overwrite each other on every
    // apply, and each would restart the other's accept windows.
    let mut written: BTreeMap<String, &PublishSpec> = BTreeMap::new();
    for publish in &spec.publishers {
        let Some(entry) = PUBLISHERS.iter().find(|e| e.kind == publish.kind) else {
            report(
                left_out(
                    "publisher",
                    &publish.kind,
                    PUBLISHERS_LEFT_OUT,
                    &publish.span,
                )
                .unwrap_or_else(|| {
                    unknown_kind("publish", &publish.kind, &publish_kinds(), &publish.span)
                }),
            );
            continue;
        };
        let (publisher, writes) = match (entry.build)(publish, base_dir) {
            Ok(built) => built,
            Err(e) => {
                report(e);
                continue;
            }
        };
        if let Some(w) = writes {
            if let Some(first) = written.get(&w.key) {
                let line = spec.sources.locate(&first.span);
                report(
                    ConfigError::new(
                        format!(
                            "{} writes {}, which {} (at {}) writes too",
                            publish.address(),
                            w.shown,
                            first.address(),
                            line
                        ),
                        publish
                            .settings
                            .get(w.setting)
                            .map_or(&publish.span, |v| &v.span),
                    )
                    .hint(w.hint),
                );
                continue;
            }
            written.insert(w.key, publish);
        }
        publishers.insert(publish.address(), publisher);
    }

    let mut probes: BTreeMap<(rotor_engine::ConsumerName, usize), Arc<dyn Probe>> = BTreeMap::new();
    for consumer in &spec.consumers {
        for (index, verify) in consumer.verify.iter().enumerate() {
            let Some(entry) = PROBES.iter().find(|e| e.kind == verify.kind) else {
                report(
                    ConfigError::new(
                        format!("probe kind `{}` is not available yet", verify.kind),
                        &verify.span,
                    )
                    .hint(kinds_hint(&verify.kind, &verify_kinds())),
                );
                continue;
            };
            if let Some(refused) = refusal(verify) {
                report(refused);
                continue;
            }
            let Some(build) = entry.build else {
                continue;
            };
            match build(verify, base_dir) {
                Ok(p) => {
                    probes.insert((consumer.name.clone(), index), p);
                }
                Err(e) => report(e),
            }
        }
    }

    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(Providers {
        stores,
        publishers,
        probes,
        generator: Arc::new(KeyGenerator),
        clock: Arc::new(SystemClock),
    })
}

/// A store kind this build does not know: left out by a cargo feature, or
/// unknown (with the nearest known kind).
fn unknown_store(kind: &str, span: &Span) -> ConfigError {
    left_out("store", kind, STORES_LEFT_OUT, span)
        .unwrap_or_else(|| unknown_kind("store", kind, &store_kinds(), span))
}

/// A kind this build leaves out by a cargo feature: naming it says how to get it.
fn left_out(what: &str, kind: &str, list: &[(&str, &str)], span: &Span) -> Option<ConfigError> {
    let (_, feature) = list.iter().find(|(k, _)| *k == kind)?;
    Some(
        ConfigError::new(
            format!("this build of rotor has no {kind} {what}; rebuild with --features {feature}"),
            span,
        )
        .hint(format!(
            "the `{feature}` cargo feature is on by default: `cargo install --path cli` includes it"
        )),
    )
}

/// The families kept in a `postgres` store, each with its login roles. A
/// database keeps logins only: a family there without `generate "login"`
/// is an error at its `secret` block.
#[cfg(feature = "postgres")]
fn login_families(
    spec: &Spec,
    store: &rotor_engine::spec::StoreSpec,
) -> Result<BTreeMap<rotor_engine::FamilyName, Vec<String>>, Vec<ConfigError>> {
    use rotor_engine::spec::Generate;
    let mut families = BTreeMap::new();
    let mut errors = Vec::new();
    for secret in &spec.secrets {
        let kept_here = secret
            .stores
            .iter()
            .any(|r| r.path.len() == 2 && r.path[0] == store.kind && r.path[1] == store.name);
        if !kept_here {
            continue;
        }
        match &secret.generate {
            Some(g) => match &g.value {
                Generate::Login { usernames, .. } => {
                    families.insert(secret.name.clone(), usernames.clone());
                }
                other => errors.push(
                    ConfigError::new(
                        format!(
                            "{} is kept in {}, which holds database logins, but generates {other}",
                            secret.address(),
                            store.address()
                        ),
                        &g.span,
                    )
                    .hint("use `generate \"login\" { usernames = [\"app_a\", \"app_b\"] }`"),
                ),
            },
            None => errors.push(
                ConfigError::new(
                    format!(
                        "{} is kept in {}, which holds database logins, and has no generate block",
                        secret.address(),
                        store.address()
                    ),
                    &secret.span,
                )
                .hint("add `generate \"login\" { usernames = [\"app_a\", \"app_b\"] }`"),
            ),
        }
    }
    if errors.is_empty() {
        Ok(families)
    } else {
        Err(errors)
    }
}

fn unknown_kind(block: &str, kind: &str, known: &[&str], span: &Span) -> ConfigError {
    ConfigError::new(format!("unknown {block} kind `{kind}`"), span).hint(kinds_hint(kind, known))
}

fn kinds_hint(kind: &str, known: &[&str]) -> String {
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(kind, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? known kinds: {list}"),
        None => format!("known kinds: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{span, string};
    use rotor_engine::Duration;
    use rotor_engine::spec::{ConsumerSpec, PublishSpec, StoreSpec, VerifySpec};

    fn verify(kind: &str, at: usize) -> VerifySpec {
        let mut settings = rotor_engine::spec::Settings::default();
        if kind == "command" {
            settings.insert("command".to_string(), string("true", at + 1));
        }
        VerifySpec {
            kind: kind.into(),
            on: vec![],
            on_span: None,
            within: Duration::seconds(60),
            settings,
            span: span(at),
        }
    }

    fn consumer(name: &str, verify: Vec<VerifySpec>) -> ConsumerSpec {
        ConsumerSpec {
            name: name.into(),
            accepts: vec![],
            emits: vec![],
            via: None,
            cache_ttl: None,
            token_ttl: None,
            max_versions: None,
            flag_day_reason: None,
            blast_radius: None,
            third_party: None,
            hold_until: None,
            hold_reason: None,
            verify,
            span: span(90),
        }
    }

    fn store(kind: &str, at: usize) -> StoreSpec {
        StoreSpec {
            kind: kind.into(),
            name: "local".into(),
            settings: Default::default(),
            span: span(at),
        }
    }

    fn jwks(settings: rotor_engine::spec::Settings) -> PublishSpec {
        PublishSpec {
            kind: "jwks".into(),
            name: "public".into(),
            secret: None,
            settings,
            span: span(40),
        }
    }

    #[test]
    fn builds_every_provider_by_address() {
        let mut settings = rotor_engine::spec::Settings::default();
        settings.insert("path".to_string(), string("jwks.json", 41));
        let spec = Spec {
            stores: vec![store("file", 0)],
            publishers: vec![jwks(settings)],
            consumers: vec![consumer(
                "gw",
                vec![verify("manual", 50), verify("command", 60)],
            )],
            ..Spec::default()
        };
        let p = build(&spec, Path::new("/spec")).unwrap();
        assert_eq!(p.stores.keys().collect::<Vec<_>>(), ["store.file.local"]);
        assert_eq!(
            p.publishers.keys().collect::<Vec<_>>(),
            ["publish.jwks.public"]
        );
        assert_eq!(p.probes.keys().collect::<Vec<_>>(), [&("gw".into(), 1)]);
        assert_eq!(p.probes[&("gw".into(), 1)].kind(), "command");
    }

    #[test]
    fn an_aws_store_without_the_feature_says_how_to_get_it() {
        let spec = Spec {
            stores: vec![StoreSpec {
                kind: "aws_secretsmanager".into(),
                name: "main".into(),
                settings: {
                    let mut s = rotor_engine::spec::Settings::default();
                    s.insert("region".to_string(), string("us-east-1", 5));
                    s
                },
                span: span(0),
            }],
            ..Spec::default()
        };
        let built = build(&spec, Path::new("/spec"));
        if cfg!(feature = "aws") {
            let p = built.unwrap_or_else(|_| panic!("an aws store builds with the feature"));
            assert_eq!(
                p.stores.keys().collect::<Vec<_>>(),
                ["store.aws_secretsmanager.main"]
            );
        } else {
            let Err(diags) = built else {
                panic!("expected a diagnostic without the `aws` feature");
            };
            assert_eq!(
                diags[0].summary,
                "this build of rotor has no aws_secretsmanager store; rebuild with --features aws"
            );
            assert_eq!(diags[0].span.as_ref().map(|s| s.range.start), Some(0));
        }
    }

    /// A phase a probe kind cannot serve is refused at the `on` attribute,
    /// not at the `verify` block: the engine keeps where `on` is written.
    #[test]
    fn a_refused_phase_points_at_the_on_attribute() {
        let text = r#"store "file" "x" {
  path = ".rotor/secrets"
}

secret "k" {
  owner   = "team"
  store   = store.file.x
  cadence = "90d"
  generate "ec" {}
  version "v1" {}
  active = "v1"
}

consumer "api" {
  accepts   = secret.k
  cache_ttl = "10s"
  verify "jwks" {
    url = "http://127.0.0.1:8081/jwks.json"
    on  = ["accept", "drain"]
  }
  verify "postgres" {
    host    = "db"
    dbname  = "app"
    sslmode = "disable"
    on      = ["guard"]
  }
}
"#;
        let (resolved, diags, _) =
            rotor_engine::spec::load(vec![("rotor.hcl".into(), text.to_string())], &|_| None);
        let resolved = resolved.unwrap_or_else(|| panic!("{diags:#?}"));
        let Err(diags) = build(&resolved.spec, Path::new("/spec")) else {
            panic!("expected the drain and the guard to be refused");
        };
        let got: Vec<(String, String)> = diags
            .iter()
            .map(|d| {
                let span = d.span.as_ref().expect("located");
                let summary = d.summary.split(':').next().unwrap_or_default();
                (summary.to_string(), resolved.spec.sources.locate(span))
            })
            .collect();
        let mut want = vec![(
            "verify \"jwks\" cannot drain".to_string(),
            "rotor.hcl:19:5".to_string(),
        )];
        if cfg!(feature = "postgres") {
            want.push((
                "verify \"postgres\" cannot guard".to_string(),
                "rotor.hcl:25:5".to_string(),
            ));
        } else {
            want.push((
                "probe kind `postgres` is not available yet".to_string(),
                "rotor.hcl:21:3".to_string(),
            ));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn reports_every_problem_at_its_block() {
        let spec = Spec {
            stores: vec![store("vualt", 0), store("file", 10)],
            publishers: vec![jwks(Default::default())],
            consumers: vec![consumer("gw", vec![verify("http", 60), verify("grpc", 70)])],
            ..Spec::default()
        };
        let Err(diags) = build(&spec, Path::new("/spec")) else {
            panic!("expected diagnostics");
        };
        let got: Vec<(&str, Option<usize>)> = diags
            .iter()
            .map(|d| (d.summary.as_str(), d.span.as_ref().map(|s| s.range.start)))
            .collect();
        assert_eq!(
            got,
            [
                ("unknown store kind `vualt`", Some(0)),
                ("publish \"jwks\" needs a `path` setting", Some(40)),
                ("verify \"http\" needs a `url` setting", Some(60)),
                ("probe kind `grpc` is not available yet", Some(70)),
            ]
        );
        assert!(diags.iter().all(Diagnostic::is_error));
        let known = store_kinds()
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            diags[0].hint.as_deref(),
            Some(format!("known kinds: {known}").as_str())
        );
    }
}
