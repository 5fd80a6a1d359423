//! What the `postgres` store and the `verify "postgres"` probe share: where
//! the server is, how to connect, and how to say why a connection failed.
//!
//! ```hcl
//! host    = "127.0.0.1"
//! port    = 5432          # the default
//! dbname  = "app"
//! sslmode = "disable"     # the only mode this build supports; see below
//! timeout = "5s"          # the default; connecting and each statement
//! ```
//!
//! Passwords travel in a [`SecretValue`] and reach the wire only inside
//! tokio-postgres's SCRAM exchange: no message built here contains one.
//! `sslmode` is explicit so that a spec never silently talks plaintext to a
//! server it meant to reach over TLS: `"disable"` is accepted today; TLS
//! (`"verify-full"`, through rustls) is the next step. Until then use it only
//! on a network you trust: logins use SCRAM, but `ALTER ROLE` carries each new
//! password's SCRAM verifier in the clear, and a verifier together with one
//! sniffed login is enough to log in.

use crate::config::{ConfigError, Settings};
use rotor_engine::{Duration, SecretValue};

/// The PostgreSQL port when the spec does not say.
pub const DEFAULT_PORT: u16 = 5432;

/// How long connecting (and each statement) may take when the spec does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::seconds(5);

/// Settings every postgres block reads.
pub(crate) const ENDPOINT_SETTINGS: &[&str] = &["host", "port", "dbname", "sslmode", "timeout"];

/// Where a server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The database to connect to.
    pub dbname: String,
    /// Connecting, and each statement, may take this long.
    pub timeout: Duration,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.host, self.port, self.dbname)
    }
}

impl Endpoint {
    /// Reads `host`, `port`, `dbname`, `sslmode` and `timeout`.
    pub(crate) fn from_settings(settings: &Settings<'_>) -> Result<Endpoint, ConfigError> {
        let (host, host_span) = settings.required_string("host", "\"127.0.0.1\"")?;
        if host.is_empty() || host.starts_with('/') {
            return Err(ConfigError::new(
                "`host` must name a TCP host; Unix sockets are not supported",
                host_span,
            )
            .hint("for example \"127.0.0.1\" or \"db.internal\""));
        }
        let port = settings.port("port")?.map_or(DEFAULT_PORT, |(p, _)| p);
        let (dbname, _) = settings.required_string("dbname", "\"app\"")?;
        if let Some((mode, span)) = settings.string("sslmode")? {
            if mode != "disable" {
                return Err(ConfigError::new(
                    format!("sslmode `{mode}` is not supported by this build of rotor"),
                    span,
                )
                .hint("TLS is not supported yet: use `sslmode = \"disable\"` only on a network you trust (loopback, a private link). Logins use SCRAM, but the store's `ALTER ROLE` sends each new password's SCRAM verifier, which with one sniffed login is enough to log in"));
            }
        } else {
            return Err(ConfigError::new(
                format!("{} needs a `sslmode` setting", settings.what),
                settings.block,
            )
            .hint("add `sslmode = \"disable\"`: this build talks to PostgreSQL without TLS, and says so in the spec"));
        }
        let timeout = settings
            .duration("timeout")?
            .map_or(DEFAULT_TIMEOUT, |(d, _)| d);
        Ok(Endpoint {
            host: host.to_string(),
            port,
            dbname: dbname.to_string(),
            timeout,
        })
    }

    fn std_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout.as_millis().max(1) as u64)
    }

    /// Connects as `user`; the connection runs on a task of its own until
    /// the client is dropped. The error says why, without the password.
    pub async fn connect(
        &self,
        user: &str,
        password: &SecretValue,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.dbname)
            .user(user)
            .password(password.expose())
            .application_name("rotor")
            .ssl_mode(tokio_postgres::config::SslMode::Disable)
            .connect_timeout(self.std_timeout());
        let connecting = config.connect(tokio_postgres::NoTls);
        // `config` holds a copy of the password: drop it as soon as the
        // connection is made (tokio-postgres does not zero it).
        let result = tokio::time::timeout(self.std_timeout(), connecting).await;
        drop(config);
        match result {
            Err(_) => Err(ConnectError::TimedOut(self.timeout)),
            Ok(Err(e)) => Err(ConnectError::Failed(why(&e, user))),
            Ok(Ok((client, connection))) => {
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(client)
            }
        }
    }

    /// Runs a future with this endpoint's timeout.
    pub async fn within<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
        user: &str,
    ) -> Result<T, ConnectError> {
        match tokio::time::timeout(self.std_timeout(), fut).await {
            Err(_) => Err(ConnectError::TimedOut(self.timeout)),
            Ok(Err(e)) => Err(ConnectError::Failed(why(&e, user))),
            Ok(Ok(t)) => Ok(t),
        }
    }
}

/// Why connecting or a statement failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// No answer within the timeout.
    TimedOut(Duration),
    /// The server refused, or could not be reached: a short reason.
    Failed(Failure),
}

/// A failure with its SQLSTATE, when the server gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// SQLSTATE (`28P01`), when the server answered.
    pub code: Option<String>,
    /// For people; never a password or a statement.
    pub reason: String,
    /// Whether the server could not be reached at all.
    pub unreachable: bool,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::TimedOut(d) => write!(f, "timed out after {d}"),
            ConnectError::Failed(failure) => f.write_str(&failure.reason),
        }
    }
}

/// A reason for people from a tokio-postgres error. The server's own
/// message is used (it never repeats a statement), except for a failed
/// password, which is said plainly for the user it was tried for.
pub(crate) fn why(e: &tokio_postgres::Error, user: &str) -> Failure {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code().to_string();
        let reason = if code == "28P01" {
            format!("password authentication failed for {user}")
        } else {
            db.message().to_string()
        };
        return Failure {
            code: Some(code),
            reason,
            unreachable: false,
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let reason = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "connection timed out".to_string(),
                _ => io.to_string(),
            };
            return Failure {
                code: None,
                reason,
                unreachable: true,
            };
        }
        source = s.source();
    }
    Failure {
        code: None,
        reason: e.to_string(),
        unreachable: e.is_closed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{span, string};
    use rotor_engine::spec::{Located, Value};

    fn settings_of(map: &rotor_engine::spec::Settings) -> Settings<'_> {
        static BLOCK: std::sync::LazyLock<rotor_engine::Span> =
            std::sync::LazyLock::new(|| span(0));
        Settings {
            what: "store \"postgres\"".into(),
            map,
            block: &BLOCK,
        }
    }

    #[test]
    fn reads_an_endpoint_and_reports_bad_settings() {
        let mut map = rotor_engine::spec::Settings::default();
        map.insert("host".into(), string("127.0.0.1", 1));
        map.insert("dbname".into(), string("app", 2));
        let err = Endpoint::from_settings(&settings_of(&map)).unwrap_err();
        assert_eq!(err.message, "store \"postgres\" needs a `sslmode` setting");
        map.insert("sslmode".into(), string("disable", 3));
        let e = Endpoint::from_settings(&settings_of(&map)).unwrap();
        assert_eq!(e.to_string(), "127.0.0.1:5432/app");
        assert_eq!(e.timeout, DEFAULT_TIMEOUT);
        map.insert(
            "port".into(),
            Located {
                value: Value::Number(70000.0),
                span: span(4),
            },
        );
        let err = Endpoint::from_settings(&settings_of(&map)).unwrap_err();
        assert_eq!(err.span, span(4));
        map.insert("port".into(), string("6543", 4));
        assert_eq!(
            Endpoint::from_settings(&settings_of(&map)).unwrap().port,
            6543
        );
        map.insert("sslmode".into(), string("verify-full", 5));
        let err = Endpoint::from_settings(&settings_of(&map)).unwrap_err();
        assert_eq!(err.span, span(5));
    }

    #[tokio::test]
    async fn a_closed_port_is_connection_refused() {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port: 1,
            dbname: "app".into(),
            timeout: DEFAULT_TIMEOUT,
        };
        let err = endpoint
            .connect("app_a", &SecretValue::new(b"canary-password".to_vec()))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "connection refused");
    }
}
