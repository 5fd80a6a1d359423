use super::OK;
use crate::args::Cli;
use crate::context::Reported;
use clap::CommandFactory;

/// `rotor completions SHELL`: the completion script, generated from the
/// argument definitions, on stdout.
pub fn run(shell: clap_complete::Shell) -> Result<u8, Reported> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "rotor", &mut std::io::stdout());
    Ok(OK)
}
