//! The steps that move versions out of service: promote (the new version
//! becomes the primary, the old one retires), hold (the overlap, hold_until
//! and drain probes), revoke (disable, restorable) and destroy (after the
//! guards and the grace period).

use super::{Ctx, Done, RESUME, StepError, failed, waiting};
use crate::names::VersionId;
use crate::provider::ErrorKind;
use crate::safety::{self, evidence_in_term};
use crate::spec::ProbePhase;
use crate::state::{Evidence, Phase};
use crate::time::Duration;

impl Ctx<'_> {
    pub(super) async fn promote(&self, version: &VersionId) -> Result<Done, StepError> {
        let state = self.state();
        // What the stores serve now: a primary other than the one state
        // records (an interrupted promote, a change by hand) may be in use.
        let mut served = Vec::new();
        for (addr, store) in self.stores() {
            let live = store
                .read(self.name)
                .await
                .map_err(|e| failed(format!("reading {addr}: {e}"), RESUME))?;
            served.push(live.primary);
        }
        let active = state.family(self.name).and_then(|f| f.active.clone());
        if active.as_ref() == Some(version) && served.iter().all(|p| p.as_ref() == Some(version)) {
            return Ok(Done::Already);
        }
        let now = self.now();
        // A family with no verifiers still has to be fully accepted in name: make it so.
        if self.family.verifiers.is_empty()
            && let Some(v) = state.version(self.name, version)
            && v.phase == Phase::Pending
        {
            self.record_version(version, |v| {
                v.phase = Phase::Accepted;
            })
            .await?;
        }
        if let Err(v) = safety::check_promote(self.r, self.family, &self.state(), version, now) {
            return Err(match v.opens_at {
                Some(t) => waiting("accept window", Some(t), v.reason),
                None => failed(
                    format!("refused: {}", v.reason),
                    "this is the safety checker stopping a promote; run `rotor plan` to see what is missing",
                ),
            });
        }
        self.ground()?;
        // A guard baseline that could not be measured when the rotation
        // started gets another chance while the old version still serves.
        self.record_baselines().await?;
        let in_use: Vec<VersionId> = served
            .into_iter()
            .flatten()
            .filter(|p| p != version && Some(p) != active.as_ref())
            .filter(|p| state.version(self.name, p).is_some())
            .collect();
        if !in_use.is_empty() {
            self.record(|f| {
                for p in &in_use {
                    if let Some(v) = f.versions.get_mut(p) {
                        v.adopted_at = Some(now);
                    }
                }
            })
            .await?;
        }
        for (addr, store) in self.stores() {
            store
                .set_primary(self.name, version)
                .await
                .map_err(|e| failed(format!("promoting {version} in {addr}: {e}"), RESUME))?;
        }
        // Emitters switch once the last store serves it: the overlap, and
        // every window counted from the promote, start then, not before a
        // slow write (found by killing at every fsync: a 100 ms write
        // shortened the overlap readers saw by as much).
        let now = self.now();
        let mut from = None;
        self.record(|f| from = f.promote(version, now)).await?;
        Ok(Done::Now(match from {
            Some(f) => format!("promoted {version} (was {f})"),
            None => format!("promoted {version}"),
        }))
    }

    pub(super) async fn hold(
        &self,
        retiring: &[VersionId],
        successor: &VersionId,
    ) -> Result<Done, StepError> {
        let state = self.state();
        let overlap = self.r.overlap(self.family);
        let hold = self.r.hold_until(self.family);
        let now = self.now();
        let all_drained = retiring.iter().all(|r| {
            state.version(self.name, r).is_none_or(|v| {
                safety::held_long_enough(v, self.r, self.family, now) || !v.phase.is_accepted_set()
            })
        });
        if all_drained {
            return Ok(Done::Already);
        }
        let Some(s) = state.version(self.name, successor) else {
            return Err(waiting(
                "overlap",
                None,
                format!("{successor} is not created yet"),
            ));
        };
        let Some(promoted) = s
            .promoted_at
            .filter(|_| state.family(self.name).and_then(|f| f.active.as_ref()) == Some(successor))
        else {
            return Err(waiting(
                "overlap",
                None,
                format!("{successor} is not promoted yet"),
            ));
        };
        for &c in &self.family.emitters {
            let c = &self.r.spec.consumers[c];
            if evidence_in_term(ProbePhase::Emit, c, s).is_none() {
                return Err(waiting(
                    "overlap",
                    None,
                    format!("{} has not switched to {successor} yet", c.address()),
                ));
            }
        }
        // A version found live without a history holds from when it was found.
        let start = retiring
            .iter()
            .filter_map(|r| state.version(self.name, r))
            .filter_map(|v| safety::hold_start(self.r, self.family, s, v))
            .max();
        let until = start.map_or(promoted, |a| a.max(promoted)) + overlap;
        if let Some((h, c)) = hold.filter(|(h, _)| *h > until && now < *h) {
            let reason = c.hold_reason.as_ref().map_or("", |r| r.value.as_str());
            return Err(waiting(
                "hold_until",
                Some(h),
                format!(
                    "{} holds {} until {}: {reason}",
                    c.address(),
                    retiring.join(", "),
                    h.human()
                ),
            ));
        }
        if now < until {
            return Err(waiting(
                "overlap",
                Some(until),
                format!(
                    "holding {} for {overlap} after {successor} was promoted",
                    retiring.join(", ")
                ),
            ));
        }
        // Time has passed; traffic made with the retiring versions must be gone too.
        let mut drained = Vec::new();
        for r in retiring {
            let Some(v) = state
                .version(self.name, r)
                .filter(|v| v.phase.is_accepted_set())
            else {
                continue;
            };
            for c in self.family.consumers(self.r) {
                if c.probes(ProbePhase::Drain).next().is_none()
                    || evidence_in_term(ProbePhase::Drain, c, v).is_some()
                {
                    continue;
                }
                let (outcome, kinds) = self.run_probes(r, v, c, ProbePhase::Drain, until).await?;
                let evidence = Evidence {
                    probe: kinds.join(","),
                    at: self.now(),
                    outcome,
                    detail: format!("{} drained of {r}", c.address()),
                };
                self.record_version(r, |v| {
                    v.drain.insert(c.name.clone(), evidence);
                })
                .await?;
                drained.push(c.name.clone());
            }
        }
        self.record(|f| {
            for r in retiring {
                if let Some(v) = f.versions.get_mut(r) {
                    v.drained_at = Some(now);
                }
            }
        })
        .await?;
        let probes = if drained.is_empty() {
            String::new()
        } else {
            format!("; drain probes passed for {}", drained.join(", "))
        };
        Ok(Done::Now(format!(
            "held {} for {overlap}{probes}",
            retiring.join(", ")
        )))
    }

    pub(super) async fn revoke(&self, version: &VersionId) -> Result<Done, StepError> {
        match self.version(version) {
            Some(v) if v.phase.is_accepted_set() => {}
            _ => return Ok(Done::Already),
        }
        self.ground()?;
        let now = self.now();
        if let Err(v) = safety::check_revoke(self.r, self.family, &self.state(), version, now) {
            return Err(failed(
                format!("refused: {}", v.reason),
                "this is the safety checker stopping a revoke; run `rotor plan` to see what is missing",
            ));
        }
        for (addr, store) in self.stores() {
            store
                .disable(self.name, version)
                .await
                .map_err(|e| failed(format!("disabling {version} in {addr}: {e}"), RESUME))?;
        }
        // Restorable for `destroy_after` from when the last store dropped it.
        let disabled = self.now();
        self.record_version(version, |v| v.revoke(disabled)).await?;
        Ok(Done::Now(format!(
            "revoked {version} (disabled; restorable until destroyed: declare it again to restore)"
        )))
    }

    pub(super) async fn destroy(&self, version: &VersionId) -> Result<Done, StepError> {
        let Some(v) = self.version(version) else {
            return Ok(Done::Already);
        };
        if v.phase == Phase::Destroyed {
            return Ok(Done::Already);
        }
        let Some(disabled) = v.disabled_at.filter(|_| v.phase == Phase::Revoked) else {
            return Err(waiting(
                "revoke",
                None,
                format!("{version} is not revoked yet"),
            ));
        };
        let grace = self.r.spec.secrets[self.family.secret].destroy_after.value;
        let now = self.now();
        // Guards: nothing got worse since the revoke. They run once every
        // consumer has had its cache window to drop the version, before the
        // grace period ends; a failing guard keeps the version restorable. A
        // version that was never promoted made no traffic to guard.
        let settle = self
            .family
            .consumers(self.r)
            .map(|c| c.cache())
            .max()
            .unwrap_or(Duration::ZERO);
        let guard_due = disabled + settle;
        let mut guarded = Vec::new();
        for c in self.family.consumers(self.r) {
            if !v.was_used()
                || c.probes(ProbePhase::Guard).next().is_none()
                || evidence_in_term(ProbePhase::Guard, c, &v).is_some()
            {
                continue;
            }
            if now < guard_due {
                return Err(waiting(
                    "guard",
                    Some(guard_due),
                    format!(
                        "guards run {settle} after the revoke, once every consumer has dropped {version}"
                    ),
                ));
            }
            let (outcome, kinds) = self
                .run_probes(version, &v, c, ProbePhase::Guard, guard_due)
                .await?;
            let evidence = Evidence {
                probe: kinds.join(","),
                at: self.now(),
                outcome,
                detail: format!(
                    "nothing worse at {} after {version} was revoked",
                    c.address()
                ),
            };
            self.record_version(version, |v| {
                v.guarded.insert(c.name.clone(), evidence);
            })
            .await?;
            guarded.push(c.name.clone());
        }
        if now < disabled + grace {
            return Err(waiting(
                "grace period",
                Some(disabled + grace),
                format!("{version} stays restorable for {grace} after its revoke"),
            ));
        }

        self.ground()?;
        for (addr, store) in self.stores() {
            // Destroying what is destroyed already (an apply interrupted
            // before recording so) is done; one the store never had is not
            // found, and there is nothing to destroy there either.
            match store.destroy(self.name, version).await {
                Ok(()) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(failed(
                        format!("destroying {version} in {addr}: {e}"),
                        RESUME,
                    ));
                }
            }
        }
        self.record_version(version, |v| v.destroy(now)).await?;
        Ok(Done::Now(format!("destroyed {version}")))
    }
}
