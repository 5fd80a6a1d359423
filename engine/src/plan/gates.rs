//! Gates: what each step waits on, and when a time window opens if every
//! step before it ran now and every probe passed at once.

use super::GateId;
use super::model::{Action, Gate, GateKind, GateStatus, Step};
use crate::names::VersionId;
use crate::safety;
use crate::spec::{Family, ProbePhase, Resolved};
use crate::state::VersionState;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// Fills gates and projected times by simulating the steps in order, as if
/// each ran as soon as its gates allowed and every probe passed at once.
pub(super) fn annotate(
    r: &Resolved,
    family: &Family,
    fstate: &crate::state::FamilyState,
    steps: &mut [Step],
    now: Timestamp,
) {
    let spec = &r.spec;
    let secret = &spec.secrets[family.secret];
    let mut done_at: BTreeMap<usize, Timestamp> = BTreeMap::new();
    // Since when each version is listed: by its stores (`None`) and by each publisher.
    // Kids a publish step adds count as the version of that id: rotor
    // publishes each version under its id.
    let mut published: BTreeMap<(VersionId, Option<String>), Timestamp> = BTreeMap::new();
    for (id, v) in &fstate.versions {
        if let Some(t) = v.published_at {
            published.insert((id.clone(), None), t);
        }
        for (p, t) in &v.published {
            published.insert((id.clone(), Some(p.clone())), *t);
        }
    }
    let mut promoted: Option<Timestamp> = fstate
        .active
        .as_ref()
        .and_then(|a| fstate.versions.get(a))
        .and_then(|v| v.promoted_at);
    let mut disabled: BTreeMap<VersionId, Timestamp> = fstate
        .versions
        .iter()
        .filter_map(|(id, v)| v.disabled_at.map(|t| (id.clone(), t)))
        .collect();
    for step in steps.iter_mut() {
        let start = step
            .after
            .iter()
            .filter_map(|a| done_at.get(a))
            .copied()
            .max()
            .unwrap_or(now)
            .max(now);
        let mut gates = Vec::new();
        let mut ready = start;
        match &step.action {
            Action::Create { version, .. } | Action::Restore { version } => {
                published.insert((version.clone(), None), start);
            }
            Action::Publish { publisher, add, .. } => {
                for k in add {
                    published.insert(
                        (VersionId::from(k.as_str()), Some(publisher.clone())),
                        start,
                    );
                }
                for id in fstate.versions.keys() {
                    published
                        .entry((id.clone(), Some(publisher.clone())))
                        .or_insert(start);
                }
            }
            Action::Promote { .. } => {
                promoted = Some(start);
            }
            Action::AwaitAccept { version, consumer } | Action::AwaitEmit { version, consumer } => {
                let c = r.consumer(consumer).expect("resolved");
                // Acceptance counts from publication, emission from the promote.
                let (phase, since, base) = match &step.action {
                    Action::AwaitAccept { .. } => (
                        ProbePhase::Accept,
                        "published",
                        published
                            .get(&(version.clone(), c.via.as_ref().map(|v| v.to_string())))
                            .copied(),
                    ),
                    _ => (ProbePhase::Emit, "promoted", promoted),
                };
                let opens = base.unwrap_or(start) + c.cache();
                ready = ready.max(opens);
                gates.push(window_gate(
                    "cache window",
                    opens,
                    now,
                    format!("{since} + {} (consumer.{} cache_ttl)", c.cache(), c.name),
                ));
                probe_gates(c, phase, fstate.versions.get(version), &mut gates);
            }
            Action::Hold { retiring, .. } => {
                for c in family.consumers(r) {
                    for old in retiring {
                        let vs = fstate.versions.get(old);
                        if vs.is_some_and(|v| {
                            safety::evidence_in_term(ProbePhase::Drain, c, v).is_some()
                        }) {
                            continue;
                        }
                        probe_gates(c, ProbePhase::Drain, vs, &mut gates);
                    }
                }
                let overlap = r.overlap(family);
                // A version found live without a history holds from when it was found.
                let adopted = retiring
                    .iter()
                    .filter_map(|id| fstate.versions.get(id).and_then(|v| v.adopted_at))
                    .max();
                let from = promoted.unwrap_or(start);
                let opens = adopted.map_or(from, |a| a.max(from)) + overlap;
                ready = ready.max(opens);
                let floor = r.overlap_floor(family);
                gates.push(window_gate(
                    "overlap",
                    opens,
                    now,
                    format!(
                        "promoted + {overlap} (floor {} set by {})",
                        floor.length, floor.set_by
                    ),
                ));
                if let Some((until, c)) = r.hold_until(family) {
                    ready = ready.max(until);
                    let reason = c.hold_reason.as_ref().map_or("", |r| r.value.as_str());
                    gates.push(window_gate(
                        "hold_until",
                        until,
                        now,
                        format!(
                            "consumer.{} holds old versions until {}: {reason}",
                            c.name,
                            until.human()
                        ),
                    ));
                }
            }
            Action::Revoke { version } => {
                disabled.insert(version.clone(), start);
            }
            Action::Destroy { version } => {
                let base = disabled.get(version).copied().unwrap_or(start);
                let opens = base + secret.destroy_after.value;
                ready = ready.max(opens);
                gates.push(window_gate(
                    "grace period",
                    opens,
                    now,
                    format!("revoked + {} (destroy_after)", secret.destroy_after.value),
                ));
                let vs = fstate.versions.get(version);
                // A version never promoted made no traffic to guard.
                let used = vs.is_none_or(VersionState::was_used);
                for c in family.consumers(r).filter(|_| used) {
                    if !vs.is_some_and(|v| {
                        safety::evidence_in_term(ProbePhase::Guard, c, v).is_some()
                    }) {
                        probe_gates(c, ProbePhase::Guard, vs, &mut gates);
                    }
                }
            }
        }
        step.gates = gates;
        step.earliest = Some(ready).filter(|t| *t > now);
        done_at.insert(step.id, ready);
    }
}

fn window_gate(name: &str, opens: Timestamp, now: Timestamp, detail: String) -> Gate {
    Gate {
        kind: GateKind::Window,
        name: name.into(),
        status: if opens <= now {
            GateStatus::Open
        } else {
            GateStatus::Pending
        },
        opens_at: Some(opens),
        detail,
        approves: None,
    }
}

fn probe_gates(
    c: &crate::spec::ConsumerSpec,
    phase: ProbePhase,
    vs: Option<&VersionState>,
    gates: &mut Vec<Gate>,
) {
    let mut any = false;
    for (i, v) in c.probes(phase) {
        any = true;
        let gate = GateId::new(phase, &c.name, i);
        if v.is_manual() {
            let approved = vs.and_then(|s| safety::approval_in_term(phase, c, s, &gate));
            gates.push(Gate {
                kind: GateKind::Manual,
                name: format!("manual approval {gate}"),
                status: if approved.is_some() {
                    GateStatus::Open
                } else {
                    GateStatus::Pending
                },
                opens_at: None,
                detail: match approved {
                    Some(a) => format!("approved by {} at {}", a.by, a.at.human()),
                    None => format!("run `rotor approve FAMILY VERSION {gate}`"),
                },
                approves: Some(gate),
            });
        } else {
            let last = vs.and_then(|s| s.last_attempt_of(&gate));
            gates.push(Gate {
                kind: GateKind::Probe,
                name: match phase {
                    ProbePhase::Accept | ProbePhase::Emit => format!("{} probe", v.kind),
                    _ => format!("{} {} probe", phase.as_str(), v.kind),
                },
                status: GateStatus::Pending,
                opens_at: None,
                detail: match last {
                    Some(e) => format!("last attempt {}: {}", e.at.human(), e.detail),
                    None => {
                        "runs at apply, and again on every `--wait` poll until it passes".into()
                    }
                },
                approves: None,
            });
        }
    }
    if !any && matches!(phase, ProbePhase::Accept | ProbePhase::Emit) {
        gates.push(Gate {
            kind: GateKind::Window,
            name: "no probe".into(),
            status: GateStatus::Open,
            opens_at: None,
            detail: format!(
                "consumer.{} has no verify probe: {} is assumed after its cache window",
                c.name,
                phase.as_str()
            ),
            approves: None,
        });
    }
}
