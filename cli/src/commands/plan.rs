use super::{ERROR, OK, PENDING};
use crate::context::{Reported, Workspace};
use crate::render;
use rotor_engine::plan::Plan;
use rotor_engine::spec::Resolved;
use rotor_engine::{Providers, State};

/// Refresh, plan and check: shared by plan and apply.
pub async fn make_plan(
    resolved: &Resolved,
    providers: &Providers,
    state: &State,
    parallelism: usize,
) -> Result<Plan, Reported> {
    let live = rotor_engine::refresh::refresh(resolved, providers, parallelism).await;
    let plan = rotor_engine::plan::plan(resolved, state, &live, providers.clock.now());
    let violations = rotor_engine::safety::check_plan(resolved, state, &plan);
    if !violations.is_empty() {
        for v in &violations {
            render::error(
                &format!("internal error: the safety checker rejected the plan: {v}"),
                None,
            );
        }
        render::error(
            "this is a bug in rotor's planner; nothing was applied",
            Some("please report it with `rotor plan --json` output (it holds no secret material)"),
        );
        return Err(Reported);
    }
    Ok(plan)
}

pub async fn run(ws: &Workspace, json: bool, detailed: bool) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend("rotor plan", false)?;
    let state = ws.state(&backend)?;
    let plan = make_plan(&resolved, &providers, &state, 10).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::plan::json(&plan)).expect("json")
        );
    } else {
        render::plan::print_human(&plan);
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
