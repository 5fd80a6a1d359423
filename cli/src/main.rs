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
    let args = match args::Cli::try_parse_from(terraform_flags(std::env::args_os())) {
        Ok(args) => args,
        Err(e) => return std::process::ExitCode::from(usage(&e)),
    };
    // Rust ignores SIGPIPE, so printing to a closed pipe (`rotor plan | head`)
    // panics. Every command but apply gets the default back and ends
    // quietly, as other tools do; an apply keeps going (its JSON events
    // ignore a closed stdout) so that no step is cut short by a reader.
    if !matches!(args.command, args::Command::Apply { .. }) {
        sigpipe::reset();
    }
    style::init(args.global.no_color);
    // One thread: an apply's families run as one task (each step waits on
    // its store, its probes and its state save), so worker threads only
    // bounced its I/O wakeups between cores. On one thread a 2,000-family
    // rotation spends ~15 % less CPU (scripts/bench-apply). Blocking work
    // (DNS lookups) still goes to tokio's blocking pool, the state
    // committers and lease heartbeats have threads of their own, and so
    // does the Ctrl-C listener.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(commands::run(args));
    std::process::ExitCode::from(code)
}

/// Prints what clap says and returns the exit code: `--help` and
/// `--version` are successes; a usage error is an error (1), never clap's
/// own 2, which `--detailed-exitcode` reserves for "changes pending".
fn usage(e: &clap::Error) -> u8 {
    let _ = e.print();
    if e.use_stderr() {
        commands::ERROR
    } else {
        commands::OK
    }
}

/// Terraform's single-dash flags that rotor has under the same name
/// (`-out`, `-detailed-exitcode`, `-no-color`, `-json`, `-auto-approve`,
/// `-target`, `-parallelism`, `-state`), with or without `=VALUE`, are read as
/// the double-dash ones (clap would read `-out` as `-o -u -t`). `-input=false`
/// is `--no-input`. Arguments after `--` are left alone.
fn terraform_flags(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const SAME_NAME: &[&str] = &[
        "out",
        "detailed-exitcode",
        "no-color",
        "json",
        "auto-approve",
        "target",
        "parallelism",
        "state",
    ];
    let mut after_dashes = false;
    args.map(|a| {
        if after_dashes {
            return a;
        }
        let Some(s) = a.to_str() else {
            return a;
        };
        if s == "--" {
            after_dashes = true;
            return a;
        }
        if s == "-input=false" {
            return "--no-input".into();
        }
        let Some(flag) = s.strip_prefix('-').filter(|f| !f.starts_with('-')) else {
            return a;
        };
        let name = flag.split_once('=').map_or(flag, |(n, _)| n);
        if SAME_NAME.contains(&name) {
            format!("-{s}").into()
        } else {
            a
        }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::terraform_flags;

    fn read(args: &[&str]) -> Vec<String> {
        terraform_flags(args.iter().map(|a| a.into()))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn terraform_single_dash_flags_are_read_as_double_dash() {
        assert_eq!(
            read(&[
                "rotor",
                "plan",
                "-out",
                "p",
                "-detailed-exitcode",
                "-no-color"
            ]),
            [
                "rotor",
                "plan",
                "--out",
                "p",
                "--detailed-exitcode",
                "--no-color"
            ]
        );
        assert_eq!(
            read(&[
                "rotor",
                "apply",
                "-auto-approve",
                "-target=secret.a",
                "-input=false"
            ]),
            [
                "rotor",
                "apply",
                "--auto-approve",
                "--target=secret.a",
                "--no-input"
            ]
        );
        assert_eq!(
            read(&["rotor", "plan", "-json"]),
            ["rotor", "plan", "--json"]
        );
        // Short flags, unknown names and everything after `--` are left alone.
        assert_eq!(
            read(&["rotor", "-C", "dir", "-x", "--", "-out"]),
            ["rotor", "-C", "dir", "-x", "--", "-out"]
        );
    }
}
