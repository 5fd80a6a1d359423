//! `rotor show`: the state, per family and version.

use crate::style;
use rotor_engine::{FamilyName, State, VersionId};
use serde_json::json;

pub fn human(state: &State, only: &[FamilyName]) -> String {
    let mut out = String::new();
    if state.families.is_empty() {
        return "No state yet: run `rotor apply` to bootstrap the spec's families.\n".into();
    }
    out.push_str(&style::dim(&format!(
        "state lineage {} serial {}\n",
        state.lineage, state.serial
    )));
    for (name, f) in &state.families {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        out.push('\n');
        let active = f.active.as_ref().map_or("none", VersionId::as_str);
        out.push_str(&format!(
            "{}  active {active}\n",
            style::bold(&format!("secret.{name}"))
        ));
        for (id, v) in f.versions.iter().rev() {
            out.push_str(&format!(
                "  {id:<12} {:<9} kid {}  {}  {}\n",
                v.phase.as_str(),
                v.kid,
                v.algorithm,
                style::dim(&v.fingerprint)
            ));
            let mut events = vec![("created", Some(v.created_at))];
            events.push(("published", v.published_at));
            events.push(("promoted", v.promoted_at));
            events.push(("retired", v.retired_at));
            events.push(("drained", v.drained_at));
            events.push(("revoked", v.disabled_at));
            events.push(("destroyed", v.destroyed_at));
            for (what, at) in events {
                if let Some(t) = at {
                    out.push_str(&format!("      {what:<10} {}\n", t.human()));
                }
            }
            for (g, b) in &v.baselines {
                out.push_str(&format!(
                    "      baseline   {g}: {} at {}\n",
                    b.detail,
                    b.at.human()
                ));
            }
            for (what, evidence) in [
                ("accepted", &v.accepted),
                ("emitted", &v.emitted),
                ("drained", &v.drain),
                ("guarded", &v.guarded),
            ] {
                for (c, e) in evidence {
                    out.push_str(&format!(
                        "      {what:<10} by consumer.{c}: {} ({}) at {}: {}\n",
                        e.outcome.as_str(),
                        e.probe,
                        e.at.human(),
                        e.detail
                    ));
                }
            }
            for (g, a) in &v.approvals {
                out.push_str(&format!(
                    "      approved   {g} by {} at {}\n",
                    a.by,
                    a.at.human()
                ));
            }
            for (g, e) in &v.last_attempt {
                if v.accepted.is_empty() || e.outcome == rotor_engine::state::Outcome::Failed {
                    out.push_str(&format!(
                        "      probe      {g}: {} at {}: {}\n",
                        e.outcome.as_str(),
                        e.at.human(),
                        e.detail
                    ));
                }
            }
        }
    }
    out
}

pub fn json(state: &State, only: &[FamilyName]) -> serde_json::Value {
    let families: serde_json::Map<String, serde_json::Value> = state
        .families
        .iter()
        .filter(|(n, _)| only.is_empty() || only.contains(n))
        .map(|(n, f)| {
            (
                n.to_string(),
                serde_json::to_value(f).expect("state serialises"),
            )
        })
        .collect();
    json!({
        "format_version": "1.0",
        "lineage": state.lineage,
        "serial": state.serial,
        "families": families,
    })
}
