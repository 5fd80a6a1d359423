use super::OK;
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::StateBackend;
use rotor_engine::plan::gate_id;
use rotor_engine::spec::ProbePhase;
use rotor_engine::state::Approval;

pub fn run(ws: &Workspace, family: &str, version: &str, gate: &str) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
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
                if v.kind == "manual" {
                    gates.push(gate_id(phase, &c.name, i));
                }
            }
        }
    }
    for c in fam.consumers(&resolved) {
        for phase in [ProbePhase::Drain, ProbePhase::Guard] {
            for (i, v) in c.probes(phase) {
                if v.kind == "manual" {
                    gates.push(gate_id(phase, &c.name, i));
                }
            }
        }
    }
    if !gates.iter().any(|g| g == gate) {
        let known = if gates.is_empty() {
            "this family has no manual gates".to_string()
        } else {
            format!("manual gates: {}", gates.join(", "))
        };
        render::error(
            &format!("`{gate}` is not a manual gate of secret.{family}"),
            Some(&known),
        );
        return Err(Reported);
    }
    let backend = ws.backend("rotor approve", true)?;
    let mut state = ws.state(&backend)?;
    let Some(v) = state
        .families
        .get_mut(family)
        .and_then(|f| f.versions.get_mut(version))
    else {
        render::error(
            &format!("version {version} of secret.{family} is not in state yet"),
            Some("run `rotor apply` first: a gate can be approved once its version exists"),
        );
        return Err(Reported);
    };
    let by = format!(
        "{}@{}",
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into()),
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into())
    );
    let now = rotor_providers::now();
    v.approvals.insert(
        gate.to_string(),
        Approval {
            at: now,
            by: by.clone(),
        },
    );
    state.serial += 1;
    backend.save(&state).map_err(|e| {
        render::error(&e.to_string(), None);
        Reported
    })?;
    eprintln!(
        "Approved {gate} for secret.{family} {version} as {by}. Run `rotor apply` to continue."
    );
    Ok(OK)
}
