//! Drift: what the stores hold against what rotor recorded. The first
//! stage: planning against a store that cannot be read, lost a version, or
//! whose primary moved would guess, so those block the family. (The only
//! other block is in `accept`: a declared version already destroyed.)

use super::{Blocked, FamilyPlanner};
use crate::names::VersionId;
use crate::state::Phase;

impl FamilyPlanner<'_> {
    /// Drift: what the stores hold against what rotor recorded. Blocks the
    /// family when planning would have to guess; otherwise notes what the
    /// reader should know. Returns whether the primary must be set again.
    pub(super) fn drift(&mut self) -> Result<bool, Blocked> {
        // Live errors block the family: planning against a store we cannot read would guess.
        if let Some((what, e)) = self.live.errors.first() {
            return Err(Blocked(format!("cannot read {what}: {e}")));
        }
        self.drift_versions()?;
        let repromote = self.drift_primary()?;
        self.note_foreign();
        Ok(repromote)
    }

    /// Drift: versions rotor recorded that a store no longer has.
    fn drift_versions(&self) -> Result<(), Blocked> {
        let secret = self.secret;
        for (id, v) in &self.fstate.versions {
            if matches!(v.phase, Phase::Destroyed) {
                continue;
            }
            // A revoked version that is no longer declared and is gone from a store was
            // destroyed by an apply interrupted before it recorded so: the Destroy step
            // planned below finishes the job. Anything else missing is drift.
            let destroy_interrupted = v.phase == Phase::Revoked && !self.declares(id);
            for addr in &self.store_addrs {
                let Some(lf) = self.live.store(addr) else {
                    continue;
                };
                match lf.versions.iter().find(|lv| &lv.id == id) {
                    None if destroy_interrupted => {}
                    None => {
                        return Err(Blocked(format!(
                            "drift: version {id} is recorded in state ({}) but missing from {addr}; \
                             restore it in the store; or, once you have checked every consumer, forget the family with `rotor state rm {}`: rotor then adopts what the stores hold and holds every live version a full overlap",
                            v.phase.as_str(),
                            secret.name
                        )));
                    }
                    Some(lv) if lv.fingerprint != v.fingerprint => {
                        return Err(Blocked(format!(
                            "drift: version {id} in {addr} has fingerprint {} but state recorded {}; the material was replaced outside rotor",
                            lv.fingerprint, v.fingerprint
                        )));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Drift of the primary: a store whose primary is neither the version rotor
    /// last promoted nor the one a promote in progress is setting. When it is a
    /// version rotor holds in the key set (a promote interrupted after the
    /// store's write, then `active` moved back; or a change by hand), emitters
    /// may be using it: the promote below sets the primary again, and apply
    /// holds that version as in use from then. Anything else needs a person.
    fn drift_primary(&mut self) -> Result<bool, Blocked> {
        let fstate = &self.fstate;
        let target = &self.target;
        let mut repromote = false;
        for addr in &self.store_addrs {
            let Some(primary) = self.live.store(addr).and_then(|lf| lf.primary.as_ref()) else {
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
                self.fp.notes.push(format!(
                    "{addr}'s primary is {primary}, not {} as rotor last promoted (an interrupted promote, or a change by hand): it is set again, and {primary} is held as in use from then",
                    fstate.active.as_ref().map_or("none", VersionId::as_str)
                ));
                repromote = true;
                continue;
            }
            if fstate.active.is_some()
                && fstate.active.as_ref() != Some(primary)
                && target.as_ref() != Some(primary)
            {
                return Err(Blocked(format!(
                    "drift: {addr}'s primary is {primary} but rotor last promoted {}; \
                     set it back in the store, or point `active` at {primary} if that change was intended",
                    fstate.active.as_ref().map_or("none", VersionId::as_str)
                )));
            }
        }
        Ok(repromote)
    }

    /// Notes what rotor leaves alone: versions it does not manage, and a
    /// family that another state owns.
    fn note_foreign(&mut self) {
        for addr in &self.store_addrs {
            if let Some(lf) = self.live.store(addr) {
                for lv in &lf.versions {
                    if !self.fstate.versions.contains_key(&lv.id) && !self.declares(&lv.id) {
                        self.fp.notes.push(format!(
                            "{addr} holds version {} that rotor does not manage; left alone",
                            lv.id
                        ));
                    }
                }
            }
        }

        for (addr, lineage) in &self.live.owners {
            if *lineage != self.state.lineage {
                self.fp.notes.push(format!(
                    "{addr} holds secret.{} for another state (lineage {lineage}); this state is {}. If that state is gone, `rotor apply --adopt` takes the family over, holding every live version as in use for a full overlap",
                    self.secret.name, self.state.lineage
                ));
            }
        }
    }
}
