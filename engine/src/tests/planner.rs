//! The planner: step order, `after` edges, rollbacks, determinism, summary,
//! revokes without a hold, and drift.

use super::*;
use crate::plan::{GateKind, GateStatus};
use crate::state::Phase;

/// A harness that has driven `basic_spec([v1], v1)` to completion.
fn bootstrapped() -> Harness {
    let mut h = Harness::new();
    h.drive(&load(&basic_spec(&["v1"], "v1")), 20);
    h
}

fn afters(fp: &FamilyPlan) -> Vec<Vec<usize>> {
    fp.steps.iter().map(|s| s.after.clone()).collect()
}

#[test]
fn bootstrap_plans_create_publish_accept_promote_emit() {
    let text = r#"
store "file" "x" { path = "s" }
secret "k" {
  owner   = "team"
  store   = store.file.x
  cadence = "90d"
  generate "rsa" { bits = 2048 }
  version "v1" {}
  active = "v1"
}
publish "jwks" "p" {
  secret = secret.k
  path   = "jwks.json"
}
consumer "api" {
  accepts   = secret.k
  via       = publish.jwks.p
  cache_ttl = "10s"
  verify "command" { command = ["true"] }
}
consumer "edge" {
  accepts   = secret.k
  cache_ttl = "20s"
}
consumer "auth" {
  emits     = secret.k
  cache_ttl = "5s"
  token_ttl = "5s"
}
consumer "jobs" {
  emits     = secret.k
  cache_ttl = "1s"
}
"#;
    let r = load(text);
    let mut h = Harness::new();
    let plan = h.checked_plan(&r);
    let fp = only_family(&plan);
    assert_eq!(
        verbs(&fp.steps),
        [
            "create v1",
            "publish publish.jwks.p",
            "accept v1 api",
            "accept v1 edge",
            "promote v1",
            "emit v1 auth",
            "emit v1 jobs",
        ]
    );
    assert_eq!(
        afters(fp),
        [
            vec![],
            vec![1],
            vec![1, 2],
            vec![1, 2],
            vec![1, 3, 4],
            vec![5],
            vec![5]
        ]
    );
    assert_eq!(
        fp.steps[0].action,
        Action::Create {
            version: "v1".into(),
            generator: "rsa 2048".into(),
            stores: vec!["store.file.x".into()],
            adopt: false,
        }
    );
    assert_eq!(
        fp.steps[1].action,
        Action::Publish {
            publisher: "publish.jwks.p".into(),
            add: vec!["v1".into()],
            remove: vec![],
            kids: vec!["v1".into()],
        }
    );
    assert_eq!(
        fp.steps[4].action,
        Action::Promote {
            version: "v1".into(),
            from: None,
            rollback: false,
        }
    );
    // Windows: accept opens at published + each verifier's cache, promote
    // after the longest, emit at promoted + each emitter's cache.
    let now = h.now();
    assert_eq!(fp.steps[2].earliest, Some(now + Duration::seconds(10)));
    assert_eq!(fp.steps[3].earliest, Some(now + Duration::seconds(20)));
    assert_eq!(fp.steps[4].earliest, Some(now + Duration::seconds(20)));
    assert_eq!(fp.steps[5].earliest, Some(now + Duration::seconds(25)));
    assert_eq!(fp.steps[6].earliest, Some(now + Duration::seconds(21)));
    let api_gates = &fp.steps[2].gates;
    assert!(
        api_gates
            .iter()
            .any(|g| g.kind == GateKind::Probe && g.name == "command probe")
    );
    let edge_gates = &fp.steps[3].gates;
    assert!(
        edge_gates
            .iter()
            .any(|g| g.name == "no probe" && g.status == GateStatus::Open)
    );
    assert_eq!(fp.accept_window.length, "20s");
    assert_eq!(fp.overlap_floor.length, "20s");
    assert!(
        fp.overlap_floor.set_by.contains("consumer.edge"),
        "{}",
        fp.overlap_floor.set_by
    );
}

#[test]
fn rotation_plans_every_step_in_order() {
    let mut h = bootstrapped();
    let r = load(&basic_spec(&["v2"], "v2"));
    let plan = h.checked_plan(&r);
    let fp = only_family(&plan);
    assert_eq!(
        verbs(&fp.steps),
        [
            "create v2",
            "publish publish.jwks.p",
            "accept v2 api",
            "promote v2",
            "emit v2 auth",
            "hold v1 for v2",
            "revoke v1",
            "publish publish.jwks.p",
            "destroy v1",
        ]
    );
    assert_eq!(
        afters(fp),
        [
            vec![],
            vec![1],
            vec![1, 2],
            vec![1, 3],
            vec![4],
            vec![4, 5],
            vec![4, 5, 6],
            vec![7],
            vec![7, 8],
        ]
    );
    assert_eq!(
        fp.steps[1].action,
        Action::Publish {
            publisher: "publish.jwks.p".into(),
            add: vec!["v2".into()],
            remove: vec![],
            kids: vec!["v1".into(), "v2".into()],
        }
    );
    assert_eq!(
        fp.steps[3].action,
        Action::Promote {
            version: "v2".into(),
            from: Some("v1".into()),
            rollback: false,
        }
    );
    assert_eq!(
        fp.steps[7].action,
        Action::Publish {
            publisher: "publish.jwks.p".into(),
            add: vec![],
            remove: vec!["v1".into()],
            kids: vec!["v2".into()],
        }
    );
    // Projected windows: accept +10s, promote +10s, emit +15s, hold until
    // promoted + 30s overlap, destroy 7d after the revoke.
    let now = h.now();
    let at = |s: i64| Some(now + Duration::seconds(s));
    let earliest: Vec<Option<Timestamp>> = fp.steps.iter().map(|s| s.earliest).collect();
    assert_eq!(
        earliest,
        [
            None,
            None,
            at(10),
            at(10),
            at(15),
            at(40),
            at(40),
            at(40),
            at(40 + 7 * 86_400)
        ]
    );
    let hold = &fp.steps[5].gates[0];
    assert_eq!(
        (hold.kind, hold.name.as_str()),
        (GateKind::Window, "overlap")
    );
    assert!(hold.detail.contains("promoted + 30s"), "{}", hold.detail);
    assert!(hold.detail.contains("consumer.auth"), "{}", hold.detail);
}

#[test]
fn rollback_is_a_promote_without_new_gates() {
    let mut h = bootstrapped();
    let both = |active| load(&basic_spec(&["v1", "v2"], active));
    h.drive(&both("v2"), 20);
    assert_eq!(h.state().version("k", "v1").unwrap().phase, Phase::Retiring);

    // `active` points back at v1, which every verifier still accepts.
    let plan = h.checked_plan(&both("v1"));
    let fp = only_family(&plan);
    assert_eq!(verbs(&fp.steps), ["rollback v1", "emit v1 auth"]);
    assert_eq!(afters(fp), [vec![], vec![1]]);
    assert_eq!(
        fp.steps[0].action,
        Action::Promote {
            version: "v1".into(),
            from: Some("v2".into()),
            rollback: true,
        }
    );
    assert!(fp.steps[0].gates.is_empty());
    assert_eq!(plan.summary.create, 0);
    assert_eq!(plan.summary.promote, 1);

    // Rolling back and dropping v2 in one edit: v2 is held and revoked.
    let plan = h.checked_plan(&load(&basic_spec(&["v1"], "v1")));
    let fp = only_family(&plan);
    assert_eq!(
        verbs(&fp.steps),
        [
            "rollback v1",
            "emit v1 auth",
            "hold v2 for v1",
            "revoke v2",
            "publish publish.jwks.p",
            "destroy v2",
        ]
    );
    assert!(
        !fp.steps
            .iter()
            .any(|s| matches!(s.action, Action::AwaitAccept { .. }))
    );

    // And it applies cleanly.
    h.drive(&load(&basic_spec(&["v1"], "v1")), 20);
    let s = h.state();
    assert_eq!(
        s.family("k").unwrap().active.as_ref().map(|v| v.as_str()),
        Some("v1")
    );
    assert_eq!(s.version("k", "v2").unwrap().phase, Phase::Destroyed);
}

#[test]
fn same_inputs_give_the_same_plan_byte_for_byte() {
    let mut h = bootstrapped();
    let text = basic_spec(&["v1", "v2"], "v2");
    let (r1, r2) = (load(&text), load(&text));
    let live = h.refresh(&r1);
    let state = h.state();
    let now = h.now();
    let a = crate::plan::plan(&r1, &state, &live, now);
    let b = crate::plan::plan(&r2, &state, &live, now);
    let c = crate::plan::plan(&r1, &state.clone(), &live.clone(), now);
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(json, serde_json::to_string(&b).unwrap());
    assert_eq!(json, serde_json::to_string(&c).unwrap());
    // A plan survives a JSON round trip unchanged.
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
    // And a plan made later differs only in its times.
    let later = crate::plan::plan(&r1, &state, &live, now + Duration::seconds(1));
    assert_ne!(json, serde_json::to_string(&later).unwrap());
    assert_eq!(verbs(&later.families[0].steps), verbs(&a.families[0].steps));
}

#[test]
fn summary_line_counts_and_gates() {
    let mut h = bootstrapped();
    h.clock
        .set(Timestamp::parse_rfc3339("2026-11-26T15:00:00Z").unwrap());
    let plan = h.checked_plan(&load(&basic_spec(&["v2"], "v2")));
    assert_eq!(
        plan.summary_line(),
        "Plan: 1 to create, 1 to promote, 1 to revoke, 1 to destroy (gated until 2026-12-03 15:00:40 UTC)."
    );
    assert_eq!(plan.summary.publish, 2);
    assert_eq!(plan.summary.wait, 3);
    assert_eq!(plan.summary.blocked, 0);

    let done = h.checked_plan(&load(&basic_spec(&["v1"], "v1")));
    assert!(done.is_empty());
    assert_eq!(
        done.summary_line(),
        "No changes. Every family matches its spec."
    );
}

#[test]
fn a_version_that_was_never_active_is_revoked_without_a_hold() {
    let mut h = Harness::new();
    h.drive(&load(&basic_spec(&["v1", "v2"], "v1")), 20);
    assert_eq!(h.state().version("k", "v2").unwrap().phase, Phase::Accepted);

    let r = load(&basic_spec(&["v1"], "v1"));
    let plan = h.checked_plan(&r);
    let fp = only_family(&plan);
    assert_eq!(
        verbs(&fp.steps),
        ["revoke v2", "publish publish.jwks.p", "destroy v2"]
    );
    assert_eq!(afters(fp), [vec![], vec![1], vec![1, 2]]);
    // Nothing to wait for before the revoke: it runs in the first pass.
    assert_eq!(fp.steps[0].earliest, None);
    let report = h.apply(&r, &plan);
    assert!(matches!(
        report.families[0].outcomes[0].1,
        crate::apply::StepOutcome::Done(_)
    ));
    assert_eq!(h.state().version("k", "v2").unwrap().phase, Phase::Revoked);
    assert_eq!(
        h.publishers["publish.jwks.p"].kids(),
        Some(vec!["v1".into()])
    );
}

#[test]
fn drift_blocks_the_family_and_names_the_version() {
    let mut h = bootstrapped();
    // The store loses everything rotor wrote.
    let clock: Arc<dyn Clock> = h.clock.clone();
    h.stores.insert(
        "store.file.x".into(),
        FakeStore::new("store.file.x", clock, h.log.clone()),
    );
    let r = load(&basic_spec(&["v1", "v2"], "v2"));
    let plan = h.checked_plan(&r);
    let fp = only_family(&plan);
    assert!(fp.steps.is_empty());
    let why = fp.blocked.as_deref().expect("blocked");
    assert!(why.contains("drift"), "{why}");
    assert!(why.contains("v1"), "{why}");
    assert!(why.contains("store.file.x"), "{why}");
    assert_eq!(plan.summary.blocked, 1);
    assert!(!plan.is_empty());
    assert!(
        plan.summary_line().contains("1 family blocked"),
        "{}",
        plan.summary_line()
    );
    // Apply leaves a blocked family alone.
    let puts_before = h.events().len();
    let report = h.apply(&r, &plan);
    assert!(report.families.is_empty());
    assert_eq!(h.events().len(), puts_before);
}

#[test]
fn unmanaged_versions_are_noted_and_left_alone() {
    let mut h = bootstrapped();
    let r = load(&basic_spec(&["v1"], "v1"));
    // Someone wrote a version by hand.
    let g = crate::testing::FakeGenerator::default();
    let generated = crate::Generator::generate(
        &g,
        &crate::spec::Generate::Ec {
            curve: crate::spec::Curve::P256,
        },
        0,
    )
    .unwrap();
    let store = h.stores["store.file.x"].clone();
    block_on(crate::Store::put(
        &*store,
        &"k".into(),
        &crate::provider::NewVersion {
            id: &"manual".into(),
            kid: "manual",
            generated: &generated,
        },
    ))
    .unwrap();
    let plan = h.checked_plan(&r);
    let fp = only_family(&plan);
    assert!(
        fp.notes.iter().any(|n| n.contains("manual")),
        "{:?}",
        fp.notes
    );
    assert!(fp.blocked.is_none());
    // Left alone in the store, and published as the store holds it: tokens
    // signed with it may be in flight, so its key stays verifiable.
    assert_eq!(verbs(&fp.steps), ["publish publish.jwks.p"]);
    h.drive(&r, 5);
    let mut kids = h.publishers["publish.jwks.p"].kids().unwrap();
    kids.sort();
    assert_eq!(kids, ["manual", "v1"]);
    assert!(h.plan(&r).is_empty());
}

/// Found by the planner property: with the active version unchanged, a
/// verifier added to the spec must accept it before any other version is
/// revoked (the checker, and `check_revoke` at apply time, require it).
#[test]
fn revokes_wait_for_a_new_verifier_to_accept_the_active_version() {
    let mut h = Harness::new();
    h.drive(&load(&basic_spec(&["v1", "v2"], "v2")), 20);
    // v2 is active, v1 accepted but never used; now a verifier is added and v1 removed.
    let text = basic_spec(&["v2"], "v2")
        + r#"
consumer "edge" {
  accepts   = secret.k
  cache_ttl = "20s"
}
"#;
    let r = load(&text);
    let plan = h.checked_plan(&r);
    let fp = only_family(&plan);
    assert_eq!(
        verbs(&fp.steps),
        [
            "accept v2 edge",
            "revoke v1",
            "publish publish.jwks.p",
            "destroy v1"
        ]
    );
    assert_eq!(fp.steps[1].after, [1]);
    h.drive(&r, 20);
    let s = h.state();
    assert!(s.version("k", "v2").unwrap().accepted.contains_key("edge"));
    assert_eq!(s.version("k", "v1").unwrap().phase, Phase::Destroyed);
}

/// A primary changed by hand in the store (or by a promote interrupted after
/// the store's write, before `active` moved back) is set again, and the
/// version that was served is held as in use from then; a primary that a
/// promote in progress already set (an interrupted apply) is that promote's.
#[test]
fn a_primary_changed_outside_rotor_is_set_back_and_held() {
    let mut h = bootstrapped();
    let r = load(&basic_spec(&["v1", "v2"], "v1"));
    h.drive(&r, 20);
    let store = h.stores["store.file.x"].clone();
    futures_executor::block_on(crate::Store::set_primary(
        &*store,
        &"k".into(),
        &"v2".into(),
    ))
    .unwrap();
    let plan = h.checked_plan(&r);
    let fp = only_family(&plan);
    assert!(fp.blocked.is_none(), "{:?}", fp.blocked);
    assert!(
        fp.notes
            .iter()
            .any(|n| n.contains("primary is v2, not v1 as rotor last promoted")),
        "{:?}",
        fp.notes
    );
    assert!(
        verbs(&fp.steps)
            .iter()
            .any(|v| v == "promote v1" || v == "rollback v1"),
        "{:?}",
        verbs(&fp.steps)
    );
    let set_back = h.now();
    h.drive(&r, 20);
    let live = futures_executor::block_on(crate::Store::read(&*store, &"k".into())).unwrap();
    assert_eq!(live.primary.as_ref().map(|v| v.as_str()), Some("v1"));
    let v2 = h.state().version("k", "v2").unwrap().clone();
    assert!(v2.adopted_at.is_some_and(|t| t >= set_back), "{v2:?}");

    // Then v2 leaves the spec: its revoke holds a full overlap from then.
    let r2 = load(&basic_spec(&["v1"], "v1"));
    let plan = h.checked_plan(&r2);
    assert!(
        verbs(&only_family(&plan).steps)
            .iter()
            .any(|v| v.starts_with("hold"))
    );

    // The same store state is an interrupted promote when the spec asks for v2.
    let mut h = bootstrapped();
    h.drive(&r, 20);
    let store = h.stores["store.file.x"].clone();
    futures_executor::block_on(crate::Store::set_primary(
        &*store,
        &"k".into(),
        &"v2".into(),
    ))
    .unwrap();
    let r = load(&basic_spec(&["v1", "v2"], "v2"));
    let plan = h.checked_plan(&r);
    let fp = only_family(&plan);
    assert!(fp.blocked.is_none(), "{:?}", fp.blocked);
    assert!(
        fp.steps
            .iter()
            .any(|s| matches!(s.action, Action::Promote { .. }))
    );
}
