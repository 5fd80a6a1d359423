//! The steps that wait on consumers: publish (keep each publisher's key
//! set what the stores hold) and the accept and emit gates, with the probe
//! runs every gate shares (manual approvals, checks, guard baselines) and
//! the redaction of what probes print.

use super::{Ctx, Done, RESUME, StepError, failed, waiting};
use crate::names::{ConsumerName, VersionId};
use crate::plan::GateId;
use crate::provider::{ListedKey, ProbeRequest};
use crate::safety::{self, evidence_in_term};
use crate::secret::SecretValue;
use crate::spec::{ConsumerSpec, ProbePhase, VerifySpec};
use crate::state::{Baseline, Evidence, Measure, Outcome, Phase, VersionState};
use crate::time::Timestamp;
use std::collections::BTreeSet;
use std::sync::Arc;

impl Ctx<'_> {
    pub(super) async fn publish(&self, publisher: &str) -> Result<Done, StepError> {
        let Some(p) = self.providers.publishers.get(publisher) else {
            return Err(failed(
                format!("no provider for {publisher}"),
                "this is a bug in rotor",
            ));
        };
        let Some((addr, store)) = self.stores().into_iter().next() else {
            return Err(failed(
                "the family has no store",
                "add `store = store.KIND.NAME`",
            ));
        };
        let keys = store
            .public_keys(self.name)
            .await
            .map_err(|e| failed(format!("reading public keys from {addr}: {e}"), RESUME))?;
        let want: BTreeSet<ListedKey> = keys.iter().map(ListedKey::of).collect();
        let current: Option<BTreeSet<ListedKey>> = p
            .read_keys()
            .await
            .map_err(|e| failed(format!("reading {publisher}: {e}"), RESUME))?
            .map(|keys| keys.into_iter().collect());
        let same = current.as_ref() == Some(&want);
        // Since when the publisher lists each version's key: from the write
        // if it (re)adds the key (missing, or listed with another key), and
        // from now if state has no record; a listing that was already right
        // keeps its record. Verifiers reading `via` it count from here.
        let listed_before = |k: &ListedKey| current.as_ref().is_some_and(|c| c.contains(k));
        let mut restarted = Vec::new();
        let mut readded = Vec::new();
        let mut unrecorded = Vec::new();
        let state = self.state();
        if let Some(f) = state.family(self.name) {
            for (id, v) in &f.versions {
                if !v.phase.is_accepted_set() {
                    continue;
                }
                let Some(key) = want.iter().find(|k| k.kid == v.kid) else {
                    continue;
                };
                let recorded = v.published.contains_key(publisher);
                if !listed_before(key) {
                    readded.push(id.clone());
                    if recorded {
                        restarted.push(v.kid.clone());
                    }
                } else if !recorded {
                    unrecorded.push(id.clone());
                }
            }
        }
        if !same {
            // The old record goes before the write: should the write land and
            // its record be lost (a crash, a failed save), the next run finds
            // no record and counts from then, never from a publication that a
            // hand edit may have undone in between.
            if !restarted.is_empty() {
                self.record(|f| {
                    for id in &readded {
                        if let Some(v) = f.versions.get_mut(id) {
                            v.published.remove(publisher);
                        }
                    }
                })
                .await?;
            }
            p.publish(&keys)
                .await
                .map_err(|e| failed(format!("writing {publisher}: {e}"), RESUME))?;
        }
        let now = self.now();
        let changes: Vec<(VersionId, Timestamp)> = readded
            .into_iter()
            .chain(unrecorded)
            .map(|id| (id, now))
            .collect();
        if same && changes.is_empty() {
            return Ok(Done::Already);
        }
        if !changes.is_empty() {
            self.record(|f| {
                for (id, at) in &changes {
                    if let Some(v) = f.versions.get_mut(id) {
                        v.published.insert(publisher.to_string(), *at);
                    }
                }
            })
            .await?;
        }
        let kids: Vec<String> = want.into_iter().map(|k| k.kid).collect();
        let restarted = if restarted.is_empty() {
            String::new()
        } else {
            format!(
                "; {} listed anew, so accept windows via {publisher} start again",
                restarted.join(", ")
            )
        };
        Ok(Done::Now(if same {
            format!("{publisher} already lists [{}]", kids.join(", "))
        } else {
            format!("published kids [{}]{restarted}", kids.join(", "))
        }))
    }

    pub(super) async fn await_gate(
        &self,
        version: &VersionId,
        consumer: &ConsumerName,
        phase: ProbePhase,
    ) -> Result<Done, StepError> {
        let Some(v) = self.version(version) else {
            return Err(failed(
                format!("{version} is not in state"),
                "this is a bug in rotor",
            ));
        };
        let c = self.r.consumer(consumer).expect("resolved consumer");
        if evidence_in_term(phase, c, &v).is_some() {
            return Ok(Done::Already);
        }
        // The window: a probe reaches one instance; the cache window covers the rest.
        let base = match phase {
            ProbePhase::Accept => safety::accept_since(c, &v),
            ProbePhase::Emit => v.promoted_at,
            ProbePhase::Drain | ProbePhase::Guard => {
                unreachable!("drain and guard run in hold and destroy")
            }
        };
        let Some(base) = base else {
            return Err(waiting(
                format!("{} window", phase.as_str()),
                None,
                format!(
                    "{version} is not {} yet",
                    if phase == ProbePhase::Accept {
                        "published"
                    } else {
                        "promoted"
                    }
                ),
            ));
        };
        let now = self.now();
        // Probes first, so that a failing consumer is found before a long window is waited out.
        let (outcome, kinds) = self.run_probes(version, &v, c, phase, base).await?;
        let opens = base + c.cache();
        if now < opens {
            return Err(waiting(
                format!("{} cache window", c.address()),
                Some(opens),
                format!("{} caches for {}", c.address(), c.cache()),
            ));
        }
        let detail = if kinds.is_empty() {
            format!("no probe; assumed after the {} cache window", c.cache())
        } else {
            let seen: Vec<String> = kinds
                .iter()
                .map(|k| match k.as_str() {
                    VerifySpec::MANUAL => "manual gate approved".to_string(),
                    other => format!("{other} probe passed"),
                })
                .collect();
            format!("{}; cache window {} elapsed", seen.join(", "), c.cache())
        };
        let evidence = Evidence {
            probe: if kinds.is_empty() {
                "window".into()
            } else {
                kinds.join(",")
            },
            at: now,
            outcome,
            detail: detail.clone(),
        };
        let verifiers: Vec<ConsumerName> = self
            .family
            .verifiers
            .iter()
            .map(|&i| self.r.spec.consumers[i].name.clone())
            .collect();
        self.record_version(version, |v| {
            v.record_evidence(phase, consumer, evidence, &verifiers);
        })
        .await?;
        Ok(Done::Now(format!(
            "{} {}s {version}: {detail}",
            c.address(),
            phase.as_str()
        )))
    }

    /// Runs the probes of one consumer for one phase of `version`, in order:
    /// manual gates need an approval, other probes must pass (a pass is kept
    /// in `last_attempt`, so that a later poll does not ask again). Stops at
    /// the first gate that is not open: waiting, or failed once its `within`
    /// has run out under `--wait`. Returns the outcome and the probe kinds seen.
    pub(super) async fn run_probes(
        &self,
        version: &VersionId,
        v: &VersionState,
        c: &ConsumerSpec,
        phase: ProbePhase,
        due: Timestamp,
    ) -> Result<(Outcome, Vec<String>), StepError> {
        let consumer = &c.name;
        let mut kinds = Vec::new();
        let mut outcome = Outcome::Assumed;
        let mut material = None;
        for (index, verify) in c.probes(phase) {
            let gate = GateId::new(phase, consumer, index);
            kinds.push(verify.kind.clone());
            if verify.is_manual() {
                match safety::approval_in_term(phase, c, v, &gate) {
                    Some(_) => outcome = Outcome::Approved,
                    None => {
                        return Err(waiting(
                            format!("manual approval {gate}"),
                            None,
                            format!(
                                "run `rotor approve {} {version} {gate}` once {} is confirmed",
                                self.name,
                                c.address()
                            ),
                        ));
                    }
                }
                continue;
            }
            if safety::passed_in_term(phase, c, v, &gate) {
                outcome = Outcome::Passed;
                continue;
            }
            let Some(probe) = self.providers.probes.get(&(consumer.clone(), index)) else {
                return Err(failed(
                    format!(
                        "no provider for the {} probe of {}",
                        verify.kind,
                        c.address()
                    ),
                    "this is a bug in rotor",
                ));
            };
            let mut request = self.probe_request(version, v, consumer, phase);
            if phase == ProbePhase::Guard {
                request.baseline = v.baseline_of(&gate).and_then(|b| b.value.map(|m| m.0));
            }
            if probe.needs_material() {
                // Read once for all of this consumer's probes.
                if material.is_none() {
                    material = Some(self.material(version).await?);
                }
                request.material.clone_from(&material);
            }
            let mut result = probe.check(&request).await;
            drop(request);
            // Output from outside is printed and kept: never with material in it.
            if result.quotes {
                result.detail = self.redacted(&result.detail, material.as_deref()).await;
            }
            let at = self.now();
            let evidence = Evidence {
                probe: verify.kind.clone(),
                at,
                outcome: if result.passed {
                    Outcome::Passed
                } else {
                    Outcome::Failed
                },
                detail: result.detail.clone(),
            };
            self.record_version(version, |v| {
                v.last_attempt.insert(gate.to_string(), evidence);
            })
            .await?;
            if !result.passed {
                // `within` counts from when the gate came due, or from the start
                // of this `--wait` run if that is later.
                let deadline = self
                    .options
                    .deadline_base
                    .map(|b| b.max(due) + verify.within);
                let restore = match v.baseline_of(&gate) {
                    Some(b) if phase == ProbePhase::Guard && b.value.is_none() => format!(
                        "no baseline was measured when the rotation started ({}): check the guard's query. {version} is only disabled; if something did break, restore it with `rotor rollback {} --restore` and `rotor apply`",
                        b.detail, self.name
                    ),
                    _ => format!(
                        "{version} is only disabled: restore it now with `rotor rollback {} --restore` and `rotor apply`, then find out what broke",
                        self.name
                    ),
                };
                if deadline.is_some_and(|d| at >= d) {
                    let rollback = match phase {
                        ProbePhase::Accept => format!(
                            "nothing was promoted: the old version is still active everywhere. Fix {} and run `rotor apply` again, or abandon {version} by removing its version block (and pointing `active` back)",
                            c.address()
                        ),
                        ProbePhase::Emit => format!(
                            "the old version is still accepted everywhere: to roll back, point `active` at the previous version and run `rotor apply`; or fix {} and run `rotor apply` again",
                            c.address()
                        ),
                        ProbePhase::Drain => format!(
                            "nothing was revoked: {version} is still accepted everywhere. Find what still uses it (see the probe), then run `rotor apply` again"
                        ),
                        ProbePhase::Guard => restore,
                    };
                    return Err(failed(
                        format!(
                            "{} {} probe of {} did not pass for {version} within {}: {}",
                            phase.as_str(),
                            verify.kind,
                            c.address(),
                            verify.within,
                            result.detail
                        ),
                        rollback,
                    ));
                }
                let detail = if phase == ProbePhase::Guard {
                    format!(
                        "GUARD FAILING after the revoke: {}; {restore}",
                        result.detail
                    )
                } else {
                    format!("not yet: {}", result.detail)
                };
                return Err(waiting(
                    format!("{} probe {gate}", verify.kind),
                    None,
                    detail,
                ));
            }
            outcome = Outcome::Passed;
        }
        Ok((outcome, kinds))
    }

    fn probe_request(
        &self,
        version: &VersionId,
        v: &VersionState,
        consumer: &ConsumerName,
        phase: ProbePhase,
    ) -> ProbeRequest {
        ProbeRequest {
            family: self.name.clone(),
            version: version.clone(),
            kid: v.kid.clone(),
            algorithm: v.algorithm.clone(),
            thumbprint: v.thumbprint.clone(),
            phase,
            consumer: consumer.clone(),
            material: None,
            baseline: None,
        }
    }

    /// A probe's output with every piece of this family's material rotor
    /// can read taken out, cut to its tail: see [`crate::secret::redact`].
    async fn redacted(&self, text: &str, known: Option<&SecretValue>) -> String {
        if text.is_empty() {
            return String::new();
        }
        let state = self.state();
        let mut held: Vec<SecretValue> = Vec::new();
        let ids = state
            .family(self.name)
            .map(|f| {
                f.versions
                    .iter()
                    .filter(|(_, v)| v.phase != Phase::Destroyed)
                    .map(|(id, _)| id.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for id in ids {
            for (_, store) in self.stores() {
                if let Ok(m) = store.read_material(self.name, &id).await {
                    held.push(m);
                    break;
                }
            }
        }
        let mut all: Vec<&SecretValue> = held.iter().collect();
        all.extend(known);
        crate::secret::redact(text, &all)
    }

    /// A version's material, from the first store of the family that can give it.
    async fn material(&self, version: &VersionId) -> Result<Arc<SecretValue>, StepError> {
        let mut errors = Vec::new();
        for (addr, store) in self.stores() {
            match store.read_material(self.name, version).await {
                Ok(m) => return Ok(Arc::new(m)),
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        Err(failed(
            format!(
                "a probe needs the material of {version}, and no store gave it: {}",
                errors.join("; ")
            ),
            RESUME,
        ))
    }

    /// When a rotation starts (a version is created while another is
    /// active), each guard probe measures its value for the active version,
    /// the one the rotation will revoke. A failed measurement is recorded as
    /// such: the guard then says that it had no baseline.
    pub(super) async fn record_baselines(&self) -> Result<(), StepError> {
        let state = self.state();
        let Some(active) = state.family(self.name).and_then(|f| f.active.clone()) else {
            return Ok(());
        };
        let Some(v) = state.version(self.name, &active) else {
            return Ok(());
        };
        for c in self.family.consumers(self.r) {
            for (index, _) in c.probes(ProbePhase::Guard) {
                let gate = GateId::new(ProbePhase::Guard, &c.name, index);
                if v.baseline_of(&gate).is_some_and(|b| b.value.is_some()) {
                    continue;
                }
                let Some(probe) = self.providers.probes.get(&(c.name.clone(), index)) else {
                    continue;
                };
                let request = self.probe_request(&active, v, &c.name, ProbePhase::Guard);
                let (value, detail) = match probe.measure(&request).await {
                    Ok(x) => (Some(Measure(x)), format!("{x}")),
                    Err(e) => (None, e),
                };
                let baseline = Baseline {
                    at: self.now(),
                    value,
                    detail,
                };
                self.record_version(&active, |v| {
                    v.baselines.insert(gate.to_string(), baseline);
                })
                .await?;
            }
        }
        Ok(())
    }
}
