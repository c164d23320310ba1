//! The settings one source gives (a flag set, the environment, one config file), the
//! keys that name them, and the parsers and range checks every source shares.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use ossa_model::GpuLayers;
use ossa_model::hub::HubRef;
use ossa_prompts::ReasoningEffort;

use super::grants::Toolset;

/// Where completions come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelChoice {
    /// A local GGUF file (`model.path`, `--model`).
    Path(PathBuf),
    /// A Hub model, downloaded to the Hub cache (`model.hf`, `--hf`).
    Hf(HubRef),
    /// A running llama-server or OpenAI-compatible engine (`model.server`, `--server`).
    Server(String),
    /// A recorded transcript or cassette (`--replay` only).
    Replay(PathBuf),
}

impl ModelChoice {
    /// The key inside `[model]` (or the flag's name without dashes).
    pub fn kind(&self) -> &'static str {
        match self {
            ModelChoice::Path(_) => "path",
            ModelChoice::Hf(_) => "hf",
            ModelChoice::Server(_) => "server",
            ModelChoice::Replay(_) => "replay",
        }
    }

    /// The value as text.
    pub fn value_text(&self) -> String {
        match self {
            ModelChoice::Path(path) | ModelChoice::Replay(path) => path.display().to_string(),
            ModelChoice::Hf(reference) => reference.to_string(),
            ModelChoice::Server(url) => url.clone(),
        }
    }
}

/// A setting's name. Every key has a config-file path, an `OSSA_*` variable and, for most,
/// a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// `[model] path | hf | server`.
    Model,
    /// `[model] ctx_size`.
    CtxSize,
    /// `[model] threads`.
    Threads,
    /// `[model] gpu_layers`.
    GpuLayers,
    /// `[sampling] temperature`.
    Temperature,
    /// `[sampling] top_p`.
    TopP,
    /// `[sampling] min_p`.
    MinP,
    /// `[sampling] seed`.
    Seed,
    /// `[agent] reasoning`.
    Reasoning,
    /// `[agent] max_steps`.
    MaxSteps,
    /// `[agent] max_tokens`.
    MaxTokens,
    /// `[agent] tool_output_limit`.
    ToolOutputLimit,
    /// `[tools] toolset`.
    Toolset,
    /// `[tools.exec] allow`.
    ExecAllow,
    /// `[tools.exec] read`.
    ExecRead,
    /// `[tools.exec] net`.
    ExecNet,
    /// `[tools.python] allow`.
    PythonAllow,
    /// `[tools.net] allow`.
    NetAllow,
    /// `[tools.net] hosts`.
    NetHosts,
}

impl Key {
    /// Every key, in the order `ossa config show` prints them.
    pub const ALL: [Key; 19] = [
        Key::Model,
        Key::CtxSize,
        Key::Threads,
        Key::GpuLayers,
        Key::Temperature,
        Key::TopP,
        Key::MinP,
        Key::Seed,
        Key::Reasoning,
        Key::MaxSteps,
        Key::MaxTokens,
        Key::ToolOutputLimit,
        Key::Toolset,
        Key::ExecAllow,
        Key::ExecRead,
        Key::ExecNet,
        Key::PythonAllow,
        Key::NetAllow,
        Key::NetHosts,
    ];

    /// The config-file table and key.
    pub fn path(self) -> (&'static str, &'static str) {
        match self {
            Key::Model => ("model", "path | hf | server"),
            Key::CtxSize => ("model", "ctx_size"),
            Key::Threads => ("model", "threads"),
            Key::GpuLayers => ("model", "gpu_layers"),
            Key::Temperature => ("sampling", "temperature"),
            Key::TopP => ("sampling", "top_p"),
            Key::MinP => ("sampling", "min_p"),
            Key::Seed => ("sampling", "seed"),
            Key::Reasoning => ("agent", "reasoning"),
            Key::MaxSteps => ("agent", "max_steps"),
            Key::MaxTokens => ("agent", "max_tokens"),
            Key::ToolOutputLimit => ("agent", "tool_output_limit"),
            Key::Toolset => ("tools", "toolset"),
            Key::ExecAllow => ("tools.exec", "allow"),
            Key::ExecRead => ("tools.exec", "read"),
            Key::ExecNet => ("tools.exec", "net"),
            Key::PythonAllow => ("tools.python", "allow"),
            Key::NetAllow => ("tools.net", "allow"),
            Key::NetHosts => ("tools.net", "hosts"),
        }
    }

    /// `table.key`, as in error messages.
    pub fn name(self) -> String {
        let (table, key) = self.path();
        format!("{table}.{key}")
    }

    /// The environment variable (for [`Key::Model`], the one for a model file; see
    /// [`MODEL_ENV`]).
    pub fn env(self) -> &'static str {
        match self {
            Key::Model => "OSSA_MODEL",
            Key::CtxSize => "OSSA_CTX_SIZE",
            Key::Threads => "OSSA_THREADS",
            Key::GpuLayers => "OSSA_GPU_LAYERS",
            Key::Temperature => "OSSA_TEMPERATURE",
            Key::TopP => "OSSA_TOP_P",
            Key::MinP => "OSSA_MIN_P",
            Key::Seed => "OSSA_SEED",
            Key::Reasoning => "OSSA_REASONING",
            Key::MaxSteps => "OSSA_MAX_STEPS",
            Key::MaxTokens => "OSSA_MAX_TOKENS",
            Key::ToolOutputLimit => "OSSA_TOOL_OUTPUT_LIMIT",
            Key::Toolset => "OSSA_TOOLSET",
            Key::ExecAllow => "OSSA_ALLOW_EXEC",
            Key::ExecRead => "OSSA_EXEC_READ",
            Key::ExecNet => "OSSA_EXEC_NET",
            Key::PythonAllow => "OSSA_PYTHON",
            Key::NetAllow => "OSSA_NET",
            Key::NetHosts => "OSSA_NET_HOSTS",
        }
    }

    /// The command-line flag, where there is one.
    pub fn flag(self) -> Option<&'static str> {
        Some(match self {
            Key::Model => "--model | --hf | --server | --replay",
            Key::CtxSize => "--ctx-size",
            Key::Threads => "--threads",
            Key::GpuLayers => "--gpu-layers",
            Key::Temperature => "--temperature",
            Key::TopP => "--top-p",
            Key::MinP => "--min-p",
            Key::Seed => "--seed",
            Key::Reasoning => "--reasoning",
            Key::MaxSteps => "--max-steps",
            Key::MaxTokens => "--max-tokens",
            Key::ToolOutputLimit => "--tool-output-limit",
            Key::Toolset => "--toolset",
            Key::ExecAllow => "--allow-exec",
            Key::PythonAllow => "--python",
            Key::ExecRead | Key::ExecNet | Key::NetAllow | Key::NetHosts => return None,
        })
    }

    /// What values are allowed, for error messages.
    pub fn allowed(self) -> &'static str {
        match self {
            Key::Model => "a GGUF path, a Hub model OWNER/NAME[:QUANT|FILE], or a server URL",
            Key::CtxSize | Key::Threads | Key::MaxSteps | Key::MaxTokens | Key::ToolOutputLimit => {
                "a whole number of at least 1"
            }
            Key::GpuLayers => "\"all\", \"none\" or a number of layers",
            Key::Temperature => "a number of at least 0 (0 is greedy; gpt-oss is tuned for 1.0)",
            Key::TopP => "a number greater than 0 and at most 1 (1 turns it off)",
            Key::MinP => "a number from 0 to 1 (0 turns it off)",
            Key::Seed => "a whole number from 0 to 4294967295",
            Key::Reasoning => "low, medium or high",
            Key::Toolset => "native or functions",
            Key::ExecAllow | Key::ExecNet | Key::PythonAllow | Key::NetAllow => "true or false",
            Key::ExecRead => "a list of directories",
            Key::NetHosts => "a list of hosts (host or host:port)",
        }
    }
}

/// The variables that choose the model, one per kind.
pub const MODEL_ENV: [(&str, &str); 3] = [
    ("OSSA_MODEL", "path"),
    ("OSSA_HF", "hf"),
    ("OSSA_SERVER", "server"),
];

/// The settings one source gives; `None` is "not set here".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    /// `[model] path | hf | server`, or a flag's `--replay`.
    pub model: Option<ModelChoice>,
    /// `[model] ctx_size`.
    pub ctx_size: Option<u32>,
    /// `[model] threads`.
    pub threads: Option<u32>,
    /// `[model] gpu_layers`.
    pub gpu_layers: Option<GpuLayers>,
    /// `[sampling] temperature`.
    pub temperature: Option<f32>,
    /// `[sampling] top_p`.
    pub top_p: Option<f32>,
    /// `[sampling] min_p`.
    pub min_p: Option<f32>,
    /// `[sampling] seed`.
    pub seed: Option<u32>,
    /// `[agent] reasoning`.
    pub reasoning: Option<ReasoningEffort>,
    /// `[agent] max_steps`.
    pub max_steps: Option<u32>,
    /// `[agent] max_tokens`.
    pub max_tokens: Option<u32>,
    /// `[agent] tool_output_limit`.
    pub tool_output_limit: Option<usize>,
    /// `[tools] toolset`.
    pub toolset: Option<Toolset>,
    /// `[tools.exec] allow`.
    pub exec_allow: Option<bool>,
    /// `[tools.exec] read`.
    pub exec_read: Option<Vec<PathBuf>>,
    /// `[tools.exec] net`.
    pub exec_net: Option<bool>,
    /// `[tools.python] allow`.
    pub python_allow: Option<bool>,
    /// `[tools.net] allow`.
    pub net_allow: Option<bool>,
    /// `[tools.net] hosts`.
    pub net_hosts: Option<Vec<String>>,
    /// Where in its source each set key is: the line in a file, or the variable or flag.
    pub(crate) marks: HashMap<Key, Mark>,
}

/// Where a value sits inside its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mark {
    /// A line of a config file.
    Line(usize),
    /// An environment variable or a flag, by name.
    Name(String),
}

impl Layer {
    /// Whether `key` is set.
    #[cfg(test)]
    pub fn is_set(&self, key: Key) -> bool {
        match key {
            Key::Model => self.model.is_some(),
            Key::CtxSize => self.ctx_size.is_some(),
            Key::Threads => self.threads.is_some(),
            Key::GpuLayers => self.gpu_layers.is_some(),
            Key::Temperature => self.temperature.is_some(),
            Key::TopP => self.top_p.is_some(),
            Key::MinP => self.min_p.is_some(),
            Key::Seed => self.seed.is_some(),
            Key::Reasoning => self.reasoning.is_some(),
            Key::MaxSteps => self.max_steps.is_some(),
            Key::MaxTokens => self.max_tokens.is_some(),
            Key::ToolOutputLimit => self.tool_output_limit.is_some(),
            Key::Toolset => self.toolset.is_some(),
            Key::ExecAllow => self.exec_allow.is_some(),
            Key::ExecRead => self.exec_read.is_some(),
            Key::ExecNet => self.exec_net.is_some(),
            Key::PythonAllow => self.python_allow.is_some(),
            Key::NetAllow => self.net_allow.is_some(),
            Key::NetHosts => self.net_hosts.is_some(),
        }
    }

    /// Records where `key`'s value came from.
    pub(crate) fn mark(&mut self, key: Key, mark: Mark) {
        self.marks.insert(key, mark);
    }

    /// Records that `flag` set `key` (for keys several flags set, such as the model).
    pub fn mark_flag(&mut self, key: Key, flag: &str) {
        self.mark(key, Mark::Name(flag.to_string()));
    }

    /// The first value out of its range, as the key and what is wrong.
    pub fn check_ranges(&self) -> Result<(), (Key, String)> {
        let at_least_one = |key: Key, v: Option<u64>| match v {
            Some(0) => Err((key, format!("0 is not allowed; {}", key.allowed()))),
            _ => Ok(()),
        };
        at_least_one(Key::CtxSize, self.ctx_size.map(u64::from))?;
        at_least_one(Key::Threads, self.threads.map(u64::from))?;
        at_least_one(Key::MaxSteps, self.max_steps.map(u64::from))?;
        at_least_one(Key::MaxTokens, self.max_tokens.map(u64::from))?;
        at_least_one(
            Key::ToolOutputLimit,
            self.tool_output_limit.map(|v| v as u64),
        )?;
        let bad = |key: Key, v: f32| Err((key, format!("{v} is out of range; {}", key.allowed())));
        if let Some(v) = self.temperature
            && !(v.is_finite() && v >= 0.0)
        {
            return bad(Key::Temperature, v);
        }
        if let Some(v) = self.top_p
            && !(v > 0.0 && v <= 1.0)
        {
            return bad(Key::TopP, v);
        }
        if let Some(v) = self.min_p
            && !(0.0..=1.0).contains(&v)
        {
            return bad(Key::MinP, v);
        }
        if let Some(hosts) = &self.net_hosts
            && let Some(host) = hosts.iter().find(|h| !valid_host(h))
        {
            return Err((
                Key::NetHosts,
                format!("'{host}' is not a host name, IP address or host:port"),
            ));
        }
        Ok(())
    }
}

fn valid_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => {
            if port.parse::<u16>().is_err() {
                return false;
            }
            name
        }
        _ => host,
    };
    !name.is_empty()
        && (name.parse::<std::net::IpAddr>().is_ok()
            || name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }))
}

/// Parses one key's value from text (an environment variable, or a string in a file).
/// The error says what is allowed.
pub fn parse_text(key: Key, text: &str) -> Result<Layer, String> {
    let text = text.trim();
    let allowed = || format!("'{text}' is not allowed; {}", key.allowed());
    let number = |text: &str| text.parse::<u64>().map_err(|_| allowed());
    let float = |text: &str| {
        text.parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(allowed)
    };
    let u32_of = |text: &str| number(text).and_then(|n| u32::try_from(n).map_err(|_| allowed()));
    let mut layer = Layer::default();
    match key {
        Key::Model => {
            return Err("the model is chosen by OSSA_MODEL, OSSA_HF or OSSA_SERVER".into());
        }
        Key::CtxSize => layer.ctx_size = Some(u32_of(text)?),
        Key::Threads => layer.threads = Some(u32_of(text)?),
        Key::GpuLayers => layer.gpu_layers = Some(parse_gpu_layers(text).map_err(|_| allowed())?),
        Key::Temperature => layer.temperature = Some(float(text)?),
        Key::TopP => layer.top_p = Some(float(text)?),
        Key::MinP => layer.min_p = Some(float(text)?),
        Key::Seed => layer.seed = Some(u32_of(text)?),
        Key::Reasoning => layer.reasoning = Some(parse_reasoning(text).ok_or_else(allowed)?),
        Key::MaxSteps => layer.max_steps = Some(u32_of(text)?),
        Key::MaxTokens => layer.max_tokens = Some(u32_of(text)?),
        Key::ToolOutputLimit => {
            layer.tool_output_limit = Some(usize::try_from(number(text)?).map_err(|_| allowed())?);
        }
        Key::Toolset => layer.toolset = Some(Toolset::from_str(text).map_err(|_| allowed())?),
        Key::ExecAllow => layer.exec_allow = Some(parse_bool(text).ok_or_else(allowed)?),
        Key::ExecNet => layer.exec_net = Some(parse_bool(text).ok_or_else(allowed)?),
        Key::PythonAllow => layer.python_allow = Some(parse_bool(text).ok_or_else(allowed)?),
        Key::NetAllow => layer.net_allow = Some(parse_bool(text).ok_or_else(allowed)?),
        Key::ExecRead => {
            layer.exec_read = Some(
                std::env::split_paths(text)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect(),
            );
        }
        Key::NetHosts => {
            layer.net_hosts = Some(
                text.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string)
                    .collect(),
            );
        }
    }
    Ok(layer)
}

/// `all`, `none` or a number (as `--gpu-layers` takes it).
pub fn parse_gpu_layers(text: &str) -> Result<GpuLayers, String> {
    text.parse::<GpuLayers>()
        .map_err(|_| format!("'{text}' is not allowed; {}", Key::GpuLayers.allowed()))
}

/// `low`, `medium` or `high`, in any case.
pub fn parse_reasoning(text: &str) -> Option<ReasoningEffort> {
    text.parse().ok()
}

/// The usual spellings of a yes/no setting.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `gpu_layers` in TOML syntax.
pub fn gpu_layers_text(layers: GpuLayers) -> String {
    match layers {
        GpuLayers::All => "\"all\"".into(),
        GpuLayers::None => "\"none\"".into(),
        GpuLayers::Count(n) => n.to_string(),
    }
}

/// A TOML string literal.
pub fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML float (always with a decimal point).
pub fn float(value: f32) -> String {
    format!("{value:?}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn text_values_parse_or_say_what_is_allowed() {
        assert_eq!(parse_text(Key::TopP, "0.9").unwrap().top_p, Some(0.9));
        assert_eq!(
            parse_text(Key::GpuLayers, "none").unwrap().gpu_layers,
            Some(GpuLayers::None)
        );
        assert_eq!(
            parse_text(Key::Reasoning, "High").unwrap().reasoning,
            Some(ReasoningEffort::High)
        );
        assert_eq!(
            parse_text(Key::ExecAllow, "yes").unwrap().exec_allow,
            Some(true)
        );
        assert_eq!(
            parse_text(Key::NetHosts, "crates.io, docs.rs:443")
                .unwrap()
                .net_hosts,
            Some(vec!["crates.io".into(), "docs.rs:443".into()])
        );
        let err = parse_text(Key::Reasoning, "extreme").unwrap_err();
        assert!(err.contains("low, medium or high"), "{err}");
        let err = parse_text(Key::MaxSteps, "-3").unwrap_err();
        assert!(err.contains("at least 1"), "{err}");
        let err = parse_text(Key::Temperature, "warm").unwrap_err();
        assert!(err.contains("at least 0"), "{err}");
    }

    #[test]
    fn ranges_are_checked() {
        let layer = Layer {
            top_p: Some(0.0),
            ..Layer::default()
        };
        let (key, err) = layer.check_ranges().unwrap_err();
        assert_eq!(key, Key::TopP);
        assert!(err.contains("greater than 0"), "{err}");
        let layer = Layer {
            max_steps: Some(0),
            ..Layer::default()
        };
        assert_eq!(layer.check_ranges().unwrap_err().0, Key::MaxSteps);
        let layer = Layer {
            net_hosts: Some(vec!["crates.io".into(), "bad host".into()]),
            ..Layer::default()
        };
        assert_eq!(layer.check_ranges().unwrap_err().0, Key::NetHosts);
        let layer = Layer {
            temperature: Some(0.0),
            top_p: Some(1.0),
            min_p: Some(0.05),
            net_hosts: Some(vec!["10.0.0.1:8080".into(), "localhost".into()]),
            ..Layer::default()
        };
        assert!(layer.check_ranges().is_ok());
    }
}
