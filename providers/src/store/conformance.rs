//! The conformance suite: what every [`Store`] must do, checked once.
//!
//! Each store's test module runs it with one line,
//! `crate::store::conformance::store_conformance!(subject);`, where
//! `subject` is an `async fn() -> Subject` giving a store no other test
//! writes to, against the store's real server. The macro makes one
//! `#[tokio::test]` per check below, named `…::tests::conformance::CHECK`.
//!
//! Where stores legitimately differ, the [`Subject`] declares it in
//! [`Capabilities`] and the suite checks the declared behaviour instead:
//! a capability turns one assertion into another, never into none.
//!
//! What only one store does (file permissions, Vault's KV history, AWS
//! staging labels, PostgreSQL roles) stays in that store's own tests.

use crate::generate::KeyGenerator;
use rotor_engine::provider::{ErrorKind, Generated, LiveFamily, NewVersion, ProviderError};
use rotor_engine::spec::Generate;
use rotor_engine::{Generator, Store, VersionId};

/// A store under test, with what the suite needs to know about it.
pub(crate) struct Subject {
    /// A store whose families no other test (or earlier run) has written.
    pub store: Box<dyn Store>,
    /// A family of `store` nothing has written yet.
    pub family: rotor_engine::FamilyName,
    /// What a version's material is generated from: `Random` for stores
    /// that keep any text, `Login` (over the family's roles) for postgres.
    /// Versions are generated with ordinals 0, 1, 2… in the order they
    /// are put, as the engine does.
    pub secret: Generate,
    /// Where this store legitimately differs.
    pub capabilities: Capabilities,
    /// Whatever must live as long as the store (a temporary directory):
    /// held, never read, and dropped with the subject.
    #[expect(dead_code, reason = "held only to be dropped with the store")]
    pub keep_alive: Option<Box<dyn std::any::Any>>,
}

/// The ways a store may differ from the others, each with the behaviour the
/// suite then checks instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Capabilities {
    /// `true`: key pairs are kept and `public_keys` lists the enabled ones.
    /// `false` (a store that keeps logins only): putting a key pair is
    /// refused as `Invalid` and nothing is written.
    pub key_pairs: bool,
    /// `true`: `read_material` hands back what was written, for enabled and
    /// disabled versions, and `NotFound` once destroyed. `false` (a database
    /// keeps only a password verifier): `read_material` is refused as
    /// `Invalid`.
    pub readable_material: bool,
    /// `true`: a destroyed version leaves a tombstone, so its id is never
    /// written again (`Conflict`) and destroying an id that was never
    /// written is `NotFound`. `false` (postgres clears the role's comment,
    /// the only record of the version): a destroyed id can be written
    /// again, and destroying an unknown id is taken as already done.
    pub tombstones: bool,
}

/// Makes one `#[tokio::test]` per conformance check, in a `conformance`
/// module, each on a fresh subject from `$subject` (an `async fn() ->
/// Subject` in the calling module).
macro_rules! store_conformance {
    ($subject:ident) => {
        mod conformance {
            #[tokio::test]
            async fn lifecycle() {
                $crate::store::conformance::lifecycle(super::$subject().await).await;
            }

            #[tokio::test]
            async fn unknown_versions_are_not_found() {
                $crate::store::conformance::unknown_versions_are_not_found(super::$subject().await)
                    .await;
            }

            #[tokio::test]
            async fn public_keys_list_enabled_key_pairs() {
                $crate::store::conformance::public_keys_list_enabled_key_pairs(
                    super::$subject().await,
                )
                .await;
            }
        }
    };
}
pub(crate) use store_conformance;

impl Subject {
    fn generate(&self, ordinal: usize) -> Generated {
        KeyGenerator.generate(&self.secret, ordinal).unwrap()
    }
}

fn key_pair() -> Generated {
    KeyGenerator
        .generate(
            &Generate::Ec {
                curve: rotor_engine::spec::Curve::P256,
            },
            0,
        )
        .unwrap()
}

fn version<'a>(id: &'a VersionId, generated: &'a Generated) -> NewVersion<'a> {
    NewVersion {
        id,
        kid: id.as_str(),
        generated,
    }
}

/// The error of a call that must fail with `kind`, after checking that its
/// message holds no line of any material.
#[track_caller]
fn refused<T: std::fmt::Debug>(
    result: Result<T, ProviderError>,
    kind: ErrorKind,
    materials: &[&Generated],
    what: &str,
) -> ProviderError {
    let err = result.expect_err(what);
    assert_eq!(err.kind, kind, "{what}: {}", err.message);
    for g in materials {
        let text = String::from_utf8_lossy(g.material.expose());
        for line in text.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!err.message.contains(line), "material in: {}", err.message);
        }
    }
    err
}

/// (id, enabled) of every version, and the primary.
fn summary(live: &LiveFamily) -> (Vec<(&str, bool)>, Option<&str>) {
    (
        live.versions
            .iter()
            .map(|v| (v.id.as_str(), v.enabled))
            .collect(),
        live.primary.as_ref().map(VersionId::as_str),
    )
}

/// What `read_material` of `id` must answer: `want`'s material, or
/// `NotFound` without one (destroyed, never written); from a store that
/// keeps no readable copy, `Invalid` either way.
async fn material_is(subject: &Subject, id: &str, want: Option<&Generated>, why: &str) {
    let (s, f) = (&*subject.store, &subject.family);
    let result = s.read_material(f, &id.into()).await;
    let materials: Vec<&Generated> = want.into_iter().collect();
    match want {
        _ if !subject.capabilities.readable_material => {
            refused(
                result,
                ErrorKind::Invalid,
                &materials,
                &format!("{why}, from a store that keeps no readable copy"),
            );
        }
        Some(g) => assert_eq!(result.unwrap().expose(), g.material.expose(), "{why}"),
        None => {
            refused(result, ErrorKind::NotFound, &materials, why);
        }
    }
}

/// The life of two versions, from the first put to a destroy and after.
pub(crate) async fn lifecycle(subject: Subject) {
    let caps = subject.capabilities;
    let (s, f) = (&*subject.store, &subject.family);
    assert_eq!(s.read(f).await.unwrap(), LiveFamily::default());

    // Put: listed, enabled, with its fingerprint; rotor promoted nothing.
    let (g1, g2) = (subject.generate(0), subject.generate(1));
    s.put(f, &version(&"a".into(), &g1)).await.unwrap();
    let live = s.read(f).await.unwrap();
    assert_eq!(summary(&live), (vec![("a", true)], None));
    assert_eq!(live.versions[0].fingerprint, g1.fingerprint);

    // Material is never replaced.
    refused(
        s.put(f, &version(&"a".into(), &g2)).await,
        ErrorKind::Conflict,
        &[&g1, &g2],
        "a second put of one id",
    );
    material_is(&subject, "a", Some(&g1), "material replaced").await;

    // The primary cannot be disabled.
    s.set_primary(f, &"a".into()).await.unwrap();
    assert_eq!(
        summary(&s.read(f).await.unwrap()),
        (vec![("a", true)], Some("a"))
    );
    let err = refused(
        s.disable(f, &"a".into()).await,
        ErrorKind::Invalid,
        &[&g1],
        "disabling the primary",
    );
    assert!(
        err.message.contains("promote another version first"),
        "{}",
        err.message
    );

    // Only a disabled version is destroyed; only an enabled one is promoted.
    s.put(f, &version(&"b".into(), &g2)).await.unwrap();
    refused(
        s.destroy(f, &"b".into()).await,
        ErrorKind::Invalid,
        &[&g1, &g2],
        "destroying an enabled version",
    );
    s.disable(f, &"b".into()).await.unwrap();
    refused(
        s.set_primary(f, &"b".into()).await,
        ErrorKind::Invalid,
        &[&g1, &g2],
        "promoting a disabled version",
    );
    s.enable(f, &"b".into()).await.unwrap();
    s.set_primary(f, &"b".into()).await.unwrap();

    // Rollback and forward again.
    s.set_primary(f, &"a".into()).await.unwrap();
    assert_eq!(
        s.read(f)
            .await
            .unwrap()
            .primary
            .as_ref()
            .map(|v| v.as_str()),
        Some("a")
    );
    s.set_primary(f, &"b".into()).await.unwrap();

    // Disable is idempotent and keeps the version, restorably.
    s.disable(f, &"a".into()).await.unwrap();
    s.disable(f, &"a".into()).await.unwrap();
    assert_eq!(
        summary(&s.read(f).await.unwrap()),
        (vec![("a", false), ("b", true)], Some("b"))
    );
    assert!(
        s.public_keys(f).await.unwrap().is_empty(),
        "no key pairs, no public keys"
    );
    // Material reads back, disabled or not.
    material_is(&subject, "a", Some(&g1), "a disabled version").await;
    material_is(&subject, "b", Some(&g2), "an enabled version").await;
    s.enable(f, &"a".into()).await.unwrap();
    assert_eq!(
        summary(&s.read(f).await.unwrap()),
        (vec![("a", true), ("b", true)], Some("b"))
    );
    s.disable(f, &"a".into()).await.unwrap();

    // Destroy: idempotent (a resumed apply may ask again), and the version
    // is gone from every operation.
    s.destroy(f, &"a".into()).await.unwrap();
    s.destroy(f, &"a".into()).await.unwrap();
    assert_eq!(
        summary(&s.read(f).await.unwrap()),
        (vec![("b", true)], Some("b"))
    );
    for (result, what) in [
        (
            s.enable(f, &"a".into()).await,
            "enabling a destroyed version",
        ),
        (
            s.set_primary(f, &"a".into()).await,
            "promoting a destroyed version",
        ),
    ] {
        refused(result, ErrorKind::NotFound, &[&g1, &g2], what);
    }
    material_is(
        &subject,
        "a",
        None,
        "a destroyed version's material is not handed out",
    )
    .await;

    if caps.tombstones {
        refused(
            s.put(f, &version(&"a".into(), &g1)).await,
            ErrorKind::Conflict,
            &[&g1, &g2],
            "ids are never reused",
        );
        assert_eq!(
            summary(&s.read(f).await.unwrap()),
            (vec![("b", true)], Some("b"))
        );
    } else {
        let g3 = subject.generate(2);
        s.put(f, &version(&"a".into(), &g3)).await.unwrap();
        assert_eq!(
            summary(&s.read(f).await.unwrap()),
            (vec![("a", true), ("b", true)], Some("b")),
            "without a tombstone, a destroyed id is free again"
        );
    }
}

/// Every operation on a version that was never written is `NotFound`
/// (destroy too, where a tombstone tells "never written" from "destroyed").
pub(crate) async fn unknown_versions_are_not_found(subject: Subject) {
    let caps = subject.capabilities;
    let (s, f) = (&*subject.store, &subject.family);
    let g1 = subject.generate(0);
    s.put(f, &version(&"a".into(), &g1)).await.unwrap();
    s.set_primary(f, &"a".into()).await.unwrap();
    for (result, what) in [
        (s.set_primary(f, &"never".into()).await, "set_primary"),
        (s.disable(f, &"never".into()).await, "disable"),
        (s.enable(f, &"never".into()).await, "enable"),
    ] {
        refused(result, ErrorKind::NotFound, &[&g1], what);
    }
    material_is(&subject, "never", None, "read_material").await;
    if caps.tombstones {
        refused(
            s.destroy(f, &"never".into()).await,
            ErrorKind::NotFound,
            &[&g1],
            "destroy",
        );
    } else {
        s.destroy(f, &"never".into()).await.unwrap();
    }
    assert_eq!(
        summary(&s.read(f).await.unwrap()),
        (vec![("a", true)], Some("a")),
        "nothing changed"
    );
}

/// `public_keys` lists exactly the enabled versions that are key pairs,
/// each with its kid, algorithm and JWK; `read` gives their thumbprints.
pub(crate) async fn public_keys_list_enabled_key_pairs(subject: Subject) {
    let (s, f) = (&*subject.store, &subject.family);
    let (k1, k2) = (key_pair(), key_pair());
    if !subject.capabilities.key_pairs {
        refused(
            s.put(f, &version(&"a".into(), &k1)).await,
            ErrorKind::Invalid,
            &[&k1],
            "a key pair in a store that keeps no key pairs",
        );
        assert_eq!(s.read(f).await.unwrap(), LiveFamily::default());
        assert!(s.public_keys(f).await.unwrap().is_empty());
        return;
    }
    let r = subject.generate(0);
    s.put(f, &version(&"a".into(), &k1)).await.unwrap();
    s.put(f, &version(&"b".into(), &k2)).await.unwrap();
    s.put(f, &version(&"c".into(), &r)).await.unwrap();
    let mut keys = s.public_keys(f).await.unwrap();
    keys.sort_by(|x, y| x.version.cmp(&y.version));
    let listed: Vec<(&str, &str, &str)> = keys
        .iter()
        .map(|k| (k.version.as_str(), k.kid.as_str(), k.algorithm.as_str()))
        .collect();
    assert_eq!(listed, [("a", "a", "ES256"), ("b", "b", "ES256")]);
    for (key, generated) in keys.iter().zip([&k1, &k2]) {
        assert_eq!(key.jwk.member("crv"), Some("P-256"));
        assert_eq!(Some(&key.jwk), generated.public_jwk.as_ref());
    }
    let live = s.read(f).await.unwrap();
    let thumbprints: Vec<(&str, Option<String>)> = live
        .versions
        .iter()
        .map(|v| (v.id.as_str(), v.thumbprint.clone()))
        .collect();
    let of = |g: &Generated| g.public_jwk.as_ref().map(rotor_engine::Jwk::thumbprint);
    assert_eq!(thumbprints, [("a", of(&k1)), ("b", of(&k2)), ("c", None)]);

    // A disabled key pair leaves the set; enabled again, it is back.
    s.set_primary(f, &"b".into()).await.unwrap();
    s.disable(f, &"a".into()).await.unwrap();
    let keys = s.public_keys(f).await.unwrap();
    assert_eq!(
        keys.iter()
            .map(|k| (k.version.as_str(), k.kid.as_str()))
            .collect::<Vec<_>>(),
        [("b", "b")]
    );
    s.enable(f, &"a".into()).await.unwrap();
    assert_eq!(s.public_keys(f).await.unwrap().len(), 2);
}
