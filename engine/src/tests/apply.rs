//! Apply over the fakes: a full rotation, failing probes, manual gates,
//! resuming after a crash at every save, and a store going down.

use super::*;
use crate::apply::StepOutcome;
use crate::provider::ProviderError;
use crate::state::{Approval, Outcome, Phase};

fn v1() -> Resolved {
    load(&basic_spec(&["v1"], "v1"))
}

fn v2() -> Resolved {
    load(&basic_spec(&["v2"], "v2"))
}

fn bootstrapped() -> Harness {
    let mut h = Harness::new();
    h.drive(&v1(), 20);
    h
}

fn puts(events: &[Event], version: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Put(_, v, _) if v == version))
        .count()
}

fn primary_time(events: &[Event], version: &str) -> Option<Timestamp> {
    events.iter().find_map(|e| match e {
        Event::Primary(_, v, t) if v == version => Some(*t),
        _ => None,
    })
}

/// Outcomes of one family's report, by step id.
fn outcomes(report: &crate::apply::ApplyReport) -> &[(usize, StepOutcome)] {
    assert_eq!(report.families.len(), 1, "{report:#?}");
    &report.families[0].outcomes
}

fn live_store(h: &Harness) -> crate::provider::LiveFamily {
    block_on(crate::Store::read(&*h.stores["store.file.x"], &"k".into())).unwrap()
}

/// After a rotation from v1 to v2: only v2 published, primary, active.
fn assert_rotated(h: &Harness) {
    assert_eq!(
        h.publishers["publish.jwks.p"].kids(),
        Some(vec!["v2".to_string()])
    );
    let live = live_store(h);
    assert_eq!(live.primary.as_ref().map(|v| v.as_str()), Some("v2"));
    let ids: Vec<&str> = live.versions.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["v2"], "v1 is destroyed");
    let s = h.state();
    let f = s.family("k").unwrap();
    assert_eq!(f.active.as_ref().map(|v| v.as_str()), Some("v2"));
    assert_eq!(f.versions["v1"].phase, Phase::Destroyed);
    assert_eq!(f.versions["v2"].phase, Phase::Active);
    let events = h.events();
    assert_eq!(puts(&events, "v1"), 1, "{events:#?}");
    assert_eq!(puts(&events, "v2"), 1, "{events:#?}");
}

#[test]
fn a_full_rotation_ends_with_only_the_new_version() {
    let mut h = bootstrapped();
    let boot = h.events();
    let t = |i: usize| match &boot[i] {
        Event::Put(_, _, t) | Event::Primary(_, _, t) | Event::Publish(_, _, t) => *t,
        e => panic!("{e:?}"),
    };
    // Bootstrap: written, published, promoted once the 10s accept window passed.
    assert!(matches!(&boot[0], Event::Put(f, v, _) if f == "k" && v == "v1"));
    assert!(
        matches!(&boot[1], Event::Publish(p, keys, _) if p == "publish.jwks.p" && keys.len() == 1 && keys[0].kid == "v1")
    );
    assert!(matches!(&boot[2], Event::Primary(f, v, _) if f == "k" && v == "v1"));
    assert_eq!(boot.len(), 3);
    assert_eq!(t(2) - t(1), Duration::seconds(10));

    let passes = h.drive(&v2(), 20);
    assert!(passes <= 8, "{passes} passes");
    assert_rotated(&h);

    let events = h.events()[3..].to_vec();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::Put(_, v, _) => format!("put {v}"),
            Event::Publish(_, keys, _) => format!(
                "publish {}",
                keys.iter()
                    .map(|k| k.kid.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Event::Primary(_, v, _) => format!("primary {v}"),
            Event::Disable(_, v, _) => format!("disable {v}"),
            Event::Enable(_, v, _) => format!("enable {v}"),
            Event::Destroy(_, v, _) => format!("destroy {v}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "put v2",
            "publish v1,v2",
            "primary v2",
            "disable v1",
            "publish v2",
            "destroy v1"
        ]
    );
    let at = |i: usize| events[i].at();
    assert_eq!(at(2) - at(1), Duration::seconds(10), "accept window");
    assert_eq!(at(3) - at(2), Duration::seconds(30), "overlap");
    assert_eq!(at(5) - at(3), Duration::seconds(7 * 86_400), "grace period");

    // Evidence recorded for every gate.
    let s = h.state();
    let v2s = s.version("k", "v2").unwrap();
    assert_eq!(v2s.accepted["api"].outcome, Outcome::Passed);
    assert_eq!(v2s.emitted["auth"].outcome, Outcome::Assumed);
    let v1s = s.version("k", "v1").unwrap();
    assert!(v1s.drained_at.is_some() && v1s.disabled_at.is_some() && v1s.destroyed_at.is_some());
}

#[test]
fn applying_the_same_plan_again_does_nothing_twice() {
    let mut h = Harness::new();
    let r = v1();
    let plan = h.checked_plan(&r);
    let first = h.apply(&r, &plan);
    assert_eq!(first.ran(), 2, "create and publish: {first:#?}");
    let again = h.apply(&r, &plan);
    assert_eq!(again.ran(), 0, "{again:#?}");
    assert!(matches!(outcomes(&again)[0].1, StepOutcome::AlreadyDone));
    assert!(matches!(outcomes(&again)[1].1, StepOutcome::AlreadyDone));
    assert!(matches!(outcomes(&again)[2].1, StepOutcome::Waiting { .. }));
    assert!(matches!(outcomes(&again)[3].1, StepOutcome::Blocked));
    assert_eq!(puts(&h.events(), "v1"), 1);
}

#[test]
fn a_failing_probe_keeps_the_family_before_its_promote() {
    let mut h = bootstrapped();
    let r = v2();
    h.set_probe("api", 0, false);
    for _ in 0..5 {
        let (plan, report) = h.pass(&r);
        let accept = step_id(&plan.families[0].steps, |a| {
            matches!(a, Action::AwaitAccept { .. })
        });
        let outcome = &outcomes(&report)[accept - 1].1;
        match outcome {
            StepOutcome::Waiting {
                gate,
                until,
                detail,
            } => {
                assert_eq!(gate, "command probe accept.api");
                assert_eq!(*until, None);
                assert!(detail.contains("exit 1"), "{detail}");
            }
            o => panic!("{o:?}"),
        }
        assert!(!report.failed());
        h.advance(60);
    }
    let events = h.events();
    assert_eq!(primary_time(&events, "v2"), None, "{events:#?}");
    assert!(!events.iter().any(|e| matches!(e, Event::Disable(..))));
    let s = h.state();
    let v2s = s.version("k", "v2").unwrap();
    assert!(v2s.accepted.is_empty());
    assert_eq!(v2s.last_attempt["accept.api"].outcome, Outcome::Failed);
    // The plan explains the wait.
    let plan = h.checked_plan(&r);
    let accept = plan.families[0]
        .steps
        .iter()
        .find(|s| matches!(s.action, Action::AwaitAccept { .. }))
        .unwrap();
    assert!(
        accept.gates.iter().any(|g| g.detail.contains("exit 1")),
        "{:?}",
        accept.gates
    );

    // Once it passes, the rotation completes.
    h.set_probe("api", 0, true);
    h.drive(&r, 20);
    assert_rotated(&h);
}

#[test]
fn a_failing_probe_fails_the_family_past_within_when_waiting() {
    let with_within = |versions: &[&str], active| {
        load(&spec_with(
            versions,
            active,
            r#"verify "command" {
    command = ["true"]
    within  = "1m"
  }"#,
        ))
    };
    let mut h = Harness::new();
    h.drive(&with_within(&["v1"], "v1"), 20);
    let r = with_within(&["v2"], "v2");
    h.set_probe("api", 0, false);
    let t0 = h.now();

    let plan = h.checked_plan(&r);
    h.advance(30);
    let report = h.apply_with(&r, &plan, Some(t0));
    assert!(!report.failed(), "{report:#?}");
    // `within` counts from the publication (t0 + 30s), not from the run's start.
    h.advance(31);
    let report = h.apply_with(&r, &plan, Some(t0));
    assert!(!report.failed(), "{report:#?}");
    h.advance(30);
    let report = h.apply_with(&r, &plan, Some(t0));
    assert!(report.failed(), "{report:#?}");
    let accept = step_id(&plan.families[0].steps, |a| {
        matches!(a, Action::AwaitAccept { .. })
    });
    match &outcomes(&report)[accept - 1].1 {
        StepOutcome::Failed { error, hint } => {
            assert!(error.contains("did not pass for v2 within 1m"), "{error}");
            assert!(error.contains("consumer.api"), "{error}");
            assert!(hint.contains("nothing was promoted"), "{hint}");
        }
        o => panic!("{o:?}"),
    }
    // Everything after it is blocked; nothing was promoted or revoked.
    assert!(
        outcomes(&report)[accept..]
            .iter()
            .all(|(_, o)| *o == StepOutcome::Blocked)
    );
    assert_eq!(primary_time(&h.events(), "v2"), None);
    assert_eq!(
        h.state()
            .family("k")
            .unwrap()
            .active
            .as_ref()
            .map(|v| v.as_str()),
        Some("v1")
    );
}

#[test]
fn a_manual_gate_waits_for_an_approval() {
    let manual =
        |versions: &[&str], active| load(&spec_with(versions, active, r#"verify "manual" {}"#));
    let mut h = Harness::new();
    let r = manual(&["v1"], "v1");
    for _ in 0..4 {
        let (plan, report) = h.pass(&r);
        let accept = step_id(&plan.families[0].steps, |a| {
            matches!(a, Action::AwaitAccept { .. })
        });
        let gate = plan.families[0].steps[accept - 1]
            .gates
            .iter()
            .find(|g| g.kind == crate::plan::GateKind::Manual)
            .expect("manual gate");
        assert_eq!(gate.status, crate::plan::GateStatus::Pending);
        assert!(gate.detail.contains("rotor approve"), "{}", gate.detail);
        match &outcomes(&report)[accept - 1].1 {
            StepOutcome::Waiting { gate, .. } => assert_eq!(gate, "manual approval accept.api"),
            o => panic!("{o:?}"),
        }
        h.advance(600);
    }
    assert_eq!(primary_time(&h.events(), "v1"), None);

    // `rotor approve k v1 accept.api`.
    let mut s = h.state();
    s.families
        .get_mut("k")
        .unwrap()
        .versions
        .get_mut("v1")
        .unwrap()
        .approvals
        .insert(
            "accept.api".into(),
            Approval {
                at: h.now(),
                by: "alice@laptop".into(),
            },
        );
    h.save(&s);
    let plan = h.checked_plan(&r);
    let gate = plan.families[0].steps[0]
        .gates
        .iter()
        .find(|g| g.kind == crate::plan::GateKind::Manual)
        .unwrap();
    assert_eq!(gate.status, crate::plan::GateStatus::Open);
    assert!(gate.detail.contains("alice@laptop"));
    h.drive(&r, 10);
    let s = h.state();
    assert_eq!(
        s.version("k", "v1").unwrap().accepted["api"].outcome,
        Outcome::Approved
    );
    assert!(primary_time(&h.events(), "v1").is_some());
}

#[test]
fn resuming_after_a_crash_at_any_save_creates_nothing_twice() {
    let r = v2();
    let mut crashes = 0;
    for k in 0.. {
        let mut h = bootstrapped();
        h.crash_after_saves(k);
        let mut crashed = false;
        for _ in 0..30 {
            let plan = h.checked_plan(&r);
            if plan.is_empty() {
                break;
            }
            let report = h.apply(&r, &plan);
            if report.failed() {
                let failure = outcomes(&report)
                    .iter()
                    .find_map(|(_, o)| match o {
                        StepOutcome::Failed { error, .. } => Some(error.clone()),
                        _ => None,
                    })
                    .unwrap();
                assert!(failure.contains("could not save state"), "{failure}");
                crashed = true;
                break;
            }
            match report.next_window() {
                Some(t) if t > h.now() => h.clock.set(t),
                _ => h.advance(1),
            }
        }
        h.heal();
        if k == 0 {
            // The material was written before the crash: the next plan adopts it.
            let plan = h.checked_plan(&r);
            let create = &plan.families[0].steps[0];
            assert_eq!(
                create.action.verb(),
                "adopt",
                "{:#?}",
                plan.families[0].steps
            );
        }
        h.drive(&r, 30);
        assert_rotated(&h);
        if !crashed {
            break;
        }
        crashes += 1;
    }
    // Create, publish, accept, promote, emit, hold, revoke, publish and destroy each save.
    assert!(crashes >= 9, "only {crashes} crash points");
}

#[test]
fn a_store_going_down_fails_the_family_and_the_next_apply_resumes() {
    let mut h = bootstrapped();
    let r = v2();
    h.stores["store.file.x"].down.store(true, Ordering::SeqCst);
    let plan = h.checked_plan(&r);
    let report = h.apply(&r, &plan);
    assert!(report.failed());
    match &outcomes(&report)[0].1 {
        StepOutcome::Failed { error, hint } => {
            assert!(error.contains("writing v2 to store.file.x"), "{error}");
            assert!(error.contains("store.file.x is down"), "{error}");
            assert!(hint.contains("rotor apply"), "{hint}");
        }
        o => panic!("{o:?}"),
    }
    assert!(
        outcomes(&report)[1..]
            .iter()
            .all(|(_, o)| *o == StepOutcome::Blocked)
    );
    assert!(h.state().version("k", "v2").is_none());

    // Back up: the next apply resumes.
    h.stores["store.file.x"].down.store(false, Ordering::SeqCst);
    h.pass(&r);

    // Down again in the middle, at the promote.
    h.stores["store.file.x"].down.store(true, Ordering::SeqCst);
    h.advance(10);
    let plan = h.checked_plan(&r);
    let report = h.apply(&r, &plan);
    assert!(report.failed(), "{report:#?}");
    let promote = step_id(&plan.families[0].steps, |a| {
        matches!(a, Action::Promote { .. })
    });
    assert!(
        matches!(&outcomes(&report)[promote - 1].1, StepOutcome::Failed { error, .. } if error.contains("promoting v2")),
        "{report:#?}"
    );
    assert_eq!(
        h.state()
            .family("k")
            .unwrap()
            .active
            .as_ref()
            .map(|v| v.as_str()),
        Some("v1")
    );

    h.stores["store.file.x"].down.store(false, Ordering::SeqCst);
    h.drive(&r, 20);
    assert_rotated(&h);
}

#[test]
fn a_family_without_consumers_or_publishers_rotates() {
    let spec = |versions: &[&str], active: &str| {
        let vs: String = versions
            .iter()
            .map(|v| format!("version \"{v}\" {{}}\n"))
            .collect();
        load(&format!(
            r#"store "file" "x" {{ path = "s" }}
secret "db" {{
  owner   = "team"
  store   = store.file.x
  cadence = "30d"
  destroy_after = "1h"
  generate "random" {{ length = 32 }}
  {vs}
  active = "{active}"
}}"#
        ))
    };
    let mut h = Harness::new();
    h.drive(&spec(&["a"], "a"), 10);
    h.drive(&spec(&["b"], "b"), 10);
    let s = h.state();
    assert_eq!(
        s.family("db").unwrap().active.as_ref().map(|v| v.as_str()),
        Some("b")
    );
    assert_eq!(s.version("db", "a").unwrap().phase, Phase::Destroyed);
    assert_eq!(s.version("db", "b").unwrap().phase, Phase::Active);
}

#[test]
fn a_revoked_version_declared_again_is_restored() {
    let mut h = bootstrapped();
    let r = v2();
    // Run until v1 is revoked but not destroyed.
    for _ in 0..10 {
        h.pass(&r);
        if h.state().version("k", "v1").unwrap().phase == Phase::Revoked {
            break;
        }
    }
    assert_eq!(h.state().version("k", "v1").unwrap().phase, Phase::Revoked);
    let back = load(&basic_spec(&["v1", "v2"], "v1"));
    let plan = h.checked_plan(&back);
    let fp = only_family(&plan);
    assert_eq!(fp.steps[0].action.verb(), "restore");
    h.drive(&back, 20);
    let s = h.state();
    assert_eq!(
        s.family("k").unwrap().active.as_ref().map(|v| v.as_str()),
        Some("v1")
    );
    assert_eq!(s.version("k", "v1").unwrap().phase, Phase::Active);
    let events = h.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Enable(_, v, _) if v == "v1"))
    );
    assert_eq!(puts(&events, "v1"), 1);
    let mut kids = h.publishers["publish.jwks.p"].kids().unwrap();
    kids.sort();
    assert_eq!(kids, ["v1", "v2"]);
}

/// v1 is drained (its hold done) but its revoke fails (store down); then
/// `active` moves on to v3. The recorded drain is the proof the revoke needs:
/// it must not be refused until an overlap since v3's promote has passed.
#[test]
fn a_drained_version_whose_revoke_failed_is_revoked_after_a_later_promote() {
    let mut h = bootstrapped();
    let r = v2();
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
    assert!(h.state().version("k", "v1").unwrap().drained_at.is_some());
    h.stores["store.file.x"].down.store(false, Ordering::SeqCst);
    h.drive(&load(&basic_spec(&["v2", "v3"], "v3")), 20);
}

/// Found by the apply property: a restored version kept the `drained_at` of
/// its earlier life, so when it left again under a new `active` the planner
/// planned no hold while `check_revoke` demanded one, and every apply failed
/// with "refused" until the overlap had passed. Restore now clears it.
#[test]
fn a_restored_version_is_held_again_when_it_leaves() {
    let mut h = bootstrapped();
    let r = v2();
    for _ in 0..10 {
        if h.state().version("k", "v1").unwrap().phase == Phase::Revoked {
            break;
        }
        h.pass(&r);
    }
    assert!(h.state().version("k", "v1").unwrap().drained_at.is_some());
    // Declared again (restored, never promoted again), then dropped under a new active.
    h.drive(&load(&basic_spec(&["v1", "v2"], "v2")), 20);
    let v1 = h.state().version("k", "v1").cloned().unwrap();
    assert_eq!(v1.phase, Phase::Accepted);
    assert_eq!(v1.drained_at, None);
    let r3 = load(&basic_spec(&["v2", "v3"], "v3"));
    let plan = h.checked_plan(&r3);
    assert!(
        verbs(&plan.families[0].steps).contains(&"hold v1 for v3".to_string()),
        "{:?}",
        verbs(&plan.families[0].steps)
    );
    h.drive(&r3, 20);
    assert_eq!(
        h.state().version("k", "v1").unwrap().phase,
        Phase::Destroyed
    );
}

/// A consumer's `hold_until` keeps the old version until that time, past the
/// overlap; the plan shows it as a gate and the revoke happens after it.
#[test]
fn hold_until_keeps_the_old_version_past_the_overlap() {
    let hold = r#"hold_until  = "2026-11-27"
  hold_reason = "app 4.2 in the field caches keys for a day"
  verify "command" { command = ["true"] }"#;
    let mut h = Harness::new();
    h.drive(&load(&spec_with(&["v1"], "v1", hold)), 20);
    let r = load(&spec_with(&["v2"], "v2", hold));
    let plan = h.checked_plan(&r);
    let gate = plan.families[0]
        .steps
        .iter()
        .flat_map(|s| &s.gates)
        .find(|g| g.name == "hold_until")
        .expect("a hold_until gate");
    assert!(gate.detail.contains("app 4.2"), "{gate:?}");
    let until = Timestamp::parse_date("2026-11-27").unwrap();
    assert_eq!(gate.opens_at, Some(until));
    h.drive(&r, 40);
    let disabled = h
        .events()
        .iter()
        .find_map(|e| match e {
            Event::Disable(_, v, t) if v == "v1" => Some(*t),
            _ => None,
        })
        .expect("v1 revoked in the end");
    assert!(disabled >= until, "revoked at {disabled} before {until}");
}

/// A store that yields once inside every call and counts calls in flight.
struct Counting {
    inner: Arc<crate::testing::FakeStore>,
    in_flight: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
}

impl Counting {
    async fn around<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        YieldOnce(false).await;
        let out = call.await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

/// Pending once, then ready: lets other tasks of a `buffer_unordered` run.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

#[async_trait::async_trait]
impl crate::Store for Counting {
    fn address(&self) -> &str {
        self.inner.address()
    }
    async fn read(
        &self,
        f: &crate::FamilyName,
    ) -> Result<crate::provider::LiveFamily, ProviderError> {
        self.around(self.inner.read(f)).await
    }
    async fn put(
        &self,
        f: &crate::FamilyName,
        v: &crate::provider::NewVersion<'_>,
    ) -> Result<(), ProviderError> {
        self.around(self.inner.put(f, v)).await
    }
    async fn set_primary(
        &self,
        f: &crate::FamilyName,
        id: &crate::VersionId,
    ) -> Result<(), ProviderError> {
        self.around(self.inner.set_primary(f, id)).await
    }
    async fn disable(
        &self,
        f: &crate::FamilyName,
        id: &crate::VersionId,
    ) -> Result<(), ProviderError> {
        self.around(self.inner.disable(f, id)).await
    }
    async fn enable(
        &self,
        f: &crate::FamilyName,
        id: &crate::VersionId,
    ) -> Result<(), ProviderError> {
        self.around(self.inner.enable(f, id)).await
    }
    async fn destroy(
        &self,
        f: &crate::FamilyName,
        id: &crate::VersionId,
    ) -> Result<(), ProviderError> {
        self.around(self.inner.destroy(f, id)).await
    }
    async fn public_keys(
        &self,
        f: &crate::FamilyName,
    ) -> Result<Vec<crate::provider::PublicKey>, ProviderError> {
        self.around(self.inner.public_keys(f)).await
    }
}

#[test]
fn parallelism_bounds_the_provider_calls_in_flight_across_families() {
    use crate::Store;
    // Twelve families in one store, no consumers: each is created and promoted.
    let mut text = String::from("store \"file\" \"x\" {\n  path = \".rotor/secrets\"\n}\n");
    for i in 0..12 {
        text.push_str(&format!(
            "secret \"k{i}\" {{\n  owner = \"t\"\n  store = store.file.x\n  cadence = \"90d\"\n  overlap = \"30s\"\n  destroy_after = \"7d\"\n  generate \"random\" {{}}\n  version \"v1\" {{}}\n  active = \"v1\"\n}}\n"
        ));
    }
    let r = load(&text);
    for parallelism in [1, 3, 8] {
        let mut h = Harness::new();
        h.wire(&r);
        let counting = Arc::new(Counting {
            inner: h.stores["store.file.x"].clone(),
            in_flight: Default::default(),
            max: Default::default(),
        });
        let mut providers = h.providers();
        providers
            .stores
            .insert("store.file.x".into(), counting.clone() as Arc<dyn Store>);
        let live = block_on(crate::refresh::refresh(&r, &providers, parallelism));
        let plan = crate::plan::plan(&r, &h.state(), &live, h.now());
        let plan = crate::safety::CheckedPlan::check(&r, &h.state(), plan).unwrap();
        let recorder = crate::apply::Recorder::new(h.state(), &h.backend);
        let report = block_on(crate::apply::apply(
            &r,
            &plan,
            &providers,
            &recorder,
            &crate::apply::Silent,
            &crate::apply::ApplyOptions::new(parallelism),
        ));
        assert!(!report.failed(), "{report:#?}");
        assert_eq!(
            counting.max.load(Ordering::SeqCst),
            parallelism,
            "calls in flight with --parallelism {parallelism}"
        );
        assert_eq!(
            h.events().len(),
            12 * 2,
            "every family created and promoted"
        );
    }
}
