use super::{ERROR, OK};
use crate::context::{Reported, Workspace};
use crate::render;

pub fn run(ws: &Workspace, json: bool) -> Result<u8, Reported> {
    let (resolved, diags, sources) = ws.load_spec()?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::diagnostics::json(&diags, &sources))
                .expect("json")
        );
    } else {
        render::diagnostics::human(&diags, &sources);
    }
    let Some(resolved) = resolved else {
        return Ok(ERROR);
    };
    // Provider settings are part of validity: a store with a bad path is an invalid spec.
    ws.providers(&resolved)?;
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
