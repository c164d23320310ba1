//! `ossa tools`: list, install, remove and call the sandboxed tools (issue #3).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use ossa_agent::event::Toolset;
use ossa_prompts::{ToolNamespaceConfig, render_tool_namespace};
use ossa_sandbox::{Access, Mount, OssaHome, ToolHost, ToolPolicy, ToolSource, Toolbox};
use ossa_wiring::SandboxTools;

/// Arguments of `ossa tools`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Show every tool of the toolset: version, origin, grants and limits, and the
    /// harmony declaration the model sees.
    List(ListArgs),
    /// Install a tool component with the grants given here (stored in an editable
    /// policy.toml next to it).
    Add(AddArgs),
    /// Uninstall a tool.
    Remove {
        /// The tool's name.
        name: String,
    },
    /// Run one tool once and print its output or its error.
    Call(CallArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// The toolset to show (default: the config's, else native).
    #[arg(long, value_name = "native|functions")]
    toolset: Option<Toolset>,
    /// The workspace whose config applies (default: the current directory).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The component (`.wasm`, built for wasm32-wasip2).
    file: PathBuf,
    /// Mount a host directory read-only, at the same path or at GUEST.
    #[arg(long = "read", value_name = "DIR[:GUEST]")]
    read: Vec<String>,
    /// Mount a host directory read-write, at the same path or at GUEST.
    #[arg(long = "write", value_name = "DIR[:GUEST]")]
    write: Vec<String>,
    /// Access to the workspace of each call (mounted at /workspace).
    #[arg(long, value_name = "ACCESS", default_value = "none", value_parser = ["none", "read", "write"])]
    workspace_access: String,
    /// Pass this host environment variable through (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    env: Vec<String>,
    /// Allow network connections to HOST or HOST:PORT (repeatable).
    #[arg(long = "net", value_name = "HOST[:PORT]")]
    net: Vec<String>,
    /// Wall-time limit per call, in seconds.
    #[arg(long, value_name = "S")]
    timeout: Option<f64>,
    /// Memory limit, in MiB.
    #[arg(long, value_name = "MIB")]
    memory: Option<u32>,
}

#[derive(Debug, clap::Args)]
struct CallArgs {
    /// The tool's name.
    name: String,
    /// The arguments, one JSON object.
    #[arg(default_value = "{}")]
    args: String,
    /// The workspace the tool works on (if its policy grants workspace access).
    #[arg(long, value_name = "DIR", default_value = ".")]
    workspace: PathBuf,
}

/// Runs `ossa tools`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let home = OssaHome::from_env()?;
    let host = ToolHost::new(&home.artifacts_dir())?;
    let mut toolbox = Toolbox::open(&host, &home).await?;
    match args.command {
        Command::List(args) => list(&toolbox, args).await,
        Command::Add(add) => install(&mut toolbox, add).await,
        Command::Remove { name } => {
            toolbox.remove(&name)?;
            println!("Removed {name}.");
            Ok(ExitCode::SUCCESS)
        }
        Command::Call(call) => call_tool(&toolbox, call).await,
    }
}

/// Every tool of the toolset as the model is offered it, then the exact declarations.
async fn list(toolbox: &Toolbox, list: ListArgs) -> anyhow::Result<ExitCode> {
    let workspace = super::session::workspace_dir(list.workspace.as_deref())?;
    let flags = crate::config::Layer {
        toolset: list.toolset,
        ..Default::default()
    };
    let config = super::session::load_config(Some(&workspace), flags)?;
    let toolset = config.toolset();
    let tools = SandboxTools::open(&workspace, toolset, &config.exec_grant()).await?;
    let mut out = format!(
        "Toolset: {toolset} (--toolset native|functions, or tools.toolset in the config)\nCommands: {}\n\n",
        tools.exec_status()
    );
    for (record, tool, source) in tools.entries() {
        let origin = match source {
            ToolSource::Builtin => "built-in".to_owned(),
            ToolSource::User(dir) => format!("installed in {}", dir.display()),
        };
        out.push_str(&format!(
            "{} {} ({origin})\n",
            record.recipient(),
            record.version
        ));
        out.push_str(&format!("  sha256: {}\n", tool.sha256()));
        out.push_str(&format!("  grants: {}\n", tool.policy().grants_summary()));
        if !record.aliases.is_empty() {
            let aliases: Vec<String> = record
                .aliases
                .iter()
                .map(|(alias, name)| format!("{alias} → {name}"))
                .collect();
            out.push_str(&format!("  also accepts: {}\n", aliases.join(", ")));
        }
    }
    if !toolbox.problems().is_empty() {
        out.push_str("\nNot loaded:\n");
        for problem in toolbox.problems() {
            out.push_str(&format!("  {problem}\n"));
        }
    }
    let records = ossa_agent::ToolExecutor::tools(&tools);
    let system = ossa_agent::system_namespaces(records);
    if !system.is_empty() {
        out.push_str("\nThe model sees these tools in the system message's # Tools section:\n\n");
        for namespace in &system {
            out.push_str(&render_tool_namespace(namespace));
            out.push_str("\n\n");
        }
    }
    let functions = ossa_agent::function_tools(records);
    if !functions.is_empty() {
        let namespace = ToolNamespaceConfig::new("functions", None, functions);
        out.push_str("\nThe model sees these tools in the developer message as:\n\n");
        out.push_str(&render_tool_namespace(&namespace));
        out.push('\n');
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn install(toolbox: &mut Toolbox, add: AddArgs) -> anyhow::Result<ExitCode> {
    let wasm =
        std::fs::read(&add.file).with_context(|| format!("cannot read {}", add.file.display()))?;
    let mut policy = ToolPolicy {
        workspace: match add.workspace_access.as_str() {
            "read" => Access::Read,
            "write" => Access::Write,
            _ => Access::None,
        },
        env: add.env,
        net: add.net,
        ..ToolPolicy::default()
    };
    if let Some(timeout) = add.timeout {
        policy.timeout_secs = timeout;
    }
    if let Some(memory) = add.memory {
        policy.memory_mib = memory;
    }
    for (specs, access) in [(&add.read, Access::Read), (&add.write, Access::Write)] {
        for spec in specs {
            policy.mounts.push(mount(spec, access)?);
        }
    }
    let tool = toolbox
        .install(wasm, policy)
        .await
        .with_context(|| format!("cannot install {}", add.file.display()))?;
    let info = tool.info();
    println!(
        "Installed {} {} (sha256 {}).",
        info.name,
        info.version,
        tool.sha256()
    );
    println!("Grants: {}", tool.policy().grants_summary());
    let mut policy_file = OssaHome::from_env()?.tools_dir();
    policy_file.push(&info.name);
    policy_file.push("policy.toml");
    println!("Edit {} to change them.", policy_file.display());
    Ok(ExitCode::SUCCESS)
}

/// `DIR` or `DIR:GUEST` → a mount; the guest path defaults to the host path.
fn mount(spec: &str, access: Access) -> anyhow::Result<Mount> {
    let (host, guest) = match spec.rsplit_once(':') {
        Some((host, guest)) if guest.starts_with('/') && !host.is_empty() => (host, Some(guest)),
        _ => (spec, None),
    };
    let host = std::fs::canonicalize(host)
        .with_context(|| format!("cannot mount {host}: the directory must exist"))?;
    anyhow::ensure!(
        host.is_dir(),
        "cannot mount {}: not a directory",
        host.display()
    );
    let guest = match guest {
        Some(guest) => guest.to_owned(),
        None => host
            .to_str()
            .with_context(|| {
                format!(
                    "{} is not UTF-8; give a guest path as DIR:GUEST",
                    host.display()
                )
            })?
            .to_owned(),
    };
    Ok(Mount {
        host,
        guest,
        access,
    })
}

async fn call_tool(toolbox: &Toolbox, call: CallArgs) -> anyhow::Result<ExitCode> {
    let Some(tool) = toolbox.get(&call.name) else {
        let names: Vec<&str> = toolbox.tools().map(|tool| tool.name()).collect();
        anyhow::bail!(
            "there is no tool `{}`; the tools are: {}",
            call.name,
            names.join(", ")
        );
    };
    let workspace: &Path = &call.workspace;
    // The arguments as the agent loop would pass them: aliases renamed, values coerced,
    // checked against the schema.
    let record = ossa_wiring::record(tool, ossa_agent::event::FUNCTIONS_NAMESPACE);
    let arguments = match ossa_agent::prepare_arguments(&call.args, &record) {
        Ok(arguments) => arguments.to_string(),
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(super::EXIT_FAILURE.into());
        }
    };
    match tool.call(&arguments, workspace).await {
        Ok(output) => {
            if !output.log.is_empty() {
                eprint!("{}", output.log);
            }
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(output.text.as_bytes())?;
            if !output.text.ends_with('\n') {
                stdout.write_all(b"\n")?;
            }
            stdout.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            eprintln!("error: {} ({})", failure.message, failure.kind);
            if !failure.detail.is_empty() {
                eprintln!("{}", failure.detail.trim_end());
            }
            Ok(super::EXIT_FAILURE.into())
        }
    }
}
