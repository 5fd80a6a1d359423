//! One function per command, each returning an exit code.
//!
//! Exit codes: 0 success; 1 error; 2 with `--detailed-exitcode` when changes
//! are pending (plan) or steps remain behind gates (apply).

mod apply;
mod approve;
mod completions;
mod graph;
mod init;
mod man;
mod plan;
mod plan_file;
mod show;
mod validate;

use crate::args::{Cli, Command};
use crate::context::Workspace;

pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
pub const PENDING: u8 = 2;

pub async fn run(cli: Cli) -> u8 {
    let ws = Workspace::new(&cli.global);
    let result = match cli.command {
        Command::Init => init::run(&ws),
        Command::Validate { json } => validate::run(&ws, json),
        Command::Plan {
            json,
            format,
            detailed_exitcode,
            out,
        } => {
            let format = if json {
                crate::render::plan::PlanFormat::Json
            } else {
                format
            };
            plan::run(&ws, format, detailed_exitcode, out.as_deref()).await
        }
        Command::Apply {
            plan_file,
            auto_approve,
            wait,
            parallelism,
            no_input,
            detailed_exitcode,
        } => {
            apply::run(
                &ws,
                apply::Options {
                    auto_approve,
                    wait,
                    parallelism,
                    no_input,
                    detailed_exitcode,
                    plan_file,
                },
            )
            .await
        }
        Command::Show { families, json } => show::run(&ws, &families, json),
        Command::Approve {
            family,
            version,
            gate,
        } => approve::run(&ws, &family, &version, &gate),
        Command::Graph { kind, format } => graph::run(&ws, kind, format).await,
        Command::Completions { shell } => completions::run(shell),
        Command::Man => man::run(),
    };
    result.unwrap_or(ERROR)
}
