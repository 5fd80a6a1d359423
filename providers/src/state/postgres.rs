//! The PostgreSQL backend, for teams and CI: `state "postgres" { conn = …
//! schema = "rotor" }` in the spec, or `--state postgres://…`.
//!
//! The same record model as the embedded default ([`super::sqlite`]): one
//! row per family with its own serial, a workspace row (lineage), approvals
//! and an append-only `events` table, and leases. Lease times are the
//! server's clock (`clock_timestamp()`), so machines whose clocks differ
//! agree on when a lease lapsed.
//!
//! The schema is created on first use; a DBA who creates it instead runs
//! what `rotor state init --print-sql` prints. The connection string never
//! appears in a message: it may hold a password.
//!
//! The engine calls backends synchronously; this one runs its client on a
//! runtime of its own (one thread) and waits for each operation. The
//! apply's saves and history lines go to a committer task instead, which
//! commits all that waits at that moment in one transaction (one
//! `save_batch` call, each save in a savepoint of its own) on a connection
//! of its own, as the SQLite backend's committer thread does: one durable
//! commit for many families.

use super::{LEASE_TTL, Leases, host_name, pid_alive};
use crate::postgres::{Failure, why};
use rotor_engine::state::{
    ApprovalRecord, Event, FamilyState, Lease, LeaseHolder, STATE_FORMAT_VERSION, State, StateError,
};
use rotor_engine::{Duration, FamilyName, StateBackend, Timestamp};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};
use tokio_postgres::{Client, GenericClient, NoTls, Statement};

/// The schema's tables, in `{schema}`.
pub fn schema_sql(schema: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.workspace (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format_version INTEGER NOT NULL,
    lineage TEXT NOT NULL,
    serial BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.families (
    name TEXT PRIMARY KEY,
    serial BIGINT NOT NULL,
    record TEXT NOT NULL,
    checksum TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.approvals (
    id BIGSERIAL PRIMARY KEY,
    family TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.leases (
    family TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    holder TEXT NOT NULL,
    heartbeat BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    family TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_family ON {schema}.events (family, id);
{}",
        save_function_sql(schema)
    )
}

/// The save functions.
///
/// `save_family` is one family's save: lineage, lease, serial, record.
/// Returns `ok`, `lineage:<stored>`, `lost`, `leased:<holder>|<heartbeat>|<expires>`
/// or `conflict:<stored serial>`. `p_dead` names a lease whose holder the
/// caller found gone (a process of its own host that exited): it does not
/// block. The lease row is read `FOR SHARE`, so it cannot be broken until
/// the save commits.
///
/// `save_batch` is a group commit's work in one round trip: every save in
/// a savepoint of its own (a refused save is rolled back alone; an error
/// of its own is answered `error:<SQLSTATE>:<message>`), then the history
/// lines. It answers one element per save, in order, then one for the
/// lines. The caller commits.
pub fn save_function_sql(schema: &str) -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {schema}.save_family(
    p_lineage text, p_name text, p_serial bigint, p_record text, p_checksum text,
    p_token text, p_leased boolean, p_dead text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_lineage text;
    v_lease record;
    v_found bigint;
    v_written bigint;
BEGIN
    SELECT lineage INTO v_lineage FROM {schema}.workspace WHERE id = 1;
    IF v_lineage IS NULL THEN
        INSERT INTO {schema}.workspace (id, format_version, lineage, serial)
            VALUES (1, {STATE_FORMAT_VERSION}, p_lineage, 0) ON CONFLICT (id) DO NOTHING;
        SELECT lineage INTO v_lineage FROM {schema}.workspace WHERE id = 1;
    END IF;
    IF v_lineage <> p_lineage THEN
        RETURN 'lineage:' || v_lineage;
    END IF;
    SELECT token, holder, heartbeat, expires INTO v_lease
        FROM {schema}.leases WHERE family = p_name FOR SHARE;
    IF p_leased THEN
        IF NOT FOUND OR v_lease.token IS DISTINCT FROM p_token THEN
            RETURN 'lost';
        END IF;
    ELSIF FOUND
        AND v_lease.token IS DISTINCT FROM p_token
        AND v_lease.token IS DISTINCT FROM p_dead
        AND v_lease.expires > {NOW_MS} THEN
        RETURN 'leased:' || v_lease.holder || '|' || v_lease.heartbeat || '|' || v_lease.expires;
    END IF;
    SELECT serial INTO v_found FROM {schema}.families WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        v_found := 0;
    END IF;
    IF v_found + 1 <> p_serial THEN
        RETURN 'conflict:' || v_found;
    END IF;
    -- A new family raced by another writer fails on the key: a conflict.
    INSERT INTO {schema}.families (name, serial, record, checksum)
        VALUES (p_name, p_serial, p_record, p_checksum)
        ON CONFLICT (name) DO UPDATE
        SET serial = EXCLUDED.serial, record = EXCLUDED.record, checksum = EXCLUDED.checksum
        WHERE {schema}.families.serial = p_serial - 1;
    GET DIAGNOSTICS v_written = ROW_COUNT;
    IF v_written <> 1 THEN
        RETURN 'conflict:' || p_serial;
    END IF;
    RETURN 'ok';
END
$$;
CREATE OR REPLACE FUNCTION {schema}.save_batch(
    p_lineage text[], p_name text[], p_serial bigint[], p_record text[], p_checksum text[],
    p_token text[], p_leased boolean[], p_dead text[],
    p_event_at bigint[], p_event_family text[], p_event text[]
) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    v_answers text[] := '{{}}';
    v_answer text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_name, 1), 0) LOOP
        -- A block with EXCEPTION is a savepoint: a refused or failed save
        -- is rolled back to it alone.
        BEGIN
            v_answer := {schema}.save_family(p_lineage[i], p_name[i], p_serial[i],
                p_record[i], p_checksum[i], p_token[i], p_leased[i], p_dead[i]);
            IF v_answer <> 'ok' THEN
                RAISE EXCEPTION USING ERRCODE = 'RT001', MESSAGE = v_answer;
            END IF;
        EXCEPTION
            WHEN SQLSTATE 'RT001' THEN v_answer := SQLERRM;
            WHEN OTHERS THEN v_answer := 'error:' || SQLSTATE || ':' || SQLERRM;
        END;
        v_answers := v_answers || v_answer;
    END LOOP;
    BEGIN
        INSERT INTO {schema}.events (at, family, event)
            SELECT * FROM unnest(p_event_at, p_event_family, p_event);
        v_answer := 'ok';
    EXCEPTION WHEN OTHERS THEN
        v_answer := 'error:' || SQLSTATE || ':' || SQLERRM;
    END;
    RETURN v_answers || v_answer;
END
$$;
"
    )
}

/// The server's clock, in milliseconds since the epoch.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Whether `name` is a plain lowercase SQL identifier (it is spliced into
/// statements, so nothing else is accepted).
pub fn valid_schema(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

/// State in a PostgreSQL schema.
pub struct PgState {
    conn: String,
    schema: String,
    where_: String,
    rt: Option<tokio::runtime::Runtime>,
    client: Arc<Mutex<Option<Client>>>,
    /// The committer task's queue, started by the first save or event
    /// handed on.
    committer: std::sync::Mutex<Option<mpsc::UnboundedSender<Job>>>,
    leases: Leases,
    ttl: Duration,
}

/// A failure as people read it, with what to do for the common ones.
fn pg_error(where_: &str, schema: &str, e: &tokio_postgres::Error) -> StateError {
    failure_error(where_, schema, why(e, "the state's role"))
}

/// [`pg_error`] of a failure already read (a statement's own, caught in
/// `save_batch`).
fn failure_error(where_: &str, schema: &str, f: Failure) -> StateError {
    let hint = match f.code.as_deref() {
        Some("42501") => format!(
            "\n  hint: the role may not use schema {schema}: have a DBA create it with `rotor state init --print-sql` and grant the role USAGE on the schema and SELECT, INSERT, UPDATE, DELETE on its tables (USAGE on its sequences)"
        ),
        Some("3D000") => "\n  hint: the database in the connection string does not exist".into(),
        Some("28P01") | Some("28000") => {
            "\n  hint: check the user and password in the connection string".into()
        }
        // The server shutting down or restarting, or not yet accepting.
        Some("57P01") | Some("57P02") | Some("57P03") | Some("08006") => {
            "\n  hint: the server went away (shut down or restarted). Run the command again once it is back: rotor resumes from the last saved step".into()
        }
        _ if f.unreachable => {
            "\n  hint: is the server up and reachable? Run the command again once it is: rotor resumes from the last saved step".into()
        }
        _ => String::new(),
    };
    StateError::Backend(format!("PostgreSQL state {where_}: {}{hint}", f.reason))
}

impl PgState {
    /// A backend on `conn` (a libpq connection string or URL), in `schema`.
    /// Nothing connects until first use.
    pub fn new(conn: &str, schema: &str) -> Result<PgState, StateError> {
        if !valid_schema(schema) {
            return Err(StateError::Backend(format!(
                "state schema {schema:?} must be a lowercase SQL identifier (letters, digits, _)"
            )));
        }
        let config: tokio_postgres::Config = conn.parse().map_err(|_| {
            StateError::Backend(
                "the PostgreSQL state's connection string does not parse: expected postgres://USER:PASSWORD@HOST:PORT/DB or host=… user=… dbname=…".into(),
            )
        })?;
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let where_ = format!(
            "{}@{host}:{port}/{} (schema {schema})",
            config.get_user().unwrap_or("?"),
            config.get_dbname().unwrap_or("?")
        );
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rotor-state-pg")
            .enable_all()
            .build()
            .map_err(|e| {
                StateError::Backend(format!("could not start the state's runtime: {e}"))
            })?;
        Ok(PgState {
            conn: conn.to_string(),
            schema: schema.to_string(),
            where_,
            rt: Some(rt),
            client: Arc::new(Mutex::new(None)),
            committer: std::sync::Mutex::new(None),
            leases: Leases::default(),
            ttl: LEASE_TTL,
        })
    }

    /// Leases lapse `ttl` after their holder's last heartbeat.
    pub fn with_lease_ttl(mut self, ttl: Duration) -> PgState {
        self.ttl = ttl;
        self
    }

    /// Hands `job` to the committer (starting it first); the returned
    /// future is its answer, once the commit is durable.
    fn commit_soon(
        &self,
        job: impl FnOnce(Reply) -> Job,
    ) -> impl Future<Output = Result<(), StateError>> + Send + 'static {
        let (reply, answer) = futures_channel::oneshot::channel();
        let mut guard = self.committer.lock().expect("committer");
        let queue = guard.get_or_insert_with(|| {
            let (queue, jobs) = mpsc::unbounded_channel();
            let committer = Committer {
                ctx: self.ctx(),
                slot: Mutex::new(None),
                statement: None,
            };
            self.rt
                .as_ref()
                .expect("runtime")
                .spawn(committer.run(jobs));
            queue
        });
        // A committer that stopped drops the reply: `answered` says so.
        let _ = queue.send(job(reply));
        super::answered(answer, "the PostgreSQL state's committer")
    }

    /// One family's save as the committer takes it.
    fn save_of(&self, lineage: String, name: FamilyName, family: &FamilyState) -> Save {
        let (record, checksum) = family.to_record(&name);
        Save {
            leased: self.leases.holds(&name),
            token: self.leases.token(),
            lineage,
            name,
            serial: family.serial,
            record,
            checksum,
            dead: None,
        }
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            conn: self.conn.clone(),
            schema: self.schema.clone(),
            where_: self.where_.clone(),
        }
    }

    /// Runs `f` with a connected client (connecting, and creating the
    /// schema, on first use), on this backend's runtime, and waits for it.
    fn run<R, F, Fut>(&self, f: F) -> Result<R, StateError>
    where
        R: Send + 'static,
        F: FnOnce(Arc<Mutex<Option<Client>>>, Ctx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<R, StateError>> + Send + 'static,
    {
        let ctx = self.ctx();
        let client = self.client.clone();
        self.wait(async move {
            ctx.ensure(&client).await?;
            f(client, ctx).await
        })
    }

    /// Runs `work` on this backend's runtime and waits for it.
    fn wait<R: Send + 'static>(
        &self,
        work: impl Future<Output = Result<R, StateError>> + Send + 'static,
    ) -> Result<R, StateError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.rt.as_ref().expect("runtime").spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv().map_err(|_| {
            StateError::Backend(format!(
                "PostgreSQL state {}: the operation was lost",
                self.where_
            ))
        })?
    }
}

/// What an operation needs to know besides the client.
#[derive(Clone)]
struct Ctx {
    conn: String,
    schema: String,
    where_: String,
}

impl Ctx {
    fn err(&self, e: &tokio_postgres::Error) -> StateError {
        pg_error(&self.where_, &self.schema, e)
    }

    /// Connects if there is no live connection (and says so: `true`);
    /// creates the schema.
    async fn ensure(&self, client: &Mutex<Option<Client>>) -> Result<bool, StateError> {
        let mut guard = client.lock().await;
        if guard.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(false);
        }
        let c = self.connect().await?;
        let s = &self.schema;
        // A DBA may have created the schema and granted only table rights:
        // create nothing when the tables are there.
        let exists = c
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'events'",
                &[s],
            )
            .await
            .map_err(|e| self.err(&e))?
            .is_some();
        if !exists {
            c.batch_execute(&schema_sql(s))
                .await
                .map_err(|e| self.err(&e))?;
        } else {
            // A schema from before the save functions: add them.
            let has_function = c
                .query_opt(
                    "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = $1 AND p.proname = 'save_batch'",
                    &[s],
                )
                .await
                .map_err(|e| self.err(&e))?
                .is_some();
            if !has_function {
                c.batch_execute(&save_function_sql(s))
                    .await
                    .map_err(|e| self.err(&e))?;
            }
        }
        *guard = Some(c);
        Ok(true)
    }

    async fn connect(&self) -> Result<Client, StateError> {
        let config: tokio_postgres::Config = self
            .conn
            .parse()
            .map_err(|_| StateError::Backend("the connection string does not parse".into()))?;
        let mut config = config;
        config
            .application_name("rotor state")
            .connect_timeout(std::time::Duration::from_secs(10));
        let (client, connection) =
            tokio::time::timeout(std::time::Duration::from_secs(15), config.connect(NoTls))
                .await
                .map_err(|_| {
                    StateError::Backend(format!(
                        "PostgreSQL state {}: connecting timed out after 15s",
                        self.where_
                    ))
                })?
                .map_err(|e| self.err(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }
}

async fn read_lease(
    c: &impl GenericClient,
    s: &str,
    family: &FamilyName,
    lock: &str,
) -> Result<Option<Lease>, tokio_postgres::Error> {
    let row = c
        .query_opt(
            &format!("SELECT holder, heartbeat, expires FROM {s}.leases WHERE family = $1 {lock}"),
            &[&family.as_str()],
        )
        .await?;
    Ok(row.and_then(|r| {
        Some(Lease {
            family: family.clone(),
            holder: serde_json::from_str(r.get::<_, &str>(0)).ok()?,
            heartbeat: Timestamp(r.get(1)),
            expires: Timestamp(r.get(2)),
        })
    }))
}

async fn server_now(c: &impl GenericClient) -> Result<Timestamp, tokio_postgres::Error> {
    Ok(Timestamp(
        c.query_one(&format!("SELECT {NOW_MS}"), &[]).await?.get(0),
    ))
}

/// Whether a lease keeps `family` from this backend value.
fn blocks(lease: &Lease, mine: Option<&str>, now: Timestamp) -> bool {
    Some(lease.holder.token.as_str()) != mine
        && lease.expires > now
        && (lease.holder.host != host_name() || pid_alive(lease.holder.pid))
}

impl StateBackend for PgState {
    fn describe(&self) -> String {
        format!("PostgreSQL state {}", self.where_)
    }

    fn load(&self) -> Result<Option<State>, StateError> {
        self.run(|client, ctx| async move {
            let mut guard = client.lock().await;
            let c = guard.as_mut().expect("connected");
            let s = &ctx.schema;
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(|e| ctx.err(&e))?;
            let Some(ws) = tx
                .query_opt(
                    &format!(
                        "SELECT format_version, lineage, serial FROM {s}.workspace WHERE id = 1"
                    ),
                    &[],
                )
                .await
                .map_err(|e| ctx.err(&e))?
            else {
                return Ok(None);
            };
            let format: i32 = ws.get(0);
            if format as u32 != STATE_FORMAT_VERSION {
                return Err(StateError::FormatVersion {
                    found: format as u32,
                });
            }
            let mut state = State::new(ws.get(1));
            let base: i64 = ws.get(2);
            for row in tx
                .query(
                    &format!("SELECT name, record, checksum FROM {s}.families"),
                    &[],
                )
                .await
                .map_err(|e| ctx.err(&e))?
            {
                let name = FamilyName::from(row.get::<_, String>(0));
                let family = FamilyState::from_record(&name, row.get(1), row.get(2))?;
                state.families.insert(name, family);
            }
            state.serial = super::whole_serial(base, &state);
            let approvals = read_approvals(&tx, s).await.map_err(|e| ctx.err(&e))?;
            state.merge_approvals(&approvals);
            tx.commit().await.map_err(|e| ctx.err(&e))?;
            Ok(Some(state))
        })
    }

    fn save(&self, state: &State) -> Result<(), StateError> {
        let state = state.clone();
        self.run(move |client, ctx| async move {
            let mut guard = client.lock().await;
            let c = guard.as_mut().expect("connected");
            let s = &ctx.schema;
            let tx = c.transaction().await.map_err(|e| ctx.err(&e))?;
            let run = async {
                tx.execute(&format!("DELETE FROM {s}.families"), &[]).await?;
                tx.execute(&format!("DELETE FROM {s}.approvals"), &[]).await?;
                tx.execute(
                    &format!(
                        "INSERT INTO {s}.workspace (id, format_version, lineage, serial) VALUES (1, $1, $2, $3)
                         ON CONFLICT (id) DO UPDATE SET format_version = $1, lineage = $2, serial = $3"
                    ),
                    &[&(STATE_FORMAT_VERSION as i32), &state.lineage, &super::base_serial(&state)],
                )
                .await?;
                let insert = tx
                    .prepare(&format!(
                        "INSERT INTO {s}.families (name, serial, record, checksum) VALUES ($1, $2, $3, $4)"
                    ))
                    .await?;
                for (name, family) in &state.families {
                    let (record, checksum) = family.to_record(name);
                    tx.execute(&insert, &[&name.as_str(), &(family.serial as i64), &record, &checksum])
                        .await?;
                }
                Ok::<_, tokio_postgres::Error>(())
            };
            run.await.map_err(|e| ctx.err(&e))?;
            tx.commit().await.map_err(|e| ctx.err(&e))
        })
    }

    /// A save of its own, through the committer (which commits it with
    /// whatever else waits).
    fn save_family(
        &self,
        lineage: &str,
        name: &FamilyName,
        family: &FamilyState,
    ) -> Result<(), StateError> {
        let save = self.save_of(lineage.to_string(), name.clone(), family);
        self.wait(self.commit_soon(|reply| Job::Save(save, reply)))
    }

    /// Queues the line with the committer's next commit.
    fn append_event_soon(
        &self,
        event: Event,
    ) -> futures_util::future::BoxFuture<'_, Result<(), StateError>> {
        Box::pin(self.commit_soon(|reply| Job::Event(event, reply)))
    }

    /// Hands the save to the committer, which commits every save waiting
    /// at that moment in one transaction, each judged alone in a savepoint:
    /// one durable commit for many families, and the apply's other
    /// families go on meanwhile.
    fn save_family_soon(
        &self,
        lineage: String,
        name: FamilyName,
        family: FamilyState,
    ) -> futures_util::future::BoxFuture<'_, Result<(), StateError>> {
        let save = self.save_of(lineage, name, &family);
        Box::pin(self.commit_soon(|reply| Job::Save(save, reply)))
    }

    fn remove_family(&self, name: &FamilyName) -> Result<(), StateError> {
        let name = name.clone();
        let mine = self.leases.token();
        self.run(move |client, ctx| async move {
            let mut guard = client.lock().await;
            let c = guard.as_mut().expect("connected");
            let s = &ctx.schema;
            let e = |e: tokio_postgres::Error| ctx.err(&e);
            let tx = c.transaction().await.map_err(e)?;
            if let Some(l) = read_lease(&tx, s, &name, "FOR UPDATE").await.map_err(e)? {
                let now = server_now(&tx).await.map_err(e)?;
                if blocks(&l, mine.as_deref(), now) {
                    return Err(StateError::leased(&l));
                }
            }
            // The removed record's serial moves into the base, plus one.
            let gone: i64 = tx
                .query_opt(
                    &format!("SELECT serial FROM {s}.families WHERE name = $1"),
                    &[&name.as_str()],
                )
                .await
                .map_err(e)?
                .map_or(0, |r| r.get(0));
            tx.execute(
                &format!("DELETE FROM {s}.families WHERE name = $1"),
                &[&name.as_str()],
            )
            .await
            .map_err(e)?;
            tx.execute(
                &format!("DELETE FROM {s}.approvals WHERE family = $1"),
                &[&name.as_str()],
            )
            .await
            .map_err(e)?;
            tx.execute(
                &format!("UPDATE {s}.workspace SET serial = serial + $1 + 1 WHERE id = 1"),
                &[&gone],
            )
            .await
            .map_err(e)?;
            tx.commit().await.map_err(e)
        })
    }

    fn rename_family(&self, old: &FamilyName, new: &FamilyName) -> Result<(), StateError> {
        let (old, new) = (old.clone(), new.clone());
        let mine = self.leases.token();
        self.run(move |client, ctx| async move {
            let mut guard = client.lock().await;
            let c = guard.as_mut().expect("connected");
            let s = &ctx.schema;
            let e = |e: tokio_postgres::Error| ctx.err(&e);
            let tx = c.transaction().await.map_err(e)?;
            let now = server_now(&tx).await.map_err(e)?;
            for name in [&old, &new] {
                if let Some(l) = read_lease(&tx, s, name, "FOR UPDATE").await.map_err(e)?
                    && blocks(&l, mine.as_deref(), now)
                {
                    return Err(StateError::leased(&l));
                }
            }
            if tx
                .query_opt(&format!("SELECT 1 FROM {s}.families WHERE name = $1"), &[&new.as_str()])
                .await
                .map_err(e)?
                .is_some()
            {
                return Err(StateError::Backend(format!("the state already has a family {new}")));
            }
            let Some(row) = tx
                .query_opt(
                    &format!("SELECT record, checksum FROM {s}.families WHERE name = $1 FOR UPDATE"),
                    &[&old.as_str()],
                )
                .await
                .map_err(e)?
            else {
                return Err(StateError::Backend(format!("the state has no family {old}")));
            };
            let approvals = read_approvals(&tx, s).await.map_err(e)?;
            let family = FamilyState::from_record(&old, row.get(0), row.get(1))?
                .renamed(&old, &approvals);
            let (record, checksum) = family.to_record(&new);
            tx.execute(&format!("DELETE FROM {s}.families WHERE name = $1"), &[&old.as_str()])
                .await
                .map_err(e)?;
            tx.execute(&format!("DELETE FROM {s}.approvals WHERE family = $1"), &[&old.as_str()])
                .await
                .map_err(e)?;
            tx.execute(
                &format!("INSERT INTO {s}.families (name, serial, record, checksum) VALUES ($1, $2, $3, $4)"),
                &[&new.as_str(), &(family.serial as i64), &record, &checksum],
            )
            .await
            .map_err(e)?;
            tx.commit().await.map_err(e)
        })
    }

    fn approvals(&self) -> Result<Vec<ApprovalRecord>, StateError> {
        self.run(|client, ctx| async move {
            let guard = client.lock().await;
            let c = guard.as_ref().expect("connected");
            read_approvals(c, &ctx.schema)
                .await
                .map_err(|e| ctx.err(&e))
        })
    }

    fn add_approval(&self, record: &ApprovalRecord) -> Result<(), StateError> {
        let family = record.family.to_string();
        let json = serde_json::to_string(record).expect("an approval serialises");
        self.run(move |client, ctx| async move {
            let guard = client.lock().await;
            let c = guard.as_ref().expect("connected");
            c.execute(
                &format!(
                    "INSERT INTO {}.approvals (family, record) VALUES ($1, $2)",
                    ctx.schema
                ),
                &[&family, &json],
            )
            .await
            .map(|_| ())
            .map_err(|e| ctx.err(&e))
        })
    }

    fn acquire(&self, families: &[FamilyName], holder: &LeaseHolder) -> Result<(), StateError> {
        let families_owned = families.to_vec();
        let holder_owned = holder.clone();
        let ttl = self.ttl;
        self.run(move |client, ctx| async move {
            let mut guard = client.lock().await;
            let c = guard.as_mut().expect("connected");
            let s = &ctx.schema;
            let e = |e: tokio_postgres::Error| ctx.err(&e);
            let tx = c.transaction().await.map_err(e)?;
            // One acquirer at a time; readers are not held up.
            tx.batch_execute(&format!("LOCK TABLE {s}.leases IN EXCLUSIVE MODE"))
                .await
                .map_err(e)?;
            let now = server_now(&tx).await.map_err(e)?;
            for family in &families_owned {
                if let Some(l) = read_lease(&tx, s, family, "").await.map_err(e)?
                    && blocks(&l, Some(&holder_owned.token), now)
                {
                    return Err(StateError::leased(&l));
                }
            }
            let json = serde_json::to_string(&holder_owned).expect("a holder serialises");
            for family in &families_owned {
                tx.execute(
                    &format!(
                        "INSERT INTO {s}.leases (family, token, holder, heartbeat, expires)
                         VALUES ($1, $2, $3, {NOW_MS}, {NOW_MS} + $4)
                         ON CONFLICT (family) DO UPDATE SET token = $2, holder = $3,
                         heartbeat = {NOW_MS}, expires = {NOW_MS} + $4"
                    ),
                    &[&family.as_str(), &holder_owned.token, &json, &ttl.0],
                )
                .await
                .map_err(e)?;
            }
            tx.commit().await.map_err(e)
        })?;
        self.leases.add(families, &holder.token);
        // The heartbeat renews on a connection of its own, on this runtime.
        let ctx = Ctx {
            conn: self.conn.clone(),
            schema: self.schema.clone(),
            where_: self.where_.clone(),
        };
        let handle = self.rt.as_ref().expect("runtime").handle().clone();
        let beat: Arc<Mutex<Option<Client>>> = Arc::new(Mutex::new(None));
        self.leases.keep(ttl, move |token| {
            let (ctx, beat, token) = (ctx.clone(), beat.clone(), token.to_string());
            let (tx, rx) = std::sync::mpsc::channel();
            handle.spawn(async move {
                // Bounded by the lease's own term: a server that stopped
                // answering (packets dropped, no reset) must not hold the
                // heartbeat, and the `release` that waits for it, forever.
                // A renewal that late would find the lease lapsed anyway.
                let limit = std::time::Duration::from_millis(ttl.0.max(1) as u64);
                let renewed = tokio::time::timeout(limit, async {
                    let mut guard = beat.lock().await;
                    if guard.as_ref().is_none_or(|c| c.is_closed()) {
                        *guard = Some(ctx.connect().await?);
                    }
                    let c = guard.as_ref().expect("connected");
                    c.execute(
                        &format!(
                            "UPDATE {}.leases SET heartbeat = {NOW_MS}, expires = {NOW_MS} + $1 WHERE token = $2",
                            ctx.schema
                        ),
                        &[&ttl.0, &token],
                    )
                    .await
                    .map(|n| n as usize)
                    .map_err(|e| ctx.err(&e))
                })
                .await;
                let result = match renewed {
                    Ok(result) => result,
                    Err(_) => {
                        // Its connection may be wedged: the next beat makes a new one.
                        *beat.lock().await = None;
                        Err(StateError::Backend(format!(
                            "PostgreSQL state {}: renewing the lease got no answer within {ttl}",
                            ctx.where_
                        )))
                    }
                };
                let _ = tx.send(result);
            });
            rx.recv()
                .map_err(|_| StateError::Backend("heartbeat lost".into()))?
        });
        Ok(())
    }

    fn release(&self) -> Result<(), StateError> {
        let Some(token) = self.leases.stop() else {
            return Ok(());
        };
        self.run(move |client, ctx| async move {
            let guard = client.lock().await;
            let c = guard.as_ref().expect("connected");
            let sql = format!("DELETE FROM {}.leases WHERE token = $1", ctx.schema);
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&token];
            let delete = c.execute(&sql, &params);
            // Bounded, so that a server that stopped answering cannot hold
            // the end of a command: leases not deleted lapse after their TTL.
            match tokio::time::timeout(RELEASE_LIMIT, delete).await {
                Ok(done) => done.map(|_| ()).map_err(|e| ctx.err(&e)),
                Err(_) => Err(StateError::Backend(format!(
                    "PostgreSQL state {}: releasing the leases got no answer within {}s; they lapse after their TTL",
                    ctx.where_,
                    RELEASE_LIMIT.as_secs()
                ))),
            }
        })
    }

    fn leases(&self) -> Result<Vec<Lease>, StateError> {
        self.run(|client, ctx| async move {
            let guard = client.lock().await;
            let c = guard.as_ref().expect("connected");
            let names = c
                .query(
                    &format!("SELECT family FROM {}.leases ORDER BY family", ctx.schema),
                    &[],
                )
                .await
                .map_err(|e| ctx.err(&e))?;
            let mut out = Vec::new();
            for row in names {
                let family = FamilyName::from(row.get::<_, String>(0));
                if let Some(l) = read_lease(c, &ctx.schema, &family, "")
                    .await
                    .map_err(|e| ctx.err(&e))?
                {
                    out.push(l);
                }
            }
            Ok(out)
        })
    }

    fn break_lease(&self, family: &FamilyName) -> Result<Option<Lease>, StateError> {
        let family = family.clone();
        self.run(move |client, ctx| async move {
            let mut guard = client.lock().await;
            let c = guard.as_mut().expect("connected");
            let tx = c.transaction().await.map_err(|e| ctx.err(&e))?;
            let lease = read_lease(&tx, &ctx.schema, &family, "FOR UPDATE")
                .await
                .map_err(|e| ctx.err(&e))?;
            tx.execute(
                &format!("DELETE FROM {}.leases WHERE family = $1", ctx.schema),
                &[&family.as_str()],
            )
            .await
            .map_err(|e| ctx.err(&e))?;
            tx.commit().await.map_err(|e| ctx.err(&e))?;
            Ok(lease)
        })
    }

    fn append_event(&self, event: &Event) -> Result<(), StateError> {
        let (at, family) = (event.at.0, event.family.to_string());
        let json = serde_json::to_string(event).expect("an event serialises");
        self.run(move |client, ctx| async move {
            let guard = client.lock().await;
            let c = guard.as_ref().expect("connected");
            c.execute(
                &format!(
                    "INSERT INTO {}.events (at, family, event) VALUES ($1, $2, $3)",
                    ctx.schema
                ),
                &[&at, &family, &json],
            )
            .await
            .map(|_| ())
            .map_err(|e| ctx.err(&e))
        })
    }

    fn events(&self, family: Option<&FamilyName>) -> Result<Vec<Event>, StateError> {
        let family = family.map(FamilyName::to_string);
        self.run(move |client, ctx| async move {
            let guard = client.lock().await;
            let c = guard.as_ref().expect("connected");
            let rows = c
                .query(
                    &format!(
                        "SELECT event FROM {}.events WHERE $1::text IS NULL OR family = $1 ORDER BY id",
                        ctx.schema
                    ),
                    &[&family],
                )
                .await
                .map_err(|e| ctx.err(&e))?;
            rows.iter()
                .map(|r| {
                    serde_json::from_str(r.get::<_, &str>(0))
                        .map_err(|e| StateError::Corrupt(format!("an event: {e}")))
                })
                .collect()
        })
    }
}

/// How many saves and lines one commit takes at most. A save is a
/// subtransaction of the batch's; a backend caches 64 of them (more, and
/// every snapshot taken meanwhile looks them up on disk): 63 and the lines'.
const BATCH: usize = 63;

/// Told a save's or a line's outcome once its commit is durable.
type Reply = futures_channel::oneshot::Sender<Result<(), StateError>>;

/// Work for the committer.
enum Job {
    Save(Save, Reply),
    Event(Event, Reply),
}

/// One family's save, as `save_batch` takes it.
struct Save {
    lineage: String,
    name: FamilyName,
    /// The record's new serial; the stored one must be one below.
    serial: u64,
    record: String,
    checksum: String,
    /// This value's lease token, and whether it leased this family.
    token: Option<String>,
    leased: bool,
    /// The token of a lease whose holder was found gone (a process of this
    /// host that exited): it does not block the save's second try.
    dead: Option<String>,
}

/// How long `release` waits for the server to delete this process's leases.
const RELEASE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The group-commit task and its connection.
struct Committer {
    ctx: Ctx,
    slot: Mutex<Option<Client>>,
    /// `save_batch`, prepared on the connection in `slot`.
    statement: Option<Statement>,
}

impl Committer {
    /// Waits [`GATHER`](super::GATHER) after a batch's first job, takes all
    /// that waits (up to [`BATCH`]), commits it, answers; again,
    /// until the backend is dropped.
    async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        let mut again = Vec::new();
        loop {
            let mut batch: Vec<Job> = std::mem::take(&mut again);
            if batch.is_empty() {
                match jobs.recv().await {
                    Some(job) => batch.push(job),
                    None => return,
                }
                tokio::time::sleep(super::GATHER).await;
            }
            while batch.len() < BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            again = self.commit(batch).await;
        }
    }

    /// Commits a batch in one transaction and tells each caller its own
    /// answer once the COMMIT is durable; a failure of the statement or of
    /// the COMMIT is every caller's answer. Returns the saves to try again
    /// (a lease whose holder was found gone).
    async fn commit(&mut self, batch: Vec<Job>) -> Vec<Job> {
        let (mut saves, mut events) = (Vec::new(), Vec::new());
        for job in batch {
            match job {
                Job::Save(save, reply) => saves.push((save, reply)),
                Job::Event(event, reply) => events.push((event, reply)),
            }
        }
        let answers = self.send(&saves, &events).await.and_then(|answers| {
            if answers.len() == saves.len() + 1 {
                Ok(answers)
            } else {
                Err(StateError::Backend(format!(
                    "PostgreSQL state {}: {} answers from {}.save_batch for {} saves",
                    self.ctx.where_,
                    answers.len(),
                    self.ctx.schema,
                    saves.len()
                )))
            }
        });
        let answers = match answers {
            Ok(answers) => answers,
            Err(e) => {
                let replies = saves.into_iter().map(|(_, r)| r);
                for reply in replies.chain(events.into_iter().map(|(_, r)| r)) {
                    let _ = reply.send(Err(e.clone()));
                }
                return Vec::new();
            }
        };
        let mut again = Vec::new();
        for ((mut save, reply), answer) in saves.into_iter().zip(&answers) {
            match judge(&self.ctx, answer.as_deref().unwrap_or("none"), &save) {
                Judged::Done(result) => {
                    let _ = reply.send(result);
                }
                Judged::HolderGone(token) => {
                    save.dead = Some(token);
                    again.push(Job::Save(save, reply));
                }
            }
        }
        // The history is for people: lines that fail are lost, the saves stay.
        let lines = match answers.last().cloned().flatten().as_deref() {
            Some("ok") => Ok(()),
            other => Err(answer_error(&self.ctx, other.unwrap_or("none"))),
        };
        for (_, reply) in events {
            let _ = reply.send(lines.clone());
        }
        again
    }

    /// BEGIN, `save_batch`, COMMIT, sent at once (pipelined: one round
    /// trip and the commit's flush). The function's answers, once the
    /// COMMIT returned.
    async fn send(
        &mut self,
        saves: &[(Save, Reply)],
        events: &[(Event, Reply)],
    ) -> Result<Vec<Option<String>>, StateError> {
        let ctx = &self.ctx;
        let e = |e: tokio_postgres::Error| ctx.err(&e);
        if ctx.ensure(&self.slot).await? {
            self.statement = None;
        }
        let guard = self.slot.lock().await;
        let c = guard.as_ref().expect("connected");
        let statement = match &self.statement {
            Some(statement) => statement.clone(),
            None => {
                let statement = c
                    .prepare(&format!(
                        "SELECT {}.save_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        ctx.schema
                    ))
                    .await
                    .map_err(e)?;
                self.statement = Some(statement.clone());
                statement
            }
        };
        let column = |f: fn(&Save) -> &str| saves.iter().map(|(s, _)| f(s)).collect::<Vec<_>>();
        let (lineage, name) = (column(|s| &s.lineage), column(|s| s.name.as_str()));
        let (record, checksum) = (column(|s| &s.record), column(|s| &s.checksum));
        let serial: Vec<i64> = saves.iter().map(|(s, _)| s.serial as i64).collect();
        let token: Vec<Option<&str>> = saves.iter().map(|(s, _)| s.token.as_deref()).collect();
        let leased: Vec<bool> = saves.iter().map(|(s, _)| s.leased).collect();
        let dead: Vec<Option<&str>> = saves.iter().map(|(s, _)| s.dead.as_deref()).collect();
        let at: Vec<i64> = events.iter().map(|(ev, _)| ev.at.0).collect();
        let family: Vec<&str> = events.iter().map(|(ev, _)| ev.family.as_str()).collect();
        let json: Vec<String> = events
            .iter()
            .map(|(ev, _)| serde_json::to_string(ev).expect("an event serialises"))
            .collect();
        // A failed statement leaves the transaction aborted: its COMMIT
        // then rolls back (and is no error), so the statement's error is
        // the one to answer.
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
            &lineage, &name, &serial, &record, &checksum, &token, &leased, &dead, &at, &family,
            &json,
        ];
        let (begin, answers, commit) = tokio::join!(
            c.batch_execute("BEGIN"),
            c.query_one(&statement, &params),
            c.batch_execute("COMMIT"),
        );
        begin.map_err(e)?;
        let answers = answers.map_err(e)?.get(0);
        commit.map_err(e)?;
        Ok(answers)
    }
}

/// What one of `save_family`'s answers means.
enum Judged {
    Done(Result<(), StateError>),
    /// Leased by a process of this host that has exited: try again with
    /// that lease's token.
    HolderGone(String),
}

fn judge(ctx: &Ctx, answer: &str, save: &Save) -> Judged {
    let (what, rest) = answer.split_once(':').unwrap_or((answer, ""));
    let name = save.name.clone();
    Judged::Done(match what {
        "ok" => Ok(()),
        "lost" => Err(StateError::LeaseLost(name)),
        "lineage" => Err(StateError::Backend(format!(
            "PostgreSQL state {} holds another state (lineage {rest}, not {}): it was replaced while this command ran",
            ctx.where_, save.lineage
        ))),
        "conflict" => Err(StateError::Conflict {
            family: name,
            expected: save.serial.saturating_sub(1),
            found: rest.parse().unwrap_or(0),
        }),
        "leased" => {
            let mut parts = rest.rsplitn(3, '|');
            let expires = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            let heartbeat = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            let holder: Option<LeaseHolder> =
                parts.next().and_then(|h| serde_json::from_str(h).ok());
            let Some(holder) = holder else {
                return Judged::Done(Err(StateError::Backend(format!(
                    "PostgreSQL state {}: family {name} is leased by a holder rotor cannot read",
                    ctx.where_
                ))));
            };
            // A process of this host that has exited holds nothing.
            if save.dead.is_none() && holder.host == host_name() && !pid_alive(holder.pid) {
                return Judged::HolderGone(holder.token);
            }
            Err(StateError::leased(&Lease {
                family: name,
                holder,
                heartbeat: Timestamp(heartbeat),
                expires: Timestamp(expires),
            }))
        }
        _ => Err(answer_error(ctx, answer)),
    })
}

/// A `save_batch` answer that is no verdict: a statement's own error
/// (`error:<SQLSTATE>:<message>`), or one rotor does not know.
fn answer_error(ctx: &Ctx, answer: &str) -> StateError {
    match answer
        .strip_prefix("error:")
        .and_then(|e| e.split_once(':'))
    {
        Some((code, reason)) => failure_error(
            &ctx.where_,
            &ctx.schema,
            Failure {
                code: Some(code.to_string()),
                reason: reason.to_string(),
                unreachable: false,
            },
        ),
        None => StateError::Backend(format!(
            "PostgreSQL state {}: unexpected answer `{answer}` from {}.save_batch",
            ctx.where_, ctx.schema
        )),
    }
}

async fn read_approvals(
    c: &impl GenericClient,
    s: &str,
) -> Result<Vec<ApprovalRecord>, tokio_postgres::Error> {
    let rows = c
        .query(
            &format!("SELECT record FROM {s}.approvals ORDER BY id"),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| serde_json::from_str(r.get::<_, &str>(0)).ok())
        .collect())
}

impl PgState {
    /// Drops this value as a killed process would: the heartbeat stops,
    /// the leases stay until they lapse. For tests of lease expiry.
    pub fn abandon(mut self) {
        let _ = self.leases.stop();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        std::mem::forget(self);
    }
}

impl Drop for PgState {
    fn drop(&mut self) {
        let _ = self.release();
        // Dropping a runtime inside another one's task is refused; this
        // lets its thread finish on its own.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
