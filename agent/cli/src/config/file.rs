//! Reads one config file into a [`Layer`], with the line of every value, and turns any
//! unknown key or bad value into an error naming the file, the line and what is allowed.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::grants::Toolset;
use super::layer::{Key, Layer, Mark, ModelChoice, parse_gpu_layers, parse_reasoning};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    model: Option<ModelTable>,
    sampling: Option<SamplingTable>,
    agent: Option<AgentTable>,
    tools: Option<ToolsTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelTable {
    path: Option<Spanned<String>>,
    hf: Option<Spanned<String>>,
    server: Option<Spanned<String>>,
    ctx_size: Option<Spanned<u32>>,
    threads: Option<Spanned<u32>>,
    gpu_layers: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SamplingTable {
    temperature: Option<Spanned<f32>>,
    top_p: Option<Spanned<f32>>,
    min_p: Option<Spanned<f32>>,
    seed: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentTable {
    reasoning: Option<Spanned<String>>,
    max_steps: Option<Spanned<u32>>,
    max_tokens: Option<Spanned<u32>>,
    tool_output_limit: Option<Spanned<usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PythonTable {
    allow: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsTable {
    toolset: Option<Spanned<String>>,
    exec: Option<ExecTable>,
    python: Option<PythonTable>,
    net: Option<NetTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecTable {
    allow: Option<Spanned<bool>>,
    read: Option<Spanned<Vec<String>>>,
    net: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetTable {
    allow: Option<Spanned<bool>>,
    hosts: Option<Spanned<Vec<String>>>,
}

/// A config file's text, to turn byte offsets into line numbers.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn error(&self, span: Option<Range<usize>>, message: String) -> ConfigError {
        ConfigError {
            place: match span {
                Some(span) => format!("{}:{}", self.path.display(), self.line(span.start)),
                None => self.path.display().to_string(),
            },
            message,
        }
    }

    fn bad_value(&self, key: Key, span: Range<usize>, problem: &str) -> ConfigError {
        self.error(
            Some(span),
            format!("{}: {problem}; allowed: {}", key.name(), key.allowed()),
        )
    }
}

/// Reads `path`; `base` is the folder relative paths in it are relative to. A missing
/// file is `Ok(None)`.
pub fn read(path: &Path, base: &Path) -> Result<Option<Layer>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(ConfigError {
                place: path.display().to_string(),
                message: format!("cannot read the config file: {err}"),
            });
        }
    };
    parse(path, &text, base).map(Some)
}

/// Parses the text of the config file `path`.
pub fn parse(path: &Path, text: &str, base: &Path) -> Result<Layer, ConfigError> {
    let source = Source { path, text };
    let config: FileConfig = toml::from_str(text).map_err(|err| {
        let message = err.message().trim().replace("unknown field", "unknown key");
        source.error(err.span(), message)
    })?;
    let mut layer = Layer::default();
    let set = |layer: &mut Layer, key: Key, span: &Range<usize>| {
        layer.mark(key, Mark::Line(source.line(span.start)));
    };

    if let Some(model) = config.model {
        let choices = [
            model.path.map(|v| ("path", v)),
            model.hf.map(|v| ("hf", v)),
            model.server.map(|v| ("server", v)),
        ];
        let mut given = choices.into_iter().flatten();
        if let Some((kind, value)) = given.next() {
            if let Some((second, value)) = given.next() {
                return Err(source.error(
                    Some(value.span()),
                    format!(
                        "model.{second}: set only one of model.path, model.hf and model.server \
                         (model.{kind} is set too)"
                    ),
                ));
            }
            let span = value.span();
            let text = value.into_inner();
            let choice = match kind {
                "path" => ModelChoice::Path(resolve_path(&text, base)),
                "hf" => ModelChoice::Hf(text.parse().map_err(|err| {
                    source.bad_value(Key::Model, span.clone(), &format!("{err}"))
                })?),
                _ => ModelChoice::Server(text),
            };
            layer.model = Some(choice);
            set(&mut layer, Key::Model, &span);
        }
        if let Some(v) = model.ctx_size {
            set(&mut layer, Key::CtxSize, &v.span());
            layer.ctx_size = Some(v.into_inner());
        }
        if let Some(v) = model.threads {
            set(&mut layer, Key::Threads, &v.span());
            layer.threads = Some(v.into_inner());
        }
        if let Some(v) = model.gpu_layers {
            let span = v.span();
            let parsed = match v.into_inner() {
                toml::Value::String(text) => parse_gpu_layers(&text).ok(),
                toml::Value::Integer(n) => u32::try_from(n).ok().map(ossa_model::GpuLayers::Count),
                _ => None,
            };
            let parsed = parsed.ok_or_else(|| {
                source.bad_value(Key::GpuLayers, span.clone(), "not a layer count")
            })?;
            set(&mut layer, Key::GpuLayers, &span);
            layer.gpu_layers = Some(parsed);
        }
    }
    if let Some(sampling) = config.sampling {
        for (key, value, slot) in [
            (
                Key::Temperature,
                sampling.temperature,
                &mut layer.temperature,
            ),
            (Key::TopP, sampling.top_p, &mut layer.top_p),
            (Key::MinP, sampling.min_p, &mut layer.min_p),
        ] {
            if let Some(v) = value {
                layer
                    .marks
                    .insert(key, Mark::Line(source.line(v.span().start)));
                *slot = Some(v.into_inner());
            }
        }
        if let Some(v) = sampling.seed {
            set(&mut layer, Key::Seed, &v.span());
            layer.seed = Some(v.into_inner());
        }
    }
    if let Some(agent) = config.agent {
        if let Some(v) = agent.reasoning {
            let span = v.span();
            let effort = parse_reasoning(v.get_ref()).ok_or_else(|| {
                source.bad_value(Key::Reasoning, span.clone(), &format!("'{}'", v.get_ref()))
            })?;
            set(&mut layer, Key::Reasoning, &span);
            layer.reasoning = Some(effort);
        }
        for (key, value, slot) in [
            (Key::MaxSteps, agent.max_steps, &mut layer.max_steps),
            (Key::MaxTokens, agent.max_tokens, &mut layer.max_tokens),
        ] {
            if let Some(v) = value {
                layer
                    .marks
                    .insert(key, Mark::Line(source.line(v.span().start)));
                *slot = Some(v.into_inner());
            }
        }
        if let Some(v) = agent.tool_output_limit {
            set(&mut layer, Key::ToolOutputLimit, &v.span());
            layer.tool_output_limit = Some(v.into_inner());
        }
    }
    if let Some(tools) = config.tools {
        if let Some(v) = tools.toolset {
            let span = v.span();
            let toolset: Toolset = v.get_ref().parse().map_err(|_| {
                source.bad_value(Key::Toolset, span.clone(), &format!("'{}'", v.get_ref()))
            })?;
            set(&mut layer, Key::Toolset, &span);
            layer.toolset = Some(toolset);
        }
        if let Some(exec) = tools.exec {
            if let Some(v) = exec.allow {
                set(&mut layer, Key::ExecAllow, &v.span());
                layer.exec_allow = Some(v.into_inner());
            }
            if let Some(v) = exec.read {
                set(&mut layer, Key::ExecRead, &v.span());
                layer.exec_read = Some(
                    v.into_inner()
                        .iter()
                        .map(|p| resolve_path(p, base))
                        .collect(),
                );
            }
            if let Some(v) = exec.net {
                set(&mut layer, Key::ExecNet, &v.span());
                layer.exec_net = Some(v.into_inner());
            }
        }
        if let Some(python) = tools.python
            && let Some(v) = python.allow
        {
            set(&mut layer, Key::PythonAllow, &v.span());
            layer.python_allow = Some(v.into_inner());
        }
        if let Some(net) = tools.net {
            if let Some(v) = net.allow {
                set(&mut layer, Key::NetAllow, &v.span());
                layer.net_allow = Some(v.into_inner());
            }
            if let Some(v) = net.hosts {
                set(&mut layer, Key::NetHosts, &v.span());
                layer.net_hosts = Some(v.into_inner());
            }
        }
    }
    if let Err((key, problem)) = layer.check_ranges() {
        let line = match layer.marks.get(&key) {
            Some(Mark::Line(line)) => *line,
            _ => 0,
        };
        return Err(ConfigError {
            place: format!("{}:{line}", path.display()),
            message: format!("{}: {problem}", key.name()),
        });
    }
    Ok(layer)
}

/// `~/x` under `$HOME`; a relative path under `base`.
pub fn resolve_path(text: &str, base: &Path) -> PathBuf {
    if let Some(rest) = text.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
    {
        return PathBuf::from(home).join(rest);
    }
    let path = PathBuf::from(text);
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use ossa_model::GpuLayers;
    use ossa_prompts::ReasoningEffort;

    use super::*;

    fn parse_str(text: &str) -> Result<Layer, ConfigError> {
        parse(
            Path::new("/home/u/.config/ossa/config.toml"),
            text,
            Path::new("/base"),
        )
    }

    #[test]
    fn every_key_is_read_with_its_line() {
        let layer = parse_str(
            r#"
[model]
hf = "ggml-org/gpt-oss-20b-GGUF:mxfp4"
ctx_size = 16384
threads = 4
gpu_layers = 20

[sampling]
temperature = 0.7
top_p = 1
min_p = 0.05
seed = 9

[agent]
reasoning = "high"
max_steps = 12
max_tokens = 4096
tool_output_limit = 20000

[tools]
toolset = "functions"

[tools.exec]
allow = true
read = ["~/.cargo", "vendor"]
net = false

[tools.net]
allow = true
hosts = ["crates.io"]
"#,
        )
        .unwrap();
        assert!(
            matches!(&layer.model, Some(ModelChoice::Hf(r)) if r.to_string() == "ggml-org/gpt-oss-20b-GGUF:mxfp4")
        );
        assert_eq!(layer.ctx_size, Some(16384));
        assert_eq!(layer.gpu_layers, Some(GpuLayers::Count(20)));
        assert_eq!(layer.temperature, Some(0.7));
        assert_eq!(layer.top_p, Some(1.0));
        assert_eq!(layer.reasoning, Some(ReasoningEffort::High));
        assert_eq!(layer.tool_output_limit, Some(20000));
        assert_eq!(layer.toolset, Some(Toolset::Functions));
        assert_eq!(layer.exec_allow, Some(true));
        assert_eq!(
            layer.exec_read.as_ref().unwrap()[1],
            Path::new("/base/vendor")
        );
        assert_eq!(layer.net_hosts, Some(vec!["crates.io".to_string()]));
        assert_eq!(layer.marks.get(&Key::Model), Some(&Mark::Line(3)));
        assert_eq!(layer.marks.get(&Key::Temperature), Some(&Mark::Line(9)));
        assert_eq!(layer.marks.get(&Key::NetHosts), Some(&Mark::Line(30)));
        assert_eq!(Key::ALL.iter().filter(|k| layer.is_set(**k)).count(), 18);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file_line_and_what_is_allowed() {
        let err = parse_str("[sampling]\ntemperature = 1.0\ntempreature = 0.5\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/home/u/.config/ossa/config.toml:3:"),
            "{text}"
        );
        assert!(text.contains("unknown key `tempreature`"), "{text}");
        assert!(
            text.contains("`temperature`") && text.contains("`top_p`"),
            "{text}"
        );

        let err = parse_str("[modle]\nhf = \"o/r\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":1:") && err.contains("`model`"), "{err}");

        let err = parse_str("[agent]\n\nreasoning = \"extreme\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.toml:3:") && err.contains("low, medium or high"),
            "{err}"
        );

        let err = parse_str("[sampling]\ntop_p = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.toml:2:") && err.contains("sampling.top_p"),
            "{err}"
        );
        assert!(err.contains("at most 1"), "{err}");

        let err = parse_str("[agent]\nmax_steps = \"ten\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.toml:2:"), "{err}");

        let err = parse_str("[model]\ngpu_layers = \"most\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"all\", \"none\" or a number"), "{err}");

        let err = parse_str("[model]\npath = \"m.gguf\"\nhf = \"o/r\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.toml:3:") && err.contains("only one of"),
            "{err}"
        );

        let err = parse_str("[model]\nhf = \"not a repo\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("config.toml:2:") && err.contains("OWNER/NAME"),
            "{err}"
        );

        let err = parse_str("[tools]\ntoolset = \"bash\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("native or functions"), "{err}");

        let err = parse_str("[tools.exec]\nallow = \"yes\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.toml:2:"), "{err}");

        let err = parse_str("model = 3\n").unwrap_err().to_string();
        assert!(err.contains("config.toml:1:"), "{err}");
    }

    #[test]
    fn paths_are_relative_to_the_config_and_tilde_is_home() {
        let layer = parse_str("[model]\npath = \"models/m.gguf\"\n").unwrap();
        assert_eq!(
            layer.model,
            Some(ModelChoice::Path(PathBuf::from("/base/models/m.gguf")))
        );
        let layer = parse_str("[model]\npath = \"/abs/m.gguf\"\n").unwrap();
        assert_eq!(
            layer.model,
            Some(ModelChoice::Path(PathBuf::from("/abs/m.gguf")))
        );
    }
}
