use super::{ERROR, OK, PENDING};
use crate::context::{Reported, Workspace};
use crate::render;
use crate::style;
use rotor_engine::apply::{ApplyOptions, Recorder};
use rotor_engine::plan::Plan;
use std::collections::BTreeSet;
use std::io::BufRead;

pub struct Options {
    pub auto_approve: bool,
    pub wait: bool,
    pub parallelism: usize,
    pub no_input: bool,
    pub detailed_exitcode: bool,
}

/// How often `--wait` polls probes while no window is due.
const POLL: rotor_engine::Duration = rotor_engine::Duration(1000);
/// How often `--wait` says it is still waiting when nothing changes.
const STATUS_EVERY: rotor_engine::Duration = rotor_engine::Duration(30_000);

pub async fn run(ws: &Workspace, opts: Options) -> Result<u8, Reported> {
    let resolved = ws.resolved()?;
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend("rotor apply", true)?;
    let state = ws.state(&backend)?;
    let plan = super::plan::make_plan(&resolved, &providers, &state, opts.parallelism).await?;
    render::plan::print_human(&plan);
    if plan.is_empty() {
        return Ok(OK);
    }
    if plan.summary.blocked > 0 && plan.step_count() == 0 {
        return Ok(ERROR);
    }
    if !opts.auto_approve && !confirm(opts.no_input)? {
        eprintln!("Apply cancelled.");
        return Ok(ERROR);
    }

    let recorder = Recorder::new(state, &backend);
    let hook = render::plan::Progress::new();
    let started = providers.clock.now();
    let options = ApplyOptions {
        parallelism: opts.parallelism,
        deadline_base: opts.wait.then_some(started),
    };
    let mut ran = 0;
    let approved = action_keys(&plan);
    let mut plan = plan;
    let mut last_status = started;
    loop {
        let report =
            rotor_engine::apply::apply(&resolved, &plan, &providers, &recorder, &hook, &options)
                .await;
        ran += report.ran();
        if report.failed() {
            eprintln!("{}", style::red(&render::plan::apply_summary(&report, ran)));
            return Ok(ERROR);
        }
        if report.is_complete() {
            // Anything the finished plan made newly possible (none expected) is planned afresh.
            plan = super::plan::make_plan(
                &resolved,
                &providers,
                &recorder.snapshot(),
                opts.parallelism,
            )
            .await?;
            if plan.step_count() == 0 {
                eprintln!(
                    "{}",
                    style::green(&render::plan::apply_summary(&report, ran))
                );
                return Ok(if plan.summary.blocked > 0 { ERROR } else { OK });
            }
            continue;
        }
        if !opts.wait {
            eprintln!(
                "{}",
                style::yellow(&render::plan::apply_summary(&report, ran))
            );
            return Ok(if opts.detailed_exitcode { PENDING } else { OK });
        }
        // Sleep until the next window opens, polling probes meanwhile.
        let now = providers.clock.now();
        if now - last_status >= STATUS_EVERY {
            last_status = now;
            let waiting = report
                .families
                .iter()
                .flat_map(|f| &f.outcomes)
                .filter(|(_, o)| matches!(o, rotor_engine::apply::StepOutcome::Waiting { .. }))
                .count();
            let next = report
                .next_window()
                .map(|t| format!("; next window opens {} (in {})", t.human(), t - now))
                .unwrap_or_default();
            eprintln!(
                "{} {waiting} gate{} still closed after {}{next}",
                style::dim("…"),
                if waiting == 1 { "" } else { "s" },
                now - started
            );
        }
        let wake = report
            .next_window()
            .map_or(now + POLL, |t| t.min(now + POLL))
            .max(now + rotor_engine::Duration(100));
        tokio::time::sleep(std::time::Duration::from_millis(
            (wake - now).as_millis() as u64
        ))
        .await;
        // Follow the approved plan from the state as it is now: what ran drops out, and a gate
        // that depended on a step outside the plan cannot wait forever on a stale copy.
        plan = super::plan::make_plan(
            &resolved,
            &providers,
            &recorder.snapshot(),
            opts.parallelism,
        )
        .await?;
        if !within_approved(&plan, &approved) {
            return Ok(ERROR);
        }
    }
}

/// What each step does, without its numbering: `family verb target`.
fn action_keys(plan: &Plan) -> BTreeSet<String> {
    plan.families
        .iter()
        .flat_map(|f| {
            f.steps.iter().map(move |s| {
                format!(
                    "secret.{} {} {}",
                    f.family,
                    s.action.verb(),
                    s.action.target()
                )
            })
        })
        .collect()
}

/// Whether a fresh plan asks only for what was approved; says what is new when not.
fn within_approved(plan: &Plan, approved: &BTreeSet<String>) -> bool {
    let new: Vec<String> = action_keys(plan).difference(approved).cloned().collect();
    if new.is_empty() {
        return true;
    }
    render::error(
        &format!(
            "the plan changed while applying: {} was not in the plan you approved",
            new.join(", ")
        ),
        Some(
            "run `rotor plan` to review the new plan, then `rotor apply` again; everything that ran is recorded",
        ),
    );
    false
}

fn confirm(no_input: bool) -> Result<bool, Reported> {
    if no_input {
        render::error(
            "apply needs confirmation but input is disabled",
            Some("pass --auto-approve to apply without a prompt"),
        );
        return Err(Reported);
    }
    // A pipe is read like a terminal (`echo yes | rotor apply`); end of input means no.
    eprint!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|_| Reported)?;
    Ok(line.trim() == "yes")
}
