//! A model-based adversary: random sequences of what users, operators and
//! the world do to a rotation, driven through the session loop that ships
//! ([`crate::session::Session`]) over fakes and a fake clock, and judged by
//! an oracle that never reads rotor's state.
//!
//! The adversary edits the spec (rotate, retire, roll back, rename the
//! family, add and remove a publisher and consumers, shorten or lengthen the
//! overlap), approves manual gates (truthfully, as a careful person would),
//! loses the state, takes publishers down, restores a JWKS to older contents
//! outside rotor, crashes the store between two of its own writes and the
//! state backend between two saves, leaves an emitter stuck on an old key,
//! and moves the clock.
//!
//! The oracle models the consumers as the spec describes them. A verifier
//! caches its source (its `via` publisher, or the store's key set) for
//! `cache_ttl`: at any moment it may hold any snapshot taken within its
//! cache, so it holds a key only while the key (by thumbprint, under its
//! kid) was listed throughout that span. An emitter signs with the store's
//! primary as it saw it within its `cache_ttl` (or, while stuck, with the
//! key it is stuck on), and a token lives `token_ttl`. The promise, checked
//! from the fakes' event log alone: every token any emitter may present is
//! accepted by every verifier, and no version becomes primary before every
//! verifier holds its key.

use super::*;
use crate::apply::{ApplyOptions, ApplyReport, Recorder, Silent};
use crate::provider::{ListedKey, Probe, ProbeRequest, ProbeResult};
use crate::session::{End, Session, Waiter};
use crate::spec::ProbePhase;
use crate::state::Approval;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The consumers every spec draws from: (name, role, via). Their caches and
/// token lifetimes are drawn once per case and never change: the spec
/// describes real services.
const CONSUMERS: [(&str, Role, Option<&str>); 6] = [
    ("va", Role::Verifier { probe: true }, Some("p")),
    ("vq", Role::Verifier { probe: false }, Some("q")),
    ("vs", Role::Verifier { probe: false }, None),
    ("ea", Role::Emitter { probe: Gate::Probe }, None),
    (
        "em",
        Role::Emitter {
            probe: Gate::Manual,
        },
        None,
    ),
    ("en", Role::Emitter { probe: Gate::None }, None),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Gate {
    Probe,
    Manual,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Verifier { probe: bool },
    Emitter { probe: Gate },
}

/// Family names, in the order renames take them.
const NAMES: [&str; 6] = ["k", "k2", "k3", "k4", "k5", "k6"];

/// One consumer's real behaviour: seconds.
#[derive(Debug, Clone, Copy)]
struct Timing {
    cache: i64,
    token: i64,
}

/// The spec in force.
#[derive(Debug, Clone)]
struct SpecModel {
    family: &'static str,
    versions: Vec<u32>,
    active: u32,
    overlap_extra: i64,
    q: bool,
    present: BTreeSet<&'static str>,
}

impl SpecModel {
    fn declared(&self, consumer: &str) -> bool {
        self.present.contains(consumer) && (consumer != "vq" || self.q)
    }

    fn render(&self, timing: &BTreeMap<&str, Timing>) -> String {
        let f = self.family;
        let mut accept = 0;
        let (mut emit_cache, mut emit_token) = (0, 0);
        for (name, role, _) in CONSUMERS {
            if !self.declared(name) {
                continue;
            }
            let t = timing[name];
            match role {
                Role::Verifier { .. } => accept = accept.max(t.cache),
                Role::Emitter { .. } => {
                    emit_cache = emit_cache.max(t.cache);
                    emit_token = emit_token.max(t.token);
                }
            }
        }
        let floor = accept.max(emit_cache + emit_token);
        let mut out = format!(
            "store \"file\" \"x\" {{\n  path = \"s\"\n}}\nsecret \"{f}\" {{\n  owner = \"team\"\n  store = store.file.x\n  cadence = \"30d\"\n  destroy_after = \"3s\"\n  overlap = \"{}s\"\n  generate \"ec\" {{}}\n",
            floor + self.overlap_extra
        );
        for v in &self.versions {
            out.push_str(&format!("  version \"v{v}\" {{}}\n"));
        }
        out.push_str(&format!("  active = \"v{}\"\n}}\n", self.active));
        out.push_str(&format!(
            "publish \"jwks\" \"p\" {{\n  secret = secret.{f}\n  path = \"p.json\"\n}}\n"
        ));
        if self.q {
            out.push_str(&format!(
                "publish \"jwks\" \"q\" {{\n  secret = secret.{f}\n  path = \"q.json\"\n}}\n"
            ));
        }
        for (name, role, via) in CONSUMERS {
            if !self.declared(name) {
                continue;
            }
            let t = timing[name];
            out.push_str(&format!("consumer \"{name}\" {{\n"));
            match role {
                Role::Verifier { probe } => {
                    out.push_str(&format!("  accepts = secret.{f}\n"));
                    if let Some(via) = via {
                        out.push_str(&format!("  via = publish.jwks.{via}\n"));
                    }
                    if probe {
                        out.push_str("  verify \"command\" { command = [\"true\"] }\n");
                    }
                }
                Role::Emitter { probe } => {
                    out.push_str(&format!(
                        "  emits = secret.{f}\n  token_ttl = \"{}s\"\n",
                        t.token
                    ));
                    match probe {
                        Gate::Probe => {
                            out.push_str("  verify \"command\" { command = [\"true\"] }\n")
                        }
                        Gate::Manual => out.push_str("  verify \"manual\" {}\n"),
                        Gate::None => {}
                    }
                }
            }
            out.push_str(&format!("  cache_ttl = \"{}s\"\n}}\n", t.cache));
        }
        out
    }
}

/// What the adversary does next.
#[derive(Debug, Clone)]
enum Op {
    /// A new version, made active.
    Rotate,
    /// The oldest version that is not active leaves the spec.
    Retire,
    /// `active` points back at the previous declared version.
    Rollback,
    /// The family is renamed (same publishers, same consumers).
    Rename,
    /// The second publisher (and `vq`, which reads it) comes or goes.
    ToggleQ,
    /// A consumer comes or goes.
    ToggleConsumer(usize),
    /// The overlap above its floor, in seconds.
    Overlap(i64),
    /// One `rotor apply` (no `--wait`).
    Apply,
    /// One `rotor apply --wait`, bounded in rounds.
    ApplyWait,
    /// Every manual gate whose condition truly holds is approved.
    Approve,
    /// The clock moves on.
    Advance(i64),
    /// The state is lost (moved aside, deleted, another state file).
    LoseState,
    /// A publisher's writes fail, or work again.
    PublisherDown(bool, bool),
    /// Keep the JWKS as it is now, to restore later.
    SnapshotJwks,
    /// Restore the kept JWKS outside rotor.
    RestoreJwks,
    /// The store crashes after its n-th internal write from now.
    CrashStore(u64),
    /// The state backend fails its n-th save from now.
    CrashState(u64),
    /// `ea` stops picking up the primary (stuck on its key), or resumes.
    Stick(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Rotate),
        3 => Just(Op::Retire),
        2 => Just(Op::Rollback),
        1 => Just(Op::Rename),
        1 => Just(Op::ToggleQ),
        1 => (0usize..CONSUMERS.len()).prop_map(Op::ToggleConsumer),
        1 => (0i64..=6).prop_map(Op::Overlap),
        6 => Just(Op::Apply),
        3 => Just(Op::ApplyWait),
        2 => Just(Op::Approve),
        5 => (0i64..=12).prop_map(Op::Advance),
        1 => Just(Op::LoseState),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(q, d)| Op::PublisherDown(q, d)),
        1 => Just(Op::SnapshotJwks),
        1 => Just(Op::RestoreJwks),
        1 => (1u64..=4).prop_map(Op::CrashStore),
        1 => (0u64..=6).prop_map(Op::CrashState),
        1 => any::<bool>().prop_map(Op::Stick),
    ]
}

fn timing() -> impl Strategy<Value = BTreeMap<&'static str, Timing>> {
    prop::collection::vec((0i64..=6, 0i64..=6), CONSUMERS.len()).prop_map(|t| {
        CONSUMERS
            .iter()
            .zip(t)
            .map(|((name, _, _), (cache, token))| (*name, Timing { cache, token }))
            .collect()
    })
}

/// What the emitter `ea` does: follows the primary, or is stuck on a key.
#[derive(Default)]
struct EmitterState {
    stuck: Option<(String, String)>,
}

/// A probe that answers from the world itself, truthfully: an accept probe
/// passes when the consumer's source lists the version's key (by
/// thumbprint), an emit probe when the emitter signs with the version.
struct WorldProbe {
    consumer: &'static str,
    store: Arc<FakeStore>,
    publishers: BTreeMap<String, Arc<FakePublisher>>,
    emitter: Arc<Mutex<EmitterState>>,
}

#[async_trait::async_trait]
impl Probe for WorldProbe {
    fn kind(&self) -> &str {
        "command"
    }

    async fn check(&self, request: &ProbeRequest) -> ProbeResult {
        let key = (request.family.to_string(), request.version.to_string());
        let passed = match request.phase {
            ProbePhase::Accept => {
                let thumb = self.store.keys.lock().unwrap().get(&key).cloned();
                match CONSUMERS.iter().find(|c| c.0 == self.consumer).unwrap().2 {
                    Some(via) => self.publishers[&format!("publish.jwks.{via}")]
                        .keys()
                        .unwrap_or_default()
                        .iter()
                        .any(|k| Some(&k.thumbprint) == thumb.as_ref() && k.kid == request.kid),
                    None => self
                        .store
                        .lists(request.family.as_str(), request.version.as_str()),
                }
            }
            ProbePhase::Emit => {
                let signs = match &self.emitter.lock().unwrap().stuck {
                    Some(k) => Some(k.clone()),
                    None => self
                        .store
                        .served_primary(request.family.as_str())
                        .map(|p| (request.family.to_string(), p)),
                };
                signs == Some(key)
            }
            ProbePhase::Drain | ProbePhase::Guard => true,
        };
        ProbeResult {
            quotes: true,
            passed,
            detail: if passed { "exit 0" } else { "exit 1" }.into(),
        }
    }
}

/// A `--wait` that moves the fake clock instead of sleeping, and is
/// interrupted (as a person presses Ctrl-C) after a bounded number of
/// rounds: a manual gate nobody approves would wait forever.
struct FakeWait(Arc<FakeClock>, std::sync::atomic::AtomicU32);

#[async_trait::async_trait]
impl Waiter for FakeWait {
    async fn sleep_until(&self, until: Timestamp) -> Result<(), String> {
        if self.1.fetch_add(1, Ordering::SeqCst) >= 30 {
            return Err("interrupted".into());
        }
        if until > self.0.now() {
            self.0.set(until);
        }
        Ok(())
    }
}

/// Something that happened that the oracle must know: when the spec changed
/// (which consumers exist), and when the emitter got stuck or resumed.
#[derive(Debug, Clone)]
enum Mark {
    Spec(SpecModel),
    Stuck(Option<(String, String)>),
    /// A publisher's document was replaced outside rotor (the event at the
    /// mark's index).
    Tamper(String),
}

struct World {
    h: Harness,
    timing: BTreeMap<&'static str, Timing>,
    spec: SpecModel,
    next_version: u32,
    emitter: Arc<Mutex<EmitterState>>,
    /// (index of the first event after it, when, what).
    marks: Vec<(usize, Timestamp, Mark)>,
    jwks_snapshot: Option<(String, Option<Vec<ListedKey>>)>,
    resolved: Resolved,
}

impl World {
    fn new(timing: BTreeMap<&'static str, Timing>) -> World {
        let spec = SpecModel {
            family: "k",
            versions: vec![1],
            active: 1,
            overlap_extra: 1,
            q: false,
            present: CONSUMERS.iter().map(|c| c.0).collect(),
        };
        let resolved = load(&spec.render(&timing));
        let mut w = World {
            resolved,
            h: Harness::new(),
            timing,
            spec: spec.clone(),
            next_version: 2,
            emitter: Arc::default(),
            marks: Vec::new(),
            jwks_snapshot: None,
        };
        w.mark(Mark::Spec(spec));
        w
    }

    fn mark(&mut self, m: Mark) {
        let at = self.h.events().len();
        let now = self.h.now();
        self.marks.push((at, now, m));
    }

    fn resolved(&self) -> Resolved {
        self.resolved.clone()
    }

    fn set_spec(&mut self, spec: SpecModel) {
        // Only specs that load: an overlap below its floor is refused by
        // validate, and the adversary does not get to skip validate.
        let (r, _, _) = try_load(&spec.render(&self.timing));
        if let Some(r) = r {
            self.resolved = r;
            self.spec = spec;
            let s = self.spec.clone();
            self.mark(Mark::Spec(s));
        }
    }

    fn providers(&mut self, r: &Resolved) -> Providers {
        self.h.wire(r);
        let mut p = self.h.providers();
        let store = self.h.stores["store.file.x"].clone();
        p.probes = BTreeMap::new();
        for (name, role, _) in CONSUMERS {
            let probed = match role {
                Role::Verifier { probe } => probe,
                Role::Emitter { probe } => probe == Gate::Probe,
            };
            if probed && self.spec.declared(name) {
                p.probes.insert(
                    (name.into(), 0),
                    Arc::new(WorldProbe {
                        consumer: name,
                        store: store.clone(),
                        publishers: self.h.publishers.clone(),
                        emitter: self.emitter.clone(),
                    }) as Arc<dyn Probe>,
                );
            }
        }
        p
    }

    /// One `rotor apply`, as the CLI runs it: plan (checked), then the
    /// session. Returns how it ended, or `None` when a state save failed
    /// before anything ran (the CLI reports that and stops too).
    fn apply(&mut self, wait: bool) -> Option<End> {
        let r = self.resolved();
        let providers = self.providers(&r);
        let state = self.h.state();
        let plan = match block_on(crate::session::checked_plan(&r, &providers, &state, 4)) {
            Ok(p) => p,
            Err(v) => panic!("the planner made an unsafe plan: {v:#?}"),
        };
        if plan.is_empty() {
            return Some(End::Complete {
                report: ApplyReport::default(),
                ran: 0,
            });
        }
        let recorder = Recorder::new(state, &self.h.backend);
        let waiter = FakeWait(self.h.clock.clone(), Default::default());
        let now = self.h.now();
        let session = Session {
            resolved: &r,
            providers: &providers,
            recorder: &recorder,
            hook: &Silent,
            options: ApplyOptions {
                deadline_base: wait.then_some(now),
                ..ApplyOptions::new(4)
            },
            wait: wait.then_some(&waiter as &dyn Waiter),
        };
        // A waiting session with a stuck emitter would fail at its `within`
        // (10 minutes); that is an ending like any other.
        Some(block_on(session.run(plan)))
    }

    fn approve(&mut self) {
        // A careful person approves `emit.em` for the primary only when the
        // emitter `em` really signs with it: it follows the primary (never stuck).
        let r = self.resolved();
        let mut state = self.h.state();
        let family = self.spec.family;
        let Some(f) = state.families.get_mut(family) else {
            return;
        };
        let served = self.h.stores["store.file.x"].served_primary(family);
        let now = self.h.now();
        let em = self.timing["em"];
        for (id, v) in f.versions.iter_mut() {
            if Some(id.as_str()) == served.as_deref()
                && v.promoted_at
                    .is_some_and(|p| p + Duration::seconds(em.cache) <= now)
                && r.consumer("em").is_some()
            {
                v.approvals.insert(
                    "emit.em".into(),
                    Approval {
                        at: now,
                        by: "adversary".into(),
                    },
                );
            }
        }
        // A failing backend refuses the approval, as it would `rotor approve`.
        let _ = crate::StateBackend::save(&self.h.backend, &state);
    }

    fn run(&mut self, op: &Op) {
        let mut spec = self.spec.clone();
        match op {
            Op::Rotate => {
                let v = self.next_version;
                self.next_version += 1;
                spec.versions.push(v);
                spec.active = v;
                self.set_spec(spec);
            }
            Op::Retire => {
                if let Some(pos) = spec.versions.iter().position(|v| *v != spec.active) {
                    spec.versions.remove(pos);
                    self.set_spec(spec);
                }
            }
            Op::Rollback => {
                if let Some(prev) = spec
                    .versions
                    .iter()
                    .rev()
                    .find(|v| **v != spec.active)
                    .copied()
                {
                    spec.active = prev;
                    self.set_spec(spec);
                }
            }
            Op::Rename => {
                // Always to a name never used: renaming back onto a family
                // whose store and key set another name has since rewritten is
                // two families sharing one key set over time, which no spec
                // check can see. (Validate refuses two at once.)
                let pos = NAMES.iter().position(|n| *n == spec.family).unwrap();
                if let Some(next) = NAMES.get(pos + 1) {
                    spec.family = next;
                    self.set_spec(spec);
                }
            }
            Op::ToggleQ => {
                spec.q = !spec.q;
                self.set_spec(spec);
            }
            Op::ToggleConsumer(i) => {
                let name = CONSUMERS[*i].0;
                if !spec.present.remove(name) {
                    spec.present.insert(name);
                }
                self.set_spec(spec);
                // A consumer taken out of the spec is gone (decommissioned);
                // declared again, it is a fresh deployment that reads the
                // primary anew, not one still stuck on an old key.
                if name == "ea"
                    && !self.spec.declared("ea")
                    && self.emitter.lock().unwrap().stuck.is_some()
                {
                    self.emitter.lock().unwrap().stuck = None;
                    self.mark(Mark::Stuck(None));
                }
            }
            Op::Overlap(extra) => {
                spec.overlap_extra = *extra;
                self.set_spec(spec);
            }
            Op::Apply => {
                self.apply(false);
            }
            Op::ApplyWait => {
                self.apply(true);
            }
            Op::Approve => self.approve(),
            Op::Advance(s) => self.h.advance(*s),
            Op::LoseState => {
                self.h.backend = crate::testing::MemoryState::new();
            }
            Op::PublisherDown(q, down) => {
                let addr = if *q {
                    "publish.jwks.q"
                } else {
                    "publish.jwks.p"
                };
                if let Some(p) = self.h.publishers.get(addr) {
                    p.down.store(*down, Ordering::SeqCst);
                }
            }
            Op::SnapshotJwks => {
                let p = &self.h.publishers.get("publish.jwks.p");
                self.jwks_snapshot = p.map(|p| ("publish.jwks.p".to_string(), p.keys()));
            }
            Op::RestoreJwks => {
                if let Some((addr, keys)) = self.jwks_snapshot.clone() {
                    self.mark(Mark::Tamper(addr.clone()));
                    self.h.publishers[&addr].tamper(keys);
                }
            }
            Op::CrashStore(n) => {
                if let Some(s) = self.h.stores.get("store.file.x") {
                    s.crash_in.store(*n, Ordering::SeqCst);
                }
            }
            Op::CrashState(n) => self.h.crash_after_saves(*n),
            Op::Stick(on) => {
                let family = self.spec.family;
                let stuck = if *on && self.spec.declared("ea") {
                    self.h
                        .stores
                        .get("store.file.x")
                        .and_then(|s| s.served_primary(family))
                        .map(|p| (family.to_string(), p))
                } else {
                    None
                };
                self.emitter.lock().unwrap().stuck = stuck.clone();
                self.mark(Mark::Stuck(stuck));
            }
        }
    }

    /// Heals everything and drives the spec to its end with `apply --wait`.
    fn settle(&mut self) {
        for p in self.h.publishers.values() {
            p.down.store(false, Ordering::SeqCst);
        }
        for s in self.h.stores.values() {
            s.crash_in.store(u64::MAX, Ordering::SeqCst);
        }
        self.h.heal();
        if self.emitter.lock().unwrap().stuck.is_some() {
            self.emitter.lock().unwrap().stuck = None;
            self.mark(Mark::Stuck(None));
        }
        let mut last = String::new();
        for _ in 0..40 {
            self.approve();
            let end = self.apply(true);
            last = match &end {
                Some(End::Failed { report, .. }) => format!("failed: {report:?}"),
                other => format!("{other:?}").chars().take(2000).collect(),
            };
            match end {
                Some(End::Complete { .. }) => {
                    let r = self.resolved();
                    let providers = self.providers(&r);
                    let plan = block_on(crate::session::checked_plan(
                        &r,
                        &providers,
                        &self.h.state(),
                        4,
                    ))
                    .unwrap();
                    if plan.is_empty() {
                        return;
                    }
                }
                Some(End::Blocked(b)) => {
                    assert!(
                        b.iter()
                            .all(|(_, why)| why.contains("material was destroyed")),
                        "blocked: {b:?}"
                    );
                    return;
                }
                _ => {}
            }
            self.h.advance(1);
        }
        panic!("the spec never settled: {:#?}\nlast: {last}", self.spec);
    }
}

/// Half-open intervals of time.
type Spans = Vec<(Timestamp, Timestamp)>;

const NEVER: Timestamp = Timestamp(i64::MAX / 4);

/// Whether `inner` lies within the union of `outer`.
fn covered(inner: (Timestamp, Timestamp), outer: &Spans) -> Option<Timestamp> {
    let (mut t, end) = inner;
    if t >= end {
        return None;
    }
    let mut outer = outer.clone();
    outer.sort();
    loop {
        let Some(next) = outer
            .iter()
            .filter(|(s, e)| *s <= t && t < *e)
            .map(|(_, e)| *e)
            .max()
        else {
            return Some(t);
        };
        if next >= end {
            return None;
        }
        t = next;
    }
}

/// The oracle. Reads the event log, the spec marks and the keys the store
/// was given; never rotor's state.
fn judge(w: &World) {
    let events = w.h.events();
    let end = w.h.now() + Duration::seconds(3600);
    let keys = w.h.stores["store.file.x"].keys.lock().unwrap().clone();
    let at = |i: usize| events[i].at();
    // Listing spans per source: (family, version) in the store's key set;
    // (kid, thumbprint) in a publisher's document.
    let mut store_open: BTreeMap<(String, String), Timestamp> = BTreeMap::new();
    let mut store_spans: BTreeMap<(String, String), Spans> = BTreeMap::new();
    let mut pub_open: BTreeMap<(String, ListedKey), Timestamp> = BTreeMap::new();
    let mut pub_spans: BTreeMap<(String, ListedKey), Spans> = BTreeMap::new();
    let mut primary: BTreeMap<String, (String, Timestamp)> = BTreeMap::new();
    let mut primary_spans: BTreeMap<String, Vec<(String, Timestamp, Timestamp)>> = BTreeMap::new();
    // Each promote, with since when (at that point in the log) the store and
    // each publisher listed the version's key: events at one instant keep
    // their order here.
    #[allow(clippy::type_complexity)]
    let mut promotions: Vec<(
        String,
        String,
        Timestamp,
        usize,
        Option<Timestamp>,
        BTreeMap<String, Timestamp>,
    )> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let t = at(i);
        match e {
            Event::Put(f, v, _) | Event::Enable(f, v, _) => {
                store_open.entry((f.clone(), v.clone())).or_insert(t);
            }
            Event::Disable(f, v, _) | Event::Destroy(f, v, _) => {
                if let Some(s) = store_open.remove(&(f.clone(), v.clone())) {
                    store_spans
                        .entry((f.clone(), v.clone()))
                        .or_default()
                        .push((s, t));
                }
            }
            Event::Publish(p, listed, _) => {
                let now: BTreeSet<&ListedKey> = listed.iter().collect();
                let gone: Vec<(String, ListedKey)> = pub_open
                    .keys()
                    .filter(|(a, k)| a == p && !now.contains(k))
                    .cloned()
                    .collect();
                for key in gone {
                    let s = pub_open.remove(&key).unwrap();
                    pub_spans.entry(key).or_default().push((s, t));
                }
                for k in listed {
                    pub_open.entry((p.clone(), k.clone())).or_insert(t);
                }
            }
            Event::Primary(f, v, _) => {
                if let Some((old, s)) = primary.insert(f.clone(), (v.clone(), t)) {
                    primary_spans
                        .entry(f.clone())
                        .or_default()
                        .push((old, s, t));
                }
                let thumb = keys
                    .get(&(f.clone(), v.clone()))
                    .cloned()
                    .unwrap_or_default();
                let listed = ListedKey {
                    kid: v.clone(),
                    thumbprint: thumb,
                };
                let by_publisher = pub_open
                    .iter()
                    .filter(|((_, k), _)| *k == listed)
                    .map(|((a, _), since)| (a.clone(), *since))
                    .collect();
                let in_store = store_open.get(&(f.clone(), v.clone())).copied();
                promotions.push((f.clone(), v.clone(), t, i, in_store, by_publisher));
            }
        }
    }
    for (k, s) in store_open {
        store_spans.entry(k).or_default().push((s, NEVER));
    }
    for (k, s) in pub_open {
        pub_spans.entry(k).or_default().push((s, NEVER));
    }
    for (f, (v, s)) in primary {
        primary_spans.entry(f).or_default().push((v, s, NEVER));
    }

    // Which consumers existed when, and of which family: from the spec marks.
    // A consumer exists from when it is declared (renamed families make new ones).
    // (consumer, family, from, to)
    let mut lives: Vec<(&str, &'static str, Timestamp, Timestamp)> = Vec::new();
    let specs: Vec<(Timestamp, usize, &SpecModel)> = w
        .marks
        .iter()
        .filter_map(|(i, t, m)| match m {
            Mark::Spec(s) => Some((*t, *i, s)),
            _ => None,
        })
        .collect();
    // Each life's bounds in event indices too: events at one instant keep their order.
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    for (name, _, _) in CONSUMERS {
        let mut open: Option<(&'static str, Timestamp, usize)> = None;
        for (t, i, s) in &specs {
            let here = s.declared(name).then_some(s.family);
            match (open, here) {
                (Some((f, _, _)), Some(g)) if f == g => {}
                (Some((f, since, from)), _) => {
                    lives.push((name, f, since, *t));
                    bounds.push((from, *i));
                    open = here.map(|g| (g, *t, *i));
                }
                (None, Some(g)) => open = Some((g, *t, *i)),
                (None, None) => {}
            }
        }
        if let Some((f, since, from)) = open {
            lives.push((name, f, since, NEVER));
            bounds.push((from, usize::MAX));
        }
    }
    // A verifier reading a publisher can verify nothing until that
    // publisher first writes a document: it starts with what it fetches then.
    // (Declaring a consumer of a file nobody wrote yet is not rotor's doing.)
    let first_write = |addr: &str, from: usize| -> (Timestamp, usize) {
        events
            .iter()
            .enumerate()
            .skip(from)
            .find_map(|(i, e)| match e {
                Event::Publish(p, _, _) if p == addr => Some((at(i), i)),
                _ => None,
            })
            .unwrap_or((NEVER, usize::MAX))
    };
    for (n, life) in lives.iter_mut().enumerate() {
        if let Some(via) = CONSUMERS.iter().find(|c| c.0 == life.0).unwrap().2 {
            let (t, i) = first_write(&format!("publish.jwks.{via}"), bounds[n].0);
            life.2 = t;
            bounds[n].0 = i;
        }
    }
    let stuck: Vec<(Timestamp, Option<(String, String)>)> = w
        .marks
        .iter()
        .filter_map(|(_, t, m)| match m {
            Mark::Stuck(k) => Some((*t, k.clone())),
            _ => None,
        })
        .collect();

    // A document replaced outside rotor breaks its readers until rotor
    // rewrites it and their caches pass: that outage is the tamperer's, and
    // is excused. (A promote still needs every verifier to hold the key.)
    let tampered: Vec<(String, Timestamp, Timestamp)> = w
        .marks
        .iter()
        .filter_map(|(i, t, m)| match m {
            Mark::Tamper(addr) => {
                let fixed = events
                    .iter()
                    .enumerate()
                    .skip(i + 1)
                    .find_map(|(j, e)| match e {
                        Event::Publish(p, _, _) if p == addr => Some(at(j)),
                        _ => None,
                    })
                    .unwrap_or(NEVER);
                Some((addr.clone(), *t, fixed))
            }
            _ => None,
        })
        .collect();
    let excused = |name: &str| -> Spans {
        let (_, _, via) = CONSUMERS.iter().find(|c| c.0 == name).unwrap();
        let cache = Duration::seconds(w.timing[name].cache);
        match via {
            Some(p) => tampered
                .iter()
                .filter(|(a, _, _)| *a == format!("publish.jwks.{p}"))
                .map(|(_, from, fixed)| {
                    (
                        *from,
                        if *fixed == NEVER {
                            NEVER
                        } else {
                            *fixed + cache
                        },
                    )
                })
                .collect(),
            None => Vec::new(),
        }
    };

    // What a verifier holds: per key, spans in which it surely holds it.
    let held = |name: &str, family: &str, from: Timestamp, version: &str| -> Spans {
        let (_, _, via) = CONSUMERS.iter().find(|c| c.0 == name).unwrap();
        let cache = Duration::seconds(w.timing[name].cache);
        let listed: Spans = match via {
            None => store_spans
                .get(&(family.to_string(), version.to_string()))
                .cloned()
                .unwrap_or_default(),
            Some(p) => {
                let Some(thumb) = keys.get(&(family.to_string(), version.to_string())) else {
                    return Vec::new();
                };
                let key = ListedKey {
                    kid: version.to_string(),
                    thumbprint: thumb.clone(),
                };
                pub_spans
                    .get(&(format!("publish.jwks.{p}"), key))
                    .cloned()
                    .unwrap_or_default()
            }
        };
        listed
            .into_iter()
            .filter_map(|(s, e)| {
                let start = if s <= from { from } else { s + cache };
                (start < e).then_some((start, e))
            })
            .collect()
    };

    for (ename, efam, efrom, eto) in lives.iter().filter(|l| {
        matches!(
            CONSUMERS.iter().find(|c| c.0 == l.0).unwrap().1,
            Role::Emitter { .. }
        )
    }) {
        let t = w.timing[ename];
        let (cache, token) = (Duration::seconds(t.cache), Duration::seconds(t.token));
        // Keys this emitter may present, with when.
        let mut presentable: Vec<(String, Timestamp, Timestamp)> = Vec::new();
        for (v, a, b) in primary_spans.get(*efam).into_iter().flatten() {
            let start = (*a).max(*efrom);
            let stop = if *b == NEVER {
                NEVER
            } else {
                *b + cache + token
            };
            let stop = stop.min(*eto);
            if start < stop {
                presentable.push((v.clone(), start, stop));
            }
        }
        if *ename == "ea" {
            // While stuck, it signs with the key it is stuck on; once it
            // resumes it reads the primary afresh.
            let mut since: Option<(Timestamp, (String, String))> = None;
            for (t, k) in stuck.iter().chain(std::iter::once(&(NEVER, None))) {
                if let Some((s, (f, v))) = since.take()
                    && f == *efam
                {
                    let stop = if *t == NEVER { NEVER } else { *t + token };
                    let (a, b) = (s.max(*efrom), stop.min(*eto));
                    if a < b {
                        presentable.push((v, a, b));
                    }
                }
                since = k.clone().map(|k| (*t, k));
            }
        }
        for (vname, vfam, vfrom, vto) in lives.iter().filter(|l| {
            matches!(
                CONSUMERS.iter().find(|c| c.0 == l.0).unwrap().1,
                Role::Verifier { .. }
            ) && l.1 == *efam
        }) {
            for (v, a, b) in &presentable {
                let span = ((*a).max(*vfrom), (*b).min(*vto).min(end));
                let mut spans = held(vname, vfam, *vfrom, v);
                spans.extend(excused(vname));
                if let Some(t) = covered(span, &spans) {
                    panic!(
                        "consumer.{vname} may reject a token consumer.{ename} signs with {efam}/{v} at {} (presentable {:?}..{:?}; {vname} holds it during {spans:?})\nevents: {events:#?}\nmarks: {:#?}",
                        t.0, a.0, b.0, w.marks
                    );
                }
            }
        }
    }

    // No version becomes primary before every verifier holds its key.
    for (f, v, t, index, in_store, by_publisher) in &promotions {
        for (n, (vname, vfam, vfrom, vto)) in lives.iter().enumerate().filter(|(_, l)| {
            matches!(
                CONSUMERS.iter().find(|c| c.0 == l.0).unwrap().1,
                Role::Verifier { .. }
            ) && l.1 == f.as_str()
        }) {
            let _ = (vfrom, vto);
            if *index < bounds[n].0 || *index >= bounds[n].1 {
                continue;
            }
            let (_, _, via) = CONSUMERS.iter().find(|c| c.0 == *vname).unwrap();
            let since = match via {
                None => *in_store,
                Some(p) => by_publisher.get(&format!("publish.jwks.{p}")).copied(),
            };
            let cache = Duration::seconds(w.timing[vname].cache);
            let holds = since.is_some_and(|s| s <= *vfrom || s + cache <= *t);
            assert!(
                holds,
                "{vfam}/{v} became primary at {} while consumer.{vname} does not hold it (listed since {since:?})\nevents: {events:#?}\nmarks: {:#?}",
                t.0, w.marks
            );
        }
    }
}

/// After settling: the store and the JWKS hold exactly the spec's versions,
/// the right keys, and the primary is `active`.
fn assert_converged(w: &World) {
    let family = w.spec.family;
    let store = &w.h.stores["store.file.x"];
    let live = block_on(crate::Store::read(&**store, &family.into())).unwrap();
    let state = w.h.state();
    if w.spec.versions.iter().any(|v| {
        state
            .version(family, format!("v{v}").as_str())
            .is_some_and(|s| s.phase == crate::Phase::Destroyed)
    }) {
        return; // blocked on a destroyed id: a person must pick a new one
    }
    let want: BTreeSet<String> = w.spec.versions.iter().map(|v| format!("v{v}")).collect();
    let enabled: BTreeSet<String> = live
        .versions
        .iter()
        .filter(|v| v.enabled && state.version(family, &v.id).is_some())
        .map(|v| v.id.to_string())
        .collect();
    assert_eq!(enabled, want, "store key set of {family}");
    assert_eq!(live.primary, Some(format!("v{}", w.spec.active).into()));
    // The JWKS lists every key the store holds enabled (rotor's and any it
    // leaves alone), each under its kid with its own key.
    let keys = store.keys.lock().unwrap().clone();
    let mut listed: Vec<ListedKey> = w.h.publishers["publish.jwks.p"].keys().unwrap();
    listed.sort();
    let mut expected: Vec<ListedKey> = live
        .versions
        .iter()
        .filter(|v| v.enabled)
        .map(|v| ListedKey {
            kid: v.id.to_string(),
            thumbprint: keys[&(family.to_string(), v.id.to_string())].clone(),
        })
        .collect();
    expected.sort();
    assert_eq!(listed, expected, "JWKS of publish.jwks.p");
}

fn adversary(timing: BTreeMap<&'static str, Timing>, ops: Vec<Op>) {
    let mut w = World::new(timing);
    w.settle();
    for op in &ops {
        w.run(op);
    }
    w.settle();
    judge(&w);
    assert_converged(&w);
}

fn cases() -> u32 {
    std::env::var("ROTOR_MACHINE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Whatever the adversary does through supported commands, no token an
    /// emitter may present is ever rejected by a verifier, and no version is
    /// promoted before every verifier holds its key.
    #[test]
    fn no_adversary_breaks_the_promise(timing in timing(), ops in prop::collection::vec(op(), 1..40)) {
        adversary(timing, ops);
    }
}

/// The oracle itself: a revoke inside the emitter's token lifetime is caught.
#[test]
fn the_oracle_catches_a_key_removed_while_tokens_live() {
    let covered_ok = covered(
        (Timestamp(10), Timestamp(20)),
        &vec![
            (Timestamp(0), Timestamp(15)),
            (Timestamp(15), Timestamp(30)),
        ],
    );
    assert_eq!(covered_ok, None);
    let gap = covered(
        (Timestamp(10), Timestamp(20)),
        &vec![
            (Timestamp(0), Timestamp(12)),
            (Timestamp(13), Timestamp(30)),
        ],
    );
    assert_eq!(gap, Some(Timestamp(12)));
}

fn zero_timing() -> BTreeMap<&'static str, Timing> {
    CONSUMERS
        .iter()
        .map(|(n, _, _)| (*n, Timing { cache: 0, token: 0 }))
        .collect()
}

/// Found by the adversary: a JWKS restored outside rotor after the rotation.
#[test]
fn a_jwks_restored_after_a_rotation_is_rewritten() {
    adversary(
        zero_timing(),
        vec![
            Op::SnapshotJwks,
            Op::Rotate,
            Op::Apply,
            Op::RestoreJwks,
            Op::Advance(1),
        ],
    );
}

/// Found by the adversary: a second publisher declared again after the state was lost.
#[test]
fn a_publisher_declared_again_after_a_lost_state() {
    adversary(
        zero_timing(),
        vec![
            Op::ToggleQ,
            Op::CrashState(0),
            Op::Apply,
            Op::Rotate,
            Op::Rotate,
            Op::LoseState,
            Op::ToggleQ,
            Op::Apply,
            Op::ToggleQ,
        ],
    );
}

/// Found by the 100,000-case run (a model artifact, not a rotor bug): an
/// emitter taken out of the spec while stuck, and declared again after its
/// key was revoked. A consumer that leaves the spec is decommissioned; one
/// declared again reads the primary anew.
#[test]
fn an_emitter_declared_again_is_a_fresh_deployment() {
    let mut timing = zero_timing();
    timing.insert("vs", Timing { cache: 1, token: 0 });
    adversary(
        timing,
        vec![
            Op::Rotate,
            Op::Rotate,
            Op::Stick(true),
            Op::ApplyWait,
            Op::ToggleConsumer(3),
            Op::Retire,
            Op::Approve,
            Op::ApplyWait,
            Op::ToggleConsumer(3),
            Op::Advance(1),
        ],
    );
}
