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

use crate::config::{ConfigError, Settings};
use crate::postgres::{ENDPOINT_SETTINGS, Endpoint, Login};
use async_trait::async_trait;
use rotor_engine::provider::{Probe, ProbeRequest, ProbeResult};
use rotor_engine::spec::VerifySpec;

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
        let settings = Settings {
            what: format!("verify \"{}\"", spec.kind),
            map: &spec.settings,
            block: &spec.span,
        };
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
        match self
            .endpoint
            .within(client.simple_query("SELECT 1"), &login.username)
            .await
        {
            Ok(_) => ProbeResult {
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
