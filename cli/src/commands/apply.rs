use super::{BUSY, ERROR, OK, PENDING, plan_file};
use crate::context::{LeaseRefused, Reported, Workspace};
use crate::render;
use crate::style;
use rotor_engine::apply::{ApplyOptions, ApplyReport, Recorder};
use rotor_engine::safety::CheckedPlan;
use rotor_engine::session::{End, Session, Waiter};
use rotor_engine::spec::Resolved;
use rotor_engine::{FamilyName, Providers, State, StateBackend};
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

pub struct Options {
    pub auto_approve: bool,
    pub wait: bool,
    pub parallelism: usize,
    pub no_input: bool,
    pub detailed_exitcode: bool,
    /// Take over families another state claimed in a store.
    pub adopt: bool,
    /// A plan saved by `rotor plan -out FILE`, applied instead of a fresh one.
    pub plan_file: Option<PathBuf>,
    /// `--target`: only these families.
    pub targets: Vec<String>,
    /// `--json`: events on stdout, one JSON object per line.
    pub json: bool,
}

/// The plan an apply is about to run: printed for people, or the first event.
fn show_plan(plan: &rotor_engine::plan::Plan, opts: &Options, now: rotor_engine::Timestamp) {
    if opts.json {
        render::events::emit(
            "plan",
            now,
            serde_json::json!({ "plan": render::plan::json(plan) }),
        );
    } else {
        render::plan::print_human(plan);
    }
}

/// The last event of `--json`: how the apply ended, and its exit code.
fn summary(
    opts: &Options,
    outcome: &str,
    ran: usize,
    code: u8,
    now: rotor_engine::Timestamp,
) -> u8 {
    if opts.json {
        render::events::emit(
            "summary",
            now,
            serde_json::json!({ "outcome": outcome, "steps_ran": ran, "exit_code": code }),
        );
    }
    code
}

/// How often `--wait` says it is still waiting when nothing changes.
const STATUS_EVERY: rotor_engine::Duration = rotor_engine::Duration(30_000);

pub async fn run(ws: &Workspace, opts: Options) -> Result<u8, Reported> {
    if opts.json && !opts.auto_approve && opts.plan_file.is_none() {
        render::error(
            "--json needs --auto-approve (or a saved plan): there is no one to answer a prompt in a stream of events",
            Some(
                "review the plan first with `rotor plan -out FILE`, then `rotor apply --json FILE`",
            ),
        );
        return Err(Reported);
    }
    if let Some(path) = opts.plan_file.clone() {
        return run_saved(ws, &path, opts).await;
    }
    let resolved = ws.resolved()?;
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend(Some(&resolved))?;
    let state = ws.state(&*backend)?;
    let targets = super::plan::targets(&resolved, &opts.targets)?;
    let plan = super::plan::make_plan_in(
        &resolved,
        &providers,
        &state,
        opts.parallelism,
        targets.as_ref(),
    )
    .await?;
    let now = providers.clock.now();
    show_plan(&plan, &opts, now);
    if plan.is_empty() {
        return Ok(summary(&opts, "no_changes", 0, OK, now));
    }
    if plan.summary.blocked > 0 && plan.step_count() == 0 {
        return Ok(summary(&opts, "blocked", 0, ERROR, now));
    }
    // The families this plan changes are leased before anything runs (and
    // before the prompt, as Terraform locks before it asks): a second apply
    // on them fails fast; one on other families goes ahead.
    let scope = plan.families_with_steps();
    if let Some(code) = lease(ws, &*backend, &scope)? {
        return Ok(code);
    }
    let Some(state) = unchanged_since(ws, &*backend, &plan, &scope)? else {
        return Ok(BUSY);
    };
    // Asked on a blocking thread: while a person decides, the command's one
    // runtime thread keeps its connections' tasks running (a store's
    // PostgreSQL connection then notices a server that closed it).
    let no_input = opts.no_input;
    if !opts.auto_approve
        && !tokio::task::spawn_blocking(move || confirm(no_input))
            .await
            .map_err(|_| Reported)??
    {
        eprintln!("Apply cancelled.");
        return Ok(ERROR);
    }
    execute(
        ws, &resolved, &providers, &*backend, state, plan, scope, &opts,
    )
    .await
}

/// Leases the families the plan changes. Another process holding one is
/// not an error of this run: it exits [`BUSY`] (reported, nothing done), so a
/// scheduled job can tell "another apply is at work" from a failure.
fn lease(
    ws: &Workspace,
    backend: &dyn StateBackend,
    scope: &BTreeSet<FamilyName>,
) -> Result<Option<u8>, Reported> {
    match ws.lease_or_busy(
        backend,
        &scope.iter().cloned().collect::<Vec<_>>(),
        "rotor apply",
    ) {
        Ok(()) => Ok(None),
        Err(LeaseRefused::Busy) => Ok(Some(BUSY)),
        Err(LeaseRefused::Failed) => Err(Reported),
    }
}

/// The state, read again once the plan's families are leased; `None`
/// (reported) when one of them changed since the plan was made: another
/// apply got there between the two reads, and this one exits [`BUSY`].
fn unchanged_since(
    ws: &Workspace,
    backend: &dyn StateBackend,
    plan: &rotor_engine::plan::Plan,
    scope: &BTreeSet<FamilyName>,
) -> Result<Option<State>, Reported> {
    let state = ws.state(backend)?;
    for family in scope {
        let now = state.family(family).map_or(0, |f| f.serial);
        let planned = plan.serials.get(family).copied().unwrap_or(0);
        if now != planned {
            render::error(
                &format!(
                    "secret.{family} changed while this plan was made (serial {planned} → {now}): another apply ran"
                ),
                Some(
                    "nothing was applied; run `rotor apply` again to plan from the state as it is now",
                ),
            );
            return Ok(None);
        }
    }
    Ok(Some(state))
}

/// `rotor apply FILE`: a saved plan, refused when the spec or state moved on
/// since it was made, applied without a prompt (saving it was the review).
async fn run_saved(ws: &Workspace, path: &Path, opts: Options) -> Result<u8, Reported> {
    // The file first: a corrupt plan is refused before anything is created.
    let saved = plan_file::load(path)?;
    let resolved = ws.resolved()?;
    // The spec can be judged before the state is locked (and `.rotor/` created).
    if let Some(why) = saved.stale_spec(&resolved.hash) {
        return Err(plan_file::refuse(path, &why));
    }
    let providers = ws.providers(&resolved)?;
    let backend = ws.backend(Some(&resolved))?;
    let scope = saved.plan.families_with_steps();
    if let Some(code) = lease(ws, &*backend, &scope)? {
        return Ok(code);
    }
    let existing = ws.existing_state(&*backend)?;
    plan_file::check_fresh(&saved, path, &resolved.hash, existing.as_ref())?;
    let state = existing.unwrap_or_else(|| State::new(rotor_providers::new_lineage()));
    let plan = plan_file::check_safety(&resolved, &state, saved.plan, path)?;
    let now = providers.clock.now();
    show_plan(&plan, &opts, now);
    if plan.is_empty() {
        eprintln!("Nothing to apply: the saved plan has no changes.");
        return Ok(summary(&opts, "no_changes", 0, OK, now));
    }
    if plan.summary.blocked > 0 && plan.step_count() == 0 {
        render::error(
            "nothing to apply: every family in the saved plan is blocked",
            Some("fix what the plan says blocks them, then `rotor plan -out FILE` again"),
        );
        return Ok(summary(&opts, "blocked", 0, ERROR, now));
    }
    execute(
        ws, &resolved, &providers, &*backend, state, plan, scope, &opts,
    )
    .await
}

/// How far the wall clock may move against the monotonic clock during an
/// apply before it stops: NTP slews by milliseconds, a jump is a jump.
const CLOCK_JUMP: std::time::Duration = std::time::Duration::from_secs(5);

/// The ground an apply stands on, checked before every promote, revoke and
/// destroy: the spec on disk still hashes to what was planned, and the wall
/// clock (which every window is counted on) has not jumped.
struct Footing {
    ws_dir: PathBuf,
    spec_hash: String,
    wall: rotor_engine::Timestamp,
    mono: std::time::Instant,
    /// The spec files' identity and times when they last hashed to
    /// `spec_hash`: while they are the same, the files are not read and
    /// hashed again (a large spec costs milliseconds per check, and the check
    /// runs before every promote, revoke and destroy). Any write to a file
    /// moves its ctime, which nothing outside the kernel can set back.
    unchanged: std::sync::Mutex<Option<Vec<SpecFileMeta>>>,
}

/// What identifies one `*.hcl` file's contents without reading it.
#[derive(Debug, PartialEq, Eq)]
struct SpecFileMeta {
    name: std::ffi::OsString,
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// The metadata of every `*.hcl` entry of `dir` (symlinks followed),
/// sorted; `None` when one cannot be read (the full check then says why).
fn spec_meta(dir: &Path) -> Option<Vec<SpecFileMeta>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name();
        if !name.as_encoded_bytes().ends_with(b".hcl") {
            continue;
        }
        let m = std::fs::metadata(entry.path()).ok()?;
        out.push(SpecFileMeta {
            name,
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Some(out)
}

impl Footing {
    fn new(ws: &Workspace, spec_hash: &str) -> Footing {
        Footing {
            ws_dir: ws.dir.clone(),
            spec_hash: spec_hash.to_string(),
            wall: rotor_providers::now(),
            mono: std::time::Instant::now(),
            unchanged: std::sync::Mutex::new(None),
        }
    }

    /// `Err` when the wall clock moved more than [`CLOCK_JUMP`] away from
    /// the monotonic clock since the apply began.
    fn clock(&self) -> Result<(), String> {
        let wall = (rotor_providers::now() - self.wall).as_millis() as i128;
        let mono = self.mono.elapsed().as_millis() as i128;
        let jump = wall - mono;
        if jump.unsigned_abs() > CLOCK_JUMP.as_millis() {
            return Err(format!(
                "the system clock jumped {} by {}s during this apply: every window is counted on it, so rotor stops here",
                if jump > 0 { "forward" } else { "back" },
                jump.unsigned_abs() / 1000
            ));
        }
        Ok(())
    }
}

impl rotor_engine::provider::Ground for Footing {
    fn check(&self) -> Result<(), String> {
        self.clock()?;
        let before = spec_meta(&self.ws_dir);
        if before.is_some() && *self.unchanged.lock().expect("spec meta") == before {
            return Ok(());
        }
        let ws = Workspace {
            dir: self.ws_dir.clone(),
            state_flag: None,
        };
        let files = ws
            .spec_files()
            .map_err(|(what, _)| format!("the spec can no longer be read ({what})"))?;
        let hash =
            rotor_engine::spec::files_hash(files.iter().map(|(p, t)| (p.as_path(), t.as_str())));
        if hash != self.spec_hash {
            return Err(
                "the spec changed since this apply began: run `rotor plan` again".to_string(),
            );
        }
        // Remembered only when nothing moved while the files were read.
        if before.is_some() && spec_meta(&self.ws_dir) == before {
            *self.unchanged.lock().expect("spec meta") = before;
        }
        Ok(())
    }
}

/// Runs an approved plan (made now, or saved) to the end or to its closed
/// gates; with `--wait`, follows it from the state until every gate opened.
/// The loop itself is the engine's [`Session`]; this renders how it ended.
#[allow(clippy::too_many_arguments)]
async fn execute(
    ws: &Workspace,
    resolved: &Resolved,
    providers: &Providers,
    backend: &dyn StateBackend,
    state: State,
    plan: CheckedPlan,
    scope: BTreeSet<FamilyName>,
    opts: &Options,
) -> Result<u8, Reported> {
    let recorder = Recorder::new(state, backend).with_actor(&rotor_providers::actor());
    let progress = render::plan::Progress::new();
    let events = render::events::Events::new(providers.clock.clone());
    let hook: &dyn rotor_engine::apply::Hook = if opts.json { &events } else { &progress };
    let started = providers.clock.now();
    let footing = std::sync::Arc::new(Footing::new(ws, &resolved.hash));
    let interrupt = Interrupt::listen();
    let waiter = Waiting {
        footing: footing.clone(),
        clock: providers.clock.clone(),
        last_status: std::sync::Mutex::new(None),
        interrupt: interrupt.clone(),
    };
    let session = Session {
        resolved,
        providers,
        recorder: &recorder,
        hook,
        options: ApplyOptions {
            parallelism: opts.parallelism,
            deadline_base: opts.wait.then_some(started),
            ground: footing,
            adopt: opts.adopt,
            scope: Some(scope),
            stop: Some(interrupt.set.clone()),
        },
        wait: opts.wait.then_some(&waiter as &dyn Waiter),
    };
    const RESUME: &str = "everything done so far is recorded; fix the cause and run `rotor apply` again: it resumes from the last recorded step";
    let (outcome, ran, code) = match session.run(plan).await {
        End::Complete { report, ran } => {
            eprintln!(
                "{}",
                style::green(&render::plan::apply_summary(&report, ran))
            );
            ("complete", ran, OK)
        }
        End::Pending { report, ran } if interrupt.is_set() => {
            eprintln!(
                "{}",
                style::yellow(&render::plan::apply_summary(&report, ran))
            );
            render::error(
                "interrupted (Ctrl-C)",
                Some("every step that ran is recorded; the next `rotor apply` resumes from there"),
            );
            ("interrupted", ran, INTERRUPTED)
        }
        End::Pending { report, ran } => {
            eprintln!(
                "{}",
                style::yellow(&render::plan::apply_summary(&report, ran))
            );
            (
                "pending",
                ran,
                if opts.detailed_exitcode { PENDING } else { OK },
            )
        }
        End::Failed { report, ran } => {
            eprintln!("{}", style::red(&render::plan::apply_summary(&report, ran)));
            ("failed", ran, ERROR)
        }
        End::Blocked(families) => {
            // A fresh plan made while applying found a family it cannot go on
            // with (a store that stopped answering, drift): say which and why.
            for (family, reason) in families {
                render::error(&format!("secret.{family} stopped: {reason}"), Some(RESUME));
            }
            ("blocked", 0, ERROR)
        }
        End::Unapproved(new) => {
            render::error(
                &format!(
                    "the plan changed while applying: {} was not in the plan you approved",
                    new.join(", ")
                ),
                Some(
                    "run `rotor plan` to review the new plan, then `rotor apply` again; everything that ran is recorded",
                ),
            );
            ("unapproved", 0, ERROR)
        }
        End::NoProgress(step) => {
            render::error(
                &format!(
                    "internal error: `{step}` counted itself done, yet a fresh plan asks for it again"
                ),
                Some(
                    "this is a bug in rotor; nothing more was applied. Run `rotor plan` to see the state, and please report it with `rotor plan --json` (it holds no secret material)",
                ),
            );
            ("no_progress", 0, ERROR)
        }
        End::Stopped(why) if interrupt.is_set() => {
            render::error(
                &why,
                Some("every step that ran is recorded; the next `rotor apply` resumes from there"),
            );
            ("interrupted", 0, INTERRUPTED)
        }
        End::Stopped(why) => {
            render::error(&why, Some(RESUME));
            ("stopped", 0, ERROR)
        }
        End::Unsafe(violations) => {
            super::plan::report_unsafe(&violations);
            ("unsafe", 0, ERROR)
        }
    };
    Ok(summary(opts, outcome, ran, code, providers.clock.now()))
}

/// Exit code of an apply stopped by Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

/// Ctrl-C during an apply: the first stops it after the steps running now
/// (a step is never cut in half, and a waiting apply wakes at once); a
/// second stops the process there and then, as Terraform does.
struct Interrupt {
    /// Shared with the apply, which starts no step once it is set.
    set: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wake: tokio::sync::Notify,
}

impl Interrupt {
    fn listen() -> std::sync::Arc<Interrupt> {
        let interrupt = std::sync::Arc::new(Interrupt {
            set: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
            wake: tokio::sync::Notify::new(),
        });
        let listening = interrupt.clone();
        // On a thread and runtime of its own: the command's runtime has one
        // thread, which a step may hold in blocking work (a SQLite lock
        // wait, a key generation) when the second Ctrl-C must act at once.
        let listen = async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if listening
                    .set
                    .swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    eprintln!(
                        "\nInterrupted again: stopping now. Every step recorded so far is kept; a step cut short is finished by the next `rotor apply`."
                    );
                    std::process::exit(INTERRUPTED.into());
                }
                eprintln!(
                    "\nInterrupt received: stopping once the steps running now are done (press Ctrl-C again to stop at once)."
                );
                listening.wake.notify_waiters();
            }
        };
        // Without a thread or a runtime, Ctrl-C keeps its default: it ends
        // the process, as it would between two steps' saves anyway. (The
        // runtime is built on its thread: one dropped here, inside the
        // command's runtime, would panic.)
        let _ = std::thread::Builder::new()
            .name("rotor-interrupt".into())
            .spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                {
                    runtime.block_on(listen);
                }
            });
        interrupt
    }

    fn is_set(&self) -> bool {
        self.set.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How `apply --wait` passes the time: sleeps (waking for Ctrl-C), stops on
/// a clock jump, and says which gates it waits on and when each opens: at
/// once, whenever they change, and every 30 s while they do not.
struct Waiting {
    footing: std::sync::Arc<Footing>,
    clock: std::sync::Arc<dyn rotor_engine::Clock>,
    /// When it last said so, and what it said.
    last_status: std::sync::Mutex<Option<(rotor_engine::Timestamp, Vec<String>)>>,
    interrupt: std::sync::Arc<Interrupt>,
}

/// Waiting gates shown at most; the rest are counted.
const SHOWN_GATES: usize = 10;

#[rotor_engine::async_trait]
impl Waiter for Waiting {
    async fn sleep_until(&self, until: rotor_engine::Timestamp) -> Result<(), String> {
        self.footing.clock()?;
        let now = self.clock.now();
        let nap = tokio::time::sleep(std::time::Duration::from_millis(
            (until - now).as_millis().max(0) as u64,
        ));
        let woken = self.interrupt.wake.notified();
        if !self.interrupt.is_set() {
            tokio::select! {
                _ = nap => {}
                _ = woken => {}
            }
        }
        if let Some(why) = self.interrupted() {
            return Err(why);
        }
        self.footing.clock()
    }

    fn interrupted(&self) -> Option<String> {
        self.interrupt
            .is_set()
            .then(|| "interrupted (Ctrl-C)".to_string())
    }

    fn waiting(&self, report: &ApplyReport, started: rotor_engine::Timestamp) {
        let now = self.clock.now();
        let gates: Vec<String> = report
            .families
            .iter()
            .flat_map(|f| {
                f.outcomes.iter().filter_map(move |(_, o)| match o {
                    rotor_engine::apply::StepOutcome::Waiting { gate, until, .. } => {
                        Some(match until {
                            Some(t) => format!(
                                "secret.{}: {gate}, opens {} (in {})",
                                f.family,
                                t.human(),
                                *t - now
                            ),
                            None => format!("secret.{}: {gate}, polled until it passes", f.family),
                        })
                    }
                    _ => None,
                })
            })
            .collect();
        // The same gates, minus the countdowns, are "unchanged".
        let key: Vec<String> = gates
            .iter()
            .map(|g| g.split(" (in ").next().unwrap_or(g).to_string())
            .collect();
        let mut last = self.last_status.lock().expect("status lock");
        if let Some((at, said)) = &*last
            && *said == key
            && now - *at < STATUS_EVERY
        {
            return;
        }
        *last = Some((now, key));
        eprintln!(
            "{} waiting on {} gate{} after {}:",
            style::dim("…"),
            gates.len(),
            if gates.len() == 1 { "" } else { "s" },
            now - started
        );
        for g in gates.iter().take(SHOWN_GATES) {
            eprintln!("    {g}");
        }
        if gates.len() > SHOWN_GATES {
            eprintln!("    and {} more", gates.len() - SHOWN_GATES);
        }
    }
}

fn confirm(no_input: bool) -> Result<bool, Reported> {
    if no_input {
        render::error(
            "apply needs confirmation but input is disabled",
            Some("pass --auto-approve to apply without a prompt"),
        );
        return Err(Reported);
    }
    // A pipe is read like a terminal (`echo yes | rotor apply`); end of input means no.
    eprint!("\nDo you want to perform these actions? Only 'yes' will be accepted: ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|_| Reported)?;
    Ok(line.trim() == "yes")
}
