use super::{ERROR, OK};
use crate::context::{Reported, Workspace};
use crate::render;

pub fn run(
    ws: &Workspace,
    json: bool,
    strict: bool,
    max_cadence: Option<rotor_engine::Duration>,
) -> Result<u8, Reported> {
    let (resolved, mut diags, sources) = ws.load_spec()?;
    // Inventory checks (review date, probes, cadence policy); `--strict` makes every warning an error.
    if let Some(r) = &resolved {
        let inventory =
            rotor_engine::inventory::check(r, rotor_providers::now(), strict, max_cadence);
        diags.0.extend(inventory.0);
    }
    // Provider settings are part of validity (a store with a bad path, a
    // probe refusing a phase): judged before anything is printed, so that
    // `--json` says so too.
    if let Some(r) = resolved.as_ref().filter(|_| !diags.has_errors())
        && let Err(errors) = rotor_providers::build_providers(r, &ws.dir)
    {
        diags.0.extend(errors);
    }
    if strict {
        for d in &mut diags.0 {
            d.severity = rotor_engine::Severity::Error;
        }
    }
    diags.sort();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::diagnostics::json(&diags, &sources))
                .expect("json")
        );
    } else {
        render::diagnostics::human(&diags, &sources);
    }
    let Some(resolved) = resolved.filter(|_| !diags.has_errors()) else {
        return Ok(ERROR);
    };
    if !json {
        let warnings = diags.0.len();
        eprintln!(
            "The spec is valid: {} famil{}, {} consumer{}{}.",
            resolved.families.len(),
            if resolved.families.len() == 1 {
                "y"
            } else {
                "ies"
            },
            resolved.spec.consumers.len(),
            if resolved.spec.consumers.len() == 1 {
                ""
            } else {
                "s"
            },
            if warnings > 0 {
                format!(
                    ", {warnings} warning{}",
                    if warnings == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
    Ok(OK)
}
