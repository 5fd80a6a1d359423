//! The `postgres` probe: log in with the version's login and run `SELECT 1`.
//!
//! ```hcl
//! verify "postgres" {
//!   on      = ["accept", "emit"]
//!   host    = "127.0.0.1"
//!   port    = 5432
//!   dbname  = "app"
//!   sslmode = "disable"
//!   timeout = "5s"                 # the default
//! }
//! ```
//!
//! The probe asks the engine for the version's material (a `generate
//! "login"` version: `{"username": …, "password": …}`), read from a store of
//! the family that keeps a readable copy, and passes when a new session with
//! it runs `SELECT 1`. Accepting, for a database, is exactly that: the server
//! lets the new login in. A failure says why in the server's words
//! (`password authentication failed for app_b`, `role "app_b" is not
//! permitted to log in`), or `connection refused`, or `timed out after 5s`;
//! never the password.
//!
//! With `on = ["drain"]` it asks about the old version before it is revoked:
//! it logs in with the old login (still enabled then) and passes when no
//! other session of that user is open (`pg_stat_activity`), so that the
//! revoke waits until the application has really moved to the new login.
//! Revoking never cuts an open session (PostgreSQL checks logins when a
//! session starts), so this is about knowing, not about breaking: without a
//! drain probe, sessions opened with the old login outlive its revoke. A
//! `guard` has no value to measure here and is refused.

use crate::config::{ConfigError, Settings};
use crate::login::Login;
use crate::postgres::{ENDPOINT_SETTINGS, Endpoint};
use crate::registry::Refusal;
use async_trait::async_trait;
use rotor_engine::provider::{Probe, ProbeRequest, ProbeResult};
use rotor_engine::spec::{ProbePhase, VerifySpec};

/// A guard has nothing to measure: checked by the registry, at `on`.
pub(crate) const REFUSES: &[Refusal] = &[Refusal {
    phase: ProbePhase::Guard,
    why: "it has no value to compare with a baseline",
    hint: "use it on \"accept\", \"emit\" (a login works) or \"drain\" (no session of the old login is left)",
}];

/// A `verify "postgres"` block.
#[derive(Debug, Clone)]
pub struct PostgresProbe {
    endpoint: Endpoint,
}

impl PostgresProbe {
    /// A probe logging in at `endpoint`.
    pub fn new(endpoint: Endpoint) -> PostgresProbe {
        PostgresProbe { endpoint }
    }

    /// Reads a `verify "postgres"` block.
    pub fn from_spec(spec: &VerifySpec) -> Result<PostgresProbe, ConfigError> {
        let settings = Settings::of("verify", &spec.kind, &spec.settings, &spec.span);
        settings.only(ENDPOINT_SETTINGS, &["on", "within"])?;
        Ok(PostgresProbe::new(Endpoint::from_settings(&settings)?))
    }
}

#[async_trait]
impl Probe for PostgresProbe {
    fn kind(&self) -> &str {
        "postgres"
    }

    fn needs_material(&self) -> bool {
        true
    }

    async fn check(&self, request: &ProbeRequest) -> ProbeResult {
        let failed = |detail: String| ProbeResult {
            quotes: true,
            passed: false,
            detail,
        };
        let Some(material) = &request.material else {
            return failed("no material was given to the probe".into());
        };
        let Some(login) = Login::parse(material.expose()) else {
            return failed(format!(
                "version {} is not a login ({{\"username\", \"password\"}}): use `generate \"login\"`",
                request.version
            ));
        };
        let client = match self
            .endpoint
            .connect(&login.username, &login.password)
            .await
        {
            Ok(c) => c,
            Err(e) => return failed(format!("{} at {}: {e}", login.username, self.endpoint)),
        };
        if request.phase == ProbePhase::Drain {
            return self.drained(&client, &login.username).await;
        }
        match self
            .endpoint
            .within(client.simple_query("SELECT 1"), &login.username)
            .await
        {
            Ok(_) => ProbeResult {
                quotes: true,
                passed: true,
                detail: format!("logged in as {} at {}", login.username, self.endpoint),
            },
            Err(e) => failed(format!(
                "{} at {}: SELECT 1 failed: {e}",
                login.username, self.endpoint
            )),
        }
    }
}

impl PostgresProbe {
    /// Passes when no session of `user` is open but the probe's own.
    async fn drained(&self, client: &tokio_postgres::Client, user: &str) -> ProbeResult {
        let sql = "SELECT count(*) FROM pg_stat_activity \
                   WHERE usename = current_user AND pid <> pg_backend_pid()";
        match self.endpoint.within(client.query_one(sql, &[]), user).await {
            Ok(row) => {
                let open: i64 = row.get(0);
                ProbeResult {
                    quotes: true,
                    passed: open == 0,
                    detail: match open {
                        0 => format!("no session of {user} is open at {}", self.endpoint),
                        1 => format!("1 session of {user} is still open at {}", self.endpoint),
                        n => format!("{n} sessions of {user} are still open at {}", self.endpoint),
                    },
                }
            }
            Err(e) => ProbeResult {
                quotes: true,
                passed: false,
                detail: format!("{user} at {}: counting sessions failed: {e}", self.endpoint),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against the real PostgreSQL that `scripts/test` starts.

    use super::*;
    use rotor_engine::spec::ProbePhase;
    use rotor_engine::{Duration, SecretValue};
    use std::sync::Arc;

    fn env(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run scripts/test, which starts PostgreSQL (scripts/services/postgres)")
        })
    }

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port,
            dbname: "app".into(),
            timeout: crate::postgres::DEFAULT_TIMEOUT,
        }
    }

    fn server() -> Endpoint {
        endpoint(env("ROTOR_PG_PORT").parse().unwrap())
    }

    fn request(username: &str, password: &str) -> ProbeRequest {
        let material = Login::material(username, password);
        ProbeRequest {
            family: "db_password".into(),
            version: "v2".into(),
            kid: "v2".into(),
            algorithm: "password".into(),
            phase: ProbePhase::Accept,
            consumer: "database".into(),
            thumbprint: None,
            material: Some(Arc::new(SecretValue::new(material.as_bytes().to_vec()))),
            baseline: None,
        }
    }

    /// A login role of the test's own, made by rotor_admin (CREATEROLE).
    async fn role(tag: &str, login: bool, password: &str) -> String {
        let name = format!("probe_{tag}_{}", std::process::id());
        let admin = server()
            .connect(
                "rotor_admin",
                &SecretValue::new(env("ROTOR_PG_PASSWORD").into_bytes()),
            )
            .await
            .unwrap();
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        let login = if login { "LOGIN" } else { "NOLOGIN" };
        admin
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS {name}; CREATE ROLE {name} {login} PASSWORD '{verifier}'"
            ))
            .await
            .unwrap();
        name
    }

    #[tokio::test]
    async fn logs_in_with_the_version_and_says_why_not() {
        let probe = PostgresProbe::new(server());
        assert!(probe.needs_material());
        let ok = role("ok", true, "canary-right-password").await;
        let r = probe.check(&request(&ok, "canary-right-password")).await;
        assert!(r.passed, "{}", r.detail);
        assert_eq!(r.detail, format!("logged in as {ok} at {}", server()));

        let r = probe.check(&request(&ok, "canary-wrong-password")).await;
        assert!(!r.passed);
        assert_eq!(
            r.detail,
            format!(
                "{ok} at {}: password authentication failed for {ok}",
                server()
            )
        );

        let off = role("off", false, "canary-right-password").await;
        let r = probe.check(&request(&off, "canary-right-password")).await;
        assert!(!r.passed);
        assert!(
            r.detail.contains("is not permitted to log in"),
            "{}",
            r.detail
        );
        assert!(!r.detail.contains("canary"));
    }

    /// A guard is refused (by the registry, from [`REFUSES`]).
    #[test]
    fn a_guard_is_refused() {
        use crate::config::tests::{span, string};
        let mut spec = VerifySpec {
            kind: "postgres".into(),
            on: vec![ProbePhase::Accept, ProbePhase::Drain],
            on_span: None,
            within: Duration::seconds(60),
            settings: Default::default(),
            span: span(1),
        };
        for (i, (k, v)) in [("host", "db"), ("dbname", "app"), ("sslmode", "disable")]
            .iter()
            .enumerate()
        {
            spec.settings.insert(k.to_string(), string(v, 10 * (i + 1)));
        }
        let probe = PostgresProbe::from_spec(&spec).unwrap();
        assert_eq!(probe.endpoint.to_string(), "db:5432/app");
        assert!(crate::registry::refusal(&spec).is_none());
        spec.on.push(ProbePhase::Guard);
        let err = crate::registry::refusal(&spec).expect("a guard is refused");
        assert!(err.message.contains("cannot guard"), "{}", err.message);
    }

    #[tokio::test]
    async fn drain_waits_for_the_old_logins_sessions() {
        let probe = PostgresProbe::new(server());
        let old = role("drain", true, "canary-old-password").await;
        let mut req = request(&old, "canary-old-password");
        req.phase = ProbePhase::Drain;
        let r = probe.check(&req).await;
        assert!(r.passed, "{}", r.detail);
        let session = server()
            .connect(&old, &SecretValue::new(b"canary-old-password".to_vec()))
            .await
            .unwrap();
        let r = probe.check(&req).await;
        assert_eq!(
            (r.passed, r.detail),
            (
                false,
                format!("1 session of {old} is still open at {}", server())
            )
        );
        drop(session);
        // The server notices the closed session shortly after.
        for _ in 0..50 {
            if probe.check(&req).await.passed {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the closed session is still counted");
    }

    #[tokio::test]
    async fn unreachable_silent_and_malformed() {
        let refused = PostgresProbe::new(endpoint(1));
        let r = refused.check(&request("app_a", "pw")).await;
        assert_eq!(
            (r.passed, r.detail.as_str()),
            (false, "app_a at 127.0.0.1:1/app: connection refused")
        );

        // A listener that never answers: the kernel accepts, nobody speaks.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut e = endpoint(silent.local_addr().unwrap().port());
        e.timeout = Duration(300);
        let r = PostgresProbe::new(e).check(&request("app_a", "pw")).await;
        assert!(!r.passed);
        assert!(r.detail.ends_with("timed out after 300ms"), "{}", r.detail);

        let mut req = request("app_a", "pw");
        req.material = Some(Arc::new(SecretValue::new(
            b"-----BEGIN PRIVATE KEY-----".to_vec(),
        )));
        let r = refused.check(&req).await;
        assert!(!r.passed);
        assert!(r.detail.contains("is not a login"), "{}", r.detail);
        req.material = None;
        assert!(!refused.check(&req).await.passed);
    }
}
