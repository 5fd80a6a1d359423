use super::{ERROR, OK, PENDING};
use crate::context::{Reported, Workspace};
use crate::render;
use crate::render::plan::PlanFormat;
use rotor_engine::safety::CheckedPlan;
use rotor_engine::spec::Resolved;
use rotor_engine::{FamilyName, Providers, State};
use std::collections::BTreeSet;
use std::path::Path;

/// The families `--target` names (`secret.NAME` or `NAME`), each checked
/// against the spec; `None` without `--target`. Says so on stderr, as
/// Terraform does: a targeted plan is not the whole picture.
pub fn targets(
    resolved: &Resolved,
    given: &[String],
) -> Result<Option<BTreeSet<FamilyName>>, Reported> {
    if given.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = resolved
        .spec
        .secrets
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let mut chosen = BTreeSet::new();
    for target in given {
        let name = target.strip_prefix("secret.").unwrap_or(target);
        if !names.contains(&name) {
            let hint = match rotor_engine::diagnostics::did_you_mean(name, names.iter().copied()) {
                Some(m) => format!("did you mean `secret.{m}`?"),
                None => "--target takes a secret family: `secret.NAME` or `NAME`".to_string(),
            };
            render::error(
                &format!("--target {target}: no secret `{name}` in the spec"),
                Some(&hint),
            );
            return Err(Reported);
        }
        chosen.insert(FamilyName::from(name));
    }
    eprintln!(
        "note: only {} (--target): the plan leaves every other family out, so it is not the whole picture; use it for repairs, not routine applies",
        chosen
            .iter()
            .map(|n| format!("secret.{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(Some(chosen))
}

/// Refresh, plan and check: shared by plan and apply.
pub async fn make_plan(
    resolved: &Resolved,
    providers: &Providers,
    state: &State,
    parallelism: usize,
) -> Result<CheckedPlan, Reported> {
    make_plan_in(resolved, providers, state, parallelism, None).await
}

/// [`make_plan`] of the `--target` families only, when there are some.
pub async fn make_plan_in(
    resolved: &Resolved,
    providers: &Providers,
    state: &State,
    parallelism: usize,
    targets: Option<&BTreeSet<FamilyName>>,
) -> Result<CheckedPlan, Reported> {
    rotor_engine::session::checked_plan_in(resolved, providers, state, parallelism, targets)
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
    targets: &[String],
) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let targets = self::targets(&resolved, targets)?;
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend(Some(&resolved))?;
    // A saved plan records whether there was a state, not the lineage invented for a missing one.
    let existing = ws.existing_state(&*backend)?;
    let state_exists = existing.is_some();
    let state = existing.unwrap_or_else(|| State::new(rotor_providers::new_lineage()));
    let plan = make_plan_in(&resolved, &providers, &state, 10, targets.as_ref()).await?;
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
