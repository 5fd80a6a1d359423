//! [`build_providers`]: from a resolved spec to the providers apply uses.
//!
//! This is the one place that maps a block's kind to an implementation.
//! Adding a store, publisher or probe kind means a new module and one line
//! in the matching `match` below; the engine does not change.

use crate::clock::SystemClock;
use crate::config::ConfigError;
use crate::generate::KeyGenerator;
use crate::probe::{CommandProbe, HttpProbe, JwksProbe, PrometheusProbe};
use crate::publish::JwksFile;
use crate::store::{FileStore, VaultStore};
use rotor_engine::diagnostics::did_you_mean;
use rotor_engine::spec::{Resolved, Spec};
use rotor_engine::{Diagnostic, Probe, Providers, Publisher, Span, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Store kinds this build knows (`aws_secretsmanager` and `postgres` with
/// their cargo features).
pub const STORE_KINDS: &[&str] = &[
    #[cfg(feature = "aws")]
    "aws_secretsmanager",
    "file",
    #[cfg(feature = "postgres")]
    "postgres",
    "vault",
];
/// Publisher kinds this build knows (`aws_s3_object` with the `aws` feature).
pub const PUBLISH_KINDS: &[&str] = &[
    #[cfg(feature = "aws")]
    "aws_s3_object",
    "jwks",
];
/// Verify kinds this build knows; `manual` is handled by the engine itself.
#[cfg(feature = "postgres")]
pub const VERIFY_KINDS: &[&str] = &[
    "command",
    "http",
    "jwks",
    "manual",
    "postgres",
    "prometheus",
];
/// Verify kinds this build knows; `manual` is handled by the engine itself.
#[cfg(not(feature = "postgres"))]
pub const VERIFY_KINDS: &[&str] = &["command", "http", "jwks", "manual", "prometheus"];

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
        match store.kind.as_str() {
            "file" => match FileStore::from_spec(store, base_dir) {
                Ok(s) => {
                    stores.insert(store.address(), Arc::new(s));
                }
                Err(e) => report(e),
            },
            "vault" => match VaultStore::from_spec(store) {
                Ok(s) => {
                    stores.insert(store.address(), Arc::new(s));
                }
                Err(e) => report(e),
            },
            #[cfg(feature = "aws")]
            "aws_secretsmanager" => match crate::store::AwsSecretsManagerStore::from_spec(store) {
                Ok(s) => {
                    stores.insert(store.address(), Arc::new(s));
                }
                Err(e) => report(e),
            },
            #[cfg(not(feature = "aws"))]
            "aws_secretsmanager" => report(
                ConfigError::new(
                    "this build of rotor has no aws_secretsmanager store; rebuild with --features aws",
                    &store.span,
                )
                .hint("the `aws` cargo feature is on by default: `cargo install --path cli` includes it"),
            ),
            #[cfg(feature = "postgres")]
            "postgres" => {
                let families = match login_families(spec, store) {
                    Ok(f) => f,
                    Err(errors) => {
                        errors.into_iter().for_each(&mut report);
                        continue;
                    }
                };
                match crate::store::PostgresStore::from_spec(store, families) {
                    Ok(s) => {
                        stores.insert(store.address(), Arc::new(s));
                    }
                    Err(e) => report(e),
                }
            }
            other => report(unknown_kind("store", other, STORE_KINDS, &store.span)),
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
                if version.id.len() > limit {
                    report(
                        ConfigError::new(
                            format!(
                                "version id `{}` is {} bytes long; {r} allows at most {limit}: {why}",
                                version.id,
                                version.id.len()
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
    let mut written: BTreeMap<std::path::PathBuf, &rotor_engine::spec::PublishSpec> =
        BTreeMap::new();
    #[cfg(feature = "aws")]
    let mut objects: BTreeMap<String, &rotor_engine::spec::PublishSpec> = BTreeMap::new();
    for publish in &spec.publishers {
        match publish.kind.as_str() {
            "jwks" => match JwksFile::from_spec(publish, base_dir) {
                Ok(p) => {
                    let path = crate::fsutil::normalize(p.path());
                    if let Some(first) = written.get(&path) {
                        let line = spec.sources.locate(&first.span);
                        report(
                            ConfigError::new(
                                format!(
                                    "{} writes {}, which {} (at {}) writes too",
                                    publish.address(),
                                    p.path().display(),
                                    first.address(),
                                    line
                                ),
                                publish
                                    .settings
                                    .get("path")
                                    .map_or(&publish.span, |v| &v.span),
                            )
                            .hint("give each publisher a file of its own; two families cannot share one key set file"),
                        );
                        continue;
                    }
                    written.insert(path, publish);
                    publishers.insert(publish.address(), Arc::new(p));
                }
                Err(e) => report(e),
            },
            #[cfg(feature = "aws")]
            "aws_s3_object" => match crate::publish::AwsS3Object::from_spec(publish) {
                Ok(p) => {
                    // Bucket names are global: the same bucket and key is one object.
                    if let Some(first) = objects.get(&p.target()) {
                        report(
                            ConfigError::new(
                                format!(
                                    "{} writes {}, which {} (at {}) writes too",
                                    publish.address(),
                                    p.target(),
                                    first.address(),
                                    spec.sources.locate(&first.span)
                                ),
                                publish.settings.get("key").map_or(&publish.span, |v| &v.span),
                            )
                            .hint("give each publisher an object of its own; two families cannot share one key set"),
                        );
                        continue;
                    }
                    objects.insert(p.target(), publish);
                    publishers.insert(publish.address(), Arc::new(p));
                }
                Err(e) => report(e),
            },
            #[cfg(not(feature = "aws"))]
            "aws_s3_object" => report(
                ConfigError::new(
                    "this build of rotor has no aws_s3_object publisher; rebuild with --features aws",
                    &publish.span,
                )
                .hint("the `aws` cargo feature is on by default: `cargo install --path cli` includes it"),
            ),
            other => report(unknown_kind("publish", other, PUBLISH_KINDS, &publish.span)),
        }
    }

    let mut probes: BTreeMap<(String, usize), Arc<dyn Probe>> = BTreeMap::new();
    for consumer in &spec.consumers {
        for (index, verify) in consumer.verify.iter().enumerate() {
            let mut add = |built: Result<Arc<dyn Probe>, ConfigError>| match built {
                Ok(p) => {
                    probes.insert((consumer.name.clone(), index), p);
                }
                Err(e) => report(e),
            };
            match verify.kind.as_str() {
                "command" => add(CommandProbe::from_spec(verify, base_dir).map(arc)),
                "http" => add(HttpProbe::from_spec(verify, base_dir).map(arc)),
                "jwks" => add(JwksProbe::from_spec(verify, base_dir).map(arc)),
                "prometheus" => add(PrometheusProbe::from_spec(verify, base_dir).map(arc)),
                #[cfg(feature = "postgres")]
                "postgres" => add(crate::probe::PostgresProbe::from_spec(verify).map(arc)),
                "manual" => {}
                other => report(
                    ConfigError::new(
                        format!("probe kind `{other}` is not available yet"),
                        &verify.span,
                    )
                    .hint(kinds_hint(other, VERIFY_KINDS)),
                ),
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

fn arc(probe: impl Probe + 'static) -> Arc<dyn Probe> {
    Arc::new(probe)
}

/// The families kept in a `postgres` store, each with its login roles. A
/// database keeps logins only: a family there without `generate "login"`
/// is an error at its `secret` block.
#[cfg(feature = "postgres")]
fn login_families(
    spec: &Spec,
    store: &rotor_engine::spec::StoreSpec,
) -> Result<BTreeMap<String, Vec<String>>, Vec<ConfigError>> {
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
        assert_eq!(
            p.probes.keys().collect::<Vec<_>>(),
            [&("gw".to_string(), 1)]
        );
        assert_eq!(p.probes[&("gw".to_string(), 1)].kind(), "command");
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
        let known = STORE_KINDS
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
