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
    let args = args::Cli::parse_from(terraform_out(std::env::args_os()));
    style::init(args.global.no_color);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(commands::run(args));
    std::process::ExitCode::from(code)
}

/// Accepts Terraform's single-dash `-out FILE` and `-out=FILE` as `--out`
/// (clap reads `-out` as `-o -u -t`). Arguments after `--` are left alone.
fn terraform_out(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut after_dashes = false;
    args.map(|a| {
        if after_dashes {
            return a;
        }
        match a.to_str() {
            Some("--") => {
                after_dashes = true;
                a
            }
            Some("-out") => "--out".into(),
            Some(s) if s.starts_with("-out=") => format!("-{s}").into(),
            _ => a,
        }
    })
    .collect()
}
