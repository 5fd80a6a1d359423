//! Loading what every command needs: the spec, the providers, the state.

use crate::args::Global;
use crate::render;
use rotor_engine::spec::{self, Resolved};
use rotor_engine::{Diagnostic, Diagnostics, Providers, State, StateBackend};
use std::path::{Path, PathBuf};

/// How far ahead of this machine's clock a time in the state may be before
/// the state is refused: a little skew between machines is normal.
const FUTURE_SLACK_SECONDS: i64 = 60;

/// An error already explained to the user on stderr.
pub struct Reported;

/// Why [`Workspace::lease_or_busy`] took no lease (already reported).
pub enum LeaseRefused {
    /// Another process holds a lease on one of the families.
    Busy,
    /// Anything else: the backend could not be reached, say.
    Failed,
}

pub struct Workspace {
    pub dir: PathBuf,
    /// `--state`, when given.
    pub state_flag: Option<String>,
}

/// The state as `rotor --state` or the spec's `state` block configures it.
pub type Backend = Box<dyn StateBackend>;

impl Workspace {
    pub fn new(global: &Global) -> Workspace {
        let dir = global.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        // A relative state file is taken from DIR, as every other path rotor
        // reads with -C (and as `terraform -chdir` takes its paths).
        let state_flag = global.state.clone().map(|flag| {
            if rotor_providers::state::is_postgres(&flag) || Path::new(&flag).is_absolute() {
                flag
            } else {
                dir.join(&flag).to_string_lossy().into_owned()
            }
        });
        Workspace { dir, state_flag }
    }

    /// The embedded database's path when the state is local (for the
    /// `.gitignore` warning), as the user would type it.
    fn local_state_path(&self, resolved: Option<&Resolved>) -> Option<PathBuf> {
        match (
            &self.state_flag,
            resolved.and_then(|r| r.spec.state.as_ref()),
        ) {
            (Some(flag), _) if rotor_providers::state::is_postgres(flag) => None,
            (Some(flag), _) => Some(PathBuf::from(flag)),
            (None, Some(block)) if block.kind != "local" => None,
            (None, Some(block)) => Some(match block.settings.get("path").map(|v| &v.value) {
                Some(spec::Value::String(p)) => self.dir.join(p),
                _ => self.display_path(rotor_providers::state::sqlite::DEFAULT_PATH),
            }),
            (None, None) => Some(self.display_path(rotor_providers::state::sqlite::DEFAULT_PATH)),
        }
    }

    /// Paths as the user would type them: `rotor.hcl` in the current directory, `DIR/rotor.hcl` with `-C DIR`.
    fn display_path(&self, name: &str) -> PathBuf {
        if self.dir == Path::new(".") {
            PathBuf::from(name)
        } else {
            self.dir.join(name)
        }
    }

    /// Reads every `*.hcl` file, sorted by name.
    pub fn read_files(&self) -> Result<Vec<(PathBuf, String)>, Reported> {
        self.spec_files().map_err(|(what, hint)| {
            render::error(&what, Some(&hint));
            Reported
        })
    }

    /// Every `*.hcl` entry of the spec directory, read. An entry that cannot
    /// be read is an error naming it, never a silent skip: a file left out
    /// could take a consumer, and with it an overlap floor, out of the plan.
    /// `Err` carries the message and a hint.
    pub fn spec_files(&self) -> Result<Vec<(PathBuf, String)>, (String, String)> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            (
                format!("cannot read directory {}: {e}", self.dir.display()),
                "pass the spec's directory with -C DIR".to_string(),
            )
        })?;
        let mut names: Vec<String> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                (
                    format!("cannot read directory {}: {e}", self.dir.display()),
                    "check the directory's permissions".to_string(),
                )
            })?;
            let raw = entry.file_name();
            if !raw.as_encoded_bytes().ends_with(b".hcl") {
                continue;
            }
            let Some(name) = raw.to_str().map(str::to_string) else {
                return Err((
                    format!(
                        "cannot read {}: its name is not valid UTF-8",
                        self.display_path(&raw.to_string_lossy()).display()
                    ),
                    "rename the file: spec file names must be UTF-8".into(),
                ));
            };
            // `metadata` follows symlinks: a dangling one fails here.
            match std::fs::metadata(entry.path()) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => names.push(name),
                Err(e) => {
                    return Err((
                        format!("cannot read {}: {e}", self.display_path(&name).display()),
                        "a *.hcl entry in the spec directory must be a readable file: fix or remove it (a dangling symlink counts)".into(),
                    ));
                }
            }
        }
        names.sort();
        let mut files = Vec::new();
        for name in names {
            let shown = self.display_path(&name);
            let bytes = std::fs::read(self.dir.join(&name)).map_err(|e| {
                (
                    format!("cannot read {}: {e}", shown.display()),
                    "check the file's permissions".to_string(),
                )
            })?;
            let text = String::from_utf8(bytes).map_err(|e| {
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = good.iter().filter(|b| **b == b'\n').count() + 1;
                let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
                (
                    format!(
                        "{}:{line}:{column}: the file is not valid UTF-8 (a byte that is not text)",
                        shown.display()
                    ),
                    "save the file as UTF-8".to_string(),
                )
            })?;
            files.push((shown, text));
        }
        Ok(files)
    }

    /// Parses, resolves and checks the spec. Returns diagnostics either way.
    pub fn load_spec(
        &self,
    ) -> Result<(Option<Resolved>, Diagnostics, rotor_engine::SourceMap), Reported> {
        self.load_spec_with(&|name: &str| std::env::var(name).ok())
    }

    fn load_spec_with(
        &self,
        env: &spec::EnvLookup<'_>,
    ) -> Result<(Option<Resolved>, Diagnostics, rotor_engine::SourceMap), Reported> {
        Ok(spec::load(self.read_files()?, env))
    }

    /// The spec, with diagnostics rendered; `Reported` when it has errors.
    pub fn resolved(&self) -> Result<Resolved, Reported> {
        self.rendered(self.load_spec()?)
    }

    /// A loaded spec with its diagnostics rendered; `Reported` when it has errors.
    fn rendered(
        &self,
        (resolved, diags, sources): (Option<Resolved>, Diagnostics, rotor_engine::SourceMap),
    ) -> Result<Resolved, Reported> {
        render::diagnostics::human(&diags, &sources);
        let resolved = resolved.ok_or(Reported)?;
        self.warn_unignored(&resolved);
        Ok(resolved)
    }

    /// The spec, for a command that reads only the spec and the state
    /// (`rotor approve`): an unset `env()` is an error only in the `state`
    /// block. Elsewhere it names a store's, publisher's or probe's setting
    /// the command never uses, so an approver needs no store credentials.
    pub fn resolved_for_state(&self) -> Result<Resolved, Reported> {
        const UNSET: &str = "\u{0}rotor-unset:";
        let env =
            |name: &str| Some(std::env::var(name).unwrap_or_else(|_| format!("{UNSET}{name}")));
        let resolved = self.rendered(self.load_spec_with(&env)?)?;
        if let Some(block) = &resolved.spec.state {
            let unset: Vec<Diagnostic> = (&block.settings)
                .into_iter()
                .filter_map(|(_, v)| match &v.value {
                    spec::Value::String(s) => {
                        let name = s.strip_prefix(UNSET)?;
                        Some(
                            Diagnostic::error(
                                format!("environment variable `{name}` is not set"),
                                Some(v.span.clone()),
                            )
                            .hint(format!("export {name}=… before running rotor")),
                        )
                    }
                    _ => None,
                })
                .collect();
            if !unset.is_empty() {
                render::diagnostics::human(&Diagnostics(unset), &resolved.spec.sources);
                return Err(Reported);
            }
        }
        Ok(resolved)
    }

    pub fn providers(&self, resolved: &Resolved) -> Result<Providers, Reported> {
        rotor_providers::build_providers(resolved, &self.dir).map_err(|diags| {
            render::diagnostics::human(&Diagnostics(diags), &resolved.spec.sources);
            Reported
        })
    }

    /// Opens the state backend: `--state`, else the spec's `state` block,
    /// else `.rotor/state.db`. Nothing is locked: commands that change
    /// families lease them (see [`lease`](Self::lease)).
    pub fn backend(&self, resolved: Option<&Resolved>) -> Result<Backend, Reported> {
        let loaded;
        let resolved = match resolved {
            Some(r) => Some(r),
            None if self.state_flag.is_some() => None,
            None => {
                // The spec says where the state is; a spec with errors is
                // reported as such, since its `state` block cannot be trusted.
                loaded = self.resolved()?;
                Some(&loaded)
            }
        };
        let block = resolved.and_then(|r| r.spec.state.as_ref());
        rotor_providers::state::open(self.state_flag.as_deref(), block, &self.dir).map_err(|e| {
            match e {
                rotor_providers::state::OpenError::Spec(diags) => {
                    let sources = &resolved.expect("a spec error has a spec").spec.sources;
                    render::diagnostics::human(&Diagnostics(diags), sources);
                }
                rotor_providers::state::OpenError::Flag(message) => {
                    render::error(
                        &message,
                        Some("pass --state FILE or --state postgres://USER:PASSWORD@HOST:PORT/DB"),
                    );
                }
            }
            Reported
        })
    }

    /// The PostgreSQL schema the spec's `state` block names (`rotor` unless it does).
    pub fn state_schema(&self) -> Result<String, Reported> {
        let (resolved, _, _) = self.load_spec()?;
        Ok(resolved
            .and_then(|r| r.spec.state)
            .and_then(
                |s| match s.settings.get("schema").map(|v| v.value.clone()) {
                    Some(spec::Value::String(name)) => Some(name),
                    _ => None,
                },
            )
            .unwrap_or_else(|| "rotor".into()))
    }

    /// Leases `families` for this command, or explains who holds one.
    pub fn lease(
        &self,
        backend: &dyn StateBackend,
        families: &[rotor_engine::FamilyName],
        command: &str,
    ) -> Result<(), Reported> {
        self.lease_or_busy(backend, families, command)
            .map_err(|_| Reported)
    }

    /// [`Workspace::lease`], telling a family leased by another process
    /// from any other failure; either is reported.
    pub fn lease_or_busy(
        &self,
        backend: &dyn StateBackend,
        families: &[rotor_engine::FamilyName],
        command: &str,
    ) -> Result<(), LeaseRefused> {
        if families.is_empty() {
            return Ok(());
        }
        backend
            .acquire(families, &rotor_providers::holder(command))
            .map_err(|e| {
                let refused = match e {
                    rotor_engine::state::StateError::Leased { .. } => LeaseRefused::Busy,
                    _ => LeaseRefused::Failed,
                };
                render::error(
                    &format!("{}: {e}", backend.describe()),
                    Some(match e {
                        rotor_engine::state::StateError::Leased { .. } => {
                            "wait for it to finish (other families are free meanwhile). If that process is gone, its lease lapses within a minute of its last heartbeat; `rotor state unlock FAMILY --force` breaks it at once"
                        }
                        _ => "check that the state backend is reachable, then run the command again",
                    }),
                );
                refused
            })
    }

    /// The state, or a new one.
    pub fn state(&self, backend: &dyn StateBackend) -> Result<State, Reported> {
        Ok(self
            .existing_state(backend)?
            .unwrap_or_else(|| State::new(rotor_providers::new_lineage())))
    }

    /// The state, if there is one yet.
    pub fn existing_state(&self, backend: &dyn StateBackend) -> Result<Option<State>, Reported> {
        match backend.load() {
            Ok(Some(s)) => {
                // Windows are counted from these times: one in the future would
                // make every window look longer than it is to a later, right clock,
                // and shorter to this one.
                let now = rotor_providers::now();
                if let Some((t, family, version)) = s.latest()
                    && t > now + rotor_engine::Duration::seconds(FUTURE_SLACK_SECONDS)
                {
                    render::error(
                        &format!(
                            "{}: it records {} for {family} version {version}, which is in the future (this machine's clock says {})",
                            backend.describe(),
                            t.human(),
                            now.human()
                        ),
                        Some(
                            "this clock is behind, or the state was written by a machine whose clock ran ahead: fix the clock (NTP) and run the command again",
                        ),
                    );
                    return Err(Reported);
                }
                Ok(Some(s))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                render::error(
                    &format!("{}: {e}", backend.describe()),
                    Some(match e {
                        rotor_engine::state::StateError::Edited
                        | rotor_engine::state::StateError::EditedRecord(_) => {
                            "state must only be written by rotor; restore it with `rotor state push` from a `rotor state pull` you kept, or `rotor state rm` the family (rotor then adopts what the stores hold)"
                        }
                        _ => {
                            "check that the state backend is reachable and readable; to start over, move the state aside (rotor then adopts what the stores hold)"
                        }
                    }),
                );
                Err(Reported)
            }
        }
    }

    /// Warns when a local store's directory would be committed with the repository.
    fn warn_unignored(&self, resolved: &Resolved) {
        let mut paths: Vec<PathBuf> = resolved
            .spec
            .stores
            .iter()
            .filter(|s| s.kind == "file")
            .map(|s| match s.settings.get("path").map(|v| &v.value) {
                Some(spec::Value::String(p)) => self.dir.join(p),
                _ => self.dir.join(rotor_providers::store::file::DEFAULT_PATH),
            })
            .collect();
        paths.extend(self.local_state_path(Some(resolved)));
        for path in paths {
            let status = std::process::Command::new("git")
                .arg("-C")
                .arg(&self.dir)
                .args(["check-ignore", "-q", "--no-index"])
                .arg(path.strip_prefix(&self.dir).unwrap_or(&path))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            // 1: inside a work tree and not ignored. 128: not a git work tree. 0: ignored.
            if status.is_ok_and(|s| s.code() == Some(1)) {
                render::warning(
                    &format!(
                        "{} is inside a git work tree and not ignored: secret material or state could be committed",
                        path.display()
                    ),
                    Some("add `.rotor/` to .gitignore (rotor init does this)"),
                );
            }
        }
    }
}
