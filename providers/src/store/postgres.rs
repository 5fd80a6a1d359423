//! The `postgres` store: database logins rotated with alternating users.
//!
//! ```hcl
//! store "postgres" "db" {
//!   host     = "127.0.0.1"
//!   port     = 5432
//!   dbname   = "app"
//!   user     = "rotor_admin"              # CREATEROLE; see "Roles" below
//!   password = env("ROTOR_PG_PASSWORD")
//!   sslmode  = "disable"
//! }
//!
//! secret "db_password" {
//!   store = [store.file.app, store.postgres.db]   # the app's copy first: see "Several stores"
//!   generate "login" { usernames = ["app_a", "app_b"] }
//!   …
//! }
//! ```
//!
//! # The strategy
//!
//! Two login roles with the same grants take turns. A new version sets a
//! fresh password on the role that is idle, while applications keep using
//! the other; once every emitter uses the new login and the overlap has
//! passed, the old role is revoked (`NOLOGIN`). At no moment does a working
//! login stop working before its successor is in use: no flag day. Sessions
//! already open are never cut: PostgreSQL checks `LOGIN` and passwords only
//! when a session starts.
//!
//! A family kept here must use `generate "login"`, whose material is
//! `{"username": …, "password": …}`; the user name takes turns through
//! `usernames` version by version.
//!
//! # Roles
//!
//! rotor never creates or drops roles: a DBA creates them once, with the
//! same grants, and lets the store's user manage them:
//!
//! ```sql
//! CREATE ROLE app_a NOLOGIN;  CREATE ROLE app_b NOLOGIN;
//! GRANT app_rw TO app_a, app_b;                          -- the same grants
//! CREATE ROLE rotor_admin LOGIN CREATEROLE PASSWORD '…';
//! GRANT app_a, app_b TO rotor_admin WITH ADMIN OPTION;   -- PostgreSQL 16 and later
//! ```
//!
//! A missing role is reported on the first read, naming it and this SQL.
//!
//! # Where rotor keeps its metadata
//!
//! On the role itself, in its comment (`COMMENT ON ROLE`), as JSON:
//!
//! ```json
//! {"rotor": {"family": "db_password", "version": "2026-11",
//!            "fingerprint": "sha256:…", "primary": true}}
//! ```
//!
//! Other members of a JSON comment are kept; a comment that is not JSON is
//! kept as `"note"`. The comment lives beside the password it describes, in
//! the catalog every DBA tool shows, and changes in the same transaction as
//! the password: the two can never disagree. A version is *enabled* when its
//! role has `LOGIN`.
//!
//! # Lifecycle
//!
//! - `put` reads the login from the material, refuses a role that still holds
//!   a version (an enabled one is live; a disabled one is restorable until it
//!   is destroyed, and writing would take that away) and a role rotor does not
//!   manage that can log in (somebody's working login: a new password would
//!   lock its users out; `ALTER ROLE … NOLOGIN` once nothing uses it hands it
//!   over), then in one transaction
//!   sets `LOGIN PASSWORD '<SCRAM-SHA-256 verifier>'` and the comment. The
//!   verifier is computed here (`postgres_protocol::password::scram_sha_256`):
//!   the password itself never appears in SQL, and the server never sees it
//!   outside a SCRAM exchange.
//! - `set_primary` moves `"primary": true` between the family's roles in one
//!   transaction; `disable` is `NOLOGIN` (refused for the primary), `enable`
//!   is `LOGIN`.
//! - `destroy` (of a disabled version) sets `PASSWORD NULL` and removes the
//!   `rotor` member of the comment. Destroying a version no role holds any
//!   more succeeds: an interrupted destroy is asked for again.
//! - `read_material` keeps the trait's default: a database keeps only a
//!   verifier. The engine reads material from the family's other store.
//!
//! # Several stores
//!
//! List the application's store first. The engine writes a new version to
//! the stores in order, and completes an interrupted write by copying from a
//! store that holds the version; this one cannot give material back, so if
//! it were first and the second write failed, nothing could be copied.
//!
//! # Errors
//!
//! Errors name the store, the server and the role; never a password, a
//! verifier or a statement.

use crate::config::{ConfigError, Settings};
use crate::login::Login;
use crate::postgres::{ConnectError, ENDPOINT_SETTINGS, Endpoint};
use async_trait::async_trait;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use rotor_engine::provider::{
    ErrorKind, LiveFamily, LiveVersion, NewVersion, ProviderError, PublicKey, Store,
};
use rotor_engine::spec::StoreSpec;
use rotor_engine::{FamilyName, SecretValue, VersionId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroizing;

/// A store of database logins; see the [module docs](self).
pub struct PostgresStore {
    address: String,
    endpoint: Endpoint,
    user: String,
    password: SecretValue,
    /// The login roles of each family kept here, from its `generate "login"`.
    families: BTreeMap<FamilyName, Vec<String>>,
    /// One connection, reused; every operation holds it, so operations of
    /// one process never interleave.
    client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("address", &self.address)
            .field("endpoint", &self.endpoint)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("families", &self.families)
            .finish_non_exhaustive()
    }
}

/// The `rotor` member of a role's comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Held {
    family: FamilyName,
    version: VersionId,
    fingerprint: String,
    #[serde(default)]
    primary: bool,
}

/// A login role as read from `pg_roles`.
#[derive(Debug, Clone)]
struct Role {
    name: String,
    can_login: bool,
    /// The comment as a JSON object (a plain-text comment becomes `note`).
    comment: Map<String, Value>,
    /// What rotor recorded, if anything.
    held: Option<Held>,
}

impl Role {
    fn from_row(name: String, can_login: bool, comment: Option<String>) -> Role {
        let comment = match comment {
            None => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map,
                _ => Map::from_iter([("note".to_string(), Value::String(text))]),
            },
        };
        let held = comment
            .get("rotor")
            .and_then(|v| serde_json::from_value::<Held>(v.clone()).ok());
        Role {
            name,
            can_login,
            comment,
            held,
        }
    }

    /// `COMMENT ON ROLE` with `held` as the `rotor` member (removed for `None`).
    fn comment_sql(&self, held: Option<&Held>) -> String {
        let mut comment = self.comment.clone();
        match held {
            Some(h) => {
                comment.insert("rotor".into(), serde_json::to_value(h).expect("plain data"));
            }
            None => {
                comment.remove("rotor");
            }
        }
        let text = if comment.is_empty() {
            "NULL".to_string()
        } else {
            escape_literal(&Value::Object(comment).to_string())
        };
        format!(
            "COMMENT ON ROLE {} IS {text}",
            escape_identifier(&self.name)
        )
    }

    fn holds(&self, family: &FamilyName, id: &VersionId) -> bool {
        self.held
            .as_ref()
            .is_some_and(|h| h.family == *family && h.version == *id)
    }
}

impl PostgresStore {
    /// A store; `families` maps each family kept here to its login roles.
    pub fn new(
        address: String,
        endpoint: Endpoint,
        user: String,
        password: SecretValue,
        families: BTreeMap<FamilyName, Vec<String>>,
    ) -> PostgresStore {
        PostgresStore {
            address,
            endpoint,
            user,
            password,
            families,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// Reads a `store "postgres"` block; `families` as in [`PostgresStore::new`].
    pub fn from_spec(
        spec: &StoreSpec,
        families: BTreeMap<FamilyName, Vec<String>>,
    ) -> Result<PostgresStore, ConfigError> {
        let settings = Settings::of("store", &spec.kind, &spec.settings, &spec.span);
        let mut known = ENDPOINT_SETTINGS.to_vec();
        known.extend(["user", "password"]);
        settings.only(&known, &[])?;
        let endpoint = Endpoint::from_settings(&settings)?;
        let (user, _) = settings.required_string("user", "\"rotor_admin\"")?;
        let (password, span) =
            settings.required_string("password", "env(\"ROTOR_PG_PASSWORD\")")?;
        if password.is_empty() {
            return Err(
                ConfigError::new("`password` of a postgres store is empty", span)
                    .hint("is the variable its env() names set?"),
            );
        }
        Ok(PostgresStore::new(
            spec.address(),
            endpoint,
            user.to_string(),
            SecretValue::new(password.as_bytes().to_vec()),
            families,
        ))
    }

    /// A provider error from a failed connection or statement about `role`.
    fn error(&self, e: ConnectError, doing: &str, role: Option<&str>) -> ProviderError {
        let at = format!("{} ({})", self.address, self.endpoint);
        let failure = match e {
            ConnectError::TimedOut(_) => {
                return ProviderError::new(
                    ErrorKind::Unavailable,
                    format!("{at} is unavailable: cannot {doing}: {e}"),
                );
            }
            ConnectError::Failed(f) => f,
        };
        let code = failure.code.as_deref().unwrap_or("");
        let kind = if failure.unreachable || code.starts_with("08") || code.starts_with("57P") {
            ErrorKind::Unavailable
        } else if code.starts_with("28") || code == "42501" {
            ErrorKind::Denied
        } else if code == "42704" {
            ErrorKind::NotFound
        } else {
            ErrorKind::Invalid
        };
        let hint = match (kind, role) {
            (ErrorKind::Denied, Some(role)) if code == "42501" => format!(
                "; {} needs CREATEROLE and, from PostgreSQL 16, ADMIN OPTION on the role: GRANT {} TO {} WITH ADMIN OPTION",
                self.user,
                escape_identifier(role),
                escape_identifier(&self.user)
            ),
            (ErrorKind::Denied, _) if code.starts_with("28") => {
                format!("; check the store's `user` ({}) and `password`", self.user)
            }
            _ => String::new(),
        };
        let unavailable = if kind == ErrorKind::Unavailable {
            " is unavailable"
        } else {
            ""
        };
        ProviderError::new(
            kind,
            format!(
                "{at}{unavailable}: cannot {doing}: {}{hint}",
                failure.reason
            ),
        )
    }

    /// Runs `work` with the connection, connecting first if there is none
    /// (or the last one closed).
    async fn with_client<T>(
        &self,
        work: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_none_or(|c| c.is_closed()) {
            *slot = None;
            let client = self
                .endpoint
                .connect(&self.user, &self.password)
                .await
                .map_err(|e| self.error(e, &format!("log in as {}", self.user), None))?;
            *slot = Some(client);
        }
        let result = work(slot.as_ref().expect("connected above")).await;
        if slot.as_ref().is_some_and(|c| c.is_closed()) {
            *slot = None;
        }
        result
    }

    /// The family's login roles; a missing one is an error naming it and
    /// the SQL that creates it.
    async fn roles(
        &self,
        client: &tokio_postgres::Client,
        family: &FamilyName,
    ) -> Result<Vec<Role>, ProviderError> {
        let Some(names) = self.families.get(family) else {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{} keeps no family `{family}`: only a secret with `generate \"login\"` and this store in its `store` list",
                    self.address
                ),
            ));
        };
        let rows = self
            .endpoint
            .within(
                client.query(
                    "SELECT rolname::text, rolcanlogin, shobj_description(oid, 'pg_authid') \
                     FROM pg_roles WHERE rolname = ANY($1)",
                    &[names],
                ),
                &self.user,
            )
            .await
            .map_err(|e| self.error(e, "read the login roles", None))?;
        let mut found: BTreeMap<String, Role> = rows
            .into_iter()
            .map(|row| {
                let name: String = row.get(0);
                (name.clone(), Role::from_row(name, row.get(1), row.get(2)))
            })
            .collect();
        let mut roles = Vec::new();
        for name in names {
            match found.remove(name) {
                Some(role) => roles.push(role),
                None => return Err(self.missing_role(family, name, names)),
            }
        }
        Ok(roles)
    }

    fn missing_role(&self, family: &FamilyName, name: &str, names: &[String]) -> ProviderError {
        let role = escape_identifier(name);
        let like = names
            .iter()
            .find(|n| n.as_str() != name)
            .map_or("the others".to_string(), |n| escape_identifier(n));
        ProviderError::new(
            ErrorKind::NotFound,
            format!(
                "{} ({}): role {name} of `{family}` does not exist; rotor does not create roles. \
                 As a DBA, create it with the same grants as {like}: \
                 CREATE ROLE {role} NOLOGIN; GRANT … TO {role}; GRANT {role} TO {} WITH ADMIN OPTION;",
                self.address,
                self.endpoint,
                escape_identifier(&self.user)
            ),
        )
    }

    /// Runs statements in one transaction (one simple-query batch is one
    /// transaction). They may hold a verifier: errors never repeat them.
    async fn execute(
        &self,
        client: &tokio_postgres::Client,
        statements: &[String],
        doing: &str,
        role: &str,
    ) -> Result<(), ProviderError> {
        let batch = Zeroizing::new(statements.join(";\n"));
        self.endpoint
            .within(client.batch_execute(&batch), &self.user)
            .await
            .map_err(|e| self.error(e, doing, Some(role)))
    }

    fn missing(&self, family: &FamilyName, id: &VersionId) -> ProviderError {
        ProviderError::new(
            ErrorKind::NotFound,
            format!(
                "{} has no version `{id}` of `{family}`: no login role's comment names it",
                self.address
            ),
        )
    }

    /// Finds the role holding a version.
    fn find<'r>(&self, roles: &'r [Role], family: &FamilyName, id: &VersionId) -> Option<&'r Role> {
        roles.iter().find(|r| r.holds(family, id))
    }

    /// `ALTER ROLE name WITH …`.
    fn alter(name: &str, what: &str) -> String {
        format!("ALTER ROLE {} WITH {what}", escape_identifier(name))
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn address(&self) -> &str {
        &self.address
    }

    async fn read(&self, family: &FamilyName) -> Result<LiveFamily, ProviderError> {
        let roles = self
            .with_client(async |c| self.roles(c, family).await)
            .await?;
        let mut live = LiveFamily::default();
        for role in roles {
            let Some(held) = role.held.filter(|h| h.family == *family) else {
                continue;
            };
            if held.primary {
                live.primary = Some(held.version.clone());
            }
            live.versions.push(LiveVersion {
                id: held.version,
                fingerprint: held.fingerprint,
                enabled: role.can_login,
                thumbprint: None,
            });
        }
        live.versions.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(live)
    }

    async fn put(
        &self,
        family: &FamilyName,
        version: &NewVersion<'_>,
    ) -> Result<(), ProviderError> {
        let id = version.id;
        let login = Login::parse(version.generated.material.expose()).ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "version `{id}` of `{family}`: {} keeps logins only, and this material is not one; use `generate \"login\"`",
                        self.address
                    ),
                )
            })?;
        self.with_client(async |client| {
            let roles = self.roles(client, family).await?;
            if self.find(&roles, family, id).is_some() {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{} already has a version `{id}` of `{family}`; a password is never replaced",
                        self.address
                    ),
                ));
            }
            let Some(role) = roles.iter().find(|r| r.name == login.username) else {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "version `{id}` of `{family}` is a login for {}, which is not one of the family's `usernames`",
                        login.username
                    ),
                ));
            };
            if let Some(held) = &role.held {
                let whose = if held.family == *family {
                    String::new()
                } else {
                    format!(" of `{}`", held.family)
                };
                let message = if role.can_login {
                    format!(
                        "{}: {} still holds live version {}{whose}; revoke it before creating a new one — alternating users allow two live versions",
                        self.address, role.name, held.version
                    )
                } else {
                    format!(
                        "{}: {} still holds version {}{whose}, revoked but restorable until it is destroyed; let `rotor apply` destroy it (after destroy_after) before creating a new one on this role",
                        self.address, role.name, held.version
                    )
                };
                return Err(ProviderError::new(ErrorKind::Conflict, message));
            }
            // A role rotor has not written to, that can log in, is somebody's
            // working login (an existing app_a being adopted, say): a new
            // password would lock out whatever uses it now, an outage. Only a
            // NOLOGIN role is idle enough to take over.
            if role.can_login {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{}: {} can log in and rotor does not manage it; setting its password would lock out whatever logs in as {} now; once nothing uses it, run `ALTER ROLE {} NOLOGIN`, or name an idle (NOLOGIN) role in `usernames` instead",
                        self.address,
                        role.name,
                        role.name,
                        escape_identifier(&role.name)
                    ),
                ));
            }
            let verifier = Zeroizing::new(postgres_protocol::password::scram_sha_256(
                login.password.expose(),
            ));
            let held = Held {
                family: family.clone(),
                version: id.clone(),
                fingerprint: version.generated.fingerprint.clone(),
                primary: false,
            };
            let statements = Zeroizing::new(vec![
                Self::alter(
                    &role.name,
                    &format!("LOGIN PASSWORD {}", escape_literal(&verifier)),
                ),
                role.comment_sql(Some(&held)),
            ]);
            self.execute(
                client,
                &statements,
                &format!("set the password of {}", role.name),
                &role.name,
            )
            .await
        })
        .await
    }

    async fn set_primary(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.with_client(async |client| {
            let roles = self.roles(client, family).await?;
            let role = self
                .find(&roles, family, id)
                .ok_or_else(|| self.missing(family, id))?;
            if !role.can_login {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "version `{id}` of `{family}` in {} is disabled ({} has NOLOGIN) and cannot be the primary; enable it first",
                        self.address, role.name
                    ),
                ));
            }
            let mut statements = Vec::new();
            for other in &roles {
                let Some(held) = other.held.as_ref().filter(|h| h.family == *family) else {
                    continue;
                };
                let primary = held.version == *id;
                if held.primary != primary {
                    let mut held = held.clone();
                    held.primary = primary;
                    statements.push(other.comment_sql(Some(&held)));
                }
            }
            if statements.is_empty() {
                return Ok(());
            }
            self.execute(
                client,
                &statements,
                &format!("mark {} primary", role.name),
                &role.name,
            )
            .await
        })
        .await
    }

    async fn disable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.with_client(async |client| {
            let roles = self.roles(client, family).await?;
            let role = self
                .find(&roles, family, id)
                .ok_or_else(|| self.missing(family, id))?;
            if role.held.as_ref().is_some_and(|h| h.primary) {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "version `{id}` ({}) is the primary of `{family}` in {} and cannot be disabled; promote another version first",
                        role.name, self.address
                    ),
                ));
            }
            if !role.can_login {
                return Ok(());
            }
            let doing = format!("disable {} (NOLOGIN)", role.name);
            self.execute(client, &[Self::alter(&role.name, "NOLOGIN")], &doing, &role.name)
                .await
        })
        .await
    }

    async fn enable(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.with_client(async |client| {
            let roles = self.roles(client, family).await?;
            let role = self
                .find(&roles, family, id)
                .ok_or_else(|| self.missing(family, id))?;
            if role.can_login {
                return Ok(());
            }
            let doing = format!("enable {} (LOGIN)", role.name);
            self.execute(
                client,
                &[Self::alter(&role.name, "LOGIN")],
                &doing,
                &role.name,
            )
            .await
        })
        .await
    }

    async fn destroy(&self, family: &FamilyName, id: &VersionId) -> Result<(), ProviderError> {
        self.with_client(async |client| {
            let roles = self.roles(client, family).await?;
            let Some(role) = self.find(&roles, family, id) else {
                return Ok(()); // already destroyed; a resumed apply may ask again
            };
            if role.can_login {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "version `{id}` of `{family}` in {} is still enabled ({} can log in); disable it before destroying it",
                        self.address, role.name
                    ),
                ));
            }
            let statements = [
                Self::alter(&role.name, "NOLOGIN PASSWORD NULL"),
                role.comment_sql(None),
            ];
            let doing = format!("clear the password of {}", role.name);
            self.execute(client, &statements, &doing, &role.name).await
        })
        .await
    }

    async fn public_keys(&self, _family: &FamilyName) -> Result<Vec<PublicKey>, ProviderError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    //! Against the real PostgreSQL that `scripts/test` starts
    //! (`scripts/services/postgres`); each test makes login roles of its own.

    use super::*;
    use crate::config::tests::string;
    use rotor_engine::Generator;
    use rotor_engine::provider::Generated;
    use rotor_engine::spec::Generate;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn env(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run scripts/test, which starts PostgreSQL (scripts/services/postgres)")
        })
    }

    fn endpoint() -> Endpoint {
        Endpoint {
            host: env("ROTOR_PG_HOST"),
            port: env("ROTOR_PG_PORT").parse().unwrap(),
            dbname: "app".into(),
            timeout: crate::postgres::DEFAULT_TIMEOUT,
        }
    }

    /// A superuser session over the server's Unix socket (trusted locally).
    async fn superuser() -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::Config::new()
            .host_path(env("ROTOR_PG_SOCKET_DIR"))
            .port(env("ROTOR_PG_PORT").parse().unwrap())
            .user("postgres")
            .dbname("app")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("superuser over the socket");
        tokio::spawn(conn);
        client
    }

    /// Two fresh NOLOGIN roles, made as the DBA would.
    async fn fresh_roles() -> Vec<String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let names: Vec<String> = ["a", "b"]
            .iter()
            .map(|s| format!("t{}_{n}_{s}", std::process::id()))
            .collect();
        let su = superuser().await;
        for name in &names {
            su.batch_execute(&format!(
                "CREATE ROLE {name} NOLOGIN; GRANT {name} TO rotor_admin WITH ADMIN OPTION; COMMENT ON ROLE {name} IS 'owned by team-db'"
            ))
            .await
            .unwrap();
        }
        names
    }

    fn store(family: &FamilyName, roles: &[String]) -> PostgresStore {
        PostgresStore::new(
            "store.postgres.db".into(),
            endpoint(),
            "rotor_admin".into(),
            SecretValue::new(env("ROTOR_PG_PASSWORD").into_bytes()),
            BTreeMap::from([(family.clone(), roles.to_vec())]),
        )
    }

    fn login(roles: &[String], ordinal: usize) -> Generated {
        crate::generate::KeyGenerator
            .generate(
                &Generate::Login {
                    usernames: roles.to_vec(),
                    length: 24,
                },
                ordinal,
            )
            .unwrap()
    }

    fn new_version<'a>(id: &'a VersionId, generated: &'a Generated) -> NewVersion<'a> {
        NewVersion {
            id,
            kid: id.as_str(),
            generated,
        }
    }

    fn password(g: &Generated) -> String {
        let login = Login::parse(g.material.expose()).unwrap();
        String::from_utf8(login.password.expose().to_vec()).unwrap()
    }

    async fn can_log_in(role: &str, g: &Generated) -> Result<(), String> {
        let login = Login::parse(g.material.expose()).unwrap();
        assert_eq!(login.username, role);
        match endpoint().connect(role, &login.password).await {
            Ok(c) => c
                .simple_query("SELECT 1")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn subject() -> crate::store::conformance::Subject {
        let roles = fresh_roles().await;
        crate::store::conformance::Subject {
            store: Box::new(store(&"db".into(), &roles)),
            family: "db".into(),
            secret: Generate::Login {
                usernames: roles,
                length: 24,
            },
            capabilities: crate::store::conformance::Capabilities {
                key_pairs: false,
                readable_material: false,
                tombstones: false,
            },
            keep_alive: None,
        }
    }

    crate::store::conformance::store_conformance!(subject);

    /// What the conformance suite's lifecycle does to the two roles: who
    /// can log in with which password, and when a role is free again.
    #[tokio::test]
    async fn alternating_roles_follow_the_lifecycle() {
        let roles = fresh_roles().await;
        let (a, b) = (&roles[0], &roles[1]);
        let s = store(&"db".into(), &roles);

        let v1 = login(&roles, 0);
        s.put(&"db".into(), &new_version(&"v1".into(), &v1))
            .await
            .unwrap();
        s.set_primary(&"db".into(), &"v1".into()).await.unwrap();
        can_log_in(a, &v1).await.unwrap();

        let v2 = login(&roles, 1);
        s.put(&"db".into(), &new_version(&"v2".into(), &v2))
            .await
            .unwrap();
        can_log_in(b, &v2).await.unwrap();
        can_log_in(a, &v1).await.unwrap();

        // The next login would take a's turn while a is still live.
        let v3 = login(&roles, 2);
        let err = s
            .put(&"db".into(), &new_version(&"v3".into(), &v3))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(
            err.message.contains(&format!(
                "{a} still holds live version v1; revoke it before creating a new one"
            )),
            "{}",
            err.message
        );
        assert!(!err.message.contains(&password(&v3)));

        s.set_primary(&"db".into(), &"v2".into()).await.unwrap();
        s.disable(&"db".into(), &"v1".into()).await.unwrap();
        let err = can_log_in(a, &v1).await.unwrap_err();
        assert!(err.contains("not permitted to log in"), "{err}");
        // Disabled is restorable: a new version may not take the role yet.
        let err = s
            .put(&"db".into(), &new_version(&"v3".into(), &v3))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert!(
            err.message.contains("revoked but restorable"),
            "{}",
            err.message
        );
        s.enable(&"db".into(), &"v1".into()).await.unwrap();
        can_log_in(a, &v1).await.unwrap();
        s.disable(&"db".into(), &"v1".into()).await.unwrap();
        s.destroy(&"db".into(), &"v1".into()).await.unwrap();
        let su = superuser().await;
        let row = su
            .query_one(
                "SELECT rolpassword, rolcanlogin, shobj_description(oid, 'pg_authid') FROM pg_authid WHERE rolname = $1",
                &[a],
            )
            .await
            .unwrap();
        let (pw, login_ok, comment): (Option<String>, bool, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        assert_eq!(
            (pw, login_ok),
            (None, false),
            "destroyed: no password, NOLOGIN"
        );
        // The DBA's own comment is kept, as a note.
        assert_eq!(comment.as_deref(), Some(r#"{"note":"owned by team-db"}"#));

        s.put(&"db".into(), &new_version(&"v3".into(), &v3))
            .await
            .unwrap();
        can_log_in(a, &v3).await.unwrap();
    }

    #[tokio::test]
    async fn the_server_holds_a_scram_verifier_never_the_password() {
        let roles = fresh_roles().await;
        let s = store(&"db".into(), &roles);
        let v1 = login(&roles, 0);
        s.put(&"db".into(), &new_version(&"v1".into(), &v1))
            .await
            .unwrap();
        let su = superuser().await;
        let row = su
            .query_one(
                "SELECT rolpassword, shobj_description(oid, 'pg_authid') FROM pg_authid WHERE rolname = $1",
                &[&roles[0]],
            )
            .await
            .unwrap();
        let (stored, comment): (String, String) = (row.get(0), row.get(1));
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
        let pw = password(&v1);
        assert!(!stored.contains(&pw) && !comment.contains(&pw));
        let comment: Value = serde_json::from_str(&comment).unwrap();
        assert_eq!(
            comment["rotor"],
            serde_json::json!({
                "family": "db", "version": "v1",
                "fingerprint": v1.fingerprint, "primary": false
            })
        );
        assert_eq!(comment["note"], "owned by team-db");
    }

    /// Adopting an existing role that applications log in with: rotor must
    /// not reset its password (an outage), only take it once it is NOLOGIN.
    #[tokio::test]
    async fn a_live_role_rotor_does_not_manage_keeps_its_password() {
        let roles = fresh_roles().await;
        let su = superuser().await;
        su.batch_execute(&format!(
            "ALTER ROLE {} WITH LOGIN PASSWORD 'canary-in-use'",
            roles[0]
        ))
        .await
        .unwrap();
        let s = store(&"db".into(), &roles);
        let v1 = login(&roles, 0);
        let err = s
            .put(&"db".into(), &new_version(&"v1".into(), &v1))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
        for text in [
            format!("{} can log in and rotor does not manage it", roles[0]),
            format!("ALTER ROLE \"{}\" NOLOGIN", roles[0]),
            "idle (NOLOGIN) role in `usernames`".to_string(),
        ] {
            assert!(
                err.message.contains(&text),
                "{text:?} missing: {}",
                err.message
            );
        }
        assert!(!err.message.contains(&password(&v1)) && !err.message.contains("canary"));
        // Untouched: the application's password still works, no comment written.
        let app = endpoint()
            .connect(&roles[0], &SecretValue::new(b"canary-in-use".to_vec()))
            .await;
        assert!(app.is_ok(), "the role's own password was changed");
        assert_eq!(s.read(&"db".into()).await.unwrap(), LiveFamily::default());

        // Once the DBA has moved everyone off it, rotor takes it.
        su.batch_execute(&format!("ALTER ROLE {} NOLOGIN", roles[0]))
            .await
            .unwrap();
        s.put(&"db".into(), &new_version(&"v1".into(), &v1))
            .await
            .unwrap();
        can_log_in(&roles[0], &v1).await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_role_is_named_with_the_sql_to_create_it() {
        let roles = vec!["rotor_no_such_a".to_string(), "rotor_no_such_b".to_string()];
        let err = store(&"db".into(), &roles)
            .read(&"db".into())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        for text in [
            "role rotor_no_such_a of `db` does not exist",
            "CREATE ROLE \"rotor_no_such_a\" NOLOGIN;",
            "same grants as \"rotor_no_such_b\"",
            "GRANT \"rotor_no_such_a\" TO \"rotor_admin\" WITH ADMIN OPTION",
        ] {
            assert!(
                err.message.contains(text),
                "{text:?} missing: {}",
                err.message
            );
        }
    }

    #[tokio::test]
    async fn a_wrong_admin_password_is_denied_without_showing_it() {
        let roles = fresh_roles().await;
        let s = PostgresStore::new(
            "store.postgres.db".into(),
            endpoint(),
            "rotor_admin".into(),
            SecretValue::new(b"canary-wrong-password".to_vec()),
            BTreeMap::from([("db".into(), roles)]),
        );
        let err = s.read(&"db".into()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied, "{}", err.message);
        assert!(
            err.message
                .contains("password authentication failed for rotor_admin"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("canary"));
        assert!(!format!("{s:?}").contains("canary"));
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable() {
        let mut e = endpoint();
        e.port = 1;
        let s = PostgresStore::new(
            "store.postgres.db".into(),
            e,
            "rotor_admin".into(),
            SecretValue::new(b"x".to_vec()),
            BTreeMap::from([("db".into(), vec!["app_a".to_string()])]),
        );
        let err = s.read(&"db".into()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unavailable);
        assert_eq!(
            err.message,
            format!(
                "store.postgres.db ({}:1/app) is unavailable: cannot log in as rotor_admin: connection refused",
                env("ROTOR_PG_HOST")
            )
        );
    }

    #[test]
    fn from_spec_reads_the_block() {
        let mut spec = crate::config::tests::store_spec(
            "postgres",
            "db",
            &[
                ("host", "127.0.0.1"),
                ("dbname", "app"),
                ("user", "rotor_admin"),
                ("password", "canary-admin-password"),
                ("sslmode", "disable"),
            ],
        );
        let s = PostgresStore::from_spec(&spec, BTreeMap::new()).unwrap();
        assert_eq!(s.address(), "store.postgres.db");
        assert!(!format!("{s:?}").contains("canary"));
        spec.settings.insert("usr".into(), string("x", 90));
        let err = PostgresStore::from_spec(&spec, BTreeMap::new()).unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `user`?"));
        spec.settings.remove("usr");
        spec.settings.remove("password");
        let err = PostgresStore::from_spec(&spec, BTreeMap::new()).unwrap_err();
        assert_eq!(err.message, "store \"postgres\" needs a `password` setting");
    }

    #[test]
    fn comments_keep_what_is_not_rotors() {
        let role = Role::from_row("app_a".into(), true, Some(r#"{"owner":"dba","rotor":{"family":"f","version":"v","fingerprint":"sha256:1","primary":true}}"#.into()));
        assert!(role.holds(&"f".into(), &"v".into()));
        assert_eq!(
            role.comment_sql(None),
            r#"COMMENT ON ROLE "app_a" IS '{"owner":"dba"}'"#
        );
        let plain = Role::from_row("o'k".into(), false, Some("it's ours".into()));
        assert!(plain.held.is_none());
        assert_eq!(
            plain.comment_sql(None),
            r#"COMMENT ON ROLE "o'k" IS '{"note":"it''s ours"}'"#
        );
        let bare = Role::from_row("b".into(), false, None);
        assert_eq!(bare.comment_sql(None), r#"COMMENT ON ROLE "b" IS NULL"#);
    }
}
