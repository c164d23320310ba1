//! ossa's settings: command-line flags, `OSSA_*` variables and two config files, merged
//! into typed values that know where they came from.
//!
//! Precedence, highest first: **flag > environment (`OSSA_*`) > workspace config >
//! user config > default**. The user config is `$XDG_CONFIG_HOME/ossa/config.toml`
//! (default `~/.config/ossa/config.toml`); the workspace config is `.ossa/config.toml` in
//! the workspace. A workspace config comes with the repository, so it can only *narrow*
//! the tool grants the user config allows ([`grants`]) and cannot choose a server to send
//! prompts to (`model.server` there is ignored with a warning).
//!
//! The schema (every key optional; `ossa config show` prints the effective values):
//!
//! ```toml
//! [model]
//! hf = "ggml-org/gpt-oss-20b-GGUF"   # or path = "~/models/gpt-oss-20b-mxfp4.gguf",
//!                                    # or server = "http://127.0.0.1:8080" (one of the three)
//! ctx_size = 32768                   # default: sized to the model and the machine
//! threads = 8                        # default: half the logical CPUs
//! gpu_layers = "all"                 # "all", "none" or a number
//!
//! [sampling]                         # defaults: OpenAI's recommendation for gpt-oss
//! temperature = 1.0
//! top_p = 1.0
//! min_p = 0.0
//! seed = 42                          # default: a fresh seed per session (recorded)
//!
//! [agent]
//! reasoning = "medium"               # low | medium | high
//! max_steps = 40
//! max_tokens = 8192
//! tool_output_limit = 16384
//!
//! [tools]
//! toolset = "native"                 # native | functions
//!
//! [tools.exec]                       # container.exec
//! allow = true                       # may commands run (confined; the default where the
//!                                    # kernel can enforce it)
//! read = ["~/.cargo", "~/.rustup"]   # directories commands may read besides the workspace
//! net = false                        # may commands use the network
//!
//! [tools.python]                    # gpt-oss's python tool: CPython in WebAssembly
//! allow = false                      # offer it (the first use downloads 94 MiB from PyPI
//!                                    # and compiles it once, about two minutes)
//!
//! [tools.net]
//! allow = true                       # may tools use the network (each within its own grants)
//! hosts = ["crates.io"]              # when set: the only hosts any tool may reach
//! ```

mod env;
mod file;
pub mod grants;
mod layer;

use std::fmt;
use std::path::{Path, PathBuf};

use ossa_agent::AgentSettings;
use ossa_model::{GpuLayers, SamplerSettings};
use ossa_prompts::ReasoningEffort;

pub use grants::{ExecGrant, NetGrant, Toolset};
pub use layer::{Key, Layer, ModelChoice, parse_gpu_layers};
use layer::{Mark, float, gpu_layers_text, quoted};

/// A config problem: where (`FILE:LINE`, a variable, a flag) and what, including what is
/// allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `FILE:LINE`, `environment variable NAME` or `flag --NAME`.
    pub place: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Where an effective setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built in.
    Default,
    /// The user config file, at a line.
    User(PathBuf, usize),
    /// The workspace config file, at a line.
    Workspace(PathBuf, usize),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "default"),
            Origin::User(path, line) => write!(f, "user config {}:{line}", path.display()),
            Origin::Workspace(path, line) => {
                write!(f, "workspace config {}:{line}", path.display())
            }
            Origin::Env(name) => write!(f, "environment {name}"),
            Origin::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// An effective value and its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub origin: Origin,
}

/// The config files ossa reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPaths {
    /// `$XDG_CONFIG_HOME/ossa/config.toml` or `~/.config/ossa/config.toml`; `None` when
    /// neither variable is set.
    pub user: Option<PathBuf>,
    /// `WORKSPACE/.ossa/config.toml`.
    pub workspace: Option<PathBuf>,
}

impl ConfigPaths {
    /// The files for `workspace`, with the user config found through `var`.
    pub fn discover(workspace: Option<&Path>, var: &dyn Fn(&str) -> Option<String>) -> ConfigPaths {
        let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let config_home = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")));
        ConfigPaths {
            user: config_home.map(|dir| dir.join("ossa").join("config.toml")),
            workspace: workspace.map(|dir| dir.join(".ossa").join("config.toml")),
        }
    }
}

/// The effective settings.
#[derive(Debug, Clone)]
pub struct Config {
    paths: ConfigPaths,
    found: (bool, bool),
    model: Setting<Option<ModelChoice>>,
    ctx_size: Setting<Option<u32>>,
    threads: Setting<Option<u32>>,
    gpu_layers: Setting<GpuLayers>,
    temperature: Setting<f32>,
    top_p: Setting<f32>,
    min_p: Setting<f32>,
    seed: Setting<Option<u32>>,
    reasoning: Setting<ReasoningEffort>,
    max_steps: Setting<u32>,
    max_tokens: Setting<u32>,
    tool_output_limit: Setting<usize>,
    toolset: Setting<Toolset>,
    exec_allow: Setting<bool>,
    exec_read: Setting<Vec<PathBuf>>,
    exec_net: Setting<bool>,
    python_allow: Setting<bool>,
    net_allow: Setting<bool>,
    net_hosts: Setting<Option<Vec<String>>>,
    notes: Vec<String>,
}

/// Which source a layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Flag,
    Env,
    Workspace,
    User,
}

struct Sources<'a> {
    flags: &'a Layer,
    env: &'a Layer,
    workspace: Option<&'a Layer>,
    user: Option<&'a Layer>,
    paths: &'a ConfigPaths,
}

impl Sources<'_> {
    fn origin(&self, source: Source, layer: &Layer, key: Key) -> Origin {
        let line = || match layer.marks.get(&key) {
            Some(Mark::Line(line)) => *line,
            _ => 0,
        };
        let name = || match layer.marks.get(&key) {
            Some(Mark::Name(name)) => name.clone(),
            _ => match source {
                Source::Env => key.env().to_string(),
                _ => key.flag().unwrap_or_default().to_string(),
            },
        };
        let path = |p: &Option<PathBuf>| p.clone().unwrap_or_default();
        match source {
            Source::Flag => Origin::Flag(name()),
            Source::Env => Origin::Env(name()),
            Source::Workspace => Origin::Workspace(path(&self.paths.workspace), line()),
            Source::User => Origin::User(path(&self.paths.user), line()),
        }
    }

    fn ordered(&self, with_workspace: bool) -> Vec<(Source, &Layer)> {
        let mut layers = vec![(Source::Flag, self.flags), (Source::Env, self.env)];
        if with_workspace && let Some(ws) = self.workspace {
            layers.push((Source::Workspace, ws));
        }
        if let Some(user) = self.user {
            layers.push((Source::User, user));
        }
        layers
    }

    /// The first layer (by precedence) that sets `key`, else `default`.
    fn pick<T>(&self, key: Key, get: impl Fn(&Layer) -> Option<T>, default: T) -> Setting<T> {
        self.pick_from(&self.ordered(true), key, get, default)
    }

    fn pick_from<T>(
        &self,
        layers: &[(Source, &Layer)],
        key: Key,
        get: impl Fn(&Layer) -> Option<T>,
        default: T,
    ) -> Setting<T> {
        for (source, layer) in layers {
            if let Some(value) = get(layer) {
                return Setting {
                    value,
                    origin: self.origin(*source, layer, key),
                };
            }
        }
        Setting {
            value: default,
            origin: Origin::Default,
        }
    }

    /// A grant: flags and environment as given; otherwise the user side (user config,
    /// else `default`) narrowed by the workspace with `narrow(trusted, workspace) ->
    /// (value, refused part)`.
    fn grant<T: Clone + PartialEq>(
        &self,
        key: Key,
        get: impl Fn(&Layer) -> Option<T>,
        default: T,
        narrow: impl Fn(&T, &T) -> (T, Option<String>),
        notes: &mut Vec<String>,
    ) -> Setting<T> {
        let explicit = [(Source::Flag, self.flags), (Source::Env, self.env)];
        for (source, layer) in explicit {
            if let Some(value) = get(layer) {
                return Setting {
                    value,
                    origin: self.origin(source, layer, key),
                };
            }
        }
        let user: Vec<(Source, &Layer)> =
            self.user.map(|u| (Source::User, u)).into_iter().collect();
        let trusted = self.pick_from(&user, key, &get, default);
        let Some(ws) = self.workspace else {
            return trusted;
        };
        let Some(asked) = get(ws) else {
            return trusted;
        };
        let ws_origin = self.origin(Source::Workspace, ws, key);
        let (value, refused) = narrow(&trusted.value, &asked);
        if let Some(refused) = refused {
            notes.push(format!(
                "{ws_origin} asks for {} = {refused}, beyond what your own settings allow ({}); \
                 a workspace config can only narrow grants, so that part is ignored",
                key.name(),
                trusted.origin
            ));
        }
        // The workspace is named only where it changed the value.
        let origin = if value == trusted.value {
            trusted.origin
        } else {
            ws_origin
        };
        Setting { value, origin }
    }
}

impl Config {
    /// Reads the config files in `paths` and the variables `var` gives, under `flags`.
    pub fn load(
        paths: ConfigPaths,
        flags: Layer,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        flags.check_ranges().map_err(|(key, problem)| ConfigError {
            place: format!("flag {}", key.flag().unwrap_or_default()),
            message: problem,
        })?;
        let env = env::read(var)?;
        let user = match &paths.user {
            Some(path) => file::read(path, path.parent().unwrap_or(Path::new("/")))?,
            None => None,
        };
        let mut notes = Vec::new();
        let mut workspace = match &paths.workspace {
            // Relative paths in a workspace config are relative to the workspace.
            Some(path) => {
                let root = path
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(Path::new("/"));
                file::read(path, root)?
            }
            None => None,
        };
        if let Some(ws) = &mut workspace
            && let Some(ModelChoice::Server(url)) = &ws.model
        {
            notes.push(format!(
                "{} sets model.server = {}; a workspace config cannot choose where prompts \
                 (and the code in them) are sent, so it is ignored: pass --server or set it \
                 in your user config",
                Origin::Workspace(
                    paths.workspace.clone().unwrap_or_default(),
                    match ws.marks.get(&Key::Model) {
                        Some(Mark::Line(line)) => *line,
                        _ => 0,
                    }
                ),
                quoted(url)
            ));
            ws.model = None;
        }
        let found = (user.is_some(), workspace.is_some());
        let sources = Sources {
            flags: &flags,
            env: &env,
            workspace: workspace.as_ref(),
            user: user.as_ref(),
            paths: &paths,
        };
        let defaults = AgentSettings::default();
        let sampler = SamplerSettings::default();
        let config = Config {
            model: sources.pick(Key::Model, |l| l.model.clone().map(Some), None),
            ctx_size: sources.pick(Key::CtxSize, |l| l.ctx_size.map(Some), None),
            threads: sources.pick(Key::Threads, |l| l.threads.map(Some), None),
            gpu_layers: sources.pick(Key::GpuLayers, |l| l.gpu_layers, GpuLayers::default()),
            temperature: sources.pick(Key::Temperature, |l| l.temperature, sampler.temperature),
            top_p: sources.pick(Key::TopP, |l| l.top_p, sampler.top_p),
            min_p: sources.pick(Key::MinP, |l| l.min_p, sampler.min_p),
            seed: sources.pick(Key::Seed, |l| l.seed.map(Some), None),
            reasoning: sources.pick(Key::Reasoning, |l| l.reasoning, defaults.reasoning),
            max_steps: sources.pick(Key::MaxSteps, |l| l.max_steps, defaults.max_steps),
            max_tokens: sources.pick(Key::MaxTokens, |l| l.max_tokens, defaults.max_tokens),
            tool_output_limit: sources.pick(
                Key::ToolOutputLimit,
                |l| l.tool_output_limit,
                defaults.tool_output_limit,
            ),
            toolset: sources.pick(Key::Toolset, |l| l.toolset, Toolset::default()),
            exec_allow: sources.grant(
                Key::ExecAllow,
                |l| l.exec_allow,
                ExecGrant::default().allow,
                bool_narrowing,
                &mut notes,
            ),
            exec_read: sources.grant(
                Key::ExecRead,
                |l| l.exec_read.clone(),
                ExecGrant::default().read,
                |trusted, asked| {
                    let (kept, dropped) = grants::narrow_dirs(trusted, asked);
                    let refused = (!dropped.is_empty()).then(|| {
                        let list: Vec<String> = dropped
                            .iter()
                            .map(|p| quoted(&p.display().to_string()))
                            .collect();
                        format!("[{}]", list.join(", "))
                    });
                    (kept, refused)
                },
                &mut notes,
            ),
            exec_net: sources.grant(
                Key::ExecNet,
                |l| l.exec_net,
                ExecGrant::default().net,
                bool_narrowing,
                &mut notes,
            ),
            python_allow: sources.grant(
                Key::PythonAllow,
                |l| l.python_allow,
                false,
                bool_narrowing,
                &mut notes,
            ),
            net_allow: sources.grant(
                Key::NetAllow,
                |l| l.net_allow,
                NetGrant::default().allow,
                bool_narrowing,
                &mut notes,
            ),
            net_hosts: sources.grant(
                Key::NetHosts,
                |l| l.net_hosts.clone().map(Some),
                NetGrant::default().hosts,
                |trusted, asked| match asked {
                    None => (trusted.clone(), None),
                    Some(asked) => {
                        let (kept, dropped) = grants::narrow_hosts(trusted.as_deref(), asked);
                        let refused = (!dropped.is_empty()).then(|| {
                            let list: Vec<String> = dropped.iter().map(|h| quoted(h)).collect();
                            format!("[{}]", list.join(", "))
                        });
                        (Some(kept), refused)
                    }
                },
                &mut notes,
            ),
            paths,
            found,
            notes,
        };
        Ok(config)
    }

    /// Reads the config for `workspace` from the process environment, under `flags`.
    pub fn load_for(workspace: Option<&Path>, flags: Layer) -> Result<Config, ConfigError> {
        let var = |name: &str| std::env::var(name).ok();
        Config::load(ConfigPaths::discover(workspace, &var), flags, &var)
    }

    /// The model to use, if any source names one.
    pub fn model(&self) -> Option<&ModelChoice> {
        self.model.value.as_ref()
    }

    /// Context size in tokens (`None`: the backend sizes it).
    pub fn ctx_size(&self) -> Option<u32> {
        self.ctx_size.value
    }

    /// CPU threads for llama.cpp (`None`: its default).
    pub fn threads(&self) -> Option<u32> {
        self.threads.value
    }

    /// GPU offload.
    pub fn gpu_layers(&self) -> GpuLayers {
        self.gpu_layers.value
    }

    /// The sampler settings; `seed` is `None` unless one was set.
    pub fn sampler(&self) -> SamplerSettings {
        SamplerSettings {
            temperature: self.temperature.value,
            top_p: self.top_p.value,
            min_p: self.min_p.value,
            seed: self.seed.value,
        }
    }

    /// The reasoning effort.
    pub fn reasoning(&self) -> ReasoningEffort {
        self.reasoning.value
    }

    /// The agent loop's settings. A seed is always chosen (from the clock when none was
    /// set) so the transcript records one and the session can be reproduced.
    pub fn agent_settings(&self) -> AgentSettings {
        let mut sampler = self.sampler();
        sampler.seed = Some(sampler.seed.unwrap_or_else(fresh_seed));
        AgentSettings {
            sampler,
            reasoning: self.reasoning(),
            max_steps: self.max_steps.value,
            max_tokens: self.max_tokens.value,
            tool_output_limit: self.tool_output_limit.value,
            toolset: self.toolset.value,
            ..AgentSettings::default()
        }
    }

    /// The toolset.
    pub fn toolset(&self) -> Toolset {
        self.toolset.value
    }

    /// What `container.exec` may do, after the workspace narrowing.
    #[allow(
        dead_code,
        reason = "wired into the toolset by the native-toolset work (issue 8)"
    )]
    pub fn exec_grant(&self) -> ExecGrant {
        ExecGrant {
            allow: self.exec_allow.value,
            read: self.exec_read.value.clone(),
            net: self.exec_net.value,
        }
    }

    /// Whether the sandboxed `python` tool is offered, after the workspace narrowing.
    pub fn python(&self) -> bool {
        self.python_allow.value
    }

    /// What network access tools get, after the workspace narrowing.
    #[allow(
        dead_code,
        reason = "wired into the toolset by the native-toolset work (issue 8)"
    )]
    pub fn net_grant(&self) -> NetGrant {
        NetGrant {
            allow: self.net_allow.value,
            hosts: self.net_hosts.value.clone(),
        }
    }

    /// Warnings about ignored settings (a workspace asking for more than the user grants).
    #[cfg(test)]
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Prints the notes on stderr.
    pub fn warn(&self) {
        for note in &self.notes {
            eprintln!("warning: {note}");
        }
    }

    /// The origin of `key`'s effective value.
    pub fn origin(&self, key: Key) -> &Origin {
        match key {
            Key::Model => &self.model.origin,
            Key::CtxSize => &self.ctx_size.origin,
            Key::Threads => &self.threads.origin,
            Key::GpuLayers => &self.gpu_layers.origin,
            Key::Temperature => &self.temperature.origin,
            Key::TopP => &self.top_p.origin,
            Key::MinP => &self.min_p.origin,
            Key::Seed => &self.seed.origin,
            Key::Reasoning => &self.reasoning.origin,
            Key::MaxSteps => &self.max_steps.origin,
            Key::MaxTokens => &self.max_tokens.origin,
            Key::ToolOutputLimit => &self.tool_output_limit.origin,
            Key::Toolset => &self.toolset.origin,
            Key::ExecAllow => &self.exec_allow.origin,
            Key::ExecRead => &self.exec_read.origin,
            Key::ExecNet => &self.exec_net.origin,
            Key::PythonAllow => &self.python_allow.origin,
            Key::NetAllow => &self.net_allow.origin,
            Key::NetHosts => &self.net_hosts.origin,
        }
    }

    /// `key = value` in TOML syntax, or `None` for a setting left to the backend.
    fn value_line(&self, key: Key) -> Result<String, String> {
        let (_, name) = key.path();
        let list = |items: Vec<String>| format!("[{}]", items.join(", "));
        Ok(match key {
            Key::Model => match &self.model.value {
                Some(choice) => format!("{} = {}", choice.kind(), quoted(&choice.value_text())),
                None => {
                    return Err("path | hf | server: none (give --model, --hf or --server)".into());
                }
            },
            Key::CtxSize => match self.ctx_size.value {
                Some(n) => format!("{name} = {n}"),
                None => return Err(format!("{name}: sized to the model and the machine")),
            },
            Key::Threads => match self.threads.value {
                Some(n) => format!("{name} = {n}"),
                None => return Err(format!("{name}: half the logical CPUs")),
            },
            Key::GpuLayers => format!("{name} = {}", gpu_layers_text(self.gpu_layers.value)),
            Key::Temperature => format!("{name} = {}", float(self.temperature.value)),
            Key::TopP => format!("{name} = {}", float(self.top_p.value)),
            Key::MinP => format!("{name} = {}", float(self.min_p.value)),
            Key::Seed => match self.seed.value {
                Some(n) => format!("{name} = {n}"),
                None => {
                    return Err(format!(
                        "{name}: a fresh one per session, recorded in the transcript"
                    ));
                }
            },
            Key::Reasoning => format!("{name} = {}", quoted(self.reasoning.value.as_str())),
            Key::MaxSteps => format!("{name} = {}", self.max_steps.value),
            Key::MaxTokens => format!("{name} = {}", self.max_tokens.value),
            Key::ToolOutputLimit => format!("{name} = {}", self.tool_output_limit.value),
            Key::Toolset => format!("{name} = {}", quoted(self.toolset.value.as_str())),
            Key::ExecAllow => format!("{name} = {}", self.exec_allow.value),
            Key::ExecRead => format!(
                "{name} = {}",
                list(
                    self.exec_read
                        .value
                        .iter()
                        .map(|p| quoted(&p.display().to_string()))
                        .collect()
                )
            ),
            Key::ExecNet => format!("{name} = {}", self.exec_net.value),
            Key::PythonAllow => format!("{name} = {}", self.python_allow.value),
            Key::NetAllow => format!("{name} = {}", self.net_allow.value),
            Key::NetHosts => match &self.net_hosts.value {
                Some(hosts) => format!(
                    "{name} = {}",
                    list(hosts.iter().map(|h| quoted(h)).collect())
                ),
                None => {
                    return Err(format!(
                        "{name}: no list, each tool keeps the hosts it was installed with"
                    ));
                }
            },
        })
    }

    /// Every effective setting as TOML, each with a comment saying where it came from
    /// (settings left to the backend are comments), after a header naming the files.
    pub fn render(&self) -> String {
        let file = |path: &Option<PathBuf>, found: bool| match path {
            Some(path) if found => path.display().to_string(),
            Some(path) => format!("{} (not found)", path.display()),
            None => "none (HOME and XDG_CONFIG_HOME are unset)".into(),
        };
        let mut out = String::new();
        out.push_str(
            "# ossa's effective settings. Precedence: flag > environment (OSSA_*) > workspace \
             config > user config > default.\n",
        );
        out.push_str(&format!(
            "# user config:      {}\n",
            file(&self.paths.user, self.found.0)
        ));
        out.push_str(&format!(
            "# workspace config: {}\n",
            file(&self.paths.workspace, self.found.1)
        ));
        for note in &self.notes {
            out.push_str(&format!("# warning: {note}\n"));
        }
        let lines: Vec<(Key, String)> = Key::ALL
            .iter()
            .map(|key| {
                let line = match self.value_line(*key) {
                    Ok(line) => line,
                    Err(unset) => format!("# {unset}"),
                };
                (*key, line)
            })
            .collect();
        let width = lines
            .iter()
            .map(|(_, l)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut table = "";
        for (key, line) in lines {
            let (section, _) = key.path();
            if section != table {
                out.push_str(&format!("\n[{section}]\n"));
                table = section;
            }
            let pad = width - line.chars().count();
            out.push_str(&format!(
                "{line}{}  # {}\n",
                " ".repeat(pad),
                self.origin(key)
            ));
        }
        out
    }
}

fn bool_narrowing(trusted: &bool, asked: &bool) -> (bool, Option<String>) {
    let (value, refused) = grants::narrow_bool(*trusted, *asked);
    (value, refused.then(|| "true".to_string()))
}

/// A seed from the clock, for sessions started without one.
fn fresh_seed() -> u32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.subsec_nanos() ^ (now.as_secs() as u32)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
