//! Property tests over random specs and random states reached by driving
//! earlier random specs part of the way.
//!
//! - The planner: every plan it makes passes the safety checker.
//! - Apply: driving random spec changes to completion never breaks the
//!   promise, checked independently from the fakes' event log rather than
//!   from the engine's own state.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Version ids specs draw from.
const POOL: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
struct ConsumerGen {
    cache: i64,
    token: i64,
    probe: bool,
    via: bool,
}

/// One family. Its kind is fixed by its index so that it never changes
/// between specs: `f0` is EC and published as a JWKS, `f1` is a random
/// secret, `f2` is EC read straight from the store.
#[derive(Debug, Clone)]
struct FamilyGen {
    verifiers: Vec<ConsumerGen>,
    emitters: Vec<ConsumerGen>,
    /// The first emitter also accepts the family.
    both: bool,
    versions: Vec<&'static str>,
    active: &'static str,
    /// `None`: no `overlap` (the floor applies); `Some(x)`: floor + x seconds.
    overlap_extra: Option<i64>,
    destroy_after: String,
}

/// One apply pass: probe results (bit i for the i-th probe), then a clock
/// advance, after a jump to the next window if `jump`.
#[derive(Debug, Clone)]
struct PassGen {
    probes: u32,
    jump: bool,
    advance: i64,
}

/// A spec and the passes driven against it before the next spec replaces it.
#[derive(Debug, Clone)]
struct PhaseGen {
    families: Vec<FamilyGen>,
    passes: Vec<PassGen>,
}

fn consumer() -> impl Strategy<Value = ConsumerGen> {
    (0i64..=20, 0i64..=20, any::<bool>(), any::<bool>()).prop_map(|(cache, token, probe, via)| {
        ConsumerGen {
            cache,
            token,
            probe,
            via,
        }
    })
}

fn family() -> impl Strategy<Value = FamilyGen> {
    (
        prop::collection::vec(consumer(), 0..=3),
        prop::collection::vec(consumer(), 0..=2),
        any::<bool>(),
        1u8..16,
        any::<prop::sample::Index>(),
        prop::option::of(0i64..=30),
        prop_oneof![
            3 => (1i64..=60).prop_map(|s| format!("{s}s")),
            1 => Just("7d".to_string()),
        ],
    )
        .prop_map(
            |(verifiers, emitters, both, mask, active, overlap_extra, destroy_after)| {
                let versions: Vec<&'static str> = POOL
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, v)| *v)
                    .collect();
                let active = *active.get(&versions);
                FamilyGen {
                    verifiers,
                    emitters,
                    both,
                    versions,
                    active,
                    overlap_extra,
                    destroy_after,
                }
            },
        )
}

fn families() -> impl Strategy<Value = Vec<FamilyGen>> {
    prop::collection::vec(family(), 1..=3)
}

fn pass() -> impl Strategy<Value = PassGen> {
    (any::<u32>(), prop::bool::weighted(0.3), 0i64..=30).prop_map(|(probes, jump, advance)| {
        PassGen {
            probes,
            jump,
            advance,
        }
    })
}

fn phase() -> impl Strategy<Value = PhaseGen> {
    (families(), prop::collection::vec(pass(), 0..=5))
        .prop_map(|(families, passes)| PhaseGen { families, passes })
}

/// The HCL of a random spec.
fn render(families: &[FamilyGen]) -> String {
    let mut out = String::from("store \"file\" \"x\" {\n  path = \"s\"\n}\n");
    for (i, f) in families.iter().enumerate() {
        let name = format!("f{i}");
        let published = i == 0;
        let both = f.both && !f.emitters.is_empty();
        let accept = f
            .verifiers
            .iter()
            .chain(f.emitters.iter().take(usize::from(both)))
            .map(|c| c.cache)
            .max()
            .unwrap_or(0);
        let drain = f.emitters.iter().map(|c| c.cache).max().unwrap_or(0)
            + f.emitters.iter().map(|c| c.token).max().unwrap_or(0);
        let floor = accept.max(drain);
        out.push_str(&format!(
            "secret \"{name}\" {{\n  owner = \"team\"\n  store = store.file.x\n  cadence = \"30d\"\n  destroy_after = \"{}\"\n",
            f.destroy_after
        ));
        if let Some(extra) = f.overlap_extra {
            out.push_str(&format!("  overlap = \"{}s\"\n", floor + extra));
        }
        out.push_str(if i == 1 {
            "  generate \"random\" { length = 32 }\n"
        } else {
            "  generate \"ec\" {}\n"
        });
        for v in &f.versions {
            out.push_str(&format!("  version \"{v}\" {{}}\n"));
        }
        out.push_str(&format!("  active = \"{}\"\n}}\n", f.active));
        if published {
            out.push_str(&format!(
                "publish \"jwks\" \"{name}\" {{\n  secret = secret.{name}\n  path = \"{name}.json\"\n}}\n"
            ));
        }
        let consumer =
            |out: &mut String, cname: String, c: &ConsumerGen, accepts: bool, emits: bool| {
                out.push_str(&format!("consumer \"{cname}\" {{\n"));
                if accepts {
                    out.push_str(&format!("  accepts = secret.{name}\n"));
                    if published && c.via {
                        out.push_str(&format!("  via = publish.jwks.{name}\n"));
                    }
                }
                if emits {
                    out.push_str(&format!(
                        "  emits = secret.{name}\n  token_ttl = \"{}s\"\n",
                        c.token
                    ));
                }
                out.push_str(&format!("  cache_ttl = \"{}s\"\n", c.cache));
                if c.probe {
                    out.push_str("  verify \"command\" { command = [\"true\"] }\n");
                }
                out.push_str("}\n");
            };
        for (j, c) in f.verifiers.iter().enumerate() {
            consumer(&mut out, format!("{name}_v{j}"), c, true, false);
        }
        for (j, c) in f.emitters.iter().enumerate() {
            consumer(&mut out, format!("{name}_e{j}"), c, both && j == 0, true);
        }
    }
    out
}

/// A blocked family is acceptable only when a spec declares again a version
/// whose material was destroyed: a person must pick a new id.
fn assert_blocked_ok(plan: &Plan) {
    for f in &plan.families {
        if let Some(why) = &f.blocked {
            assert!(
                why.contains("its material was destroyed"),
                "{} blocked: {why}",
                f.family
            );
        }
    }
}

/// One random pass: set probes, plan (checked), apply, move the clock.
fn random_pass(h: &mut Harness, r: &Resolved, p: &PassGen) {
    h.wire(r);
    for (i, probe) in h.probes.values().enumerate() {
        probe
            .passing
            .store(p.probes >> (i % 32) & 1 == 1, Ordering::SeqCst);
    }
    let plan = h.checked_plan(r);
    assert_blocked_ok(&plan);
    let report = h.apply(r, &plan);
    assert!(!report.failed(), "apply failed: {report:#?}");
    if let Some(t) = report.next_window().filter(|t| p.jump && *t > h.now()) {
        h.clock.set(t);
    }
    h.advance(p.advance);
}

/// Drives to completion with every probe passing; families blocked on a
/// destroyed id are left as they are.
fn drive_settled(h: &mut Harness, r: &Resolved) {
    h.wire(r);
    for probe in h.probes.values() {
        probe.passing.store(true, Ordering::SeqCst);
    }
    for _ in 0..60 {
        let plan = h.checked_plan(r);
        assert_blocked_ok(&plan);
        if plan.families.iter().all(|f| f.steps.is_empty()) {
            return;
        }
        let report = h.apply(r, &plan);
        assert!(!report.failed(), "apply failed: {report:#?}");
        match report.next_window() {
            Some(t) if t > h.now() => h.clock.set(t),
            _ => h.advance(1),
        }
    }
    panic!(
        "not settled after 60 passes:\n{}",
        serde_json::to_string_pretty(&h.plan(r)).unwrap()
    );
}

#[derive(Default)]
struct FamilyTrack {
    /// Versions in the store's key set, with when they (last) entered it.
    enabled: BTreeMap<String, Timestamp>,
    /// The primary and when it became primary.
    primary: Option<(String, Timestamp)>,
    ever_primary: BTreeSet<String>,
    /// Versions that were primary and no longer are, with when they stopped.
    superseded: BTreeMap<String, Timestamp>,
    /// Per publisher: keys (kid and thumbprint) published, with since when continuously.
    published: BTreeMap<String, BTreeMap<crate::provider::ListedKey, Timestamp>>,
}

/// Checks the promise from the event log alone. `phases` gives, for each
/// spec in force, the index of the first event made under it.
fn check_promise(events: &[Event], phases: &[(usize, &Resolved)]) {
    let mut fams: BTreeMap<String, FamilyTrack> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let r = phases
            .iter()
            .rev()
            .find(|(start, _)| *start <= i)
            .expect("phase")
            .1;
        let t = e.at();
        let ctx = || format!("event {i} {e:?} in\n{events:#?}");
        match e {
            Event::Put(f, v, _) | Event::Enable(f, v, _) => {
                fams.entry(f.clone())
                    .or_default()
                    .enabled
                    .insert(v.clone(), t);
            }
            Event::Publish(p, kids, _) => {
                let f = r
                    .spec
                    .publishers
                    .iter()
                    .find(|x| &x.address() == p)
                    .and_then(|x| x.secret.as_ref())
                    .map(|s| s.path.join("."))
                    .expect("publisher in spec");
                let track = fams.entry(f).or_default();
                let doc = track.published.entry(p.clone()).or_default();
                let before = std::mem::take(doc);
                for k in kids {
                    let since = before.get(k).copied().unwrap_or(t);
                    doc.insert(k.clone(), since);
                }
            }
            Event::Primary(f, s, _) => {
                let track = fams.entry(f.clone()).or_default();
                let family = r.family_by_name(f.as_str()).expect("family in spec");
                let window = r.accept_window(family).length;
                let entered = track.enabled.get(s).copied();
                assert!(entered.is_some(), "primary {s} is not enabled: {}", ctx());
                assert!(
                    entered.unwrap() + window <= t,
                    "{s} promoted {} after it entered the store, before the accept window {window}: {}",
                    t - entered.unwrap(),
                    ctx()
                );
                for &p in &family.publishers {
                    let addr = r.spec.publishers[p].address();
                    let since = track
                        .published
                        .get(&addr)
                        .and_then(|d| d.iter().find(|(k, _)| k.kid == *s).map(|(_, t)| *t));
                    assert!(
                        since.is_some_and(|since| since + window <= t),
                        "{s} promoted before {addr} published it for {window} (since {since:?}): {}",
                        ctx()
                    );
                }
                if let Some((p, _)) = &track.primary
                    && p != s
                {
                    track.superseded.insert(p.clone(), t);
                }
                track.superseded.remove(s);
                track.primary = Some((s.clone(), t));
                track.ever_primary.insert(s.clone());
            }
            Event::Disable(f, v, _) => {
                let track = fams.entry(f.clone()).or_default();
                let family = r.family_by_name(f.as_str()).expect("family in spec");
                let (s, _) = track.primary.clone().expect("a primary before any disable");
                assert_ne!(&s, v, "the primary was disabled: {}", ctx());
                if track.ever_primary.contains(v) {
                    // Tokens signed with v stop being issued once emitters see its
                    // successor and expire after that: the overlap counts from then.
                    let overlap = r.overlap(family);
                    let since = track
                        .superseded
                        .get(v)
                        .copied()
                        .expect("superseded before disable");
                    assert!(
                        since + overlap <= t,
                        "{v} disabled {} after it stopped being the primary, within the overlap {overlap}: {}",
                        t - since,
                        ctx()
                    );
                }
                track.enabled.remove(v);
                assert!(
                    !track.enabled.is_empty(),
                    "no version left enabled: {}",
                    ctx()
                );
            }
            Event::Destroy(f, v, _) => {
                let track = fams.entry(f.clone()).or_default();
                assert!(
                    !track.enabled.contains_key(v),
                    "{v} destroyed while enabled: {}",
                    ctx()
                );
            }
        }
    }
}

/// After a drive to completion, the stores and publishers match the spec.
fn assert_converged(h: &mut Harness, r: &Resolved, gens: &[FamilyGen]) {
    let state = h.state();
    for (i, g) in gens.iter().enumerate() {
        let name = crate::FamilyName::from(format!("f{i}"));
        // A family blocked on a destroyed id keeps what it had.
        if g.versions.iter().any(|v| {
            state
                .version(&name, *v)
                .is_some_and(|s| s.phase == crate::Phase::Destroyed)
        }) {
            continue;
        }
        let live = block_on(crate::Store::read(&*h.stores["store.file.x"], &name)).unwrap();
        let enabled: Vec<&str> = live
            .versions
            .iter()
            .filter(|v| v.enabled)
            .map(|v| v.id.as_str())
            .collect();
        assert_eq!(enabled, g.versions, "{name}");
        assert_eq!(
            live.primary.as_ref().map(|v| v.as_str()),
            Some(g.active),
            "{name}"
        );
        assert_eq!(
            state
                .family(&name)
                .unwrap()
                .active
                .as_ref()
                .map(|v| v.as_str()),
            Some(g.active)
        );
        if i == 0 {
            let mut kids = h.publishers["publish.jwks.f0"].kids().unwrap_or_default();
            kids.sort();
            assert_eq!(kids, g.versions, "{name} JWKS");
        }
    }
    assert!(h.plan(r).families.iter().all(|f| f.steps.is_empty()));
}

/// The planner property, for one input.
fn plans_are_safe(phases: &[PhaseGen], last: &[FamilyGen]) {
    let mut h = Harness::new();
    for p in phases {
        let r = load(&render(&p.families));
        // checked_plan asserts; every pass plans once.
        for pass in &p.passes {
            random_pass(&mut h, &r, pass);
        }
    }
    let r = load(&render(last));
    let plan = h.checked_plan(&r);
    assert_blocked_ok(&plan);
}

/// The apply property, for one input.
fn promise_is_kept(phases: &[PhaseGen], last: &[FamilyGen]) {
    let mut h = Harness::new();
    let mut resolved: Vec<(usize, Resolved)> = Vec::new();
    for p in phases {
        let r = load(&render(&p.families));
        resolved.push((h.events().len(), r.clone()));
        for pass in &p.passes {
            random_pass(&mut h, &r, pass);
        }
    }
    let r = load(&render(last));
    resolved.push((h.events().len(), r.clone()));
    drive_settled(&mut h, &r);
    let phases: Vec<(usize, &Resolved)> = resolved.iter().map(|(i, r)| (*i, r)).collect();
    check_promise(&h.events(), &phases);
    assert_converged(&mut h, &r, last);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Every plan the planner makes, from any state reachable by driving
    /// earlier random specs part of the way, passes the safety checker.
    #[test]
    fn every_plan_passes_the_safety_checker(
        phases in prop::collection::vec(phase(), 1..=3),
        last in families(),
    ) {
        plans_are_safe(&phases, &last);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Driving random spec changes to completion never breaks the promise,
    /// as seen from the stores and publishers.
    #[test]
    fn apply_keeps_the_promise(
        phases in prop::collection::vec(phase(), 0..=3),
        last in families(),
    ) {
        promise_is_kept(&phases, &last);
    }
}

/// The promise checker itself catches a revoke inside the overlap.
#[test]
fn the_event_log_checker_catches_an_early_revoke() {
    let r = load(&basic_spec(&["v2"], "v2"));
    let t = |s: i64| T0 + Duration::seconds(s);
    let ev = |kind: &str, v: &str, s: i64| match kind {
        "put" => Event::Put("k".into(), v.into(), t(s)),
        "primary" => Event::Primary("k".into(), v.into(), t(s)),
        "disable" => Event::Disable("k".into(), v.into(), t(s)),
        _ => unreachable!(),
    };
    let publish = |kids: &[&str], s: i64| {
        Event::Publish(
            "publish.jwks.p".into(),
            kids.iter()
                .map(|k| crate::provider::ListedKey {
                    kid: k.to_string(),
                    thumbprint: format!("sha256:{k}"),
                })
                .collect(),
            t(s),
        )
    };
    let good = vec![
        ev("put", "v1", 0),
        publish(&["v1"], 0),
        ev("primary", "v1", 10),
        ev("put", "v2", 100),
        publish(&["v1", "v2"], 100),
        ev("primary", "v2", 110),
        ev("disable", "v1", 140),
    ];
    check_promise(&good, &[(0, &r)]);
    let run = |events: Vec<Event>| {
        std::panic::catch_unwind(|| check_promise(&events, &[(0, &r)])).is_err()
    };
    // Disabled 29s after the successor's promote: inside the 30s overlap.
    let mut early = good.clone();
    early[6] = ev("disable", "v1", 139);
    assert!(run(early));
    // Promoted 9s after it was published: inside the 10s accept window.
    let mut hasty = good.clone();
    hasty[5] = ev("primary", "v2", 109);
    hasty[6] = ev("disable", "v1", 200);
    assert!(run(hasty));
    // Never published at all.
    let mut unpublished = good.clone();
    unpublished[4] = publish(&["v1"], 100);
    assert!(run(unpublished));
}
