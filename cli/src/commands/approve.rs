use super::OK;
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::plan::GateId;
use rotor_engine::safety;
use rotor_engine::spec::ProbePhase;
use rotor_engine::state::{Approval, ApprovalRecord};
use rotor_engine::{FamilyName, VersionId};

pub fn run(
    ws: &Workspace,
    family: &FamilyName,
    version: &VersionId,
    gate: &str,
    actor: Option<String>,
) -> Result<u8, Reported> {
    let resolved = ws.resolved_for_state()?;
    let Some(fam) = resolved.family_by_name(family) else {
        render::error(&format!("no secret `{family}` in the spec"), None);
        return Err(Reported);
    };
    // The manual gates this family has, by id.
    let mut gates = Vec::new();
    for (role, phase) in [
        (&fam.verifiers, ProbePhase::Accept),
        (&fam.emitters, ProbePhase::Emit),
    ] {
        for &c in role {
            let c = &resolved.spec.consumers[c];
            for (i, v) in c.probes(phase) {
                if v.is_manual() {
                    gates.push((GateId::new(phase, &c.name, i), c));
                }
            }
        }
    }
    for c in fam.consumers(&resolved) {
        for phase in [ProbePhase::Drain, ProbePhase::Guard] {
            for (i, v) in c.probes(phase) {
                if v.is_manual() {
                    gates.push((GateId::new(phase, &c.name, i), c));
                }
            }
        }
    }
    // Text that is no gate id matches no gate: it is refused below with the
    // gates there are, as any other gate the family lacks.
    let wanted = gate.parse::<GateId>().ok();
    let Some((id, consumer)) = gates.iter().find(|(g, _)| Some(g) == wanted.as_ref()) else {
        let known = if gates.is_empty() {
            "this family has no manual gates".to_string()
        } else {
            let ids: Vec<String> = gates.iter().map(|(g, _)| g.to_string()).collect();
            format!("manual gates: {}", ids.join(", "))
        };
        render::error(
            &format!("`{gate}` is not a manual gate of secret.{family}"),
            Some(&known),
        );
        return Err(Reported);
    };
    // No lease: an approval is a record of its own, appended beside the
    // families' records, so it can be given while `apply --wait` holds the
    // family's lease and waits for it (it takes it up on its next poll).
    let backend = ws.backend(Some(&resolved))?;
    let state = ws.state(&*backend)?;
    let Some(vs) = state.version(family, version) else {
        render::error(
            &format!("version {version} of secret.{family} is not in state yet"),
            Some("run `rotor apply` first: a gate can be approved once its version exists"),
        );
        return Err(Reported);
    };
    // An approval counts only for the term it was given in (safety::
    // approval_in_term): one given before the term began would be recorded
    // and never count, so it is refused with what to wait for.
    if safety::term_start(id.phase, consumer, vs).is_none() {
        let after = match id.phase {
            ProbePhase::Accept => "its key is published",
            ProbePhase::Emit => "it is promoted",
            ProbePhase::Drain => "it is retired",
            ProbePhase::Guard => "it is disabled",
        };
        render::error(
            &format!(
                "{gate} of secret.{family} {version} cannot be approved yet: it opens once {after}"
            ),
            Some(
                "run `rotor apply`; approve when `rotor plan` shows the step waiting for this approval",
            ),
        );
        return Err(Reported);
    }
    let by = actor
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(rotor_providers::actor);
    let record = ApprovalRecord {
        family: family.clone(),
        version: version.clone(),
        gate: id.to_string(),
        approval: Approval {
            at: rotor_providers::now(),
            by: by.clone(),
        },
    };
    backend.add_approval(&record).map_err(|e| {
        render::error(&e.to_string(), None);
        Reported
    })?;
    // The history is for people; the approval itself is recorded above.
    let _ = backend.append_event(&rotor_engine::state::Event {
        at: record.approval.at,
        family: family.clone(),
        what: format!("approve {version} {gate}"),
        outcome: "approved".into(),
        actor: by.clone(),
        detail: String::new(),
    });
    eprintln!(
        "Approved {gate} for secret.{family} {version} as {by}. A waiting `rotor apply --wait` takes it up on its next poll; otherwise run `rotor apply`."
    );
    Ok(OK)
}
