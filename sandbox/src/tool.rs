//! A loaded tool and one call of it: a fresh store with the policy's grants, run under
//! the limits, and the outcome turned into output or a [`ToolFailure`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline, WasmBacktrace};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{self, GuestError, GuestInfo};
use crate::exec::{CommandRunner, ExecCall};
use crate::failure::{FailureKind, ToolFailure};
use crate::host::{EPOCH_TICK, HostShared};
use crate::monitor::{CallMonitor, Limiter};
use crate::output::CapturedOutput;
use crate::policy::{
    Access, NetGrant, ToolPolicy, WORKSPACE_DIR_ENV, WORKSPACE_GUEST_PATH, overlaps,
};
use crate::workspace::check_workspace;

/// What a tool says about itself (its `describe` export).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// The name the model calls it by.
    pub name: String,
    /// Prose for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
    /// The tool's version.
    pub version: String,
    /// Other names the model may use for arguments: alias → canonical name. Tools list
    /// them in their schema under `x-ossa-aliases`, which is removed from `parameters`;
    /// the agent renames alias keys before validating and calling.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
}

/// The root schema key under which a tool lists its argument aliases.
pub(crate) const ALIASES_KEY: &str = "x-ossa-aliases";

/// A backtrace at least this deep, whose innermost frames cycle through a few
/// functions, is taken for a runaway recursion.
const RECURSION_FRAMES: usize = 100;
const RECURSION_MAX_FUNCTIONS: usize = 4;

/// Longest description accepted: apply_patch's, the longest built-in, is ~3 KiB.
const MAX_DESCRIPTION_BYTES: usize = 32 * 1024;

impl ToolInfo {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(format!(
                "the tool's name {:?} is not 1 to 64 characters of a-z, A-Z, 0-9, `_` and `-`",
                self.name
            ));
        }
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(format!(
                "the description of {} is longer than 32 KiB",
                self.name
            ));
        }
        if self.parameters.get("type").and_then(Value::as_str) != Some("object") {
            return Err(format!(
                "the parameters schema of {} must be a JSON Schema object with \"type\": \"object\"",
                self.name
            ));
        }
        if self.version.is_empty() || self.version.len() > 64 {
            return Err(format!(
                "the version of {} must be 1 to 64 characters",
                self.name
            ));
        }
        if self.parameters.get(ALIASES_KEY).is_some() {
            return Err(format!(
                "the parameters schema of {} still holds {ALIASES_KEY}",
                self.name
            ));
        }
        let properties = self.parameters.get("properties").and_then(Value::as_object);
        let declared = |name: &str| properties.is_some_and(|p| p.contains_key(name));
        for (alias, canonical) in &self.aliases {
            if !declared(canonical) {
                return Err(format!(
                    "the alias {alias:?} of {} names {canonical:?}, which is not one of its parameters",
                    self.name
                ));
            }
            if alias.is_empty() || declared(alias) {
                return Err(format!(
                    "the alias {alias:?} of {} is empty or is itself one of its parameters",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

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
        let started = Instant::now();
        let name = self.name();
        let args = normalize_args(name, args_json)?;
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
        let pre = &self.inner.pre;
        let run = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_call(&mut store, &args).await
        };
        // The epoch deadline stops busy guests at the timeout; this outer timeout stops
        // guests blocked in a host call, a little later so the epoch (which reports
        // the precise trap) usually wins.
        let outcome = tokio::time::timeout(policy.call_timeout() + 5 * EPOCH_TICK, run).await;
        let memory_limit_hit = store.data().limiter.memory_limit_hit();
        drop(store);
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
        report.success(text, started.elapsed())
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

/// Removes the `x-ossa-aliases` object from a schema's root and returns it.
fn take_aliases(schema: &mut Value) -> Result<BTreeMap<String, String>, String> {
    let Some(aliases) = schema
        .as_object_mut()
        .and_then(|root| root.remove(ALIASES_KEY))
    else {
        return Ok(BTreeMap::new());
    };
    let bad = || {
        format!("`{ALIASES_KEY}` in the parameters schema must map alias names to argument names")
    };
    let Value::Object(aliases) = aliases else {
        return Err(bad());
    };
    aliases
        .into_iter()
        .map(|(alias, canonical)| match canonical {
            Value::String(canonical) if !alias.is_empty() && alias != canonical => {
                Ok((alias, canonical))
            }
            _ => Err(bad()),
        })
        .collect()
}

/// Models send `""` for tools without arguments and sometimes wrap the object in a
/// JSON string; anything that is not an object is refused before the tool runs.
fn normalize_args(name: &str, args_json: &str) -> Result<String, ToolFailure> {
    if args_json.trim().is_empty() {
        return Ok("{}".to_owned());
    }
    let invalid = |why: String| {
        ToolFailure::new(
            FailureKind::InvalidArgs,
            format!("the arguments of `{name}` must be one JSON object: {why}"),
            format!("arguments: {args_json}"),
        )
    };
    match serde_json::from_str::<Value>(args_json) {
        Ok(Value::Object(_)) => Ok(args_json.to_owned()),
        Ok(Value::String(inner))
            if serde_json::from_str::<Value>(&inner).is_ok_and(|v| v.is_object()) =>
        {
            Ok(inner)
        }
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

/// The IP addresses (and ports) the `net` grants name, resolved now: names may move.
/// Addresses on this machine or a private network count only when granted as addresses
/// (or as `localhost`): see [`is_public`].
async fn resolve_net(grants: &[String]) -> Vec<(IpAddr, Option<u16>)> {
    let mut allowed = Vec::new();
    for entry in grants {
        let Ok(grant) = NetGrant::parse(entry) else {
            continue;
        };
        if let Ok(ip) = grant.host.parse::<IpAddr>() {
            allowed.push((ip, grant.port));
            continue;
        }
        match tokio::net::lookup_host((grant.host.as_str(), grant.port.unwrap_or(0))).await {
            Ok(addresses) => {
                for ip in addresses.map(|address: SocketAddr| address.ip()) {
                    if admits(&grant.host, ip) {
                        allowed.push((ip, grant.port));
                    } else {
                        tracing::warn!(
                            host = %grant.host,
                            %ip,
                            "a granted name resolves to a local or private address; not allowed \
                             (grant the address itself to allow it)"
                        );
                    }
                }
            }
            Err(err) => {
                tracing::warn!(host = %grant.host, %err, "cannot resolve a granted network host")
            }
        }
    }
    allowed
}

/// Whether a grant of the name `host` admits `ip`, one of its addresses.
fn admits(host: &str, ip: IpAddr) -> bool {
    host.eq_ignore_ascii_case("localhost") || is_public(ip)
}

/// Whether `ip` is a public address. A granted name that resolves to this machine or to a
/// private network (DNS rebinding, or a name whose owner points it there) would open
/// services the user never meant to grant, such as a database on localhost or a router.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier NAT
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || shared
                || a == 0)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7
                let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
                !(v6.is_loopback() || v6.is_unspecified() || unique_local || link_local)
            }
        },
    }
}

/// Everything known when a call ends, turned into its outcome.
struct Report<'a> {
    name: &'a str,
    policy: &'a ToolPolicy,
    monitor: &'a CallMonitor,
    stdout: String,
    stderr: String,
    memory_limit_hit: bool,
}

impl Report<'_> {
    fn success(self, text: String, duration: Duration) -> Result<ToolOutput, ToolFailure> {
        if let Some(failure) = self.limit_failure() {
            return Err(failure);
        }
        if text.len() > self.policy.output_limit_bytes() {
            return Err(self.failure(
                FailureKind::OutputLimit,
                format!(
                    "tool `{}` returned more than {} KiB; ask for less (a smaller range or a narrower search)",
                    self.name, self.policy.output_limit_kib
                ),
                format!("the returned text was {} bytes", text.len()),
            ));
        }
        if let Some(failure) = self.denied(None) {
            return Err(failure);
        }
        Ok(ToolOutput {
            text,
            log: self.log(),
            duration,
        })
    }

    fn guest_error(self, error: GuestError) -> ToolFailure {
        if let Some(failure) = self.limit_failure() {
            return failure;
        }
        let (kind, message) = match error {
            GuestError::InvalidArgs(message) => (FailureKind::InvalidArgs, message),
            GuestError::Denied(message) => (FailureKind::Denied, message),
            GuestError::Failed(message) => (FailureKind::Failed, message),
        };
        if let Some(failure) = self.denied(Some(&message)) {
            return failure;
        }
        self.failure(kind, message, "the tool returned an error")
    }

    fn timeout(self) -> ToolFailure {
        self.failure(
            FailureKind::Timeout,
            format!(
                "tool `{}` timed out after {} s and was stopped",
                self.name,
                self.policy.call_timeout().as_secs_f64()
            ),
            format!(
                "wall-time limit of {} s reached",
                self.policy.call_timeout().as_secs_f64()
            ),
        )
    }

    fn trap(self, err: &wasmtime::Error) -> ToolFailure {
        if let Some(failure) = self.limit_failure() {
            return failure;
        }
        let name = self.name;
        let detail = shorten_lines(&format!("{err:?}"), 60);
        if let Some(exit) = err.downcast_ref::<I32Exit>() {
            return self.failure(
                FailureKind::Exit,
                format!(
                    "tool `{name}` exited with code {} instead of returning a result",
                    exit.0
                ),
                detail,
            );
        }
        let recursion = err
            .downcast_ref::<WasmBacktrace>()
            .is_some_and(looks_like_recursion);
        match err.downcast_ref::<Trap>() {
            // Languages with a stack in linear memory (Rust, C) overflow it before the
            // wasm stack: the stack pointer wraps and the next access is out of bounds,
            // thousands of frames deep.
            Some(Trap::MemoryOutOfBounds) if recursion => self.failure(
                FailureKind::StackOverflow,
                format!("tool `{name}` crashed: stack overflow (recursion too deep)"),
                format!("out-of-bounds access deep in a recursion\n{detail}"),
            ),
            Some(Trap::StackOverflow) => self.failure(
                FailureKind::StackOverflow,
                format!("tool `{name}` crashed: stack overflow (recursion too deep)"),
                detail,
            ),
            Some(Trap::Interrupt) => self.timeout(),
            Some(Trap::UnreachableCodeReached) if self.stderr.contains("panicked at") => {
                let panic = panic_message(&self.stderr);
                self.failure(
                    FailureKind::Panic,
                    format!("tool `{name}` crashed (panic): {panic}"),
                    detail,
                )
            }
            Some(trap) => {
                let message = format!("tool `{name}` crashed: {trap}");
                self.failure(FailureKind::Trap, message, detail)
            }
            None => self.failure(
                FailureKind::Host,
                format!("tool `{name}` could not run"),
                detail,
            ),
        }
    }

    /// The failure of a limit that fired, if any: these explain any trap or error that
    /// followed.
    fn limit_failure(&self) -> Option<ToolFailure> {
        let name = self.name;
        let policy = self.policy;
        if CallMonitor::flag(&self.monitor.write_limit_hit) {
            return Some(self.failure(
                FailureKind::WriteLimit,
                format!(
                    "tool `{name}` was stopped: it tried to write more than {} MiB in one call",
                    policy.write_limit_mib
                ),
                format!("write limit of {} MiB reached", policy.write_limit_mib),
            ));
        }
        if self.memory_limit_hit {
            return Some(self.failure(
                FailureKind::MemoryLimit,
                format!(
                    "tool `{name}` was stopped: it needed more than {} MiB of memory",
                    policy.memory_mib
                ),
                format!("memory limit of {} MiB reached", policy.memory_mib),
            ));
        }
        if CallMonitor::flag(&self.monitor.output_limit_hit) {
            return Some(self.failure(
                FailureKind::OutputLimit,
                format!(
                    "tool `{name}` was stopped: it printed more than {} KiB",
                    policy.output_limit_kib
                ),
                format!(
                    "output limit of {} KiB reached on stdout or stderr",
                    policy.output_limit_kib
                ),
            ));
        }
        if CallMonitor::flag(&self.monitor.timed_out) {
            return Some(self.failure(
                FailureKind::Timeout,
                format!(
                    "tool `{name}` timed out after {} s and was stopped",
                    policy.call_timeout().as_secs_f64()
                ),
                format!(
                    "wall-time limit of {} s reached",
                    policy.call_timeout().as_secs_f64()
                ),
            ));
        }
        None
    }

    /// A `denied` failure when the sandbox refused any access during the call.
    fn denied(&self, guest_message: Option<&str>) -> Option<ToolFailure> {
        let violations = self.monitor.violations();
        let first = violations.first()?;
        let message = match guest_message {
            Some(message) => message.to_owned(),
            None => format!(
                "tool `{}` tried to {first}, which is outside its grants; the call was refused",
                self.name
            ),
        };
        Some(self.failure(
            FailureKind::Denied,
            message,
            format!("refused accesses:\n  {}", violations.join("\n  ")),
        ))
    }

    fn failure(
        &self,
        kind: FailureKind,
        message: String,
        detail: impl Into<String>,
    ) -> ToolFailure {
        let mut detail = detail.into();
        let written = self.monitor.bytes_written();
        if written > 0 {
            detail.push_str(&format!("\nbytes written: {written}"));
        }
        let log = self.log();
        if !log.is_empty() {
            detail.push('\n');
            detail.push_str(&log);
        }
        ToolFailure::new(kind, message, detail)
    }

    fn log(&self) -> String {
        let mut log = String::new();
        for (label, text) in [("stderr", &self.stderr), ("stdout", &self.stdout)] {
            if !text.is_empty() {
                log.push_str(&format!("--- {label} ---\n{}\n", text.trim_end()));
            }
        }
        log
    }
}

fn looks_like_recursion(trace: &WasmBacktrace) -> bool {
    let frames = trace.frames();
    if frames.len() < RECURSION_FRAMES {
        return false;
    }
    let mut functions: Vec<u32> = frames[..RECURSION_FRAMES]
        .iter()
        .map(|frame| frame.func_index())
        .collect();
    functions.sort_unstable();
    functions.dedup();
    functions.len() <= RECURSION_MAX_FUNCTIONS
}

/// `text` with at most `max` lines: the first ones and the last ten, the middle
/// replaced by a count (wasm backtraces of a stack overflow have thousands of frames).
fn shorten_lines(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        return text.to_owned();
    }
    let tail = 10;
    let head = max - tail;
    format!(
        "{}\n    … {} lines left out …\n{}",
        lines[..head].join("\n"),
        lines.len() - head - tail,
        lines[lines.len() - tail..].join("\n")
    )
}

/// The message of a Rust panic from the stderr text the panic hook printed.
fn panic_message(stderr: &str) -> String {
    let mut lines = stderr
        .lines()
        .skip_while(|line| !line.contains("panicked at"));
    let header = lines.next().unwrap_or_default();
    let message = lines
        .next()
        .filter(|line| !line.starts_with("note:"))
        .unwrap_or(header);
    let message: String = message.chars().take(300).collect();
    message.trim().to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn granted_names_reach_only_public_addresses() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(admits("api.example.com", ip(public)), "{public}");
        }
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!admits("rebind.example.com", ip(local)), "{local}");
        }
        assert!(admits("localhost", ip("127.0.0.1")));
        assert!(admits("LocalHost", ip("::1")));
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(normalize_args("t", " ").unwrap(), "{}");
        assert_eq!(normalize_args("t", "{\"a\":1}").unwrap(), "{\"a\":1}");
        assert_eq!(
            normalize_args("t", "\"{\\\"a\\\":1}\"").unwrap(),
            "{\"a\":1}"
        );
        let failure = normalize_args("t", "[1]").unwrap_err();
        assert_eq!(failure.kind, FailureKind::InvalidArgs);
        assert!(
            failure.message.contains("got an array"),
            "{}",
            failure.message
        );
        assert_eq!(
            normalize_args("t", "{").unwrap_err().kind,
            FailureKind::InvalidArgs
        );
    }

    #[test]
    fn aliases_are_taken_out_of_the_schema() {
        let mut schema = serde_json::json!({
            "type": "object",
            "properties": {"command": {"type": "array"}},
            "x-ossa-aliases": {"cmd": "command"}
        });
        let aliases = take_aliases(&mut schema).unwrap();
        assert_eq!(aliases, BTreeMap::from([("cmd".into(), "command".into())]));
        assert!(schema.get(ALIASES_KEY).is_none());
        let mut bad = serde_json::json!({"type": "object", "x-ossa-aliases": ["cmd"]});
        assert!(take_aliases(&mut bad).is_err());
    }

    #[test]
    fn long_details_are_shortened() {
        let text: Vec<String> = (0..100).map(|n| format!("frame {n}")).collect();
        let short = shorten_lines(&text.join("\n"), 20);
        assert_eq!(short.lines().count(), 21);
        assert!(
            short.contains("… 80 lines left out …") && short.ends_with("frame 99"),
            "{short}"
        );
    }

    #[test]
    fn panic_messages_are_extracted() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom here\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(stderr), "boom here");
    }

    fn info(parameters: Value) -> ToolInfo {
        ToolInfo {
            name: "open".into(),
            description: "Opens.".into(),
            parameters,
            version: "1".into(),
            aliases: BTreeMap::new(),
        }
    }

    #[test]
    fn aliases_must_name_parameters_and_survive_the_cache() {
        let mut parameters = serde_json::json!({
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "x-ossa-aliases": {"file_path": "path"}
        });
        let aliases = take_aliases(&mut parameters).unwrap();
        assert_eq!(aliases.get("file_path").map(String::as_str), Some("path"));
        assert!(parameters.get(ALIASES_KEY).is_none());
        let mut good = info(parameters.clone());
        good.aliases = aliases;
        good.validate().unwrap();
        let text = serde_json::to_string(&good).unwrap();
        assert!(
            text.contains("\"aliases\":{\"file_path\":\"path\"}"),
            "{text}"
        );
        let plain = serde_json::to_string(&info(parameters.clone())).unwrap();
        assert!(
            !plain.contains("aliases"),
            "empty aliases are left out: {plain}"
        );
        assert_eq!(
            serde_json::from_str::<ToolInfo>(&plain).unwrap(),
            info(parameters.clone())
        );

        let mut unknown = info(parameters.clone());
        unknown.aliases.insert("file".into(), "name".into());
        assert!(
            unknown
                .validate()
                .unwrap_err()
                .contains("not one of its parameters")
        );
        let mut shadowing = info(parameters.clone());
        shadowing.aliases.insert("path".into(), "path".into());
        assert!(shadowing.validate().is_err());
        let mut left_in = parameters.clone();
        left_in[ALIASES_KEY] = serde_json::json!({});
        assert!(
            info(left_in).validate().is_err(),
            "a cached schema must be re-described"
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
