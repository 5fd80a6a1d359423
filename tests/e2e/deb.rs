//! The Debian package: `scripts/build-deb` packages this test's own rotor
//! binary, apt-get installs it, and the installed `/usr/bin/rotor` runs the
//! README's first job (a bootstrap on the local store). The package is
//! removed however the test ends.
//!
//! Installing a package needs root: the test runs as root (CI, containers)
//! or through passwordless `sudo -n`, and fails with a message otherwise
//! rather than passing without having checked anything.

use crate::harness::Test;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const INSTALLED: &str = "/usr/bin/rotor";
const MAN_PAGE: &str = "/usr/share/man/man1/rotor.1.gz";
/// Everything the package installs besides the binary and the man page.
const FILES: [&str; 5] = [
    "/usr/share/bash-completion/completions/rotor",
    "/usr/share/zsh/vendor-completions/_rotor",
    "/usr/share/fish/vendor_completions.d/rotor.fish",
    "/usr/share/doc/rotor/copyright",
    "/usr/share/doc/rotor/changelog.gz",
];

#[test]
fn deb_installs_runs_the_quickstart_and_removes() {
    require_root();
    // Test runs of other checkouts on this machine install and remove the
    // same package: one at a time, for as long as it is installed.
    let _machine = machine_lock();
    refuse_a_rotor_already_installed();

    let out = Test::new();
    let deb = build_deb(out.path());
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for path in FILES.iter().chain([&INSTALLED, &MAN_PAGE]) {
        let line = contents
            .lines()
            .find(|l| l.ends_with(&format!(".{path}")))
            .unwrap_or_else(|| panic!("the package lacks {path}\n{contents}"));
        assert!(line.contains(" root/root "), "{line}");
    }
    let depends = run(Command::new("dpkg-deb")
        .arg("--field")
        .arg(&deb)
        .arg("Depends"));
    assert!(depends.starts_with("libc6 (>= "), "Depends: {depends}");

    let installed = Installed::install(&deb);
    let t = Test::new();
    let version = t.run_of(INSTALLED, ["--version"]).success();
    assert_eq!(
        version.stdout,
        format!("rotor {}\n", env!("CARGO_PKG_VERSION"))
    );
    check_man_page();
    for path in FILES {
        assert!(
            Path::new(path).exists() || dpkg_excludes(path),
            "{path} was not installed"
        );
    }

    // The README's first job, with the installed binary: a starter spec,
    // then the bootstrap of its first version on the local store.
    t.run_of(INSTALLED, ["init"]).success();
    t.run_of(INSTALLED, ["apply", "--auto-approve", "--wait"])
        .success();
    t.run_of(INSTALLED, ["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes");
    assert!(
        t.read("public/.well-known/jwks.json").contains("2026-08"),
        "the JWKS lists the first version"
    );

    drop(installed);
    assert!(!Path::new(INSTALLED).exists(), "{INSTALLED} is still there");
}

/// `scripts/build-deb --binary <this test's rotor> --out DIR`: the .deb's path.
fn build_deb(out: &Path) -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/build-deb");
    let stdout = run(Command::new(script)
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_rotor"))
        .arg("--out")
        .arg(out));
    let deb = PathBuf::from(stdout.lines().last().unwrap_or_default());
    let name = deb.file_name().unwrap_or_default().to_string_lossy();
    assert!(
        name.starts_with(&format!("rotor_{}_", env!("CARGO_PKG_VERSION")))
            && name.ends_with(".deb"),
        "build-deb printed {stdout:?}"
    );
    deb
}

/// The installed package; dropping it purges the package, also when the
/// test failed half way.
struct Installed;

impl Installed {
    fn install(deb: &Path) -> Installed {
        // Made first, so that a half-done install is removed too.
        let installed = Installed;
        let out = apt_get(&["install", "--no-install-recommends", &deb.to_string_lossy()]);
        assert!(
            out.status.success(),
            "apt-get install failed\n{}",
            text(&out)
        );
        installed
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let out = apt_get(&["purge", "rotor"]);
        if !out.status.success() {
            let message = format!("apt-get purge rotor failed\n{}", text(&out));
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}

/// `apt-get -y ARGS` as root. Other apt and dpkg runs on the machine (a
/// test suite installing its tools) hold the dpkg lock for a while: wait for
/// it up to two minutes, and try again a few times if it is still taken.
fn apt_get(args: &[&str]) -> Output {
    let mut attempt = 1;
    loop {
        let out = as_root("apt-get")
            .args(["-y", "-q", "-o", "DPkg::Lock::Timeout=120"])
            .args(args)
            .output()
            .expect("run apt-get");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let locked = stderr.contains("Could not get lock") || stderr.contains("Unable to acquire");
        if out.status.success() || !locked || attempt == 5 {
            return out;
        }
        attempt += 1;
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// `man -w rotor` finds the installed page (where man is installed, and the
/// image does not drop man pages on install, as Docker's minimal ones do).
fn check_man_page() {
    if dpkg_excludes(MAN_PAGE) {
        return;
    }
    assert!(Path::new(MAN_PAGE).exists(), "{MAN_PAGE} was not installed");
    if let Ok(out) = Command::new("man").args(["-w", "rotor"]).output() {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            MAN_PAGE,
            "{}",
            text(&out)
        );
    }
}

/// Whether dpkg is set up not to install `path` (a `path-exclude` in
/// /etc/dpkg/dpkg.cfg.d/, as minimal container images have for docs).
fn dpkg_excludes(path: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/etc/dpkg/dpkg.cfg.d") else {
        return false;
    };
    dir.flatten()
        .filter_map(|f| std::fs::read_to_string(f.path()).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("path-exclude"))
                .map(|p| p.trim_start_matches(['=', ' ']).to_string())
                .collect::<Vec<_>>()
        })
        .any(|pattern| path.starts_with(pattern.trim_end_matches('*')))
}

/// A rotor package (or a /usr/bin/rotor of no package) that was there before
/// this test would be replaced and then removed by it: refuse instead.
fn refuse_a_rotor_already_installed() {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "rotor"])
        .output()
        .expect("run dpkg-query");
    let status = String::from_utf8_lossy(&out.stdout);
    let state = status.split_whitespace().last().unwrap_or("not-installed");
    assert!(
        ["not-installed", "config-files"].contains(&state),
        "a rotor package is installed ({status}); this test installs and removes its own: \
         `apt-get purge rotor` first (a test run that was killed may have left it)"
    );
    assert!(
        !Path::new(INSTALLED).exists(),
        "{INSTALLED} exists and belongs to no package; this test would overwrite and remove it"
    );
}

fn require_root() {
    let sudo = || {
        Command::new("sudo")
            .args(["-n", "true"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        is_root() || sudo(),
        "this test installs a Debian package: run it as root, or where `sudo -n` needs no password"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// `PROGRAM` as root: itself when the test is root, else through `sudo -n`.
fn as_root(program: &str) -> Command {
    let mut cmd = if is_root() {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "--preserve-env=DEBIAN_FRONTEND", program]);
        sudo
    };
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// An exclusive lock on a file in the temporary directory, shared by every
/// checkout on the machine; released when the file is dropped.
fn machine_lock() -> std::fs::File {
    let path = std::env::temp_dir().join("rotor-e2e-deb.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .or_else(|_| std::fs::File::open(&path))
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    file
}

/// Runs a command that must succeed; its stdout.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn text(out: &Output) -> String {
    format!(
        "exit: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
