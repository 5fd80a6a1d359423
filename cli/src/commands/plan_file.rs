//! Saved plans: `rotor plan -out FILE`, `rotor apply FILE`, `rotor show FILE`.
//!
//! A saved plan is the engine's [`Plan`] (plain data, no secret material)
//! inside a small envelope that says what it is and whether a state existed
//! when it was made. Apply refuses a saved plan whose spec or families moved
//! on: the plan records the spec's hash, the state's lineage and the serial
//! of each family it plans for, and a plan made with no state records that
//! instead of the throwaway lineage a fresh in-memory state gets. So a plan
//! cannot be applied twice (its families' serials moved the first time),
//! while an apply of other families in a shared state does not stale it.

use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::State;
use rotor_engine::plan::{PLAN_FORMAT_VERSION, Plan};
use rotor_engine::spec::Resolved;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `kind` of a saved plan file.
pub const KIND: &str = "rotor-plan";
/// The envelope format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What `rotor plan -out FILE` writes.
#[derive(Debug, Serialize, Deserialize)]
pub struct SavedPlan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Always [`KIND`]: tells a saved plan from any other JSON file.
    pub kind: String,
    /// Whether a state existed when the plan was made. When not, the plan's
    /// `lineage` is empty and its `serial` 0, and it only applies while there
    /// is still no state.
    pub state_exists: bool,
    /// The plan, as `rotor plan --json` prints it minus `summary_line`.
    pub plan: Plan,
    /// `sha256:` of the plan as saved: a plan whose bytes changed after
    /// `rotor plan -out` (by hand, by a broken transfer) is refused.
    #[serde(default)]
    pub checksum: String,
}

/// The largest saved plan rotor reads: far above any real plan, and a
/// guard against `rotor apply /dev/zero` reading until memory runs out.
pub const MAX_PLAN_BYTES: u64 = 256 << 20;

/// The checksum of a plan: SHA-256 of its compact JSON.
fn plan_checksum(plan: &Plan) -> String {
    use sha2::Digest;
    let bytes = serde_json::to_vec(plan).expect("a plan serialises");
    format!(
        "sha256:{}",
        rotor_engine::state::hex(&sha2::Sha256::digest(&bytes))
    )
}

impl SavedPlan {
    /// Wraps a plan made against `state`, which existed or was made up for planning.
    pub fn new(mut plan: Plan, state_exists: bool) -> SavedPlan {
        if !state_exists {
            // The lineage of a state that was never saved means nothing: a
            // later apply must not mistake it for the lineage of a real state.
            plan.lineage = String::new();
            plan.serial = 0;
        }
        SavedPlan {
            format_version: FORMAT_VERSION,
            kind: KIND.into(),
            state_exists,
            checksum: plan_checksum(&plan),
            plan,
        }
    }

    /// [`Stale::Spec`] when the spec's files changed since the plan was made.
    pub fn stale_spec(&self, spec_hash: &str) -> Option<Stale> {
        (self.plan.spec_hash != spec_hash).then_some(Stale::Spec)
    }

    /// Why the plan no longer fits the spec (by hash) and the state, if it does not.
    pub fn stale(&self, spec_hash: &str, state: Option<&State>) -> Option<Stale> {
        if let Some(why) = self.stale_spec(spec_hash) {
            return Some(why);
        }
        let moved = |state: &State| {
            self.plan.serials.iter().find_map(|(family, &planned)| {
                let current = state.family(family).map_or(0, |f| f.serial);
                (current != planned).then(|| Stale::Family {
                    family: family.clone(),
                    planned,
                    current,
                })
            })
        };
        // Plans from before per-family serials judge by the whole state's.
        let legacy = self.plan.serials.is_empty();
        match (self.state_exists, state) {
            (false, None) => None,
            (false, Some(s)) if legacy => Some(Stale::StateCreated { serial: s.serial }),
            (false, Some(s)) => moved(s),
            (true, None) => Some(Stale::StateMissing),
            (true, Some(s)) if s.lineage != self.plan.lineage => Some(Stale::Lineage {
                planned: self.plan.lineage.clone(),
                current: s.lineage.clone(),
            }),
            (true, Some(s)) if legacy && s.serial != self.plan.serial => Some(Stale::Serial {
                planned: self.plan.serial,
                current: s.serial,
            }),
            (true, Some(s)) => moved(s),
        }
    }
}

/// Why a saved plan cannot be applied any more.
#[derive(Debug, PartialEq, Eq)]
pub enum Stale {
    /// The spec files' hash differs.
    Spec,
    /// The plan was made with no state; one exists now.
    StateCreated { serial: u64 },
    /// The plan was made against a state that is gone.
    StateMissing,
    /// The state is another one.
    Lineage { planned: String, current: String },
    /// The state was written since (a plan without per-family serials).
    Serial { planned: u64, current: u64 },
    /// A family the plan changes was saved since.
    Family {
        family: rotor_engine::FamilyName,
        planned: u64,
        current: u64,
    },
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stale::Spec => write!(f, "the spec changed since the plan was made"),
            Stale::StateCreated { serial } => write!(
                f,
                "the plan was made when there was no state, and a state exists now (serial {serial}): it was applied already, or something else ran"
            ),
            Stale::StateMissing => write!(
                f,
                "the plan was made for a state that no longer exists (or --state points elsewhere)"
            ),
            Stale::Lineage { planned, current } => write!(
                f,
                "the plan was made for another state (lineage {planned}; this state's is {current})"
            ),
            Stale::Serial { planned, current } => write!(
                f,
                "the state changed since the plan was made (serial {planned} → {current})"
            ),
            Stale::Family {
                family,
                planned,
                current,
            } => write!(
                f,
                "secret.{family} changed since the plan was made (its serial {planned} → {current}): it was applied already, or something else ran"
            ),
        }
    }
}

const PLAN_AGAIN: &str = "run `rotor plan -out FILE` again, review it, and apply the new plan";

/// Writes the plan atomically: a temporary file beside `path`, then a rename.
pub fn save(path: &Path, plan: &Plan, state_exists: bool) -> Result<(), Reported> {
    let saved = SavedPlan::new(plan.clone(), state_exists);
    let mut text = serde_json::to_string_pretty(&saved).expect("a plan serialises");
    text.push('\n');
    // Durably: a plan saved for review is applied later, maybe after a crash.
    if let Err(e) = rotor_providers::replace_file(path, text.as_bytes()) {
        render::error(
            &format!("cannot save the plan to {}: {e}", path.display()),
            None,
        );
        return Err(Reported);
    }
    Ok(())
}

/// Reads a saved plan, explaining on stderr why a file is not one.
pub fn load(path: &Path) -> Result<SavedPlan, Reported> {
    let fail = |message: String, hint: &str| {
        render::error(&message, Some(hint));
        Reported
    };
    let text = read_bounded(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display()), PLAN_AGAIN))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        fail(
            format!(
                "{} is not a rotor plan: it is not valid JSON, perhaps truncated or corrupt ({e})",
                path.display()
            ),
            PLAN_AGAIN,
        )
    })?;
    if value.get("kind").and_then(|k| k.as_str()) != Some(KIND) {
        return Err(fail(
            format!(
                "{} is not a rotor plan: it has no `\"kind\": \"{KIND}\"`",
                path.display()
            ),
            "save a plan with `rotor plan -out FILE`",
        ));
    }
    let version = value.get("format_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(FORMAT_VERSION)) {
        let found = value
            .get("format_version")
            .map_or_else(|| "none".into(), |v| v.to_string());
        return Err(fail(
            format!(
                "{} has saved-plan format version {found}; this rotor reads version {FORMAT_VERSION}",
                path.display()
            ),
            "make and apply the plan with the same rotor version",
        ));
    }
    let inner = value
        .pointer("/plan/format_version")
        .and_then(|v| v.as_u64());
    if inner != Some(u64::from(PLAN_FORMAT_VERSION)) {
        let found = value
            .pointer("/plan/format_version")
            .map_or_else(|| "none".into(), |v| v.to_string());
        return Err(fail(
            format!(
                "{} holds a plan of format version {found}; this rotor reads version {PLAN_FORMAT_VERSION}",
                path.display()
            ),
            "make and apply the plan with the same rotor version",
        ));
    }
    let saved: SavedPlan = serde_json::from_value(value).map_err(|e| {
        fail(
            format!(
                "{} is not a rotor plan: {e} (edited or corrupt?)",
                path.display()
            ),
            PLAN_AGAIN,
        )
    })?;
    if saved.checksum != plan_checksum(&saved.plan) {
        return Err(fail(
            format!(
                "{} does not match its checksum: the plan was changed after `rotor plan -out` saved it",
                path.display()
            ),
            PLAN_AGAIN,
        ));
    }
    Ok(saved)
}

/// A file's text, refused past [`MAX_PLAN_BYTES`] (read in bounded steps,
/// so that a device that never ends is refused too).
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB, far larger than any saved plan",
            MAX_PLAN_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not text (a rotor plan is JSON)",
        )
    })
}

/// Refuses a stale plan with an error naming why.
pub fn check_fresh(
    saved: &SavedPlan,
    path: &Path,
    spec_hash: &str,
    state: Option<&State>,
) -> Result<(), Reported> {
    saved
        .stale(spec_hash, state)
        .map_or(Ok(()), |why| Err(refuse(path, &why)))
}

/// Says on stderr why the saved plan at `path` is refused.
pub fn refuse(path: &Path, why: &Stale) -> Reported {
    let hint = match why {
        Stale::Serial { .. } | Stale::Family { .. } => {
            "run `rotor plan` again (and `-out FILE` to save it); nothing was applied".to_string()
        }
        _ => format!("{PLAN_AGAIN}; nothing was applied"),
    };
    render::error(
        &format!("cannot apply {}: {why}", path.display()),
        Some(&hint),
    );
    Reported
}

/// Runs the engine's safety checker on a loaded plan against the current state.
pub fn check_safety(
    resolved: &Resolved,
    state: &State,
    plan: Plan,
    path: &Path,
) -> Result<rotor_engine::safety::CheckedPlan, Reported> {
    rotor_engine::safety::CheckedPlan::check(resolved, state, plan).map_err(|violations| {
        for v in &violations {
            render::error(&format!("the saved plan fails the safety check: {v}"), None);
        }
        render::error(
            &format!("refusing to apply {}; nothing was applied", path.display()),
            Some(PLAN_AGAIN),
        );
        Reported
    })
}

/// Whether `show`'s argument names a saved plan rather than a family.
pub fn looks_like_plan(arg: &str) -> bool {
    let path = Path::new(arg);
    path.is_file() || arg.ends_with(".json") || arg.ends_with(".plan")
}

/// `rotor show FILE`: the saved plan, with a warning when it is stale.
pub fn show(ws: &Workspace, path: &Path, json: bool) -> Result<u8, Reported> {
    let saved = load(path)?;
    // Staleness is a courtesy here: a spec that does not load only means it cannot be checked.
    let resolved = ws.load_spec().ok().and_then(|(r, _, _)| r);
    let spec_hash = resolved.as_ref().map(|r| r.hash.clone());
    let state = resolved.as_ref().and_then(|r| {
        rotor_providers::state::open(ws.state_flag.as_deref(), r.spec.state.as_ref(), &ws.dir)
            .ok()
            .and_then(|b| b.load().ok())
    });
    match (spec_hash, state) {
        (Some(hash), Some(state)) => {
            if let Some(why) = saved.stale(&hash, state.as_ref()) {
                render::warning(
                    &format!(
                        "{} is stale, `rotor apply` would refuse it: {why}",
                        path.display()
                    ),
                    Some("run `rotor plan -out FILE` again for a plan that applies"),
                );
            }
        }
        _ => render::warning(
            &format!(
                "cannot tell whether {} is stale: the spec or the state could not be read",
                path.display()
            ),
            None,
        ),
    }
    if json {
        let mut v = render::plan::json(&saved.plan);
        v["state_exists"] = serde_json::json!(saved.state_exists);
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        render::plan::print_human(&saved.plan);
    }
    Ok(super::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotor_engine::plan::Summary;

    fn plan(lineage: &str, serial: u64) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            made_at: rotor_engine::Timestamp(0),
            spec_hash: "sha256:aa".into(),
            lineage: lineage.into(),
            serial,
            serials: Default::default(),
            families: vec![],
            summary: Summary::default(),
        }
    }

    fn state(lineage: &str, serial: u64) -> State {
        let mut s = State::new(lineage.into());
        s.serial = serial;
        s
    }

    #[test]
    fn a_plan_made_without_state_forgets_the_invented_lineage() {
        let saved = SavedPlan::new(plan("random", 0), false);
        assert_eq!(saved.plan.lineage, "");
        assert_eq!(saved.stale("sha256:aa", None), None);
        assert_eq!(
            saved.stale("sha256:aa", Some(&state("random", 0))),
            Some(Stale::StateCreated { serial: 0 })
        );
    }

    #[test]
    fn staleness_names_what_moved() {
        let saved = SavedPlan::new(plan("L", 3), true);
        assert_eq!(saved.stale("sha256:aa", Some(&state("L", 3))), None);
        assert_eq!(
            saved.stale("sha256:bb", Some(&state("L", 3))),
            Some(Stale::Spec)
        );
        assert_eq!(saved.stale("sha256:aa", None), Some(Stale::StateMissing));
        assert!(matches!(
            saved.stale("sha256:aa", Some(&state("M", 3))),
            Some(Stale::Lineage { .. })
        ));
        let serial = saved.stale("sha256:aa", Some(&state("L", 5))).unwrap();
        assert_eq!(
            serial.to_string(),
            "the state changed since the plan was made (serial 3 → 5)"
        );
    }

    /// A plan with per-family serials is stale when one of its families
    /// moved, and only then: another family's apply does not stale it.
    #[test]
    fn per_family_serials_judge_only_the_plans_families() {
        let mut p = plan("L", 3);
        p.serials.insert("jwt".into(), 2);
        let saved = SavedPlan::new(p, true);
        let mut s = state("L", 9);
        s.families.entry("jwt".into()).or_default().serial = 2;
        s.families.entry("db".into()).or_default().serial = 7;
        assert_eq!(saved.stale("sha256:aa", Some(&s)), None);
        s.families.get_mut("jwt").unwrap().serial = 3;
        assert_eq!(
            saved.stale("sha256:aa", Some(&s)).unwrap().to_string(),
            "secret.jwt changed since the plan was made (its serial 2 → 3): it was applied already, or something else ran"
        );
        // Made with no state: a state created since for other families is fine.
        let mut p = plan("random", 0);
        p.serials.insert("jwt".into(), 0);
        let saved = SavedPlan::new(p, false);
        let mut s = state("L", 1);
        s.families.entry("db".into()).or_default().serial = 1;
        assert_eq!(saved.stale("sha256:aa", Some(&s)), None);
    }
}
