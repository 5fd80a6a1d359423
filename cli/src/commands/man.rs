use super::{ERROR, OK};
use crate::args::Cli;
use crate::context::Reported;
use crate::render;
use clap::CommandFactory;

/// `rotor man`: a roff man page, generated from the argument definitions, on
/// stdout (`rotor man > rotor.1`, or `rotor man | man -l -`).
pub fn run() -> Result<u8, Reported> {
    let page = clap_mangen::Man::new(Cli::command());
    let mut out = std::io::stdout().lock();
    match page.render(&mut out) {
        Ok(()) => Ok(OK),
        // `rotor man | head`: the reader has all it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(OK),
        Err(e) => {
            render::error(&format!("cannot write the man page: {e}"), None);
            Ok(ERROR)
        }
    }
}
