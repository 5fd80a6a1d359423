//! Making the plan: [`plan`] plans every family, one at a time, and lists
//! the families the spec forgot.

use super::gates::annotate;
use super::model::{Action, FamilyPlan, PLAN_FORMAT_VERSION, Plan, Step, Summary, WindowView};
use crate::refresh::{Live, LiveView};
use crate::safety;
use crate::spec::{Family, ProbePhase, Resolved};
use crate::state::{Phase, State};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Families that state holds with live versions and the spec no longer
/// declares: deleting a `secret` block does not make its material go away,
/// so the plan says so, every time, instead of "No changes".
fn forgotten(resolved: &Resolved, state: &State) -> Vec<FamilyPlan> {
    state
        .families
        .iter()
        .filter(|(name, _)| resolved.family_by_name(name).is_none())
        .filter_map(|(name, f)| {
            let live = f.live_versions();
            if live.is_empty() {
                return None;
            }
            let none = || WindowView {
                length: "-".into(),
                set_by: String::new(),
            };
            Some(FamilyPlan {
                family: name.clone(),
                active: f.active.clone(),
                overlap: "-".into(),
                overlap_floor: none(),
                accept_window: none(),
                steps: Vec::new(),
                notes: vec![format!(
                    "no longer declared, but its material is live in the stores: {}. Declare `secret \"{name}\"` again to keep managing it (its history is kept), or `rotor state rm {name}` to forget it and leave the material where it is; rotor never forgets it silently",
                    live.join(", ")
                )],
                blocked: None,
            })
        })
        .collect()
}
/// Makes the plan. Deterministic: the same spec, state, live view and `now`
/// give the same plan, byte for byte.
pub fn plan(resolved: &Resolved, state: &State, live: &Live, now: Timestamp) -> Plan {
    let empty = LiveView::default();
    let plan_some = |families: &[Family]| -> Vec<FamilyPlan> {
        families
            .iter()
            .map(|family| {
                let name = &resolved.spec.secrets[family.secret].name;
                let view = live.get(name).unwrap_or(&empty);
                plan_family(resolved, family, state, view, now)
            })
            .filter(|fp| !fp.steps.is_empty() || fp.blocked.is_some() || !fp.notes.is_empty())
            .collect()
    };
    // Families are planned independently: split large specs over the cores,
    // keeping spec order so the plan stays the same byte for byte.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let families: Vec<FamilyPlan> = if resolved.families.len() < 512 || threads < 2 {
        plan_some(&resolved.families)
    } else {
        let per = resolved.families.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = resolved
                .families
                .chunks(per)
                .map(|part| scope.spawn(move || plan_some(part)))
                .collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().expect("planner thread"))
                .collect()
        })
    };
    let mut families = families;
    families.extend(forgotten(resolved, state));
    let summary = Summary::of(resolved, &families, now);
    let serials = families
        .iter()
        .map(|f| {
            let serial = state.family(&f.family).map_or(0, |s| s.serial);
            (f.family.clone(), serial)
        })
        .collect();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        made_at: now,
        spec_hash: resolved.hash.clone(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        serials,
        families,
        summary,
    }
}
/// Builds one family's steps.
struct Builder {
    steps: Vec<Step>,
}

impl Builder {
    fn push(&mut self, action: Action, after: Vec<usize>, reason: impl Into<String>) -> usize {
        let id = self.steps.len() + 1;
        let mut after = after;
        after.sort_unstable();
        after.dedup();
        after.retain(|a| *a < id);
        self.steps.push(Step {
            id,
            action,
            after,
            gates: Vec::new(),
            earliest: None,
            reason: reason.into(),
        });
        id
    }
}

fn plan_family(
    r: &Resolved,
    family: &Family,
    state: &State,
    live: &LiveView,
    now: Timestamp,
) -> FamilyPlan {
    let spec = &r.spec;
    let secret = &spec.secrets[family.secret];
    // A set, not a scan: a family may declare thousands of versions.
    let declared: std::collections::HashSet<&str> =
        secret.versions.iter().map(|v| v.id.as_str()).collect();
    let declares = |id: &str| declared.contains(id);
    let fstate = state.family(&secret.name).cloned().unwrap_or_default();
    let target = secret.active.as_ref().map(|a| a.value.clone());
    let mut fp = FamilyPlan {
        family: secret.name.clone(),
        active: target.clone(),
        overlap: r.overlap(family).to_string(),
        overlap_floor: r.overlap_floor(family).into(),
        accept_window: r.accept_window(family).into(),
        steps: Vec::new(),
        notes: Vec::new(),
        blocked: None,
    };
    let store_addrs: Vec<String> = family
        .stores
        .iter()
        .map(|&s| spec.stores[s].address())
        .collect();

    // Live errors block the family: planning against a store we cannot read would guess.
    if let Some((what, e)) = live.errors.first() {
        fp.blocked = Some(format!("cannot read {what}: {e}"));
        return fp;
    }
    // Drift: versions rotor recorded that a store no longer has.
    for (id, v) in &fstate.versions {
        if matches!(v.phase, Phase::Destroyed) {
            continue;
        }
        // A revoked version that is no longer declared and is gone from a store was
        // destroyed by an apply interrupted before it recorded so: the Destroy step
        // planned below finishes the job. Anything else missing is drift.
        let destroy_interrupted = v.phase == Phase::Revoked && !declares(id);
        for addr in &store_addrs {
            let Some(lf) = live.store(addr) else {
                continue;
            };
            match lf.versions.iter().find(|lv| &lv.id == id) {
                None if destroy_interrupted => {}
                None => {
                    fp.blocked = Some(format!(
                        "drift: version {id} is recorded in state ({}) but missing from {addr}; \
                         restore it in the store; or, once you have checked every consumer, forget the family with `rotor state rm {}`: rotor then adopts what the stores hold and holds every live version a full overlap",
                        v.phase.as_str(),
                        secret.name
                    ));
                    return fp;
                }
                Some(lv) if lv.fingerprint != v.fingerprint => {
                    fp.blocked = Some(format!(
                        "drift: version {id} in {addr} has fingerprint {} but state recorded {}; the material was replaced outside rotor",
                        lv.fingerprint, v.fingerprint
                    ));
                    return fp;
                }
                _ => {}
            }
        }
    }
    // Drift of the primary: a store whose primary is neither the version rotor
    // last promoted nor the one a promote in progress is setting. When it is a
    // version rotor holds in the key set (a promote interrupted after the
    // store's write, then `active` moved back; or a change by hand), emitters
    // may be using it: the promote below sets the primary again, and apply
    // holds that version as in use from then. Anything else needs a person.
    let mut repromote = false;
    for addr in &store_addrs {
        let Some(primary) = live.store(addr).and_then(|lf| lf.primary.as_ref()) else {
            continue;
        };
        if fstate.active.is_some()
            && fstate.active.as_ref() != Some(primary)
            && target.as_ref() != Some(primary)
            && fstate
                .versions
                .get(primary)
                .is_some_and(|v| v.phase.is_accepted_set())
        {
            fp.notes.push(format!(
                "{addr}'s primary is {primary}, not {} as rotor last promoted (an interrupted promote, or a change by hand): it is set again, and {primary} is held as in use from then",
                fstate.active.as_deref().unwrap_or("none")
            ));
            repromote = true;
            continue;
        }
        if fstate.active.is_some()
            && fstate.active.as_ref() != Some(primary)
            && target.as_ref() != Some(primary)
        {
            fp.blocked = Some(format!(
                "drift: {addr}'s primary is {primary} but rotor last promoted {}; \
                 set it back in the store, or point `active` at {primary} if that change was intended",
                fstate.active.as_deref().unwrap_or("none")
            ));
            return fp;
        }
    }
    for addr in &store_addrs {
        if let Some(lf) = live.store(addr) {
            for lv in &lf.versions {
                if !fstate.versions.contains_key(&lv.id) && !declares(&lv.id) {
                    fp.notes.push(format!(
                        "{addr} holds version {} that rotor does not manage; left alone",
                        lv.id
                    ));
                }
            }
        }
    }

    for (addr, lineage) in &live.owners {
        if *lineage != state.lineage {
            fp.notes.push(format!(
                "{addr} holds secret.{} for another state (lineage {lineage}); this state is {}. If that state is gone, `rotor apply --adopt` takes the family over, holding every live version as in use for a full overlap",
                secret.name, state.lineage
            ));
        }
    }

    let mut b = Builder { steps: Vec::new() };
    let verifiers: Vec<&crate::spec::ConsumerSpec> = family
        .verifiers
        .iter()
        .map(|&c| &spec.consumers[c])
        .collect();
    let emitters: Vec<&crate::spec::ConsumerSpec> = family
        .emitters
        .iter()
        .map(|&c| &spec.consumers[c])
        .collect();

    // 1. Accept new: create (or adopt, or restore) every declared version that is not in the key sets.
    let mut entering: Vec<(String, usize)> = Vec::new(); // version, step that makes it exist
    for v in &secret.versions {
        match fstate.versions.get(&v.id) {
            None => {
                let adopt = !store_addrs.is_empty()
                    && store_addrs.iter().all(|a| {
                        live.store(a)
                            .is_some_and(|lf| lf.versions.iter().any(|lv| lv.id == v.id))
                    });
                let generator = secret
                    .generate
                    .as_ref()
                    .map_or(String::new(), |g| g.value.to_string());
                let id = b.push(
                    Action::Create {
                        version: v.id.clone(),
                        generator,
                        stores: store_addrs.clone(),
                        adopt,
                    },
                    vec![],
                    if adopt {
                        "declared; the stores already hold it (an earlier apply was interrupted)"
                    } else {
                        "declared in the spec, not yet created"
                    },
                );
                entering.push((v.id.clone(), id));
            }
            Some(vs)
                if vs.phase.is_accepted_set()
                    && store_addrs.iter().any(|a| {
                        live.store(a).is_some_and(|lf| {
                            lf.versions.iter().any(|lv| lv.id == v.id && !lv.enabled)
                        })
                    }) =>
            {
                // A revoke interrupted after the store's write: the version
                // left the key sets, so it comes back as a restore does.
                let id = b.push(
                    Action::Restore {
                        version: v.id.clone(),
                    },
                    vec![],
                    "declared, and disabled in a store by an interrupted revoke",
                );
                entering.push((v.id.clone(), id));
            }
            Some(vs) if vs.phase == Phase::Revoked => {
                let id = b.push(
                    Action::Restore {
                        version: v.id.clone(),
                    },
                    vec![],
                    "declared again while revoked but not destroyed",
                );
                entering.push((v.id.clone(), id));
            }
            Some(vs) if vs.phase == Phase::Destroyed => {
                fp.blocked = Some(format!(
                    "version {} is declared but its material was destroyed; declare a new version id instead",
                    v.id
                ));
                return fp;
            }
            Some(_) => {}
        }
    }

    // Which versions end up enabled, and which leave.
    let leaving: Vec<String> = fstate
        .versions
        .iter()
        .filter(|(id, v)| v.phase.is_accepted_set() && !declares(id))
        .map(|(id, _)| id.clone())
        .collect();
    let to_destroy: Vec<String> = fstate
        .versions
        .iter()
        .filter(|(id, v)| v.phase == Phase::Revoked && !declares(id))
        .map(|(id, _)| id.clone())
        .collect();
    let enabled_after: Vec<String> = secret.versions.iter().map(|v| v.id.clone()).collect();

    // Publishers: one rewrite after the new versions exist, if a key is
    // missing or listed under its kid with another key (compared by
    // thumbprint, never by kid alone), or if state has no record of since
    // when the publisher lists a version (a verifier reading it counts its
    // window from that record).
    let entering_ids: Vec<usize> = entering.iter().map(|(_, s)| *s).collect();
    let keys: BTreeMap<&str, Option<&str>> = store_addrs
        .first()
        .and_then(|a| live.store(a))
        .map(|lf| {
            lf.versions
                .iter()
                .map(|lv| (lv.id.as_str(), lv.thumbprint.as_deref()))
                .collect()
        })
        .unwrap_or_default();
    let mut publish_step: BTreeMap<String, usize> = BTreeMap::new();
    for &p in &family.publishers {
        let addr = spec.publishers[p].address();
        let listed: BTreeMap<&str, &str> = live
            .published(&addr)
            .map(|keys| {
                keys.iter()
                    .map(|k| (k.kid.as_str(), k.thumbprint.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        // What the publisher is to list: exactly what the store's key set
        // holds (as the publish step writes it: rotor's versions, and any it
        // leaves alone), plus the versions entering now. A version a store
        // already disabled (a revoke whose record was lost) is not in it.
        let asymmetric = secret
            .generate
            .as_ref()
            .is_some_and(|g| g.value.is_asymmetric());
        let want: Vec<String> = store_addrs
            .first()
            .and_then(|a| live.store(a))
            .map(|lf| {
                lf.versions
                    .iter()
                    .filter(|lv| lv.enabled && lv.thumbprint.is_some())
                    .map(|lv| lv.id.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .chain(
                entering
                    .iter()
                    .filter(|_| asymmetric)
                    .map(|(id, _)| id.clone()),
            )
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut wrong_key = Vec::new();
        let add: Vec<String> = want
            .iter()
            .filter(|k| match (listed.get(k.as_str()), keys.get(k.as_str())) {
                (None, _) => true,
                (Some(have), Some(Some(should))) if have != should => {
                    wrong_key.push((*k).clone());
                    true
                }
                _ => false,
            })
            .cloned()
            .collect();
        let stale: Vec<String> = listed
            .keys()
            .filter(|k| !want.iter().any(|w| w == *k) && !leaving.iter().any(|l| l == *k))
            .map(|k| k.to_string())
            .collect();
        let unrecorded = !entering.is_empty()
            || fstate.versions.values().any(|v| {
                v.phase.is_accepted_set()
                    && want.contains(&v.kid)
                    && !v.published.contains_key(&addr)
            });
        for k in &wrong_key {
            fp.notes.push(format!(
                "{addr} lists kid {k} with a different key than the store holds; it will be rewritten, and the accept window starts again"
            ));
        }
        if !add.is_empty() || !stale.is_empty() || unrecorded {
            let id = b.push(
                Action::Publish {
                    publisher: addr.clone(),
                    add: add.clone(),
                    remove: stale.clone(),
                    kids: want.clone(),
                },
                entering_ids.clone(),
                if !wrong_key.is_empty() {
                    "the published key set lists a kid with another key (edited, or left by a family of the same name)"
                } else if stale.is_empty() {
                    "new versions enter the key set"
                } else {
                    "the published key set differs from state (edited outside rotor)"
                },
            );
            publish_step.insert(addr, id);
        }
    }

    // Acceptance: every verifier, for every declared version without its evidence.
    let mut accept_steps: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    // By version: the step that makes it exist, and the publishers whose
    // rewrite planned above (re)adds its key. (Maps, not scans: a family may
    // declare thousands of versions.)
    let entering_step: std::collections::HashMap<&str, usize> =
        entering.iter().map(|(id, s)| (id.as_str(), *s)).collect();
    let mut readded: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
    for s in &b.steps {
        if let Action::Publish { publisher, add, .. } = &s.action {
            for k in add {
                readded.insert((publisher.clone(), k.clone()));
            }
        }
    }
    for v in &secret.versions {
        let vs = fstate.versions.get(&v.id);
        // Restored (from a revoke, finished or interrupted): it left the key
        // sets, and evidence from before says nothing about now.
        let restored = vs.is_some() && entering_step.contains_key(v.id.as_str());
        for c in &verifiers {
            // Evidence counts only for the publication it proved: a rewrite
            // planned here for the publisher `c` reads starts a new term.
            let republished = c
                .via
                .as_ref()
                .is_some_and(|via| readded.contains(&(via.to_string(), v.id.clone())));
            let has = vs.is_some_and(|s| {
                !restored
                    && !republished
                    && safety::evidence_in_term(ProbePhase::Accept, c, s).is_some()
            });
            if has {
                continue;
            }
            let mut after: Vec<usize> = entering_step
                .get(v.id.as_str())
                .copied()
                .into_iter()
                .collect();
            after.extend(publish_step.values().copied());
            let id = b.push(
                Action::AwaitAccept {
                    version: v.id.clone(),
                    consumer: c.name.clone(),
                },
                after,
                format!(
                    "consumer.{} must accept {} before anyone emits it",
                    c.name, v.id
                ),
            );
            accept_steps.entry(v.id.clone()).or_default().push(id);
        }
    }

    // 2. Promote the target, then wait for emitters.
    let mut emit_steps = Vec::new();
    let mut promote_step = None;
    if let Some(t) = &target {
        if fstate.active.as_ref() != Some(t) || repromote {
            let rollback = fstate
                .versions
                .get(t)
                .is_some_and(|v| v.promoted_at.is_some());
            let mut after = accept_steps.get(t).cloned().unwrap_or_default();
            after.extend(entering.iter().filter(|(id, _)| id == t).map(|(_, s)| *s));
            let id = b.push(
                Action::Promote {
                    version: t.clone(),
                    from: fstate.active.clone(),
                    rollback,
                },
                after,
                if rollback {
                    "`active` points back at an older, still-accepted version"
                } else {
                    "`active` names it"
                },
            );
            promote_step = Some(id);
        }
        let current = fstate.versions.get(t);
        for c in &emitters {
            if promote_step.is_none()
                && current
                    .is_some_and(|v| safety::evidence_in_term(ProbePhase::Emit, c, v).is_some())
            {
                continue;
            }
            let id = b.push(
                Action::AwaitEmit {
                    version: t.clone(),
                    consumer: c.name.clone(),
                },
                promote_step.into_iter().collect(),
                format!("consumer.{} must switch to {t}", c.name),
            );
            emit_steps.push(id);
        }
    }

    // 3. Hold, then revoke what left the spec; destroy after the grace period.
    let mut retiring: Vec<String> = leaving
        .iter()
        .filter(|id| {
            let v = &fstate.versions[*id];
            v.was_used()
                && !(safety::drained(v, r.overlap(family), now)
                    && r.hold_until(family).is_none_or(|(h, _)| h <= now))
        })
        .cloned()
        .collect();
    retiring.sort();
    let mut hold_step = None;
    if !retiring.is_empty()
        && let Some(t) = &target
    {
        let mut after = emit_steps.clone();
        after.extend(promote_step);
        let id = b.push(
            Action::Hold {
                retiring: retiring.clone(),
                successor: t.clone(),
            },
            after,
            format!("tokens signed with {} must drain", retiring.join(", ")),
        );
        hold_step = Some(id);
    }
    let mut revoke_steps = Vec::new();
    for id in &leaving {
        let mut after: Vec<usize> = hold_step.into_iter().collect();
        after.extend(promote_step);
        after.extend(emit_steps.iter().copied());
        // The target may already be active yet lack a (newly declared)
        // verifier's acceptance: nothing leaves until every verifier accepts
        // it. (A promote step already runs after those accepts.)
        if let (Some(t), None) = (&target, promote_step) {
            after.extend(accept_steps.get(t).into_iter().flatten().copied());
        }
        let step = b.push(
            Action::Revoke {
                version: id.clone(),
            },
            after,
            "its version block was removed",
        );
        revoke_steps.push((id.clone(), step));
    }
    let mut unpublish = Vec::new();
    if !revoke_steps.is_empty() {
        for &p in &family.publishers {
            let addr = spec.publishers[p].address();
            let remove: Vec<String> = leaving
                .iter()
                .map(|id| fstate.versions[id].kid.clone())
                .collect();
            let id = b.push(
                Action::Publish {
                    publisher: addr,
                    add: vec![],
                    remove,
                    kids: enabled_after.clone(),
                },
                revoke_steps.iter().map(|(_, s)| *s).collect(),
                "revoked versions leave the key set",
            );
            unpublish.push(id);
        }
    }
    for (id, step) in &revoke_steps {
        let mut after = vec![*step];
        after.extend(unpublish.iter().copied());
        b.push(
            Action::Destroy {
                version: id.clone(),
            },
            after,
            format!(
                "destroy after the {} grace period",
                secret.destroy_after.value
            ),
        );
    }
    for id in &to_destroy {
        b.push(
            Action::Destroy {
                version: id.clone(),
            },
            vec![],
            "revoked and no longer declared",
        );
    }

    fp.steps = b.steps;
    annotate(r, family, &fstate, &mut fp.steps, now);
    fp
}
