use super::{ERROR, OK, PENDING};
use crate::context::{Reported, Workspace};
use crate::render;
use crate::render::plan::PlanFormat;
use rotor_engine::safety::CheckedPlan;
use rotor_engine::spec::Resolved;
use rotor_engine::{Providers, State};
use std::path::Path;

/// Refresh, plan and check: shared by plan and apply.
pub async fn make_plan(
    resolved: &Resolved,
    providers: &Providers,
    state: &State,
    parallelism: usize,
) -> Result<CheckedPlan, Reported> {
    rotor_engine::session::checked_plan(resolved, providers, state, parallelism)
        .await
        .map_err(|violations| {
            report_unsafe(&violations);
            Reported
        })
}

/// The safety checker rejected a plan the planner made: a bug, said as one.
pub fn report_unsafe(violations: &[rotor_engine::safety::Violation]) {
    for v in violations {
        render::error(
            &format!("internal error: the safety checker rejected the plan: {v}"),
            None,
        );
    }
    render::error(
        "this is a bug in rotor's planner; nothing was applied",
        Some("please report it with `rotor plan --json` output (it holds no secret material)"),
    );
}

pub async fn run(
    ws: &Workspace,
    format: PlanFormat,
    detailed: bool,
    out: Option<&Path>,
) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend(Some(&resolved))?;
    // A saved plan records whether there was a state, not the lineage invented for a missing one.
    let existing = ws.existing_state(&*backend)?;
    let state_exists = existing.is_some();
    let state = existing.unwrap_or_else(|| State::new(rotor_providers::new_lineage()));
    let plan = make_plan(&resolved, &providers, &state, 10).await?;
    match format {
        PlanFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&render::plan::json(&plan)).expect("json")
        ),
        PlanFormat::Markdown => render::markdown::print(&plan),
        PlanFormat::Human => render::plan::print_human(&plan),
    }
    if let Some(path) = out {
        super::plan_file::save(path, &plan, state_exists)?;
        eprintln!(
            "\nSaved the plan to {0}. Apply it with: rotor apply {0}",
            path.display()
        );
    }
    let code = if plan.summary.blocked > 0 {
        ERROR
    } else if detailed && !plan.is_empty() {
        PENDING
    } else {
        OK
    };
    // The process ends right after this: freeing a large spec and plan object
    // by object would take longer than the OS takes to reclaim the memory.
    std::mem::forget((resolved, providers, plan));
    Ok(code)
}
