//! The `command` probe: run a program; exit status 0 means the check passed.
//!
//! ```hcl
//! verify "command" {
//!   command = ["./scripts/check-kid.sh"]   # or one string, run with `sh -c`
//!   timeout = "10s"                        # default 30s
//! }
//! ```
//!
//! The program runs in the spec directory with stdin closed and these
//! variables set, so one script can serve every version and phase:
//!
//! | variable | value |
//! |---|---|
//! | `ROTOR_FAMILY` | the secret family |
//! | `ROTOR_VERSION` | the version under test |
//! | `ROTOR_KID` | its `kid` |
//! | `ROTOR_PHASE` | `accept` or `emit` |
//! | `ROTOR_CONSUMER` | the consumer's name |
//!
//! No material is passed: a probe that needs a credential made with the
//! version should read it from the store as the consumer would.

use crate::config::{ConfigError, Settings, describe};
use async_trait::async_trait;
use rotor_engine::Duration;
use rotor_engine::provider::{Probe, ProbeRequest, ProbeResult};
use rotor_engine::spec::{Value, VerifySpec};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// How long a command may run when the spec does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::seconds(30);

/// Longest detail line kept from a command's output, in characters.
const DETAIL_CHARS: usize = 160;

/// A `verify "command"` block.
#[derive(Debug, Clone)]
pub struct CommandProbe {
    program: String,
    args: Vec<String>,
    timeout: Duration,
    dir: PathBuf,
}

impl CommandProbe {
    /// A probe running `argv` (program first) in `dir`.
    pub fn new(argv: Vec<String>, timeout: Duration, dir: PathBuf) -> CommandProbe {
        let mut argv = argv.into_iter();
        CommandProbe {
            program: argv.next().unwrap_or_default(),
            args: argv.collect(),
            timeout,
            dir,
        }
    }

    /// Reads a `verify "command"` block; the command runs in `base_dir`.
    pub fn from_spec(spec: &VerifySpec, base_dir: &Path) -> Result<CommandProbe, ConfigError> {
        let settings = Settings::of("verify", &spec.kind, &spec.settings, &spec.span);
        settings.only(&["command", "timeout"], &["on", "within"])?;
        let example = "[\"sh\", \"-c\", \"test -f ready\"]";
        let Some(command) = spec.settings.get("command") else {
            return Err(ConfigError::new(
                "verify \"command\" needs a `command` setting",
                &spec.span,
            )
            .hint(format!("add `command = {example}`")));
        };
        let argv = match &command.value {
            Value::String(s) if !s.trim().is_empty() => vec!["sh".into(), "-c".into(), s.clone()],
            Value::List(items) if !items.is_empty() => items
                .iter()
                .map(|item| match &item.value {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ConfigError::new(
                        format!(
                            "every item of `command` must be a string, not {}",
                            describe(other)
                        ),
                        &item.span,
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Value::String(_) | Value::List(_) => {
                return Err(
                    ConfigError::new("`command` is empty", &command.span).hint(format!(
                        "name the program and its arguments: `command = {example}`"
                    )),
                );
            }
            _ => {
                return Err(settings.wrong_type(
                    "command",
                    command,
                    "a list of strings or a string",
                ));
            }
        };
        if argv[0].is_empty() {
            return Err(ConfigError::new(
                "the program in `command` is empty",
                &command.span,
            ));
        }
        let timeout = settings
            .duration("timeout")?
            .map_or(DEFAULT_TIMEOUT, |(d, _)| d);
        Ok(CommandProbe::new(argv, timeout, base_dir.to_path_buf()))
    }
}

/// The last non-empty line of a stream, trimmed, at most [`DETAIL_CHARS`] long.
fn last_line(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    if line.chars().count() <= DETAIL_CHARS {
        Some(line.to_string())
    } else {
        let mut cut: String = line.chars().take(DETAIL_CHARS - 1).collect();
        cut.push('…');
        Some(cut)
    }
}

#[async_trait]
impl Probe for CommandProbe {
    fn kind(&self) -> &str {
        "command"
    }

    async fn check(&self, request: &ProbeRequest) -> ProbeResult {
        let failed = |detail: String| ProbeResult {
            quotes: true,
            passed: false,
            detail,
        };
        let child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .env("ROTOR_FAMILY", request.family.as_str())
            .env("ROTOR_VERSION", request.version.as_str())
            .env("ROTOR_KID", &request.kid)
            .env("ROTOR_PHASE", request.phase.as_str())
            .env("ROTOR_CONSUMER", request.consumer.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping the child on timeout kills it. A grandchild (the
            // `sleep` under `sh -c`) may outlive it; it holds no lock of ours.
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => return failed(format!("could not start `{}`: {e}", self.program)),
        };
        let limit = std::time::Duration::from_millis(self.timeout.as_millis().max(0) as u64);
        let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Err(_) => return failed(format!("timed out after {}", self.timeout)),
            Ok(Err(e)) => return failed(format!("could not run `{}`: {e}", self.program)),
            Ok(Ok(output)) => output,
        };
        let status = match (output.status.code(), output.status.signal()) {
            (Some(0), _) => {
                // Its output is not kept: nothing outside rotor is quoted.
                return ProbeResult {
                    quotes: false,
                    passed: true,
                    detail: "exit 0".into(),
                };
            }
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "ended without an exit status".into(),
        };
        match last_line(&output.stderr).or_else(|| last_line(&output.stdout)) {
            Some(line) => failed(format!("{status}: {line}")),
            None => ProbeResult {
                quotes: false,
                passed: false,
                detail: status,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotor_engine::spec::ProbePhase;

    fn request() -> ProbeRequest {
        ProbeRequest {
            family: "signing".into(),
            version: "2026-11".into(),
            kid: "kid-2026-11".into(),
            algorithm: "RS256".into(),
            phase: ProbePhase::Accept,
            consumer: "gateway".into(),
            material: None,
            thumbprint: None,
            baseline: None,
        }
    }

    fn sh(script: &str, timeout: Duration) -> CommandProbe {
        CommandProbe::new(
            vec!["sh".into(), "-c".into(), script.into()],
            timeout,
            std::env::temp_dir(),
        )
    }

    #[tokio::test]
    async fn passes_on_exit_0() {
        let r = sh("true", DEFAULT_TIMEOUT).check(&request()).await;
        assert_eq!(
            r,
            ProbeResult {
                quotes: false,
                passed: true,
                detail: "exit 0".into()
            }
        );
    }

    #[tokio::test]
    async fn fails_with_the_last_line_of_output() {
        let r = sh(
            "echo one; echo 'bad kid  ' >&2; echo >&2; exit 3",
            DEFAULT_TIMEOUT,
        )
        .check(&request())
        .await;
        assert_eq!(
            r,
            ProbeResult {
                quotes: true,
                passed: false,
                detail: "exit 3: bad kid".into()
            }
        );
        let r = sh("echo from stdout; exit 1", DEFAULT_TIMEOUT)
            .check(&request())
            .await;
        assert_eq!(r.detail, "exit 1: from stdout");
        let long = "x".repeat(500);
        let r = sh(&format!("echo {long} >&2; exit 2"), DEFAULT_TIMEOUT)
            .check(&request())
            .await;
        assert_eq!(r.detail.chars().count(), "exit 2: ".len() + DETAIL_CHARS);
        assert!(r.quotes, "output is quoted");
        let r = sh("exit 4", DEFAULT_TIMEOUT).check(&request()).await;
        assert_eq!(r.detail, "exit 4");
        assert!(!r.quotes, "a bare status quotes nothing");
    }

    #[tokio::test]
    async fn times_out() {
        let started = std::time::Instant::now();
        let r = sh("sleep 5", Duration(200)).check(&request()).await;
        assert_eq!(
            r,
            ProbeResult {
                quotes: true,
                passed: false,
                detail: "timed out after 200ms".into()
            }
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
    }

    #[tokio::test]
    async fn sees_the_request_in_its_environment() {
        let script = r#"test "$ROTOR_FAMILY/$ROTOR_VERSION/$ROTOR_KID/$ROTOR_PHASE/$ROTOR_CONSUMER" = "signing/2026-11/kid-2026-11/accept/gateway" || { echo "got $ROTOR_FAMILY/$ROTOR_VERSION/$ROTOR_KID/$ROTOR_PHASE/$ROTOR_CONSUMER"; exit 1; }"#;
        let r = sh(script, DEFAULT_TIMEOUT).check(&request()).await;
        assert!(r.passed, "{}", r.detail);
        let mut req = request();
        req.phase = ProbePhase::Emit;
        let r = sh(r#"test "$ROTOR_PHASE" = emit"#, DEFAULT_TIMEOUT)
            .check(&req)
            .await;
        assert!(r.passed, "{}", r.detail);
    }

    #[tokio::test]
    async fn runs_in_the_spec_directory_and_reports_a_missing_program() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("ready"), "").unwrap();
        let probe = CommandProbe::new(
            vec!["test".into(), "-f".into(), "ready".into()],
            DEFAULT_TIMEOUT,
            tmp.path().to_path_buf(),
        );
        assert!(probe.check(&request()).await.passed);
        let missing = CommandProbe::new(
            vec!["rotor-no-such-program".into()],
            DEFAULT_TIMEOUT,
            tmp.path().into(),
        );
        let r = missing.check(&request()).await;
        assert!(!r.passed);
        assert!(
            r.detail
                .starts_with("could not start `rotor-no-such-program`: "),
            "{}",
            r.detail
        );
    }

    #[test]
    fn from_spec() {
        use crate::config::tests::{span, string};
        use rotor_engine::spec::Located;
        let mut spec = VerifySpec {
            kind: "command".into(),
            on: vec![],
            on_span: None,
            within: Duration::seconds(60),
            settings: Default::default(),
            span: span(1),
        };
        let err = CommandProbe::from_spec(&spec, Path::new("/spec")).unwrap_err();
        assert_eq!(err.span, span(1));
        spec.settings
            .insert("command".into(), string("test -f x", 4));
        let p = CommandProbe::from_spec(&spec, Path::new("/spec")).unwrap();
        assert_eq!(
            (p.program.as_str(), p.args.len(), p.timeout),
            ("sh", 2, DEFAULT_TIMEOUT)
        );
        spec.settings.insert(
            "command".into(),
            Located {
                value: Value::List(vec![string("check", 5), string("--kid", 6)]),
                span: span(4),
            },
        );
        spec.settings.insert("timeout".into(), string("10s", 8));
        let p = CommandProbe::from_spec(&spec, Path::new("/spec")).unwrap();
        assert_eq!(
            (p.program.as_str(), p.timeout),
            ("check", Duration::seconds(10))
        );
        spec.settings.insert("timeout".into(), string("soon", 8));
        let err = CommandProbe::from_spec(&spec, Path::new("/spec")).unwrap_err();
        assert_eq!(err.span, span(8));
        spec.settings.insert(
            "command".into(),
            Located {
                value: Value::List(vec![]),
                span: span(4),
            },
        );
        let err = CommandProbe::from_spec(&spec, Path::new("/spec")).unwrap_err();
        assert_eq!(err.span, span(4));
    }
}
