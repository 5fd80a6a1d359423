//! Inventory: where each family stands against its owner, cadence and review
//! date, and the checks that keep the inventory honest.
//!
//! Rotation is a habit only if someone notices when it lapses. [`status`]
//! answers "what is active, how old is it, what is in flight, when is the next
//! rotation due" for every family; [`check`] adds the inventory diagnostics
//! `rotor validate` reports (a missing review date, a consumer whose
//! acceptance would only be assumed, a review date in the past, a cadence
//! longer than the policy allows).
//!
//! Both are pure: the caller passes `now`.
//!
//! Longer than 600 lines because of its tests (from line ~435): the code
//! itself is about 430 lines.
//!
//! # JSON shape of a [`FamilyStatus`]
//!
//! ```json
//! {
//!   "family": "session_signing_key",
//!   "owner": "team-identity",
//!   "active": "2026-08",
//!   "active_age_seconds": 3600,
//!   "last_rotation": "2026-11-26T14:00:05.123Z",
//!   "cadence": "90d",
//!   "next_due": "2027-02-24T14:00:05.123Z",
//!   "review_by": "2027-02-01T00:00:00Z",
//!   "in_flight": {
//!     "version": "2026-11",
//!     "phase": "pending",
//!     "step": "accept 2026-11 by consumer.api_gateway",
//!     "gate": "cache window",
//!     "opens_at": "2026-11-26T14:00:07.123Z",
//!     "summary": "2026-11 pending: accept 2026-11 by consumer.api_gateway waits on cache window until 2026-11-26 14:00:07 UTC"
//!   },
//!   "blocked": null,
//!   "flags": ["due", "no_probe"]
//! }
//! ```
//!
//! Every key is always present; absent values are `null`. In `in_flight`,
//! `phase` is `null` for a version not created yet, and `step`, `gate` and
//! `opens_at` are `null` when there is no plan or no such gate.

use crate::diagnostics::{Diagnostic, Diagnostics, Severity};
use crate::names::{FamilyName, VersionId};
use crate::plan::{GateStatus, Plan, Step};
use crate::spec::{Family, ProbePhase, Resolved, SecretSpec};
use crate::state::{FamilyState, Phase, State};
use crate::time::{Duration, Timestamp};
use serde::Serialize;

/// How long before its next due time a family counts as due: seven days, so
/// that a weekly look at `rotor status` (or a daily `rotor status --due` job)
/// gives a team a working week to rotate. For a cadence shorter than four
/// weeks the window is a quarter of the cadence instead, so that a family
/// rotated on a short cadence is not "due" the moment it has rotated.
pub const DUE_SOON: Duration = Duration::seconds(7 * 86_400);

/// Something about a family worth a person's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Past the next due time (`promoted_at + cadence`).
    Overdue,
    /// Within the due window (see [`DUE_SOON`]) before the next due time.
    Due,
    /// Past the family's `review_by` date.
    ReviewPassed,
    /// A consumer has no probe for a role it plays: acceptance or emission is assumed.
    NoProbe,
    /// No `owner`.
    NoOwner,
    /// No `cadence`: never due.
    NoCadence,
    /// No consumer accepts or emits it.
    NoConsumers,
    /// The plan cannot proceed for this family (drift that needs a person).
    Blocked,
}

impl Flag {
    /// The snake_case name, as in JSON (`review_passed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Overdue => "overdue",
            Flag::Due => "due",
            Flag::ReviewPassed => "review_passed",
            Flag::NoProbe => "no_probe",
            Flag::NoOwner => "no_owner",
            Flag::NoCadence => "no_cadence",
            Flag::NoConsumers => "no_consumers",
            Flag::Blocked => "blocked",
        }
    }
}

/// A rotation under way: a declared version not active yet, or an old one
/// still to be revoked or destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InFlight {
    /// The version moving in or out.
    pub version: VersionId,
    /// Its phase in state; `None` when it has not been created yet.
    pub phase: Option<Phase>,
    /// The plan step it waits at: `accept 2026-11 by consumer.api_gateway`.
    pub step: Option<String>,
    /// The first gate of that step that is not open yet.
    pub gate: Option<String>,
    /// When that gate opens, for time windows.
    pub opens_at: Option<Timestamp>,
    /// One line for people.
    pub summary: String,
}

/// Where one family stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilyStatus {
    /// The family (secret) name.
    pub family: FamilyName,
    /// The spec's `owner`; `None` is flagged [`Flag::NoOwner`].
    pub owner: Option<String>,
    /// The active version, as recorded in state (not the spec's `active`).
    pub active: Option<VersionId>,
    /// How long the active version has been active at `now`; JSON writes
    /// it as `active_age_seconds`, in whole seconds.
    #[serde(rename = "active_age_seconds", serialize_with = "seconds")]
    pub active_age: Option<Duration>,
    /// When the active version was promoted: the last rotation. `None` before
    /// the first promote.
    pub last_rotation: Option<Timestamp>,
    /// The spec's `cadence`, written in JSON as people write it (`90d`).
    #[serde(serialize_with = "humane")]
    pub cadence: Option<Duration>,
    /// `last_rotation + cadence`; `None` without either.
    pub next_due: Option<Timestamp>,
    /// The spec's `review_by`; past it, [`Flag::ReviewPassed`].
    pub review_by: Option<Timestamp>,
    /// A rotation under way, if any.
    pub in_flight: Option<InFlight>,
    /// Why the plan is blocked for this family; `None` when it is not, or
    /// when no plan was given.
    pub blocked: Option<String>,
    /// Flags, in the order of [`Flag`].
    pub flags: Vec<Flag>,
}

impl FamilyStatus {
    /// Whether the family is due or overdue.
    pub fn is_due(&self) -> bool {
        self.flags.contains(&Flag::Due) || self.flags.contains(&Flag::Overdue)
    }
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_millis() / 1000)),
        None => s.serialize_none(),
    }
}

fn humane<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.to_string()),
        None => s.serialize_none(),
    }
}

/// The due window for a cadence: [`DUE_SOON`], or a quarter of a cadence
/// shorter than four weeks.
pub fn due_window(cadence: Duration) -> Duration {
    Duration(DUE_SOON.as_millis().min(cadence.as_millis() / 4))
}

/// Every family's status, in spec order. With a plan (made against the same
/// state), a family with steps shows the first gate it waits on; without one,
/// only what the state says is moving.
pub fn status(
    resolved: &Resolved,
    state: &State,
    plan: Option<&Plan>,
    now: Timestamp,
) -> Vec<FamilyStatus> {
    let empty = FamilyState::default();
    resolved
        .families
        .iter()
        .map(|family| {
            let secret = &resolved.spec.secrets[family.secret];
            let fstate = state.family(&secret.name).unwrap_or(&empty);
            let fplan = plan.and_then(|p| p.families.iter().find(|f| f.family == secret.name));
            let active = fstate.active.clone();
            let last_rotation = active
                .as_ref()
                .and_then(|a| fstate.versions.get(a))
                .and_then(|v| v.promoted_at);
            let cadence = secret.cadence.as_ref().map(|c| c.value);
            let next_due = last_rotation.zip(cadence).map(|(t, c)| t + c);
            let review_by = secret.review_by.as_ref().map(|r| r.value);
            let in_flight = match plan {
                Some(_) => fplan
                    .filter(|f| !f.steps.is_empty())
                    .and_then(|f| planned_flight(secret, fstate, &f.steps)),
                None => moving(secret, fstate).map(|(version, phase)| flight(version, phase)),
            };
            let blocked = fplan.and_then(|f| f.blocked.clone());

            let mut flags = Vec::new();
            if let (Some(due), Some(c)) = (next_due, cadence) {
                if now > due {
                    flags.push(Flag::Overdue);
                } else if due - now <= due_window(c) {
                    flags.push(Flag::Due);
                }
            }
            if review_by.is_some_and(|r| now > r) {
                flags.push(Flag::ReviewPassed);
            }
            if !unproven(resolved, family).is_empty() {
                flags.push(Flag::NoProbe);
            }
            if secret.owner.is_none() {
                flags.push(Flag::NoOwner);
            }
            if cadence.is_none() {
                flags.push(Flag::NoCadence);
            }
            if family.verifiers.is_empty() && family.emitters.is_empty() {
                flags.push(Flag::NoConsumers);
            }
            if blocked.is_some() {
                flags.push(Flag::Blocked);
            }

            FamilyStatus {
                family: secret.name.clone(),
                owner: secret.owner.clone(),
                active,
                active_age: last_rotation.map(|t| now - t),
                last_rotation,
                cadence,
                next_due,
                review_by,
                in_flight,
                blocked,
                flags,
            }
        })
        .collect()
}

/// The version a rotation is moving, by what spec and state say: the spec's
/// active version when it is not active yet, else a declared version not yet
/// created or accepted, else a version no longer declared that is not
/// destroyed yet (to be revoked or destroyed).
fn moving(secret: &SecretSpec, fstate: &FamilyState) -> Option<(VersionId, Option<Phase>)> {
    let phase = |id: &VersionId| fstate.versions.get(id).map(|v| v.phase);
    if let Some(a) = &secret.active
        && fstate.active.as_ref() != Some(&a.value)
    {
        return Some((a.value.clone(), phase(&a.value)));
    }
    if let Some(v) = secret
        .versions
        .iter()
        .find(|v| matches!(phase(&v.id), None | Some(Phase::Pending)))
    {
        return Some((v.id.clone(), phase(&v.id)));
    }
    fstate
        .versions
        .iter()
        .find(|(id, v)| !secret.declares(id) && v.phase != Phase::Destroyed)
        .map(|(id, v)| (id.clone(), Some(v.phase)))
}

fn flight(version: VersionId, phase: Option<Phase>) -> InFlight {
    let summary = format!("{version} {}", phase.map_or("new", Phase::as_str));
    InFlight {
        version,
        phase,
        step: None,
        gate: None,
        opens_at: None,
        summary,
    }
}

/// The in-flight view from a family's plan: the first step with a gate that
/// is not open yet (its first such gate), or the next step when none waits.
fn planned_flight(secret: &SecretSpec, fstate: &FamilyState, steps: &[Step]) -> Option<InFlight> {
    let gated = steps.iter().find_map(|s| {
        s.gates
            .iter()
            .find(|g| g.status == GateStatus::Pending)
            .map(|g| (s, g))
    });
    let step = gated.map(|(s, _)| s).or(steps.first())?;
    let (version, phase) = moving(secret, fstate).or_else(|| {
        let v = step.action.version()?.clone();
        let phase = fstate.versions.get(&v).map(|s| s.phase);
        Some((v, phase))
    })?;
    let mut f = flight(version, phase);
    let what = format!("{} {}", step.action.verb(), step.action.target());
    match gated {
        Some((_, gate)) => {
            f.summary = format!("{}: {what} waits on {}", f.summary, gate.name);
            if let Some(t) = gate.opens_at {
                f.summary.push_str(&format!(" until {}", t.human()));
            }
            f.gate = Some(gate.name.clone());
            f.opens_at = gate.opens_at;
        }
        None => f.summary = format!("{}: next {what}", f.summary),
    }
    f.step = Some(what);
    Some(f)
}

/// The consumers of a family with no probe for a role they play, and that
/// role: their acceptance or emission would be assumed after the cache window.
fn unproven(resolved: &Resolved, family: &Family) -> Vec<(usize, ProbePhase)> {
    let roles = family
        .verifiers
        .iter()
        .map(|&c| (c, ProbePhase::Accept))
        .chain(family.emitters.iter().map(|&c| (c, ProbePhase::Emit)));
    roles
        .filter(|&(c, phase)| resolved.spec.consumers[c].probes(phase).next().is_none())
        .collect()
}

/// Inventory checks for `rotor validate`, beyond the owner, cadence and
/// consumers warnings the spec rules already give: a family without a review
/// date, a review date in the past, a cadence longer than `max_cadence` (the
/// policy maximum, from `rotor validate --max-cadence` or the spec's
/// `policy { max_cadence = "90d" }`), and a consumer with
/// no `verify` probe for a role it plays. Warnings, or errors with `strict`.
pub fn check(
    resolved: &Resolved,
    now: Timestamp,
    strict: bool,
    max_cadence: Option<Duration>,
) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for family in &resolved.families {
        let s = &resolved.spec.secrets[family.secret];
        match &s.review_by {
            None => diags.push(
                Diagnostic::warning(
                    format!("secret `{}` has no review date", s.name),
                    Some(s.span.clone()),
                )
                .detail("an inventory nobody reviews drifts: owners move on, consumers come and go")
                .hint("add `review_by = \"YYYY-MM-DD\"`: when a person should look at this family again"),
            ),
            Some(r) if now > r.value => diags.push(
                Diagnostic::warning(
                    format!("the review date of secret `{}` has passed", s.name),
                    Some(r.span.clone()),
                )
                .label(format!("{} is in the past", r.value.date()))
                .hint("review the owner, consumers and cadence, then move `review_by` forward"),
            ),
            Some(_) => {}
        }
        // The command line's maximum wins over the spec's `policy` block.
        let policy = resolved
            .spec
            .policy
            .as_ref()
            .and_then(|p| p.max_cadence.as_ref());
        let (max, source) = match (max_cadence, policy) {
            (Some(m), _) => (Some(m), "set by --max-cadence".to_string()),
            (None, Some(p)) => (
                Some(p.value),
                format!(
                    "policy max_cadence at {}",
                    resolved.spec.sources.locate(&p.span)
                ),
            ),
            (None, None) => (None, String::new()),
        };
        if let (Some(c), Some(max)) = (&s.cadence, max)
            && c.value > max
        {
            diags.push(
                Diagnostic::warning(
                    format!(
                        "`cadence` of {} is longer than the policy maximum of {max}",
                        c.value
                    ),
                    Some(c.span.clone()),
                )
                .label(source.clone())
                .hint(format!("set `cadence = \"{max}\"` or shorter")),
            );
        }
    }
    // One warning per consumer, however many families it serves.
    let mut seen = std::collections::BTreeSet::new();
    for family in &resolved.families {
        for (c, phase) in unproven(resolved, family) {
            if !seen.insert((c, phase)) {
                continue;
            }
            let consumer = &resolved.spec.consumers[c];
            let (what, verb) = match phase {
                ProbePhase::Accept => ("acceptance", "accepts"),
                ProbePhase::Emit | ProbePhase::Drain | ProbePhase::Guard => ("emission", "emits"),
            };
            let summary = if consumer.verify.is_empty() {
                format!("consumer `{}` has no `verify` probe", consumer.name)
            } else {
                format!(
                    "consumer `{}` has no `verify` probe that checks what it {verb}",
                    consumer.name
                )
            };
            diags.push(
                Diagnostic::warning(summary, Some(consumer.span.clone()))
                    .detail(format!(
                        "{what} would be assumed after its cache window: rotor cannot tell a consumer that picked up a new version from one that did not"
                    ))
                    .hint(format!(
                        "add a `verify \"command\"` (or `verify \"manual\"`) block with `on = [\"{}\"]` or no `on`",
                        phase.as_str()
                    )),
            );
        }
    }
    if strict {
        for d in &mut diags.0 {
            d.severity = Severity::Error;
        }
    }
    diags.sort();
    diags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::load;
    use crate::state::VersionState;
    use std::path::PathBuf;

    const DAY: i64 = 86_400;

    fn spec(secret_extra: &str, consumers: &str) -> Resolved {
        let text = format!(
            r#"store "file" "local" {{}}

secret "k" {{
  store = store.file.local
{secret_extra}
  generate "ec" {{}}
  version "v1" {{}}
  active = "v1"
}}
{consumers}
"#
        );
        let (r, diags, _) = load(vec![(PathBuf::from("rotor.hcl"), text)], &|_| None);
        r.unwrap_or_else(|| panic!("spec should load: {diags:?}"))
    }

    const FULL: &str = "  owner = \"team\"\n  cadence = \"90d\"\n  review_by = \"2027-02-01\"";

    const PROBED: &str = r#"
consumer "api" {
  accepts   = secret.k
  cache_ttl = "10s"
  verify "manual" {}
}
"#;

    const UNPROBED: &str = r#"
consumer "api" {
  accepts   = secret.k
  cache_ttl = "10s"
}
"#;

    fn t(date: &str) -> Timestamp {
        Timestamp::parse_date(date).unwrap()
    }

    /// A state with `v1` promoted at `promoted`.
    fn bootstrapped(promoted: Timestamp) -> State {
        let mut state = State::new("test".into());
        let mut v =
            VersionState::created("v1".into(), "ES256".into(), "sha256:00".into(), promoted);
        v.phase = Phase::Active;
        v.promoted_at = Some(promoted);
        let f = state.families.entry("k".into()).or_default();
        f.active = Some("v1".into());
        f.versions.insert("v1".into(), v);
        state
    }

    #[test]
    fn before_bootstrap_nothing_is_due_and_the_version_is_new() {
        let r = spec(FULL, PROBED);
        let s = status(&r, &State::new("x".into()), None, t("2026-11-01"));
        assert_eq!(s.len(), 1);
        let f = &s[0];
        assert_eq!(f.active, None);
        assert_eq!(f.next_due, None);
        assert!(f.flags.is_empty(), "{:?}", f.flags);
        let inf = f.in_flight.as_ref().unwrap();
        assert_eq!((inf.version.as_str(), inf.phase), ("v1", None));
        assert_eq!(inf.summary, "v1 new");
    }

    #[test]
    fn age_next_due_and_due_flags() {
        let r = spec(FULL, PROBED);
        let promoted = t("2026-08-01");
        let state = bootstrapped(promoted);
        let at = |days: i64| promoted + Duration::seconds(days * DAY);

        let s = &status(&r, &state, None, at(10))[0];
        assert_eq!(s.active.as_ref().map(|v| v.as_str()), Some("v1"));
        assert_eq!(s.active_age, Some(Duration::seconds(10 * DAY)));
        assert_eq!(s.last_rotation, Some(promoted));
        assert_eq!(s.next_due, Some(at(90)));
        assert!(s.in_flight.is_none());
        assert!(s.flags.is_empty());

        assert_eq!(status(&r, &state, None, at(83))[0].flags, vec![Flag::Due]);
        assert_eq!(status(&r, &state, None, at(90))[0].flags, vec![Flag::Due]);
        assert_eq!(
            status(&r, &state, None, at(91))[0].flags,
            vec![Flag::Overdue]
        );
        assert!(status(&r, &state, None, at(82))[0].flags.is_empty());
    }

    #[test]
    fn short_cadences_are_due_in_their_last_quarter() {
        assert_eq!(
            due_window(Duration::seconds(4 * DAY)),
            Duration::seconds(DAY)
        );
        assert_eq!(due_window(Duration::seconds(90 * DAY)), DUE_SOON);
    }

    #[test]
    fn inventory_flags() {
        let r = spec("", UNPROBED);
        let s = &status(&r, &bootstrapped(t("2026-08-01")), None, t("2026-09-01"))[0];
        assert_eq!(s.flags, vec![Flag::NoProbe, Flag::NoOwner, Flag::NoCadence]);
        assert_eq!(s.next_due, None);

        let r = spec(
            "  owner = \"team\"\n  cadence = \"90d\"\n  review_by = \"2026-01-01\"",
            "",
        );
        let s = &status(&r, &State::new("x".into()), None, t("2026-09-01"))[0];
        assert_eq!(s.flags, vec![Flag::ReviewPassed, Flag::NoConsumers]);
    }

    #[test]
    fn a_plan_shows_the_first_gate_that_is_not_open() {
        let r = spec(FULL, UNPROBED);
        let state = State::new("x".into());
        let now = t("2026-11-01");
        let plan = crate::plan::plan(&r, &state, &Default::default(), now);
        let s = &status(&r, &state, Some(&plan), now)[0];
        let inf = s.in_flight.as_ref().expect("bootstrap is in flight");
        assert_eq!(inf.step.as_deref(), Some("accept v1 by consumer.api"));
        assert_eq!(inf.gate.as_deref(), Some("cache window"));
        assert_eq!(inf.opens_at, Some(now + Duration::seconds(10)));
        assert!(
            inf.summary
                .starts_with("v1 new: accept v1 by consumer.api waits on cache window until "),
            "{}",
            inf.summary
        );
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["in_flight"]["phase"], serde_json::Value::Null);
        assert_eq!(json["cadence"], "90d");
        assert_eq!(json["active_age_seconds"], serde_json::Value::Null);
        assert_eq!(json["flags"], serde_json::json!(["no_probe"]));
    }

    #[test]
    fn a_plan_without_steps_means_nothing_in_flight() {
        let r = spec(FULL, PROBED);
        let now = t("2026-11-01");
        let plan = Plan {
            format_version: 1,
            made_at: now,
            spec_hash: String::new(),
            lineage: String::new(),
            serial: 0,
            serials: Default::default(),
            families: Vec::new(),
            summary: Default::default(),
        };
        let s = &status(&r, &bootstrapped(t("2026-10-01")), Some(&plan), now)[0];
        assert!(s.in_flight.is_none());
    }

    #[test]
    fn an_undeclared_version_is_in_flight_until_destroyed() {
        let r = spec(FULL, PROBED);
        let mut state = bootstrapped(t("2026-10-01"));
        let mut old = VersionState::created(
            "v0".into(),
            "ES256".into(),
            "sha256:01".into(),
            t("2026-01-01"),
        );
        old.phase = Phase::Revoked;
        state
            .families
            .get_mut("k")
            .unwrap()
            .versions
            .insert("v0".into(), old);
        let s = &status(&r, &state, None, t("2026-10-02"))[0];
        assert_eq!(s.in_flight.as_ref().unwrap().summary, "v0 revoked");
    }

    fn summaries(d: &Diagnostics) -> Vec<(Severity, String)> {
        d.0.iter()
            .map(|d| (d.severity, d.summary.clone()))
            .collect()
    }

    #[test]
    fn checks_review_date_probes_and_cadence_policy() {
        let now = t("2026-11-01");
        assert!(check(&spec(FULL, PROBED), now, false, None).0.is_empty());

        let d = check(
            &spec("  cadence = \"180d\"", UNPROBED),
            now,
            false,
            Some(Duration::seconds(90 * DAY)),
        );
        assert_eq!(
            summaries(&d),
            vec![
                (Severity::Warning, "secret `k` has no review date".into()),
                (
                    Severity::Warning,
                    "`cadence` of 180d is longer than the policy maximum of 90d".into()
                ),
                (
                    Severity::Warning,
                    "consumer `api` has no `verify` probe".into()
                ),
            ]
        );
        assert!(d.0.iter().all(|d| d.span.is_some()));
        assert!(
            d.0[2]
                .detail
                .as_deref()
                .unwrap()
                .starts_with("acceptance would be assumed after its cache window")
        );

        let d = check(
            &spec("  review_by = \"2026-01-01\"", PROBED),
            now,
            true,
            None,
        );
        assert_eq!(
            summaries(&d),
            vec![(
                Severity::Error,
                "the review date of secret `k` has passed".into()
            )]
        );
    }

    #[test]
    fn diagnostics_point_at_the_attribute() {
        let r = spec("  review_by = \"2026-01-01\"", PROBED);
        let d = check(&r, t("2026-11-01"), false, None);
        let span = d.0[0].span.as_ref().unwrap();
        let file = r.spec.sources.file(span);
        assert!(file.text[span.range.clone()].contains("2026-01-01"));
    }

    #[test]
    fn the_spec_policy_block_sets_the_maximum_cadence() {
        let policy = "\npolicy {\n  max_cadence = \"30d\"\n}\n";
        let r = spec(FULL, &format!("{PROBED}{policy}"));
        let d = check(&r, t("2026-11-26"), false, None);
        let long =
            d.0.iter()
                .find(|d| d.summary.contains("policy maximum of 30d"))
                .expect("policy applied");
        assert!(
            long.label
                .as_deref()
                .is_some_and(|l| l.starts_with("policy max_cadence at rotor.hcl:")),
            "{long:?}"
        );
        // The command line wins.
        let d = check(
            &r,
            t("2026-11-26"),
            false,
            Some(Duration::parse("365d").unwrap()),
        );
        assert!(!d.0.iter().any(|d| d.summary.contains("policy maximum")));
        // One policy block per spec.
        let twice = format!("{PROBED}{policy}{policy}");
        let text = format!("store \"file\" \"local\" {{}}\n{twice}");
        let (r, diags, _) = load(vec![(PathBuf::from("rotor.hcl"), text)], &|_| None);
        assert!(r.is_none());
        assert!(
            diags
                .0
                .iter()
                .any(|d| d.summary == "a spec has one `policy` block"),
            "{diags:?}"
        );
    }
}
