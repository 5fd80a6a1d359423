//! `rotor`: declarative, outage-free secret rotation.

mod args;
mod commands;
mod context;
mod render;
mod style;

use clap::Parser;

// Planning thousands of families allocates many small objects (the HCL syntax
// tree above all); mimalloc roughly halves the time glibc's allocator takes.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
