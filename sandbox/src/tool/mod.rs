//! A loaded tool and one call of it: a fresh store with the policy's grants, run under
//! the limits, and the outcome turned into output or a [`ToolFailure`].

mod info;
mod net;
mod report;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use info::ToolInfo;

use crate::bindings::{self, GuestInfo};
use crate::exec::{CommandRunner, ExecCall};
use crate::failure::{FailureKind, ToolFailure};
use crate::host::{EPOCH_TICK, HostShared};
use crate::monitor::{CallMonitor, Limiter};
use crate::output::CapturedOutput;
use crate::policy::{Access, ToolPolicy, WORKSPACE_DIR_ENV, WORKSPACE_GUEST_PATH, overlaps};
use crate::workspace::check_workspace;
use info::take_aliases;
use net::resolve_net;
use report::Report;

/// The result of a successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The text for the model.
    pub text: String,
    /// What the tool printed on stdout and stderr, for the user's log (empty for
    /// most tools).
    pub log: String,
    /// Wall time of the call, instantiation included.
    pub duration: Duration,
}

/// A tool ready to call: compiled, linked, described, with its policy.
///
/// Cheap to clone; calls may run concurrently, each in its own store.
#[derive(Clone)]
pub struct Tool {
    inner: Arc<ToolInner>,
}

struct ToolInner {
    shared: Arc<HostShared>,
    pre: bindings::ToolPre<State>,
    info: ToolInfo,
    sha256: String,
    policy: ToolPolicy,
    /// Whether the component imports the `process` capability (then the policy must
    /// have an exec grant).
    imports_process: bool,
    /// Runs its commands instead of the grant's default runner.
    runner: Option<Arc<dyn CommandRunner>>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("info", &self.inner.info)
            .field("sha256", &self.inner.sha256)
            .field("policy", &self.inner.policy)
            .finish()
    }
}

/// The data of one call's store.
pub(crate) struct State {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) monitor: Arc<CallMonitor>,
    limiter: Limiter,
    /// The `process` capability of this call (tools with an exec grant).
    pub(crate) exec: Option<ExecCall>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl Tool {
    pub(crate) fn new(
        shared: Arc<HostShared>,
        pre: bindings::ToolPre<State>,
        info: ToolInfo,
        sha256: String,
        policy: ToolPolicy,
        imports_process: bool,
    ) -> Self {
        Tool {
            inner: Arc::new(ToolInner {
                shared,
                pre,
                info,
                sha256,
                policy,
                imports_process,
                runner: None,
            }),
        }
    }

    /// What the tool says about itself.
    pub fn info(&self) -> &ToolInfo {
        &self.inner.info
    }

    /// The tool's name (short for `info().name`).
    pub fn name(&self) -> &str {
        &self.inner.info.name
    }

    /// Lowercase hex SHA-256 of the component.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// The grants and limits every call runs under.
    pub fn policy(&self) -> &ToolPolicy {
        &self.inner.policy
    }

    /// The same tool under another policy (validated). A tool that runs commands keeps
    /// needing an exec grant.
    pub fn with_policy(&self, policy: ToolPolicy) -> Result<Tool, crate::PolicyError> {
        policy.validate()?;
        if self.inner.imports_process && policy.exec.is_none() {
            return Err(crate::PolicyError::Invalid(format!(
                "tool `{}` runs commands (it imports ossa:tool/process); its policy needs an \
                 [exec] table (mode = \"off\" refuses every command)",
                self.name()
            )));
        }
        let inner = &self.inner;
        Ok(Tool {
            inner: Arc::new(ToolInner {
                shared: Arc::clone(&inner.shared),
                pre: inner.pre.clone(),
                info: inner.info.clone(),
                sha256: inner.sha256.clone(),
                policy,
                imports_process: inner.imports_process,
                runner: inner.runner.clone(),
            }),
        })
    }

    /// The same tool with its commands run by `runner` instead of the default for its
    /// grant's mode (e.g. a WebAssembly Python for `python3` commands when native
    /// commands are not granted). Only tools with an exec grant run commands at all.
    pub fn with_command_runner(&self, runner: Arc<dyn CommandRunner>) -> Tool {
        let inner = &self.inner;
        Tool {
            inner: Arc::new(ToolInner {
                shared: Arc::clone(&inner.shared),
                pre: inner.pre.clone(),
                info: inner.info.clone(),
                sha256: inner.sha256.clone(),
                policy: inner.policy.clone(),
                imports_process: inner.imports_process,
                runner: Some(runner),
            }),
        }
    }

    /// Whether the component imports the `process` capability (runs commands).
    pub fn runs_commands(&self) -> bool {
        self.inner.imports_process
    }

    /// Runs the tool once on `args_json` (the JSON object the model wrote).
    /// `workspace` is mounted at `/workspace` when the policy grants workspace access;
    /// it must be an existing directory other than `/` and the home directory.
    ///
    /// Every call gets a fresh instance. The call is cancelled at the policy's
    /// timeout, also while the tool waits in a host call.
    pub async fn call(&self, args_json: &str, workspace: &Path) -> Result<ToolOutput, ToolFailure> {
        self.call_recording(args_json, workspace, None).await
    }

    /// [`Tool::call`], recording where the time went in `phases` (for the `tool_call`
    /// bench). Not part of the stable API.
    #[doc(hidden)]
    pub async fn call_timed(
        &self,
        args_json: &str,
        workspace: &Path,
        phases: &mut CallPhases,
    ) -> Result<ToolOutput, ToolFailure> {
        self.call_recording(args_json, workspace, Some(phases))
            .await
    }

    async fn call_recording(
        &self,
        args_json: &str,
        workspace: &Path,
        mut phases: Option<&mut CallPhases>,
    ) -> Result<ToolOutput, ToolFailure> {
        let started = Instant::now();
        let mut clock = PhaseClock::new(started, phases.is_some());
        let name = self.name();
        check_args(name, args_json)?;
        let policy = &self.inner.policy;
        // Commands run in the workspace even when the component itself mounts nothing.
        let needs_workspace = policy.workspace != Access::None || policy.exec.is_some();
        let workspace = match needs_workspace {
            false => None,
            true => Some(check_workspace(workspace).map_err(|err| {
                ToolFailure::new(
                    FailureKind::Host,
                    format!("tool `{name}` could not run: the workspace is not usable"),
                    err.to_string(),
                )
            })?),
        };
        let monitor = Arc::new(CallMonitor::new(policy.write_limit_bytes()));
        clock.lap(&mut phases, |p| &mut p.prepare);
        let stdout = CapturedOutput::new(policy.output_limit_bytes(), Arc::clone(&monitor));
        let stderr = CapturedOutput::new(policy.output_limit_bytes(), Arc::clone(&monitor));
        let mount = workspace
            .as_deref()
            .filter(|_| policy.workspace != Access::None);
        let wasi = build_wasi(name, policy, mount, &monitor, &stdout, &stderr)
            .await
            .map_err(|detail| {
                ToolFailure::new(
                    FailureKind::Host,
                    format!("tool `{name}` could not run: its grants are not usable"),
                    detail,
                )
            })?;
        clock.lap(&mut phases, |p| &mut p.wasi);
        let exec = policy.exec.as_ref().map(|grant| ExecCall {
            workspace: workspace.clone(),
            grant: grant.clone(),
            runner: self
                .inner
                .runner
                .clone()
                .unwrap_or_else(|| crate::exec::default_runner(grant)),
        });
        let mut store = new_store(
            &self.inner.shared,
            wasi,
            Arc::clone(&monitor),
            policy.memory_bytes(),
            policy.call_timeout(),
            exec,
        );
        clock.lap(&mut phases, |p| &mut p.store);
        let pre = &self.inner.pre;
        let mut instantiated = None;
        let run = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instantiated = clock.recording.then(Instant::now);
            instance.call_call(&mut store, args_json).await
        };
        // The epoch deadline stops busy guests at the timeout; this outer timeout stops
        // guests blocked in a host call, a little later so the epoch (which reports
        // the precise trap) usually wins.
        let outcome = tokio::time::timeout(policy.call_timeout() + 5 * EPOCH_TICK, run).await;
        if let Some(at) = instantiated {
            clock.lap_at(&mut phases, at, |p| &mut p.instantiate);
        }
        clock.lap(&mut phases, |p| &mut p.run);
        let memory_limit_hit = store.data().limiter.memory_limit_hit();
        drop(store);
        clock.lap(&mut phases, |p| &mut p.teardown);
        let report = Report {
            name,
            policy,
            monitor: &monitor,
            stdout: stdout.text(),
            stderr: stderr.text(),
            memory_limit_hit,
        };
        let text = match outcome {
            Err(_elapsed) => return Err(report.timeout()),
            Ok(Err(err)) => return Err(report.trap(&err)),
            Ok(Ok(Err(guest_error))) => return Err(report.guest_error(guest_error)),
            Ok(Ok(Ok(text))) => text,
        };
        let output = report.success(text, started.elapsed());
        clock.lap(&mut phases, |p| &mut p.report);
        output
    }
}

/// Where the time of one call went (see [`Tool::call_timed`]). Each phase is the wall
/// time from the end of the one before.
#[doc(hidden)]
#[derive(Debug, Default, Clone, Copy)]
pub struct CallPhases {
    /// Checking the arguments and the workspace; the call's monitor.
    pub prepare: Duration,
    /// The WASI context: output pipes, preopened directories, network check.
    pub wasi: Duration,
    /// The store, its limiter and epoch deadline.
    pub store: Duration,
    /// Instantiating the component (pool slot, memory image, start functions).
    pub instantiate: Duration,
    /// The guest's `call`, host calls included, and the copy of its result.
    pub run: Duration,
    /// Dropping the store (the instance's slot goes back to the pool).
    pub teardown: Duration,
    /// Turning the outcome into output or a failure.
    pub report: Duration,
}

/// Laps for [`CallPhases`]; does nothing unless recording.
struct PhaseClock {
    recording: bool,
    last: Instant,
}

impl PhaseClock {
    fn new(started: Instant, recording: bool) -> Self {
        PhaseClock {
            recording,
            last: started,
        }
    }

    fn lap(
        &mut self,
        phases: &mut Option<&mut CallPhases>,
        field: fn(&mut CallPhases) -> &mut Duration,
    ) {
        if self.recording {
            self.lap_at(phases, Instant::now(), field);
        }
    }

    fn lap_at(
        &mut self,
        phases: &mut Option<&mut CallPhases>,
        at: Instant,
        field: fn(&mut CallPhases) -> &mut Duration,
    ) {
        if let Some(phases) = phases.as_deref_mut() {
            *field(phases) = at.saturating_duration_since(self.last);
            self.last = at;
        }
    }
}

/// Calls `describe` in a store with no grants.
pub(crate) async fn describe(
    shared: &Arc<HostShared>,
    pre: &bindings::ToolPre<State>,
) -> Result<ToolInfo, String> {
    const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
    let policy = ToolPolicy::default();
    let monitor = Arc::new(CallMonitor::new(0));
    let stderr = CapturedOutput::new(policy.output_limit_bytes(), Arc::clone(&monitor));
    let wasi = WasiCtxBuilder::new()
        .stdout(CapturedOutput::new(
            policy.output_limit_bytes(),
            Arc::clone(&monitor),
        ))
        .stderr(stderr.clone())
        .build();
    let mut store = new_store(
        shared,
        wasi,
        monitor,
        policy.memory_bytes(),
        DESCRIBE_TIMEOUT,
        None,
    );
    let run = async {
        let instance = pre.instantiate_async(&mut store).await?;
        instance.call_describe(&mut store).await
    };
    let info: GuestInfo = match tokio::time::timeout(DESCRIBE_TIMEOUT, run).await {
        Ok(Ok(info)) => info,
        Ok(Err(err)) => {
            return Err(format!(
                "the tool's `describe` failed: {err:#}\n{}",
                stderr.text()
            ));
        }
        Err(_) => return Err("the tool's `describe` did not return within 10 s".to_owned()),
    };
    let mut parameters: Value = serde_json::from_str(&info.parameters_schema)
        .map_err(|err| format!("the tool's parameters schema is not valid JSON: {err}"))?;
    let aliases = take_aliases(&mut parameters)?;
    Ok(ToolInfo {
        name: info.name,
        description: info.description,
        parameters,
        version: info.version,
        aliases,
    })
}

/// The arguments must be one JSON object; anything else is refused before the tool runs.
/// Cleaning up what models write (code fences, an object sent as a JSON string, empty
/// input) is the agent's job (`ossa_agent::prepare_arguments`), done once, before this.
fn check_args(name: &str, args_json: &str) -> Result<(), ToolFailure> {
    let invalid = |why: String| {
        ToolFailure::new(
            FailureKind::InvalidArgs,
            format!("the arguments of `{name}` must be one JSON object: {why}"),
            format!("arguments: {args_json}"),
        )
    };
    match serde_json::from_str::<Value>(args_json) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(other) => Err(invalid(format!("got {}", json_kind(&other)))),
        Err(err) => Err(invalid(err.to_string())),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn new_store(
    shared: &HostShared,
    wasi: WasiCtx,
    monitor: Arc<CallMonitor>,
    memory_limit: usize,
    timeout: Duration,
    exec: Option<ExecCall>,
) -> Store<State> {
    let state = State {
        wasi,
        table: ResourceTable::new(),
        monitor,
        limiter: Limiter::new(memory_limit),
        exec,
    };
    let mut store = Store::new(&shared.engine, state);
    store.limiter(|state| &mut state.limiter);
    let deadline = Instant::now() + timeout;
    // Checked every tick: yield to the runtime so other tasks (and the outer timeout)
    // run, and interrupt once the deadline has passed.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |context| {
        if Instant::now() >= deadline {
            context
                .data()
                .monitor
                .timed_out
                .store(true, Ordering::SeqCst);
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

/// The WASI context of one call: exactly the policy's grants.
async fn build_wasi(
    name: &str,
    policy: &ToolPolicy,
    workspace: Option<&Path>,
    monitor: &Arc<CallMonitor>,
    stdout: &CapturedOutput,
    stderr: &CapturedOutput,
) -> Result<WasiCtx, String> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg(name);
    // File operations run on the calling thread instead of tokio's blocking pool: a
    // local open or read is far cheaper than the hand-off (several per call). The price:
    // a file operation stuck in the kernel (a hung network file system) holds its runtime
    // thread until it returns; the timeout then ends the call.
    builder.allow_blocking_current_thread(true);
    // A tool has no business with more randomness than this in one request.
    builder.max_random_size(1 << 20);
    if let Some(workspace) = workspace {
        builder
            .preopened_dir(workspace, WORKSPACE_GUEST_PATH, perms(policy.workspace))
            .map_err(|err| format!("cannot open the workspace {}: {err:#}", workspace.display()))?;
        builder.initial_cwd(WORKSPACE_GUEST_PATH);
        if let Some(real) = real_workspace_mount(workspace, policy) {
            builder
                .preopened_dir(workspace, real, perms(policy.workspace))
                .map_err(|err| format!("cannot open the workspace at {real}: {err:#}"))?;
        }
        if let Some(real) = workspace.to_str() {
            builder.env(WORKSPACE_DIR_ENV, real);
        }
    }
    for mount in &policy.mounts {
        let host = check_workspace(&mount.host)
            .map_err(|err| format!("mount {}: {err}", mount.host.display()))?;
        builder
            .preopened_dir(&host, &mount.guest, perms(mount.access))
            .map_err(|err| format!("cannot open mount {}: {err:#}", host.display()))?;
    }
    for variable in &policy.env {
        if let Ok(value) = std::env::var(variable) {
            builder.env(variable, value);
        }
    }
    let allowed = resolve_net(&policy.net).await;
    let has_grants = !policy.net.is_empty();
    // TCP and UDP sockets can be created so that every address the tool tries goes
    // through this check, which allows only the granted destinations and records the
    // rest; an unbound socket reaches nothing.
    builder
        .allow_tcp(true)
        .allow_udp(true)
        .allow_ip_name_lookup(has_grants);
    let monitor = Arc::clone(monitor);
    builder.socket_addr_check(move |addr, use_| {
        let permitted = match use_ {
            // Implicit binds before connecting or sending use the wildcard address.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                has_grants && addr.ip().is_unspecified() && addr.port() == 0
            }
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                allowed
                    .iter()
                    .any(|(ip, port)| *ip == addr.ip() && port.is_none_or(|p| p == addr.port()))
            }
            SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => false,
        };
        if !permitted {
            monitor.violation(format!(
                "use the network ({use_:?} {addr}) without a grant for it"
            ));
        }
        Box::pin(async move { permitted })
    });
    Ok(builder.build())
}

/// Where the workspace is mounted a second time: at its real host path, so that tools
/// (and the code they run) can use the absolute paths models write. `None` when that
/// path is not UTF-8 or overlaps `/workspace` or one of the policy's mounts (the path
/// then means what the first mount or that mount says; the SDK still maps it to
/// `/workspace`).
fn real_workspace_mount<'a>(workspace: &'a Path, policy: &ToolPolicy) -> Option<&'a str> {
    let real = workspace.to_str()?;
    let clashes = overlaps(real, WORKSPACE_GUEST_PATH)
        || policy
            .mounts
            .iter()
            .any(|mount| overlaps(real, &mount.guest));
    (!clashes).then_some(real)
}

fn perms(access: Access) -> FsPerms {
    match access {
        Access::Write => FsPerms::ReadWrite,
        Access::Read | Access::None => FsPerms::ReadOnly,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn arguments_must_be_an_object() {
        check_args("t", "{\"a\":1}").unwrap();
        for not_an_object in [" ", "\"{\\\"a\\\":1}\"", "null"] {
            assert_eq!(
                check_args("t", not_an_object).unwrap_err().kind,
                FailureKind::InvalidArgs,
                "{not_an_object}"
            );
        }
        let failure = check_args("t", "[1]").unwrap_err();
        assert_eq!(failure.kind, FailureKind::InvalidArgs);
        assert!(
            failure.message.contains("got an array"),
            "{}",
            failure.message
        );
        assert_eq!(
            check_args("t", "{").unwrap_err().kind,
            FailureKind::InvalidArgs
        );
    }
    #[test]
    fn the_workspace_is_mounted_again_at_its_real_path_unless_it_clashes() {
        let policy = ToolPolicy::with_workspace(Access::Read);
        let real = |path: &str, policy: &ToolPolicy| {
            real_workspace_mount(Path::new(path), policy).map(str::to_owned)
        };
        assert_eq!(
            real("/home/me/project", &policy).as_deref(),
            Some("/home/me/project")
        );
        assert_eq!(real("/workspace", &policy), None);
        assert_eq!(real("/workspace/project", &policy), None);
        let mut mounted = policy.clone();
        mounted.mounts.push(crate::Mount {
            host: "/opt/data".into(),
            guest: "/home".into(),
            access: Access::Read,
        });
        assert_eq!(real("/home/me/project", &mounted), None);
        assert_eq!(
            real("/srv/project", &mounted).as_deref(),
            Some("/srv/project")
        );
    }
}
