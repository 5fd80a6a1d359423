//! `rotor`: declarative, outage-free secret rotation.

mod args;
mod commands;
mod context;
mod render;
mod style;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = args::Cli::parse();
    style::init(args.global.no_color);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(commands::run(args));
    std::process::ExitCode::from(code)
}
