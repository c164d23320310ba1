//! The `OSSA_*` environment variables as a [`Layer`]: one per setting, named after its
//! flag (`--top-p` is `OSSA_TOP_P`); the model is `OSSA_MODEL` (a GGUF path), `OSSA_HF` or
//! `OSSA_SERVER`. Lists: `OSSA_EXEC_READ` is separated like `PATH`, `OSSA_NET_HOSTS` by
//! commas. An empty variable counts as unset.

use std::path::PathBuf;

use super::ConfigError;
use super::layer::{Key, Layer, MODEL_ENV, Mark, ModelChoice, parse_text};

/// Reads the variables through `var` (the process environment, or a map in tests).
pub fn read(var: &dyn Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
    let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    let bad = |name: &str, message: String| ConfigError {
        place: format!("environment variable {name}"),
        message,
    };
    let mut layer = Layer::default();

    let mut chosen: Option<(&str, ModelChoice)> = None;
    for (name, kind) in MODEL_ENV {
        let Some(value) = var(name) else { continue };
        if let Some((other, _)) = &chosen {
            return Err(bad(
                name,
                format!("{other} is set too; set only one of OSSA_MODEL, OSSA_HF and OSSA_SERVER"),
            ));
        }
        let choice = match kind {
            "path" => ModelChoice::Path(PathBuf::from(value)),
            "hf" => ModelChoice::Hf(value.parse().map_err(|err| bad(name, format!("{err}")))?),
            _ => ModelChoice::Server(value),
        };
        chosen = Some((name, choice));
    }
    if let Some((name, choice)) = chosen {
        layer.model = Some(choice);
        layer.mark(Key::Model, Mark::Name(name.to_string()));
    }

    for key in Key::ALL.into_iter().filter(|k| *k != Key::Model) {
        let Some(value) = var(key.env()) else {
            continue;
        };
        let parsed = parse_text(key, &value).map_err(|err| bad(key.env(), err))?;
        merge(&mut layer, parsed);
        layer.mark(key, Mark::Name(key.env().to_string()));
    }
    layer
        .check_ranges()
        .map_err(|(key, problem)| bad(key.env(), problem))?;
    Ok(layer)
}

/// Copies the settings `from` has into `into`.
pub(crate) fn merge(into: &mut Layer, from: Layer) {
    macro_rules! take {
        ($($field:ident),*) => { $( if from.$field.is_some() { into.$field = from.$field; } )* };
    }
    take!(
        model,
        ctx_size,
        threads,
        gpu_layers,
        temperature,
        top_p,
        min_p,
        seed,
        reasoning,
        max_steps,
        max_tokens,
        tool_output_limit,
        toolset,
        exec_allow,
        exec_read,
        exec_net,
        python_allow,
        net_allow,
        net_hosts
    );
    into.marks.extend(from.marks);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Result<Layer, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        read(&|name| vars.get(name).cloned())
    }

    #[test]
    fn variables_are_named_after_flags() {
        let layer = env(&[
            ("OSSA_HF", "ggml-org/gpt-oss-20b-GGUF"),
            ("OSSA_TOP_P", "0.9"),
            ("OSSA_ALLOW_EXEC", "1"),
            ("OSSA_EXEC_READ", "/a:/b"),
            ("OSSA_NET_HOSTS", "crates.io"),
            ("OSSA_MAX_STEPS", ""),
        ])
        .unwrap();
        assert!(matches!(layer.model, Some(ModelChoice::Hf(_))));
        assert_eq!(layer.top_p, Some(0.9));
        assert_eq!(layer.exec_allow, Some(true));
        assert_eq!(
            layer.exec_read,
            Some(vec![PathBuf::from("/a"), PathBuf::from("/b")])
        );
        assert_eq!(layer.max_steps, None, "empty is unset");
        assert_eq!(
            layer.marks.get(&Key::TopP),
            Some(&Mark::Name("OSSA_TOP_P".into()))
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_allowed() {
        let err = env(&[("OSSA_REASONING", "max")]).unwrap_err().to_string();
        assert!(
            err.contains("OSSA_REASONING") && err.contains("low, medium or high"),
            "{err}"
        );
        let err = env(&[("OSSA_TEMPERATURE", "-1")]).unwrap_err().to_string();
        assert!(
            err.contains("OSSA_TEMPERATURE") && err.contains("at least 0"),
            "{err}"
        );
        let err = env(&[("OSSA_MODEL", "m.gguf"), ("OSSA_SERVER", "http://x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("only one of"), "{err}");
    }
}
