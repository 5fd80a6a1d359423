//! One function per command, each returning an exit code.
//!
//! Exit codes: 0 success; 1 error (a usage error too: never clap's 2); 2
//! only when asked for, meaning work is waiting: `plan --detailed-exitcode`
//! with changes, `apply --detailed-exitcode` with steps behind gates,
//! `status --due` with a family due; 3 `fmt --check` with a file to format;
//! 130 an apply stopped by Ctrl-C between steps.

mod apply;
mod approve;
mod completions;
mod fmt;
mod graph;
mod import;
mod init;
mod man;
mod plan;
mod plan_file;
mod rotate;
mod runbook;
mod show;
mod state;
mod status;
mod validate;

use crate::args::{Cli, Command, StateCommand};
use crate::context::Workspace;

pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
pub const PENDING: u8 = 2;
/// `apply`: a family it would change is leased by another rotor process, or
/// was changed by one since this apply planned; nothing was done, and a
/// later run carries on.
pub const BUSY: u8 = 4;

pub async fn run(cli: Cli) -> u8 {
    let ws = Workspace::new(&cli.global);
    let result = match cli.command {
        Command::Init => init::run(&ws),
        Command::Validate {
            json,
            strict,
            max_cadence,
        } => validate::run(&ws, json, strict, max_cadence),
        Command::Plan {
            json,
            format,
            detailed_exitcode,
            out,
            targets,
        } => {
            let format = if json {
                crate::render::plan::PlanFormat::Json
            } else {
                format
            };
            plan::run(&ws, format, detailed_exitcode, out.as_deref(), &targets).await
        }
        Command::Apply {
            plan_file,
            auto_approve,
            wait,
            parallelism,
            no_input,
            detailed_exitcode,
            adopt,
            targets,
            json,
        } => {
            apply::run(
                &ws,
                apply::Options {
                    auto_approve,
                    wait,
                    parallelism,
                    no_input,
                    detailed_exitcode,
                    adopt,
                    plan_file,
                    targets,
                    json,
                },
            )
            .await
        }
        Command::Show {
            families,
            json,
            events: true,
        } => show::events(&ws, &families, json),
        Command::Show { families, json, .. } => show::run(&ws, &families, json),
        Command::State { command } => match command {
            StateCommand::List => state::list(&ws),
            StateCommand::Show { family, json } => show::run(&ws, &[family], json),
            StateCommand::Rm { family, yes } => state::rm(&ws, &family, yes),
            StateCommand::Mv { old, new } => state::mv(&ws, &old, &new),
            StateCommand::Unlock { family, force } => state::unlock(&ws, &family, force),
            StateCommand::Init { print_sql } => state::init(&ws, print_sql),
            StateCommand::Pull => state::pull(&ws),
            StateCommand::Push { file, force } => state::push(&ws, &file, force),
        },
        Command::Status { json, due } => status::run(&ws, json, due).await,
        Command::Approve {
            family,
            version,
            gate,
            actor,
        } => approve::run(&ws, &family, &version, &gate, actor),
        Command::Import {
            family,
            previous,
            file,
        } => import::run(&ws, &family, previous.as_ref(), file.as_deref()).await,
        Command::Rotate {
            family,
            version,
            json,
        } => rotate::rotate(&ws, &family, version.as_ref(), json),
        Command::Retire { family, version } => rotate::retire(&ws, &family, &version),
        Command::Rollback { family, restore } => rotate::rollback(&ws, &family, restore),
        Command::Runbook { families, format } => {
            runbook::run(&ws, &families, format == crate::args::RunbookFormat::Html).await
        }
        Command::Graph { kind, format } => graph::run(&ws, kind, format).await,
        Command::Fmt { check, diff } => fmt::run(&ws, check, diff),
        Command::Completions { shell } => completions::run(shell),
        Command::Man => man::run(),
    };
    result.unwrap_or(ERROR)
}
