//! Engine tests: planner, safety checker, apply executor, property tests and
//! spec diagnostics, over the in-memory fakes of [`crate::testing`].
//!
//! [`Harness`] wires fakes for a resolved spec and drives
//! refresh → plan → check → apply passes over a fake clock.

mod apply;
mod machine;
mod phases;
mod planner;
mod props;
mod safety;
mod spec;

use crate::apply::{ApplyOptions, ApplyReport, Recorder, Silent};
use crate::plan::{Action, FamilyPlan, Plan, Step};
use crate::provider::{Providers, StateBackend};
use crate::refresh::Live;
use crate::spec::Resolved;
use crate::state::State;
use crate::testing::{
    Event, EventLog, FakeClock, FakeGenerator, FakeProbe, FakePublisher, FakeStore, MemoryState,
};
use crate::time::{Duration, Timestamp};
use crate::{Clock, Diagnostics, SourceMap};
use futures_executor::block_on;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// 2026-11-26T14:00:00Z.
pub(crate) const T0: Timestamp = Timestamp(1_795_701_600_000);

/// Loads a one-file spec, returning the resolved spec (if any), the
/// diagnostics and the sources they point into.
pub(crate) fn try_load(text: &str) -> (Option<Resolved>, Diagnostics, SourceMap) {
    crate::spec::load(
        vec![(PathBuf::from("rotor.hcl"), text.to_string())],
        &|_| None,
    )
}

/// Loads a one-file spec that must have no errors.
pub(crate) fn load(text: &str) -> Resolved {
    let (r, diags, _) = try_load(text);
    match r {
        Some(r) => r,
        None => panic!(
            "spec does not load:\n{:#?}\n---\n{text}",
            diags.0.iter().filter(|d| d.is_error()).collect::<Vec<_>>()
        ),
    }
}

/// The spec most tests use: family `k` (EC) in `store.file.x`, published by
/// `publish.jwks.p`; verifier `api` (cache 10s, command probe, reads the JWKS)
/// and emitter `auth` (cache 5s, tokens 15s). Accept window 10s, floor 20s,
/// overlap 30s.
pub(crate) fn basic_spec(versions: &[&str], active: &str) -> String {
    spec_with(
        versions,
        active,
        r#"verify "command" { command = ["true"] }"#,
    )
}

/// [`basic_spec`] with another `verify` block (or none) on `api`.
pub(crate) fn spec_with(versions: &[&str], active: &str, api_verify: &str) -> String {
    let versions: String = versions
        .iter()
        .map(|v| format!("  version \"{v}\" {{}}\n"))
        .collect();
    format!(
        r#"store "file" "x" {{
  path = ".rotor/secrets"
}}

secret "k" {{
  owner         = "team-identity"
  store         = store.file.x
  cadence       = "90d"
  overlap       = "30s"
  destroy_after = "7d"
  generate "ec" {{}}
{versions}  active = "{active}"
}}

publish "jwks" "p" {{
  secret = secret.k
  path   = "public/jwks.json"
}}

consumer "api" {{
  accepts   = secret.k
  via       = publish.jwks.p
  cache_ttl = "10s"
  {api_verify}
}}

consumer "auth" {{
  emits     = secret.k
  cache_ttl = "5s"
  token_ttl = "15s"
}}
"#
    )
}

/// Fakes for every provider a spec names, a fake clock and an event log.
pub(crate) struct Harness {
    pub clock: Arc<FakeClock>,
    pub log: EventLog,
    pub stores: BTreeMap<String, Arc<FakeStore>>,
    pub publishers: BTreeMap<String, Arc<FakePublisher>>,
    pub probes: BTreeMap<(crate::ConsumerName, usize), Arc<FakeProbe>>,
    pub backend: MemoryState,
    pub generator: Arc<FakeGenerator>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            clock: FakeClock::at(T0),
            log: Arc::default(),
            stores: BTreeMap::new(),
            publishers: BTreeMap::new(),
            probes: BTreeMap::new(),
            backend: MemoryState::new(),
            generator: Arc::default(),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
    }

    pub fn events(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    /// Adds fakes for providers the spec names and the harness lacks.
    /// Probes (every non-manual `verify` block) start passing.
    pub fn wire(&mut self, r: &Resolved) {
        let clock: Arc<dyn Clock> = self.clock.clone();
        for s in &r.spec.stores {
            let addr = s.address();
            self.stores
                .entry(addr.clone())
                .or_insert_with(|| FakeStore::new(&addr, clock.clone(), self.log.clone()));
        }
        for p in &r.spec.publishers {
            let addr = p.address();
            self.publishers
                .entry(addr.clone())
                .or_insert_with(|| FakePublisher::new(&addr, clock.clone(), self.log.clone()));
        }
        for c in &r.spec.consumers {
            for (i, v) in c.verify.iter().enumerate() {
                if v.kind != "manual" {
                    self.probes
                        .entry((c.name.clone(), i))
                        .or_insert_with(|| FakeProbe::new(true));
                }
            }
        }
    }

    pub fn providers(&self) -> Providers {
        Providers {
            stores: self
                .stores
                .iter()
                .map(|(k, v)| (k.clone(), v.clone() as Arc<dyn crate::Store>))
                .collect(),
            publishers: self
                .publishers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone() as Arc<dyn crate::Publisher>))
                .collect(),
            probes: self
                .probes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone() as Arc<dyn crate::Probe>))
                .collect(),
            generator: self.generator.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The last saved state, or a new one.
    pub fn state(&self) -> State {
        self.backend
            .load()
            .expect("state loads")
            .unwrap_or_else(|| State::new("lineage-test".into()))
    }

    /// Replaces the saved state (as `rotor approve` or a person would).
    pub fn save(&self, state: &State) {
        self.backend.save(state).expect("state saves");
    }

    /// Swaps in a fresh backend holding the current state whose `k+1`-th save fails.
    pub fn crash_after_saves(&mut self, k: u64) {
        let state = self.backend.saved.lock().unwrap().clone();
        self.backend = MemoryState::new();
        *self.backend.saved.lock().unwrap() = state;
        self.backend.fail_after.store(k, Ordering::SeqCst);
    }

    /// Lets every save succeed again.
    pub fn heal(&self) {
        self.backend.fail_after.store(u64::MAX, Ordering::SeqCst);
    }

    pub fn set_probe(&self, consumer: &str, index: usize, passing: bool) {
        self.probes[&(consumer.into(), index)]
            .passing
            .store(passing, Ordering::SeqCst);
    }

    pub fn refresh(&mut self, r: &Resolved) -> Live {
        self.wire(r);
        block_on(crate::refresh::refresh(r, &self.providers(), 4))
    }

    /// Refresh and plan against the saved state.
    pub fn plan(&mut self, r: &Resolved) -> Plan {
        let live = self.refresh(r);
        crate::plan::plan(r, &self.state(), &live, self.now())
    }

    /// [`Harness::plan`], asserting the safety checker accepts it.
    pub fn checked_plan(&mut self, r: &Resolved) -> Plan {
        let plan = self.plan(r);
        let violations = crate::safety::check_plan(r, &self.state(), &plan);
        assert!(
            violations.is_empty(),
            "the planner made an unsafe plan: {violations:#?}\n{}",
            serde_json::to_string_pretty(&plan).unwrap()
        );
        plan
    }

    pub fn apply_with(
        &mut self,
        r: &Resolved,
        plan: &Plan,
        deadline_base: Option<Timestamp>,
    ) -> ApplyReport {
        self.wire(r);
        let state = self.state();
        let plan = crate::safety::CheckedPlan::check(r, &state, plan.clone())
            .unwrap_or_else(|v| panic!("applying an unsafe plan: {v:#?}"));
        let recorder = Recorder::new(state, &self.backend);
        block_on(crate::apply::apply(
            r,
            &plan,
            &self.providers(),
            &recorder,
            &Silent,
            &ApplyOptions {
                deadline_base,
                ..ApplyOptions::new(4)
            },
        ))
    }

    pub fn apply(&mut self, r: &Resolved, plan: &Plan) -> ApplyReport {
        self.apply_with(r, plan, None)
    }

    /// One pass: plan (checked), apply, then move the clock to the next
    /// window (or on by a second). Returns the plan and the report.
    pub fn pass(&mut self, r: &Resolved) -> (Plan, ApplyReport) {
        let plan = self.checked_plan(r);
        let report = self.apply(r, &plan);
        match report.next_window() {
            Some(t) if t > self.now() => self.clock.set(t),
            _ => self.advance(1),
        }
        (plan, report)
    }

    /// Drives a spec to completion: passes until the plan is empty. Panics on a
    /// failed step or when `max_passes` is not enough. Returns the passes run.
    pub fn drive(&mut self, r: &Resolved, max_passes: usize) -> usize {
        for n in 0..max_passes {
            let plan = self.checked_plan(r);
            if plan.is_empty() {
                return n;
            }
            let report = self.apply(r, &plan);
            assert!(!report.failed(), "apply failed: {report:#?}");
            match report.next_window() {
                Some(t) if t > self.now() => self.clock.set(t),
                _ => self.advance(1),
            }
        }
        let plan = self.plan(r);
        panic!(
            "not done after {max_passes} passes:\n{}",
            serde_json::to_string_pretty(&plan).unwrap()
        );
    }
}

/// The one family plan of a plan.
pub(crate) fn only_family(plan: &Plan) -> &FamilyPlan {
    assert_eq!(plan.families.len(), 1, "{plan:#?}");
    &plan.families[0]
}

/// Steps as `verb version` strings, for compact assertions.
pub(crate) fn verbs(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .map(|s| match &s.action {
            Action::Publish { publisher, .. } => format!("publish {publisher}"),
            Action::AwaitAccept { version, consumer } | Action::AwaitEmit { version, consumer } => {
                format!("{} {version} {consumer}", s.action.verb())
            }
            Action::Hold {
                retiring,
                successor,
            } => format!("hold {} for {successor}", retiring.join(",")),
            a => format!(
                "{} {}",
                a.verb(),
                a.version().map(|v| v.as_str()).unwrap_or_default()
            ),
        })
        .collect()
}

/// The id of the first step matching a predicate.
pub(crate) fn step_id(steps: &[Step], pred: impl Fn(&Action) -> bool) -> usize {
    steps
        .iter()
        .find(|s| pred(&s.action))
        .unwrap_or_else(|| panic!("no such step in {:#?}", verbs(steps)))
        .id
}
