//! The safety checker catches hand-made unsafe plans, and the runtime checks
//! refuse promotes and revokes whose evidence or windows are missing.

use super::*;
use crate::safety::{Violation, check_plan, check_promote, check_revoke};
use crate::state::{Evidence, Outcome, Phase, VersionState};

/// A spec, the state after bootstrapping v1, and the planner's rotation to v2.
fn rotation() -> (Resolved, State, Plan) {
    let mut h = Harness::new();
    h.drive(&load(&basic_spec(&["v1"], "v1")), 20);
    let r = load(&basic_spec(&["v2"], "v2"));
    let plan = h.checked_plan(&r);
    (r, h.state(), plan)
}

/// Applies a change to the rotation plan's steps and returns the violations.
fn mutated(change: impl FnOnce(&mut Vec<Step>)) -> Vec<Violation> {
    let (r, state, mut plan) = rotation();
    change(&mut plan.families[0].steps);
    check_plan(&r, &state, &plan)
}

fn id_of(steps: &[Step], pred: impl Fn(&Action) -> bool) -> usize {
    step_id(steps, pred)
}

fn is_promote(a: &Action) -> bool {
    matches!(a, Action::Promote { .. })
}
fn is_accept(a: &Action) -> bool {
    matches!(a, Action::AwaitAccept { .. })
}
fn is_emit(a: &Action) -> bool {
    matches!(a, Action::AwaitEmit { .. })
}
fn is_hold(a: &Action) -> bool {
    matches!(a, Action::Hold { .. })
}
fn is_revoke(a: &Action) -> bool {
    matches!(a, Action::Revoke { .. })
}
fn is_destroy(a: &Action) -> bool {
    matches!(a, Action::Destroy { .. })
}

fn step_mut(steps: &mut [Step], pred: impl Fn(&Action) -> bool) -> &mut Step {
    steps.iter_mut().find(|s| pred(&s.action)).expect("step")
}

/// Asserts a violation at `step` whose reason contains `text`.
fn assert_violation(violations: &[Violation], step: usize, text: &str) {
    assert!(
        violations
            .iter()
            .any(|v| v.family == "k" && v.step == step && v.reason.contains(text)),
        "expected a violation at step {step} containing {text:?}, got {violations:#?}"
    );
}

#[test]
fn the_planners_rotation_is_safe() {
    assert_eq!(mutated(|_| {}), vec![]);
}

#[test]
fn promote_without_acceptance_is_refused() {
    let (r, state, mut plan) = rotation();
    let steps = &mut plan.families[0].steps;
    let accept = id_of(steps, is_accept);
    let promote = step_mut(steps, is_promote);
    promote.after.retain(|a| *a != accept);
    let promote = promote.id;
    let v = check_plan(&r, &state, &plan);
    assert_violation(&v, promote, "promote of v2 before consumer.api accepted it");
    // The revoke, which runs after the promote, no longer follows the acceptance either.
    let revoke = id_of(&plan.families[0].steps, is_revoke);
    assert_violation(&v, revoke, "before consumer.api accepted v2");
}

#[test]
fn promote_before_create_is_refused() {
    let (r, state, mut plan) = rotation();
    let steps = &mut plan.families[0].steps;
    // Drop the create and the acceptance from everything's ancestry.
    for s in steps.iter_mut() {
        s.after.clear();
    }
    let promote = id_of(steps, is_promote);
    let accept = id_of(steps, is_accept);
    let v = check_plan(&r, &state, &plan);
    assert_violation(&v, promote, "promote of v2 before it exists in the stores");
    assert_violation(&v, accept, "waiting on v2 before it exists in the stores");
}

#[test]
fn revoke_without_the_hold_is_refused() {
    let v = mutated(|steps| {
        let hold = id_of(steps, is_hold);
        step_mut(steps, is_revoke).after.retain(|a| *a != hold);
    });
    assert_violation(&v, 7, "revoke of v1 before the overlap was held");
}

#[test]
fn revoke_that_does_not_depend_on_the_promote_is_refused() {
    let v = mutated(|steps| {
        step_mut(steps, is_revoke).after.clear();
    });
    assert_violation(&v, 7, "revoke of v1 before v2 is promoted");
    assert_violation(&v, 7, "before consumer.api accepted v2");
    assert_violation(&v, 7, "before consumer.auth emits v2");
    assert_violation(&v, 7, "before the overlap was held");
}

#[test]
fn revoke_before_the_emitters_switched_is_refused() {
    let v = mutated(|steps| {
        let emit = id_of(steps, is_emit);
        let promote = id_of(steps, is_promote);
        step_mut(steps, is_hold).after = vec![promote];
        step_mut(steps, is_revoke).after.retain(|a| *a != emit);
    });
    assert_violation(&v, 7, "revoke of v1 before consumer.auth emits v2");
}

#[test]
fn revoking_the_final_active_version_is_refused() {
    let v = mutated(|steps| {
        step_mut(steps, is_revoke).action = Action::Revoke {
            version: "v2".into(),
        };
    });
    assert_violation(&v, 7, "revoke of v2, the active version");

    // Revoking the active version of a plan that promotes nothing.
    let mut h = Harness::new();
    let r = load(&basic_spec(&["v1"], "v1"));
    h.drive(&r, 20);
    let mut plan = h.plan(&r);
    plan.families.push(FamilyPlan {
        family: "k".into(),
        active: Some("v1".into()),
        overlap: "30s".into(),
        overlap_floor: r.overlap_floor(&r.families[0]).into(),
        accept_window: r.accept_window(&r.families[0]).into(),
        steps: vec![Step {
            id: 1,
            action: Action::Revoke {
                version: "v1".into(),
            },
            after: vec![],
            gates: vec![],
            earliest: None,
            reason: "hand-made".into(),
        }],
        notes: vec![],
        blocked: None,
    });
    let v = check_plan(&r, &h.state(), &plan);
    assert_violation(&v, 1, "revoke of v1, the active version");
}

#[test]
fn destroy_before_revoke_is_refused() {
    let v = mutated(|steps| {
        step_mut(steps, is_destroy).after.clear();
    });
    assert_violation(&v, 9, "destroy of v1 before it is revoked");
}

#[test]
fn a_step_after_a_later_step_is_refused() {
    let v = mutated(|steps| {
        steps[0].after.push(9);
    });
    assert_violation(&v, 1, "run only after earlier steps");
    let v = mutated(|steps| {
        steps[3].after.push(4); // itself
    });
    assert_violation(&v, 4, "run only after earlier steps");
    let v = mutated(|steps| {
        steps.swap(2, 3); // ids out of order
    });
    assert!(!v.is_empty());
}

#[test]
fn two_promotes_in_one_family_are_refused() {
    let v = mutated(|steps| {
        let mut extra = steps[3].clone();
        extra.id = steps.len() + 1;
        extra.after = vec![steps.len()];
        extra.action = Action::Promote {
            version: "v1".into(),
            from: Some("v2".into()),
            rollback: true,
        };
        steps.push(extra);
    });
    assert_violation(&v, 0, "at most one version");
}

#[test]
fn a_plan_for_an_undeclared_family_is_refused() {
    let (r, state, mut plan) = rotation();
    plan.families[0].family = "nope".into();
    let v = check_plan(&r, &state, &plan);
    assert_eq!(v.len(), 1);
    assert!(v[0].reason.contains("does not declare"), "{v:?}");
}

// ---- runtime checks ----

fn evidence(outcome: Outcome, at: Timestamp) -> Evidence {
    Evidence {
        probe: "command".into(),
        at,
        outcome,
        detail: "exit 0".into(),
    }
}

fn version(phase: Phase, created: Timestamp) -> VersionState {
    let mut v = VersionState::created("x".into(), "ES256".into(), "sha256:00".into(), created);
    v.phase = phase;
    v
}

/// v1 promoted at T0 and fully evidenced; v2 created and published at T0 + 1h.
fn hand_state() -> State {
    let mut s = State::new("lin".into());
    let f = s.families.entry("k".into()).or_default();
    let mut v1 = version(Phase::Active, T0);
    v1.published_at = Some(T0);
    v1.published.insert("publish.jwks.p".into(), T0);
    // Evidence is gathered once each consumer's cache window has passed.
    v1.accepted.insert(
        "api".into(),
        evidence(Outcome::Passed, T0 + Duration::seconds(10)),
    );
    v1.promoted_at = Some(T0 + Duration::seconds(10));
    v1.emitted.insert(
        "auth".into(),
        evidence(Outcome::Assumed, T0 + Duration::seconds(15)),
    );
    f.versions.insert("v1".into(), v1);
    let t1 = T0 + Duration::seconds(3600);
    let mut v2 = version(Phase::Pending, t1);
    v2.published_at = Some(t1);
    v2.published.insert("publish.jwks.p".into(), t1);
    f.versions.insert("v2".into(), v2);
    f.active = Some("v1".into());
    s
}

fn t1() -> Timestamp {
    T0 + Duration::seconds(3600)
}

#[test]
fn check_promote_wants_evidence_and_the_cache_window() {
    let r = load(&basic_spec(&["v1", "v2"], "v2"));
    let fam = &r.families[0];
    let mut s = hand_state();
    let err = |s: &State, v: &str, now| {
        check_promote(&r, fam, s, &v.into(), now)
            .unwrap_err()
            .reason
    };

    assert!(err(&s, "v9", t1()).contains("not in state"));
    let e = err(&s, "v2", t1() + Duration::seconds(60));
    assert!(
        e.contains("without acceptance evidence from consumer.api"),
        "{e}"
    );

    let v2 = s
        .families
        .get_mut("k")
        .unwrap()
        .versions
        .get_mut("v2")
        .unwrap();
    // Evidence from before the cache window passed proves nothing.
    v2.accepted
        .insert("api".into(), evidence(Outcome::Passed, t1()));
    v2.phase = Phase::Accepted;
    let e = err(&s, "v2", t1() + Duration::seconds(60));
    assert!(e.contains("gathered since it was last published"), "{e}");
    let v2 = s
        .families
        .get_mut("k")
        .unwrap()
        .versions
        .get_mut("v2")
        .unwrap();
    v2.accepted.insert(
        "api".into(),
        evidence(Outcome::Passed, t1() + Duration::seconds(10)),
    );
    let e = err(&s, "v2", t1() + Duration::seconds(9));
    assert!(e.contains("cache window (10s)"), "{e}");
    assert!(check_promote(&r, fam, &s, &"v2".into(), t1() + Duration::seconds(10)).is_ok());

    // Never published: no window can have passed.
    s.families
        .get_mut("k")
        .unwrap()
        .versions
        .get_mut("v2")
        .unwrap()
        .published
        .clear();
    assert!(err(&s, "v2", t1() + Duration::seconds(60)).contains("never published"));

    // A revoked version cannot be promoted.
    let v2 = s
        .families
        .get_mut("k")
        .unwrap()
        .versions
        .get_mut("v2")
        .unwrap();
    v2.published.insert("publish.jwks.p".into(), t1());
    v2.phase = Phase::Revoked;
    assert!(err(&s, "v2", t1() + Duration::seconds(60)).contains("revoked"));
}

/// `hand_state` after v2's promote at t1 + 10s: v1 retiring.
fn promoted_state() -> State {
    let mut s = hand_state();
    let f = s.families.get_mut("k").unwrap();
    let v2 = f.versions.get_mut("v2").unwrap();
    v2.accepted.insert(
        "api".into(),
        evidence(Outcome::Passed, t1() + Duration::seconds(10)),
    );
    v2.phase = Phase::Active;
    v2.promoted_at = Some(t1() + Duration::seconds(10));
    let v1 = f.versions.get_mut("v1").unwrap();
    v1.phase = Phase::Retiring;
    v1.retired_at = Some(t1() + Duration::seconds(10));
    f.active = Some("v2".into());
    s
}

#[test]
fn check_revoke_wants_acceptance_emission_and_the_overlap() {
    let r = load(&basic_spec(&["v2"], "v2"));
    let fam = &r.families[0];
    let promoted = t1() + Duration::seconds(10);
    let err =
        |s: &State, v: &str, now| check_revoke(&r, fam, s, &v.into(), now).unwrap_err().reason;

    let mut s = promoted_state();
    // The emitter has not switched.
    let e = err(&s, "v1", promoted + Duration::seconds(3600));
    assert!(e.contains("before consumer.auth emits v2"), "{e}");

    let f = s.families.get_mut("k").unwrap();
    f.versions.get_mut("v2").unwrap().emitted.insert(
        "auth".into(),
        evidence(Outcome::Assumed, promoted + Duration::seconds(5)),
    );
    // The overlap (30s) has not passed.
    let e = err(&s, "v1", promoted + Duration::seconds(29));
    assert!(e.contains("before the overlap (30s)"), "{e}");
    assert!(check_revoke(&r, fam, &s, &"v1".into(), promoted + Duration::seconds(30)).is_ok());

    // The active version itself.
    assert!(err(&s, "v2", promoted + Duration::seconds(3600)).contains("the active version"));

    // Missing acceptance of the successor (a verifier added after its promote).
    s.families
        .get_mut("k")
        .unwrap()
        .versions
        .get_mut("v2")
        .unwrap()
        .accepted
        .clear();
    let e = err(&s, "v1", promoted + Duration::seconds(3600));
    assert!(e.contains("before consumer.api accepted v2"), "{e}");

    // No active version at all.
    let mut none = promoted_state();
    none.families.get_mut("k").unwrap().active = None;
    assert!(err(&none, "v1", promoted).contains("no active version"));
}

#[test]
fn check_revoke_of_a_never_promoted_version_needs_no_overlap() {
    let r = load(&basic_spec(&["v1"], "v1"));
    let fam = &r.families[0];
    let s = hand_state(); // v1 active and evidenced, v2 pending
    assert!(check_revoke(&r, fam, &s, &"v2".into(), t1()).is_ok());
}

#[test]
fn check_revoke_never_leaves_the_family_empty() {
    let r = load(&basic_spec(&["v1"], "v1"));
    let fam = &r.families[0];
    let mut s = hand_state();
    // A state in which the active version is somehow out of the key set.
    s.families
        .get_mut("k")
        .unwrap()
        .versions
        .get_mut("v1")
        .unwrap()
        .phase = Phase::Revoked;
    let e = check_revoke(&r, fam, &s, &"v2".into(), t1())
        .unwrap_err()
        .reason;
    assert!(e.contains("no accepted version"), "{e}");
}
