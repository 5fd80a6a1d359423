//! Drain and guard probes, probes that need material, and a family written
//! to several stores.

use super::*;
use crate::apply::StepOutcome;
use crate::spec::ProbePhase;
use crate::state::{Outcome, Phase};

/// `api` has an accept probe (0), a drain probe (1) and a guard probe (2);
/// gate ids carry the block index: `drain.api#1`, `guard.api#2`.
fn guarded(versions: &[&str], active: &str) -> Resolved {
    load(&spec_with(
        versions,
        active,
        r#"verify "command" { command = ["true"] }
  verify "command" {
    on      = ["drain"]
    command = ["true"]
  }
  verify "command" {
    on      = ["guard"]
    command = ["true"]
  }"#,
    ))
}

fn disables(h: &Harness, version: &str) -> usize {
    h.events()
        .iter()
        .filter(|e| matches!(e, Event::Disable(_, v, _) if v == version))
        .count()
}

fn destroys(h: &Harness, version: &str) -> usize {
    h.events()
        .iter()
        .filter(|e| matches!(e, Event::Destroy(_, v, _) if v == version))
        .count()
}

fn waits(report: &crate::apply::ApplyReport) -> Vec<(String, String)> {
    report.families[0]
        .outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            StepOutcome::Waiting { gate, detail, .. } => Some((gate.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failing_drain_probe_keeps_the_old_version_in_the_key_set() {
    let mut h = Harness::new();
    h.drive(&guarded(&["v1"], "v1"), 20);
    let r = guarded(&["v2"], "v2");
    h.set_probe("api", 1, false);
    let mut seen_wait = false;
    for _ in 0..12 {
        let (_, report) = h.pass(&r);
        assert!(!report.failed(), "{report:#?}");
        seen_wait |= waits(&report)
            .iter()
            .any(|(g, d)| g == "command probe drain.api#1" && d.contains("exit 1"));
    }
    assert!(seen_wait, "the hold never reported the drain probe");
    let s = h.state();
    assert_eq!(
        s.family("k").unwrap().active.as_ref().map(|v| v.as_str()),
        Some("v2")
    );
    assert_eq!(disables(&h, "v1"), 0, "v1 was revoked before it drained");
    assert!(s.version("k", "v1").unwrap().drained_at.is_none());
    // The drain probe was asked about the old version.
    let asked = h.probes[&("api".into(), 1)]
        .requests
        .lock()
        .unwrap()
        .clone();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|q| q.phase == ProbePhase::Drain && q.version == "v1")
    );
    // The safety checker refuses the revoke too, whatever the plan says.
    let violation =
        crate::safety::check_revoke(&r, &r.families[0], &s, &"v1".into(), h.now()).unwrap_err();
    assert!(
        violation.reason.contains("drain probe of consumer.api"),
        "{violation:?}"
    );

    h.set_probe("api", 1, true);
    h.drive(&r, 20);
    let s = h.state();
    assert_eq!(
        s.version("k", "v1").unwrap().drain["api"].outcome,
        Outcome::Passed
    );
    assert_eq!(s.version("k", "v1").unwrap().phase, Phase::Destroyed);
}

#[test]
fn a_guard_compares_with_the_baseline_and_a_failing_one_keeps_the_version_restorable() {
    let mut h = Harness::new();
    h.drive(&guarded(&["v1"], "v1"), 20);
    *h.probes[&("api".into(), 2)].value.lock().unwrap() = Some(0.25);
    let r = guarded(&["v2"], "v2");
    h.set_probe("api", 2, false);
    let mut seen_wait = false;
    for _ in 0..40 {
        let (_, report) = h.pass(&r);
        assert!(!report.failed(), "{report:#?}");
        seen_wait |= waits(&report).iter().any(|(g, d)| {
            g == "command probe guard.api#2"
                && d.contains("GUARD FAILING")
                && d.contains("rotor rollback k --restore")
        });
        if seen_wait {
            break;
        }
    }
    assert!(seen_wait, "the guard never failed loudly");
    let s = h.state();
    let v1 = s.version("k", "v1").unwrap();
    // Guards run once consumers dropped the version, long before the 7d grace ends.
    assert!(
        h.now() < v1.disabled_at.unwrap() + Duration::seconds(60),
        "the guard ran late: {:?} after the revoke",
        h.now() - v1.disabled_at.unwrap()
    );
    assert_eq!(v1.phase, Phase::Revoked, "revoked, not destroyed");
    assert_eq!(destroys(&h, "v1"), 0);
    assert_eq!(v1.baselines["guard.api#2"].value.map(|m| m.0), Some(0.25));
    let asked = h.probes[&("api".into(), 2)]
        .requests
        .lock()
        .unwrap()
        .clone();
    assert!(
        asked
            .iter()
            .all(|q| q.phase == ProbePhase::Guard && q.version == "v1" && q.baseline == Some(0.25)),
        "{asked:?}"
    );
    // The plan shows the guard gate on the destroy.
    let plan = h.checked_plan(&r);
    let destroy = plan.families[0]
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::Destroy { .. }))
        .unwrap();
    assert!(
        destroy
            .gates
            .iter()
            .any(|g| g.name == "guard command probe"),
        "{:?}",
        destroy.gates
    );

    h.set_probe("api", 2, true);
    h.drive(&r, 20);
    let s = h.state();
    assert_eq!(s.version("k", "v1").unwrap().phase, Phase::Destroyed);
    assert_eq!(
        s.version("k", "v1").unwrap().guarded["api"].outcome,
        Outcome::Passed
    );
}

#[test]
fn a_guard_without_a_measurement_records_why() {
    let mut h = Harness::new();
    h.drive(&guarded(&["v1"], "v1"), 20);
    let r = guarded(&["v2"], "v2");
    h.pass(&r);
    let s = h.state();
    let b = &s.version("k", "v1").unwrap().baselines["guard.api#2"];
    assert_eq!(b.value, None);
    assert_eq!(b.detail, "no value");
}

#[test]
fn a_probe_that_needs_material_gets_the_version_under_test() {
    let mut h = Harness::new();
    h.drive(&v(&["v1"], "v1"), 20);
    let r = v(&["v2"], "v2");
    h.wire(&r);
    h.probes[&("api".into(), 0)]
        .wants_material
        .store(true, Ordering::SeqCst);
    h.drive(&r, 20);
    let asked = h.probes[&("api".into(), 0)]
        .requests
        .lock()
        .unwrap()
        .clone();
    let v2 = asked
        .iter()
        .find(|q| q.version == "v2")
        .expect("asked about v2");
    // The fake generator's material is a counter; v2 is the second version made.
    assert_eq!(v2.material.as_deref(), Some("fake-material-1"));
}

fn v(versions: &[&str], active: &str) -> Resolved {
    load(&basic_spec(versions, active))
}

/// `k` in two stores.
fn two_stores(versions: &[&str], active: &str) -> Resolved {
    let text = basic_spec(versions, active)
        .replace(
            "  store         = store.file.x",
            "  store         = [store.file.x, store.file.y]",
        )
        .replace(
            "secret \"k\"",
            "store \"file\" \"y\" {\n  path = \".rotor/other\"\n}\n\nsecret \"k\"",
        );
    load(&text)
}

#[test]
fn a_version_written_to_one_store_of_two_is_copied_to_the_other() {
    let mut h = Harness::new();
    h.drive(&two_stores(&["v1"], "v1"), 20);
    // An apply wrote v2 to x and stopped before y.
    let generated = crate::Generator::generate(
        &*h.generator,
        &crate::spec::Generate::Ec {
            curve: crate::spec::Curve::P256,
        },
        1,
    )
    .unwrap();
    let new = crate::provider::NewVersion {
        id: &"v2".into(),
        kid: "v2",
        generated: &generated,
    };
    block_on(crate::Store::put(
        &*h.stores["store.file.x"],
        &"k".into(),
        &new,
    ))
    .unwrap();
    let r = two_stores(&["v2"], "v2");
    h.drive(&r, 20);
    let read = |addr: &str| {
        let store = &*h.stores[addr];
        let live = block_on(crate::Store::read(store, &"k".into())).unwrap();
        let material = block_on(crate::Store::read_material(
            store,
            &"k".into(),
            &"v2".into(),
        ))
        .unwrap();
        (live, String::from_utf8(material.expose().to_vec()).unwrap())
    };
    let (x, mx) = read("store.file.x");
    let (y, my) = read("store.file.y");
    assert_eq!(x, y, "both stores hold the same versions");
    assert_eq!(mx, my, "and the same material");
    assert_eq!(x.primary.as_ref().map(|v| v.as_str()), Some("v2"));
    let s = h.state();
    let v2 = s.version("k", "v2").unwrap();
    assert_eq!(v2.fingerprint, generated.fingerprint);
    assert_eq!(v2.ordinal, Some(1), "an adopted version takes its turn too");
}

#[test]
fn a_version_abandoned_before_its_promote_does_not_shift_the_turn() {
    let mut h = Harness::new();
    h.drive(&v(&["v1"], "v1"), 20);
    // v2 is written, then abandoned before its promote.
    let r = v(&["v1", "v2"], "v1");
    h.drive(&r, 20);
    h.drive(&v(&["v1"], "v1"), 20);
    // v3 takes the turn after the active v1, the one v2 had.
    h.drive(&v(&["v3"], "v3"), 20);
    assert_eq!(*h.generator.1.lock().unwrap(), [0, 1, 1]);
    let s = h.state();
    assert_eq!(s.version("k", "v3").unwrap().ordinal, Some(1));
}

/// `guarded` with `within` on the drain probe.
fn drain_within(versions: &[&str], active: &str, within: &str) -> Resolved {
    load(&spec_with(
        versions,
        active,
        &format!(
            r#"verify "command" {{ command = ["true"] }}
  verify "command" {{
    on      = ["drain"]
    command = ["true"]
    within  = "{within}"
  }}"#
        ),
    ))
}

#[test]
fn within_counts_from_when_the_gate_came_due_not_from_the_start_of_the_run() {
    let mut h = Harness::new();
    h.drive(&drain_within(&["v1"], "v1", "10s"), 20);
    let r = drain_within(&["v2"], "v2", "10s");
    h.set_probe("api", 1, false);
    // One `--wait` run from now: the overlap alone (30s) outlasts `within` (10s).
    let base = h.now();
    let mut first_drain = None;
    for _ in 0..30 {
        let plan = h.checked_plan(&r);
        let report = h.apply_with(&r, &plan, Some(base));
        let drain_wait = waits(&report)
            .iter()
            .any(|(g, _)| g == "command probe drain.api#1");
        if let Some(t) = first_drain {
            if report.failed() {
                let StepOutcome::Failed { error, .. } = report.families[0]
                    .outcomes
                    .iter()
                    .map(|(_, o)| o)
                    .find(|o| matches!(o, StepOutcome::Failed { .. }))
                    .unwrap()
                else {
                    unreachable!()
                };
                assert!(error.contains("within 10s"), "{error}");
                assert!(
                    h.now() >= t + Duration::seconds(10),
                    "failed before within ran out"
                );
                assert_eq!(disables(&h, "v1"), 0);
                return;
            }
        } else if drain_wait {
            assert!(
                !report.failed(),
                "the first drain attempt failed the run: {report:#?}"
            );
            first_drain = Some(h.now());
        } else {
            assert!(!report.failed(), "{report:#?}");
        }
        match report.next_window() {
            Some(t) if t > h.now() => h.clock.set(t),
            _ => h.advance(2),
        }
    }
    panic!("the drain gate never failed at its deadline");
}

#[test]
fn drain_evidence_from_an_earlier_retirement_does_not_count_after_a_rollback() {
    let mut h = Harness::new();
    h.drive(&guarded(&["v1"], "v1"), 20);
    // v1 drains, and its revoke fails (the store is down at that moment).
    let r = guarded(&["v2"], "v2");
    loop {
        let plan = h.checked_plan(&r);
        let hold_due = plan.families[0]
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Hold { .. }) && s.earliest.is_none());
        if hold_due {
            break;
        }
        h.pass(&r);
    }
    h.stores["store.file.x"].down.store(true, Ordering::SeqCst);
    let plan = h.checked_plan(&r);
    assert!(h.apply(&r, &plan).failed());
    assert!(
        h.state()
            .version("k", "v1")
            .unwrap()
            .drain
            .contains_key("api")
    );
    h.stores["store.file.x"].down.store(false, Ordering::SeqCst);
    let drained_once = h.probes[&("api".into(), 1)].calls.load(Ordering::SeqCst);
    // Roll back to v1 (still in the key set), then forward again.
    h.drive(&guarded(&["v1", "v2"], "v1"), 30);
    assert!(
        h.state().version("k", "v1").unwrap().drain.is_empty(),
        "cleared on promote"
    );
    h.drive(&guarded(&["v2"], "v2"), 30);
    let calls = h.probes[&("api".into(), 1)].calls.load(Ordering::SeqCst);
    assert!(
        calls > drained_once,
        "v1 was revoked on its old drain evidence"
    );
    assert_eq!(
        h.state().version("k", "v1").unwrap().phase,
        Phase::Destroyed
    );
}

#[test]
fn a_version_never_promoted_has_no_guard_and_a_failed_baseline_is_measured_again() {
    let mut h = Harness::new();
    h.drive(&guarded(&["v1"], "v1"), 20);
    // v2 is created (the baseline fails to measure) and abandoned before its promote.
    h.pass(&guarded(&["v1", "v2"], "v1"));
    h.set_probe("api", 2, false);
    h.drive(&guarded(&["v1"], "v1"), 30);
    assert_eq!(
        h.state().version("k", "v2").unwrap().phase,
        Phase::Destroyed
    );
    assert!(
        h.probes[&("api".into(), 2)]
            .requests
            .lock()
            .unwrap()
            .is_empty(),
        "no guard for a version that made no traffic"
    );
    h.set_probe("api", 2, true);
    // v3: the measurement fails at create, works by the promote.
    let r = guarded(&["v3"], "v3");
    h.pass(&r);
    assert_eq!(
        h.state().version("k", "v1").unwrap().baselines["guard.api#2"].value,
        None
    );
    *h.probes[&("api".into(), 2)].value.lock().unwrap() = Some(2.0);
    h.drive(&r, 30);
    let s = h.state();
    assert_eq!(
        s.version("k", "v1").unwrap().baselines["guard.api#2"]
            .value
            .map(|m| m.0),
        Some(2.0)
    );
    assert_eq!(s.version("k", "v1").unwrap().phase, Phase::Destroyed);
}
